//! Throughput of the examples' image-folder loader: one pass over `DIR/train` with the training
//! transforms (RandomResizedCrop + flip, uint8 NHWC batches), as `bench/loader_speed.sh` runs it beside
//! torchvision's ImageFolder + DataLoader.
//!
//! `cargo run --release --example loader_speed -- --data DIR --workers 2`

mod common;

use std::time::Instant;

use anyhow::{ensure, Result};
use clap::Parser;
use common::source::Source;

#[derive(Parser)]
#[command(about = "Images per second of the image-folder loader (one training pass)")]
struct Cli {
    #[command(flatten)]
    train: common::cli::TrainArgs,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let dir = common::fashion_mnist::resolve_dir(cli.train.data.as_deref());
    ensure!(
        common::is_image_folder(&dir),
        "data: got {}, expected a folder holding train/<class>/* and val/<class>/*",
        dir.display()
    );
    let source = common::image_folder::FolderSource::open(&dir, &cli.train, tch::Device::Cpu)?;
    let start = Instant::now();
    let (mut images, mut first, mut after_first) = (0i64, None, 0i64);
    for batch in source.train_batches(0, cli.train.seed)? {
        let n = batch?.labels.size()[0];
        if first.is_none() {
            first = Some(Instant::now());
        } else {
            after_first += n;
        }
        images += n;
    }
    let seconds = start.elapsed().as_secs_f64();
    let rest = first.map_or(0.0, |f| f.elapsed().as_secs_f64());
    println!(
        "tch-mixcut examples' loader, {} workers: {images} images in {seconds:.2} s, {:.0} images/s ({:.0} images/s after the first batch)",
        cli.train.workers,
        images as f64 / seconds,
        after_first as f64 / rest
    );
    Ok(())
}
