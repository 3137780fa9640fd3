//! Command-line options shared by the training examples (clap derive).

use std::path::PathBuf;

use anyhow::{bail, ensure, Result};
use clap::{Args, ValueEnum};
use tch::Device;
use tch_mixcut::{MixConfig, MixMode, Paste};

/// Which mixing a run trains with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Recipe {
    /// No mixing (plain one-hot targets).
    None,
    /// Mixup alone.
    Mixup,
    /// CutMix alone.
    Cutmix,
    /// Mixup or CutMix per batch (`--switch-prob`).
    Both,
    /// As `both`, with mixing off for the last epochs (`--mix-off-fraction`; timm's mixup_off_epoch).
    BothOff,
    /// ResizeMix alone (mmpretrain's defaults: the partner resized to a box of side fraction 0.1–0.8).
    Resizemix,
    /// FMix alone (`--cutmix-alpha`, decay power 3).
    Fmix,
    /// TransMix (ViTs): the images of `both`, each sample's label weight the share of the class token's
    /// attention on the patches it kept.
    Transmix,
}

impl Recipe {
    /// The recipes of `--compare`, in the order the comparison reports them.
    pub const COMPARE: [Recipe; 4] = [Recipe::None, Recipe::Mixup, Recipe::Cutmix, Recipe::Both];

    /// Lower-case name, as on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Recipe::None => "none",
            Recipe::Mixup => "mixup",
            Recipe::Cutmix => "cutmix",
            Recipe::Both => "both",
            Recipe::BothOff => "both-off",
            Recipe::Resizemix => "resizemix",
            Recipe::Fmix => "fmix",
            Recipe::Transmix => "transmix",
        }
    }
}

/// Options every training example takes.
#[derive(Args, Clone, Debug)]
pub struct TrainArgs {
    /// Mixing recipe (ignored with --compare or --recipes).
    #[arg(long, value_enum, default_value_t = Recipe::Both)]
    pub recipe: Recipe,
    /// Train the same model under none, mixup, cutmix and both (same seed, data and budget) and write
    /// the side-by-side report.
    #[arg(long)]
    pub compare: bool,
    /// Recipes to train one after the other, comma-separated (overrides --recipe and --compare).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub recipes: Vec<Recipe>,
    /// Fraction of the epochs, at the end, that `both-off` trains without mixing (at least one epoch).
    #[arg(long, default_value_t = 0.1)]
    pub mix_off_fraction: f64,
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
    /// Train on the first N training images (0: all that are not held out). Fashion-MNIST only.
    #[arg(long, default_value_t = 20_000)]
    pub train_subset: i64,
    /// Hold out this many training images (Fashion-MNIST: the training file's last; image folder: a fixed
    /// random pick) to fit a temperature on; the report then shows calibration before and after it.
    #[arg(long, default_value_t = 0)]
    pub holdout: i64,
    /// Fashion-MNIST: random crop with 4-pixel zero padding and horizontal flip on every training batch,
    /// before mixing (image folders always use RandomResizedCrop and flip).
    #[arg(long)]
    pub augment: bool,
    /// Evaluate on the test split every N epochs (and after the last).
    #[arg(long, default_value_t = 1)]
    pub eval_every: usize,
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
    /// Seed of the weights, the batch order, the augmentation and the mixer (ignored with --seeds).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Seeds to train every recipe with, comma-separated (overrides --seed); the report gives the mean
    /// and half-range over them.
    #[arg(long, value_delimiter = ',')]
    pub seeds: Vec<u64>,
    /// Skip runs whose result file already exists in the output folder (with the same settings).
    #[arg(long)]
    pub resume: bool,
    /// Train nothing: write the report, CSV and reliability diagrams from the result files of every
    /// requested recipe and seed already in the output folder (runs trained elsewhere, e.g. on a GPU
    /// machine); refused if one is missing or their settings differ.
    #[arg(long, conflicts_with = "resume")]
    pub report_only: bool,
    /// Folder for the report, pictures and CSV.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Data: a Fashion-MNIST folder (gzipped IDX files; default $FASHION_MNIST_DIR, else Debian's), or an
    /// ImageNet-layout folder holding train/<class>/* and val/<class>/* (JPEG or PNG).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Image folders: side of the square images the model gets (RandomResizedCrop for training; resize
    /// of the shorter side to size/0.875 and centre crop for evaluation).
    #[arg(long, default_value_t = 224)]
    pub image_size: i64,
    /// Image folders: decoding threads.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// Image folders: batches being made or ready at once, at most (the bound on memory).
    #[arg(long, default_value_t = 4)]
    pub prefetch: usize,
    /// Image folders: leave out files that cannot be decoded (counted and reported) instead of stopping.
    #[arg(long)]
    pub skip_bad_images: bool,
}

