//! A Vision Transformer with Mixup / CutMix from tch-mixcut: a small ViT on Fashion-MNIST by default,
//! ViT-S/16 on an ImageNet-layout image folder (`--data DIR`). `--compare` trains it under none, mixup,
//! cutmix and both and writes a side-by-side report (accuracy, NLL, ECE) with pictures.
//!
//! `cargo run --release --example train_vit -- --help`

use tch_mixcut_harness as common;

use anyhow::Result;
use clap::Parser;

#[derive(Parser)]
#[command(about = "Vision Transformer on Fashion-MNIST or an image folder with Mixup / CutMix (tch-mixcut)")]
struct Cli {
    #[command(flatten)]
    train: common::cli::TrainArgs,
    #[command(flatten)]
    model: common::cli::VitArgs,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    common::run_vit(&cli.train, &cli.model)
}
