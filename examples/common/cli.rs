//! Command-line options shared by the training examples (clap derive).

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::{Args, ValueEnum};
use tch::Device;
use tch_mixcut::{MixConfig, MixMode};

/// Which augmentation a run trains with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Recipe {
    None,
    Mixup,
    Cutmix,
    Both,
}

impl Recipe {
    /// Every recipe, in the order the comparison reports them.
    pub const ALL: [Recipe; 4] = [Recipe::None, Recipe::Mixup, Recipe::Cutmix, Recipe::Both];

    /// Lower-case name, as on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Recipe::None => "none",
            Recipe::Mixup => "mixup",
            Recipe::Cutmix => "cutmix",
            Recipe::Both => "both",
        }
    }
}

/// Options every training example takes.
#[derive(Args, Clone, Debug)]
pub struct TrainArgs {
    /// Augmentation recipe (ignored with --compare).
    #[arg(long, value_enum, default_value_t = Recipe::Both)]
    pub recipe: Recipe,
    /// Train the same model under none, mixup, cutmix and both (same seed, data and budget) and write
    /// the side-by-side report.
    #[arg(long)]
    pub compare: bool,
    /// Mixup α.
    #[arg(long, default_value_t = 0.2)]
    pub mixup_alpha: f64,
    /// CutMix α.
    #[arg(long, default_value_t = 1.0)]
    pub cutmix_alpha: f64,
    /// CutMix box side range as `lo,hi` fractions of the image side (timm's cutmix_minmax).
    #[arg(long, value_parser = parse_minmax)]
    pub cutmix_minmax: Option<(f64, f64)>,
    /// Probability of mixing a batch (or pair, or sample).
    #[arg(long, default_value_t = 1.0)]
    pub prob: f64,
    /// Probability of CutMix rather than Mixup when both are on.
    #[arg(long, default_value_t = 0.5)]
    pub switch_prob: f64,
    /// batch, pair or elem.
    #[arg(long, default_value = "batch")]
    pub mode: MixMode,
    /// Keep CutMix's drawn λ instead of correcting it to the clipped box area.
    #[arg(long)]
    pub no_correct_lam: bool,
    /// Label smoothing.
    #[arg(long, default_value_t = 0.0)]
    pub label_smoothing: f64,
    /// Training epochs.
    #[arg(long, default_value_t = 3)]
    pub epochs: usize,
    /// Batch size.
    #[arg(long, default_value_t = 128)]
    pub batch_size: i64,
    /// Train on the first N training images (0: all 60,000).
    #[arg(long, default_value_t = 20_000)]
    pub train_subset: i64,
    /// Peak learning rate (AdamW).
    #[arg(long, default_value_t = 2e-3)]
    pub lr: f64,
    /// AdamW weight decay.
    #[arg(long, default_value_t = 0.05)]
    pub weight_decay: f64,
    /// Linear warm-up length in epochs, then cosine decay to zero.
    #[arg(long, default_value_t = 0.5)]
    pub warmup_epochs: f64,
    /// auto (CUDA if present), cpu, or cuda:N.
    #[arg(long, default_value = "auto", value_parser = parse_device)]
    pub device: DeviceArg,
    /// Seed of the weights, the batch order and the mixer.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Folder for the report, pictures and CSV.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Fashion-MNIST folder (gzipped IDX files); default $FASHION_MNIST_DIR, else Debian's.
    #[arg(long)]
    pub data: Option<PathBuf>,
}

/// `--device` as given.
#[derive(Clone, Copy, Debug)]
pub enum DeviceArg {
    Auto,
    Fixed(Device),
}

fn parse_device(s: &str) -> Result<DeviceArg> {
    Ok(match s {
        "auto" => DeviceArg::Auto,
        "cpu" => DeviceArg::Fixed(Device::Cpu),
        s => match s.strip_prefix("cuda:").and_then(|n| n.parse().ok()) {
            Some(n) => DeviceArg::Fixed(Device::Cuda(n)),
            None => bail!("device: got {s:?}, expected auto, cpu or cuda:N"),
        },
    })
}

fn parse_minmax(s: &str) -> Result<(f64, f64)> {
    let parts: Vec<&str> = s.split(',').collect();
    match parts.as_slice() {
        [lo, hi] => Ok((lo.trim().parse()?, hi.trim().parse()?)),
        _ => bail!("cutmix-minmax: got {s:?}, expected lo,hi"),
    }
}

impl TrainArgs {
    /// The device to run on (`auto`: CUDA when libtorch sees one).
    pub fn device(&self) -> Device {
        let cuda = tch_mixcut::load_cuda_backend();
        match self.device {
            DeviceArg::Auto if cuda => Device::Cuda(0),
            DeviceArg::Auto => Device::Cpu,
            DeviceArg::Fixed(d) => d,
        }
    }

    /// The mixer options for `recipe` (None: `None` trains without mixing).
    pub fn mix_config(&self, recipe: Recipe, classes: i64) -> Option<MixConfig> {
        let (mixup_alpha, cutmix_alpha, minmax) = match recipe {
            Recipe::None => return None,
            Recipe::Mixup => (self.mixup_alpha, 0.0, None),
            Recipe::Cutmix => (0.0, self.cutmix_alpha, self.cutmix_minmax),
            Recipe::Both => (self.mixup_alpha, self.cutmix_alpha, self.cutmix_minmax),
        };
        Some(MixConfig {
            mixup_alpha,
            cutmix_alpha,
            cutmix_minmax: minmax,
            prob: self.prob,
            switch_prob: self.switch_prob,
            mode: self.mode,
            correct_lam: !self.no_correct_lam,
            label_smoothing: self.label_smoothing,
            num_classes: classes,
            off_epoch: None,
            bce_target_thresh: None,
        })
    }
}
