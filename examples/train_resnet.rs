//! A ResNet with Mixup / CutMix from tch-mixcut: the small CIFAR-style ResNet-8 on Fashion-MNIST by
//! default, or tch's ResNet-18 / ResNet-50 on an ImageNet-layout image folder (`--data DIR`).
//! `--compare` trains it under none, mixup, cutmix and both and writes a side-by-side report (accuracy,
//! NLL, ECE) with pictures; `--recipes`, `--seeds` and `--holdout` run the calibration experiment.
//!
//! `cargo run --release --example train_resnet -- --help`

use tch_mixcut_harness as common;

use anyhow::Result;
use clap::Parser;

#[derive(Parser)]
#[command(about = "ResNet on Fashion-MNIST or an image folder with Mixup / CutMix (tch-mixcut)")]
struct Cli {
    #[command(flatten)]
    train: common::cli::TrainArgs,
    #[command(flatten)]
    model: common::cli::ResNetArgs,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    common::run_resnet(&cli.train, &cli.model)
}
