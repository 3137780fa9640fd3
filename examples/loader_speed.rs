//! Throughput of the crate's image-folder loader (`tch_mixcut::data`): one training pass over
//! `DIR/train` (RandomResizedCrop + flip, uint8 NHWC batches), as `bench/loader_speed.sh` runs it beside
//! torchvision's ImageFolder + DataLoader.
//!
//! `cargo run --release --example loader_speed -- --data DIR --workers 2`

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use clap::{Parser, ValueEnum};
use tch_mixcut::data::{Decoding, ImageFolder, Loader, LoaderConfig};

#[derive(Clone, Copy, Debug, ValueEnum)]
enum DecodingArg {
    /// Full-size decoding (the loader's default).
    Full,
    /// DCT-scaled JPEG decoding where the crop allows.
    Scaled,
}

#[derive(Parser)]
#[command(about = "Images per second of tch_mixcut::data's loader (one training pass)")]
struct Cli {
    /// A folder holding train/<class>/<images>.
    #[arg(long)]
    data: PathBuf,
    /// Decoding threads.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Images per batch.
    #[arg(long, default_value_t = 256)]
    batch_size: usize,
    /// Output side.
    #[arg(long, default_value_t = 224)]
    image_size: u32,
    /// Batches held at once, at most (default: 2 per worker).
    #[arg(long)]
    prefetch: Option<usize>,
    /// JPEG decoding.
    #[arg(long, value_enum, default_value_t = DecodingArg::Full)]
    decoding: DecodingArg,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let folder = ImageFolder::new(cli.data.join("train"))?;
    let decoding = match cli.decoding {
        DecodingArg::Scaled => Decoding::Scaled,
        DecodingArg::Full => Decoding::Full,
    };
    let config = LoaderConfig {
        workers: cli.workers,
        prefetch: cli.prefetch.unwrap_or(2 * cli.workers),
        decoding,
        ..LoaderConfig::train(cli.image_size, cli.batch_size)
    };
    let prefetch = config.prefetch;
    let loader = Loader::new(&folder, config)?;
    let start = Instant::now();
    let (mut images, mut first, mut after_first) = (0usize, None, 0usize);
    let mut batches = loader.epoch(0);
    for batch in batches.by_ref() {
        let n = batch?.len();
        if first.is_none() {
            first = Some(Instant::now());
        } else {
            after_first += n;
        }
        images += n;
    }
    let seconds = start.elapsed().as_secs_f64();
    let rest = first.map_or(0.0, |f| f.elapsed().as_secs_f64());
    let rate = images as f64 / seconds;
    println!(
        "tch-mixcut data::Loader ({decoding:?} decoding), {} workers: {images} images in {seconds:.2} s, {rate:.0} images/s, \
         {:.0} per worker ({:.0} images/s after the first batch); at most {} of {prefetch} batches held",
        cli.workers,
        rate / cli.workers as f64,
        after_first as f64 / rest,
        batches.peak_held(),
    );
    Ok(())
}