/// `--device` as given.
#[derive(Clone, Copy, Debug)]
pub enum DeviceArg {
    Auto,
    Fixed(Device),
}

impl DeviceArg {
    /// The device to run on (`auto`: CUDA when libtorch sees one), or why a fixed `cuda:N` cannot be used
    /// here (no CUDA backend, or no such device). Loads libtorch's CUDA backend first, whatever the choice.
    pub fn resolve(self) -> Result<Device> {
        let cuda = tch_mixcut::load_cuda_backend();
        Ok(match self {
            DeviceArg::Auto if cuda => Device::Cuda(0),
            DeviceArg::Auto => Device::Cpu,
            DeviceArg::Fixed(Device::Cuda(n)) => {
                let why = tch_mixcut::cuda_backend_error().unwrap_or("libtorch sees no CUDA device");
                ensure!(cuda, "device: got cuda:{n}, but there is no CUDA here ({why}); expected auto or cpu");
                let count = tch::Cuda::device_count();
                ensure!(
                    (n as i64) < count,
                    "device: got cuda:{n}, expected an ordinal below {count} (the devices libtorch sees)"
                );
                Device::Cuda(n)
            }
            DeviceArg::Fixed(d) => d,
        })
    }
}

/// `--device`: auto, cpu or cuda:N.
pub fn parse_device(s: &str) -> Result<DeviceArg> {
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
    /// The device to run on (`auto`: CUDA when libtorch sees one), or why the one asked for is not here.
    pub fn device(&self) -> Result<Device> {
        self.device.resolve()
    }

    /// The recipes to train, in order.
    pub fn recipe_list(&self) -> Vec<Recipe> {
        match (self.recipes.is_empty(), self.compare) {
            (false, _) => self.recipes.clone(),
            (true, true) => Recipe::COMPARE.to_vec(),
            (true, false) => vec![self.recipe],
        }
    }

    /// The seeds to train with, in order.
    pub fn seed_list(&self) -> Vec<u64> {
        if self.seeds.is_empty() {
            vec![self.seed]
        } else {
            self.seeds.clone()
        }
    }

    /// Checks the options the mixer does not check; the error names the option, its value and what was
    /// expected.
    pub fn validate(&self) -> Result<()> {
        ensure!(self.epochs >= 1, "epochs: got {}, expected >= 1", self.epochs);
        ensure!(self.batch_size >= 1, "batch-size: got {}, expected >= 1", self.batch_size);
        ensure!(self.eval_every >= 1, "eval-every: got {}, expected >= 1", self.eval_every);
        ensure!(self.holdout >= 0, "holdout: got {}, expected >= 0", self.holdout);
        ensure!(self.workers >= 1, "workers: got {}, expected >= 1", self.workers);
        ensure!(self.prefetch >= 1, "prefetch: got {}, expected >= 1", self.prefetch);
        ensure!(self.image_size >= 8, "image-size: got {}, expected >= 8", self.image_size);
        ensure!(
            (0.0..1.0).contains(&self.mix_off_fraction),
            "mix-off-fraction: got {}, expected a fraction in [0, 1)",
            self.mix_off_fraction
        );
        // AdamW's first step moves by lr/(1 − β1) = 10·lr, a number libtorch converts to f32 with an
        // overflow check, which tch turns into a panic.
        let most_lr = f32::MAX as f64 * 0.1;
        ensure!(
            self.lr > 0.0 && self.lr <= most_lr,
            "lr: got {:?}, expected a positive number <= {most_lr:e} (10·lr must fit in f32)",
            self.lr
        );
        ensure!(
            self.weight_decay >= 0.0 && self.weight_decay.is_finite(),
            "weight-decay: got {:?}, expected a finite number >= 0",
            self.weight_decay
        );
        ensure!(
            self.warmup_epochs >= 0.0 && self.warmup_epochs.is_finite(),
            "warmup-epochs: got {:?}, expected a finite number >= 0",
            self.warmup_epochs
        );
        Ok(())
    }

    /// The epoch (0-based) from which `both-off` stops mixing: the last `mix_off_fraction` of the
    /// epochs, rounded, and at least one.
    pub fn off_epoch(&self) -> usize {
        let off = ((self.mix_off_fraction * self.epochs as f64).round() as usize).max(1);
        self.epochs.saturating_sub(off)
    }

    /// The mixer options for `recipe`; `none` gets a configuration that is off from epoch 0, so its
    /// targets are the plain (smoothed) one-hots.
    pub fn mix_config(&self, recipe: Recipe, classes: i64) -> MixConfig {
        let (mixup_alpha, cutmix_alpha, minmax, off_epoch) = match recipe {
            Recipe::None => (1.0, 0.0, None, Some(0)),
            Recipe::Mixup => (self.mixup_alpha, 0.0, None, None),
            Recipe::Cutmix => (0.0, self.cutmix_alpha, self.cutmix_minmax, None),
            Recipe::Both | Recipe::Transmix => (self.mixup_alpha, self.cutmix_alpha, self.cutmix_minmax, None),
            Recipe::BothOff => (self.mixup_alpha, self.cutmix_alpha, self.cutmix_minmax, Some(self.off_epoch())),
            Recipe::Resizemix | Recipe::Fmix => (0.0, self.cutmix_alpha, None, None),
        };
        let paste = match recipe {
            Recipe::Resizemix => Paste::ResizeMix { lam_min: 0.1, lam_max: 0.8 },
            Recipe::Fmix => Paste::FMix { decay_power: 3.0 },
            Recipe::None | Recipe::Mixup | Recipe::Cutmix | Recipe::Both | Recipe::BothOff | Recipe::Transmix => {
                Paste::CutMix
            }
        };
        MixConfig {
            mixup_alpha,
            cutmix_alpha,
            cutmix_minmax: minmax,
            prob: self.prob,
            switch_prob: self.switch_prob,
            mode: self.mode,
            correct_lam: !self.no_correct_lam,
            label_smoothing: self.label_smoothing,
            num_classes: classes,
            off_epoch,
            bce_target_thresh: None,
            paste,
        }
    }
}

