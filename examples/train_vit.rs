//! A small Vision Transformer on Fashion-MNIST with Mixup / CutMix from tch-mixcut; `--compare` trains it
//! under none, mixup, cutmix and both and writes a side-by-side report (accuracy, NLL, ECE) with pictures.
//!
//! `cargo run --release --example train_vit -- --help`

mod common;

use anyhow::Result;
use clap::Parser;

#[derive(Parser)]
#[command(about = "Vision Transformer on Fashion-MNIST with Mixup / CutMix (tch-mixcut)")]
struct Cli {
    #[command(flatten)]
    train: common::cli::TrainArgs,
    /// Patch side in pixels (must divide 28).
    #[arg(long, default_value_t = 4)]
    patch: i64,
    /// Token width.
    #[arg(long, default_value_t = 64)]
    dim: i64,
    /// Transformer blocks.
    #[arg(long, default_value_t = 4)]
    depth: usize,
    /// Attention heads.
    #[arg(long, default_value_t = 4)]
    heads: i64,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    anyhow::ensure!(28 % cli.patch == 0, "patch: got {}, expected a divisor of 28", cli.patch);
    anyhow::ensure!(cli.dim % cli.heads == 0, "heads: got {}, expected a divisor of dim = {}", cli.heads, cli.dim);
    common::run("ViT", &cli.train, |p| common::models::Vit::new(p, cli.patch, cli.dim, cli.depth, cli.heads, common::train::CLASSES))
}
