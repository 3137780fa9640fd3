//! Training steps per second of the ImageNet-style pipeline, by parts, as `bench/gpu_pipeline.sh` runs it
//! beside PyTorch (`bench/pipeline_peer.py`). Each step mixes, converts and normalises the uint8 NHWC
//! batch in one fused pass (`apply_normalized` with DeiT's recipe, channels-last out), then runs a
//! ResNet forward and backward and an SGD step, with the model's weights in the chosen dtype and
//! channels-last.
//!
//! - `--mode model`: one batch resident on the device, stepped again and again (the model's pace, mixing
//!   included; no loader).
//! - `--mode pipeline`: batches from `DIR/train` through `tch_mixcut::data`'s loader (pinned memory on
//!   CUDA, copied without blocking), the whole pipeline.
//!
//! The loader alone is the `loader_speed` example.
//!
//! `cargo run --release --example pipeline_speed -- --mode pipeline --data DIR --device cuda:0`

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, ensure, Context, Result};
use clap::{Parser, ValueEnum};
use tch::nn::{self, ModuleT, OptimizerConfig};
use tch::{Device, Kind, Tensor};
use tch_mixcut::data::{ImageFolder, Loader, LoaderConfig};
use tch_mixcut::{InputLayout, MixConfig, Mixer, Normalize};
use tch_mixcut_harness::{self as common, cli::DeviceArg};