/// Which ResNet `train_resnet` builds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Arch {
    /// The CIFAR-style ResNet of `--width` and `--blocks` (ResNet-8 by default); any input.
    Small,
    /// tch's `vision::resnet::resnet18` (ImageNet's ResNet-18; 3-channel input).
    Resnet18,
    /// tch's `vision::resnet::resnet50` (ImageNet's ResNet-50; 3-channel input).
    Resnet50,
}

/// `train_resnet`'s model options.
#[derive(Args, Clone, Debug)]
pub struct ResNetArgs {
    /// Model: small (default on Fashion-MNIST), resnet18 (default on image folders) or resnet50.
    #[arg(long, value_enum)]
    pub arch: Option<Arch>,
    /// Small ResNet: channels of the first stage (then 2x and 4x).
    #[arg(long, default_value_t = 16)]
    pub width: i64,
    /// Small ResNet: basic blocks per stage (1: ResNet-8, 3: ResNet-20).
    #[arg(long, default_value_t = 1)]
    pub blocks: usize,
}

/// `train_vit`'s model options; unset ones take the data's default: a small ViT for Fashion-MNIST
/// (patch 4, dim 64, depth 4, heads 4, MLP ratio 2), ViT-S/16 for image folders (patch 16, dim 384,
/// depth 12, heads 6, MLP ratio 4).
#[derive(Args, Clone, Debug)]
pub struct VitArgs {
    /// Patch side in pixels (must divide the image side).
    #[arg(long)]
    pub patch: Option<i64>,
    /// Token width.
    #[arg(long)]
    pub dim: Option<i64>,
    /// Transformer blocks.
    #[arg(long)]
    pub depth: Option<usize>,
    /// Attention heads (must divide dim).
    #[arg(long)]
    pub heads: Option<i64>,
    /// MLP hidden width as a multiple of dim.
    #[arg(long)]
    pub mlp_ratio: Option<i64>,
}
