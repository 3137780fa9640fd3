//! Trains a small convolutional net on Fashion-MNIST with Mixup + CutMix through tch-mixcut, then
//! evaluates on the test split with augmentation off.
//!
//! `cargo run --release --example fashion_mnist -- --help`

mod common;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use clap::Parser;
use tch::nn::{self, ModuleT, OptimizerConfig};
use tch::{Device, Kind, Tensor};
use tch_mixcut::{soft_cross_entropy, MixConfig, Mixer};

#[derive(Parser)]
#[command(about = "Small CNN on Fashion-MNIST with Mixup + CutMix (tch-mixcut)")]
struct Args {
    /// Folder with the gzipped IDX files (default: $FASHION_MNIST_DIR, else Debian's location).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Optimiser steps.
    #[arg(long, default_value_t = 400)]
    steps: i64,
    /// Batch size.
    #[arg(long, default_value_t = 128)]
    batch_size: i64,
    /// Mixup α (0 turns Mixup off).
    #[arg(long, default_value_t = 0.2)]
    mixup_alpha: f64,
    /// CutMix α (0 turns CutMix off).
    #[arg(long, default_value_t = 1.0)]
    cutmix_alpha: f64,
    /// Seed of the model, the batches and the mixer.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

fn net(p: &nn::Path) -> impl ModuleT {
    let conv = |name: &str, i, o| nn::conv2d(p / name, i, o, 3, nn::ConvConfig { padding: 1, ..Default::default() });
    nn::seq_t()
        .add(conv("conv1", 1, 32))
        .add_fn(|x| x.relu().max_pool2d_default(2))
        .add(conv("conv2", 32, 64))
        .add_fn(|x| x.relu().max_pool2d_default(2).flatten(1, -1))
        .add(nn::linear(p / "fc1", 64 * 7 * 7, 128, Default::default()))
        .add_fn(|x| x.relu())
        .add(nn::linear(p / "fc2", 128, 10, Default::default()))
}

/// uint8 pixels → normalised float input.
fn normalise(x: &Tensor) -> Tensor {
    (x.to_kind(Kind::Float) / 255.0 - 0.2860) / 0.3530
}

fn main() -> Result<()> {
    let args = Args::parse();
    let device = if tch_mixcut::load_cuda_backend() { Device::Cuda(0) } else { Device::Cpu };
    tch::manual_seed(args.seed as i64);
    let dir = common::data::resolve_dir(args.data.as_deref());
    let (train, test) = (common::data::load(&dir, "train")?, common::data::load(&dir, "t10k")?);
    println!("Fashion-MNIST from {}: {} train, {} test; device {device:?}", dir.display(), train.len(), test.len());

    let vs = nn::VarStore::new(device);
    let model = net(&vs.root());
    let mut opt = nn::AdamW::default().build(&vs, 2e-3)?;
    let config = MixConfig { mixup_alpha: args.mixup_alpha, cutmix_alpha: args.cutmix_alpha, ..MixConfig::vit(10) };
    let mut mixer = Mixer::new(config, args.seed)?;

    let start = Instant::now();
    let mut running = 0.0;
    for step in 1..=args.steps {
        let index = Tensor::randint(train.len(), [args.batch_size], (Kind::Int64, Device::Cpu));
        let (mut images, labels) = train.batch(&index, device);
        // Mix the uint8 batch in place (as timm's FastCollateMixup), then normalise.
        let targets = mixer.apply_(&mut images, &labels)?;
        let loss = soft_cross_entropy(&model.forward_t(&normalise(&images), true), &targets);
        opt.backward_step(&loss);
        running += loss.double_value(&[]);
        if step % 100 == 0 {
            println!("step {step:4}  train loss {:.4}  ({:.1}s)", running / 100.0, start.elapsed().as_secs_f64());
            running = 0.0;
        }
    }
    println!("mixing executor: {:?}", mixer.last_executor());

    // Evaluation: augmentation off (apply_t with train = false passes images through).
    let (mut correct, mut nll) = (0i64, 0.0);
    tch::no_grad(|| -> Result<()> {
        for chunk in Tensor::arange(test.len(), (Kind::Int64, Device::Cpu)).split(1000, 0) {
            let (images, labels) = test.batch(&chunk, device);
            let (images, targets) = mixer.apply_t(&images, &labels, false)?;
            let logits = model.forward_t(&normalise(&images), false);
            nll += soft_cross_entropy(&logits, &targets).double_value(&[]) * chunk.size()[0] as f64;
            correct += logits.argmax(-1, false).eq_tensor(&labels).sum(Kind::Int64).int64_value(&[]);
        }
        Ok(())
    })?;
    println!(
        "test accuracy {:.2}%  test loss {:.4}  ({} steps in {:.1}s)",
        100.0 * correct as f64 / test.len() as f64,
        nll / test.len() as f64,
        args.steps,
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