#[derive(Clone, Copy, Debug, PartialEq, ValueEnum)]
enum Mode {
    /// One resident batch, no loader.
    Model,
    /// From the image folder through the loader.
    Pipeline,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Arch {
    Resnet18,
    Resnet50,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Precision {
    /// Weights, activations and the fused pass's output in bfloat16.
    Bf16,
    /// Everything in float32.
    F32,
}

#[derive(Parser)]
#[command(about = "Training steps per second: the model on a resident batch, or the whole pipeline from files")]
struct Cli {
    /// What to time.
    #[arg(long, value_enum)]
    mode: Mode,
    /// A folder holding train/<class>/<images> (pipeline mode; in model mode, only its class count).
    #[arg(long)]
    data: Option<PathBuf>,
    /// `auto` (CUDA if present), `cpu` or `cuda:N`.
    #[arg(long, default_value = "cuda:0", value_parser = common::cli::parse_device)]
    device: DeviceArg,
    /// The model.
    #[arg(long, value_enum, default_value_t = Arch::Resnet50)]
    arch: Arch,
    /// Weights and activations.
    #[arg(long, value_enum, default_value_t = Precision::Bf16)]
    precision: Precision,
    /// Images per step.
    #[arg(long, default_value_t = 256)]
    batch_size: usize,
    /// Output side of the crops.
    #[arg(long, default_value_t = 224)]
    image_size: u32,
    /// Classes when no folder is given (model mode).
    #[arg(long, default_value_t = 1000)]
    classes: i64,
    /// Loader threads (pipeline mode).
    #[arg(long, default_value_t = 15)]
    workers: usize,
    /// Batches the loader holds at once, at most (default: 2 per worker).
    #[arg(long)]
    prefetch: Option<usize>,
    /// Steps before the clock starts (cuDNN's algorithm search, the loader's queue filling).
    #[arg(long, default_value_t = 10)]
    warmup: usize,
    /// Timed steps.
    #[arg(long, default_value_t = 50)]
    steps: usize,
}

/// The model, its optimiser and the fused pass's options.
struct Trainer {
    model: Box<dyn ModuleT>,
    opt: nn::Optimizer,
    mixer: Mixer,
    norm: Normalize,
    _vs: nn::VarStore,
}

impl Trainer {
    fn new(cli: &Cli, device: Device, classes: i64) -> Result<Trainer> {
        let mut vs = nn::VarStore::new(device);
        let model: Box<dyn ModuleT> = match cli.arch {
            Arch::Resnet18 => Box::new(tch::vision::resnet::resnet18(&vs.root(), classes)),
            Arch::Resnet50 => Box::new(tch::vision::resnet::resnet50(&vs.root(), classes)),
        };
        let kind = match cli.precision {
            Precision::Bf16 => Kind::BFloat16,
            Precision::F32 => Kind::Float,
        };
        vs.set_kind(kind);
        channels_last_weights(&vs);
        let opt = nn::Sgd { momentum: 0.9, wd: 5e-5, ..Default::default() }.build(&vs, 0.1)?;
        let norm = Normalize { channels_last: true, input: InputLayout::Nhwc, ..Normalize::imagenet(kind) };
        let mixer = Mixer::new(MixConfig::deit(classes), 0)?;
        Ok(Trainer { model, opt, mixer, norm, _vs: vs })
    }

    /// One training step on a uint8 NHWC batch already on the model's device.
    fn step(&mut self, images: &Tensor, labels: &Tensor) -> Result<()> {
        let (x, targets) = self.mixer.apply_normalized(images, labels, &self.norm)?;
        let logits = self.model.forward_t(&x, true);
        let loss = tch_mixcut::f_soft_cross_entropy(&logits, &targets)?;
        self.opt.backward_step(&loss);
        Ok(())
    }
}

/// Stores every 4-d weight channels-last (NHWC memory, NCHW shape), as PyTorch's
/// `model.to(memory_format=torch.channels_last)` does: cuDNN then keeps the activations channels-last.
fn channels_last_weights(vs: &nn::VarStore) {
    tch::no_grad(|| {
        for (_, mut v) in vs.variables() {
            if v.dim() == 4 {
                let stored = v.permute([0, 2, 3, 1]).contiguous().permute([0, 3, 1, 2]);
                v.set_data(&stored);
            }
        }
    });
}

fn sync(device: Device) {
    if let Device::Cuda(i) = device {
        tch::Cuda::synchronize(i as i64);
    }
}

/// Steps on one resident batch of random pixels; the seconds the timed steps took.
fn time_model(cli: &Cli, trainer: &mut Trainer, device: Device, classes: i64) -> Result<f64> {
    let (n, s) = (cli.batch_size as i64, cli.image_size as i64);
    // Fallible forms: a batch too large for the device is an error, not a panic.
    let images = Tensor::f_randint(256, [n, s, s, 3], (Kind::Uint8, device))?;
    let labels = Tensor::f_randint(classes, [n], (Kind::Int64, device))?;
    for _ in 0..cli.warmup {
        trainer.step(&images, &labels)?;
    }
    sync(device);
    let start = Instant::now();
    for _ in 0..cli.steps {
        trainer.step(&images, &labels)?;
    }
    sync(device);
    Ok(start.elapsed().as_secs_f64())
}

/// Steps on the loader's batches, epoch after epoch until warm-up and timed steps are done; the seconds
/// the timed steps took.
fn time_pipeline(cli: &Cli, trainer: &mut Trainer, device: Device, loader: &Loader) -> Result<f64> {
    let (mut done, mut start, mut epoch) = (0, None, 0);
    while done < cli.warmup + cli.steps {
        for batch in loader.epoch(epoch) {
            if done == cli.warmup {
                sync(device);
                start = Some(Instant::now());
            }
            let (images, labels) = batch?.to_device(device);
            trainer.step(&images, &labels)?;
            done += 1;
            if done == cli.warmup + cli.steps {
                break;
            }
        }
        epoch += 1;
    }
    sync(device);
    Ok(start.context("no timed step")?.elapsed().as_secs_f64())
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let device = cli.device.resolve()?;
    ensure!(cli.steps > 0, "steps: got 0, expected at least 1");
    ensure!(cli.batch_size > 0, "batch-size: got 0, expected at least 1");
    if device.is_cuda() {
        tch::Cuda::cudnn_set_benchmark(true);
    }
    let folder = match &cli.data {
        Some(dir) => Some(ImageFolder::new(dir.join("train"))?),
        None if cli.mode == Mode::Pipeline => bail!("data: pipeline mode needs --data DIR (DIR/train/<class>/...)"),
        None => None,
    };
    let classes = folder.as_ref().map_or(cli.classes, |f| f.classes().len() as i64);
    ensure!(classes >= 1, "classes: got {classes}, expected at least 1");
    let mut trainer = Trainer::new(&cli, device, classes)?;
    let seconds = match &folder {
        Some(folder) if cli.mode == Mode::Pipeline => {
            let config = LoaderConfig {
                workers: cli.workers,
                prefetch: cli.prefetch.unwrap_or(2 * cli.workers),
                drop_last: true,
                pin_memory: device.is_cuda(),
                ..LoaderConfig::train(cli.image_size, cli.batch_size)
            };
            let loader = Loader::new(folder, config)?;
            ensure!(!loader.is_empty(), "data: fewer images than one batch of {}", cli.batch_size);
            time_pipeline(&cli, &mut trainer, device, &loader)?
        }
        _ => time_model(&cli, &mut trainer, device, classes)?,
    };
    let images = (cli.steps * cli.batch_size) as f64;
    println!(
        "tch-mixcut {} {} {} on {device:?}: {} steps of {} images in {seconds:.2} s, {:.0} images/s \
         (after {} warm-up steps; {} loader workers; executor {:?})",
        format!("{:?}", cli.mode).to_lowercase(),
        format!("{:?}", cli.arch).to_lowercase(),
        format!("{:?}", cli.precision).to_lowercase(),
        cli.steps,
        cli.batch_size,
        images / seconds,
        cli.warmup,
        if cli.mode == Mode::Pipeline { cli.workers } else { 0 },
        trainer.mixer.last_executor(),
    );
    Ok(())
}
