//! A CIFAR-style ResNet on Fashion-MNIST with Mixup / CutMix from tch-mixcut; `--compare` trains it under
//! none, mixup, cutmix and both and writes a side-by-side report (accuracy, NLL, ECE) with pictures.
//!
//! `cargo run --release --example train_resnet -- --help`

mod common;

use anyhow::Result;
use clap::Parser;

#[derive(Parser)]
#[command(about = "ResNet on Fashion-MNIST with Mixup / CutMix (tch-mixcut)")]
struct Cli {
    #[command(flatten)]
    train: common::cli::TrainArgs,
    /// Channels of the first stage (then 2x and 4x).
    #[arg(long, default_value_t = 16)]
    width: i64,
    /// Basic blocks per stage (1: ResNet-8, 3: ResNet-20).
    #[arg(long, default_value_t = 1)]
    blocks: usize,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    common::run("ResNet", &cli.train, |p| common::models::ResNet::new(p, cli.width, cli.blocks, common::train::CLASSES))
}
