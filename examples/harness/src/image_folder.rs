//! An ImageNet-layout image folder (`DIR/train/<class>/*`, `DIR/val/<class>/*`) as a training source,
//! through the crate's loader (`tch_mixcut::data`): its NHWC batches copied to the training device
//! without blocking and handed to the training loop as their `[N, C, H, W]` view (channels-last strides).

use std::path::{Path, PathBuf};

use anyhow::{ensure, Result};
use rand::seq::SliceRandom;
use tch::Device;
use tch_mixcut::data::transforms::sample_rng;
use tch_mixcut::data::{ImageFolder, Loader, LoaderConfig, Sample, Transform, EXTENSIONS};

use crate::cli::TrainArgs;
use crate::input::{PixelStats, IMAGENET};
use crate::source::{Batch, Batches, EvalSplit, InputShape, Source};

/// An image folder as a training source: `train/` (less a fixed held-out pick when `--holdout` is
/// set) and `val/`, classes from the sorted folder names of `train/`.
pub struct FolderSource {
    root: PathBuf,
    classes: Vec<String>,
    train: Loader,
    holdout: Option<Loader>,
    val: Option<Loader>,
    size: u32,
    ignored: usize,
    device: Device,
}

impl FolderSource {
    /// Lists `dir/train` and `dir/val` and sets up their loaders.
    pub fn open(dir: &Path, args: &TrainArgs, device: Device) -> Result<Self> {
        let val_dir = dir.join("val");
        ensure!(
            val_dir.is_dir(),
            "data: {} is missing; an image folder holds train/<class>/* and val/<class>/*",
            val_dir.display()
        );
        let train = ImageFolder::new(dir.join("train"))?;
        let val = ImageFolder::with_classes(&val_dir, train.classes())?;
        let holdout = args.holdout as usize;
        ensure!(
            holdout < train.len(),
            "holdout: got {holdout}, expected fewer than the {} training images",
            train.len()
        );
        let (kept, held) = hold_out(train.samples(), holdout);
        let size = args.image_size as u32;
        let train_config = LoaderConfig {
            workers: args.workers,
            prefetch: args.prefetch,
            skip_bad_images: args.skip_bad_images,
            pin_memory: device.is_cuda(),
            ..LoaderConfig::train(size, args.batch_size as usize)
        };
        let eval_config = LoaderConfig { transform: Transform::Eval, shuffle: false, ..train_config.clone() };
        let loader = |samples: Vec<Sample>, config: &LoaderConfig| -> Result<Option<Loader>> {
            Ok(if samples.is_empty() { None } else { Some(Loader::from_samples(samples, config.clone())?) })
        };
        Ok(FolderSource {
            root: dir.to_path_buf(),
            classes: train.classes().to_vec(),
            train: Loader::from_samples(kept, train_config)?,
            holdout: loader(held, &eval_config)?,
            val: loader(val.samples().to_vec(), &eval_config)?,
            size,
            ignored: train.ignored() + val.ignored(),
            device,
        })
    }
}

/// `loader`'s batches of `epoch` on `device`, as NCHW views of NHWC storage; none without a loader.
fn batches(loader: Option<&Loader>, epoch: usize, device: Device) -> Batches<'static> {
    let Some(loader) = loader else { return Box::new(std::iter::empty()) };
    Box::new(loader.epoch(epoch).map(move |batch| {
        let batch = batch?;
        let (images, labels) = batch.to_device(device);
        Ok(Batch { images: images.permute([0, 3, 1, 2]), labels, skipped: batch.skipped })
    }))
}

/// Splits `samples` into the kept and the `n` held out: a fixed pick, the same for every seed (a copy
/// of the indices shuffled by a constant stream).
fn hold_out(samples: &[Sample], n: usize) -> (Vec<Sample>, Vec<Sample>) {
    let mut picked: Vec<usize> = (0..samples.len()).collect();
    picked.shuffle(&mut sample_rng(0, u64::MAX, 0));
    let mut is_held = vec![false; samples.len()];
    for &i in &picked[..n] {
        is_held[i] = true;
    }
    let (held, kept): (Vec<_>, Vec<_>) = samples.iter().cloned().zip(is_held).partition(|(_, h)| *h);
    (kept.into_iter().map(|(s, _)| s).collect(), held.into_iter().map(|(s, _)| s).collect())
}

impl Source for FolderSource {
    fn classes(&self) -> &[String] {
        &self.classes
    }

    fn input(&self) -> InputShape {
        InputShape { channels: 3, size: self.size as i64, classes: self.classes.len() as i64 }
    }

    fn stats(&self) -> &'static PixelStats {
        &IMAGENET
    }

    fn train_len(&self) -> usize {
        self.train.samples().len()
    }

    fn eval_len(&self, split: EvalSplit) -> usize {
        let loader = if split == EvalSplit::Test { &self.val } else { &self.holdout };
        loader.as_ref().map_or(0, |l| l.samples().len())
    }

    fn train_batches(&self, epoch: usize, seed: u64) -> Result<Batches<'_>> {
        Ok(batches(Some(&self.train.with_seed(seed)), epoch, self.device))
    }

    fn eval_batches(&self, split: EvalSplit) -> Result<Batches<'_>> {
        let loader = if split == EvalSplit::Test { &self.val } else { &self.holdout };
        Ok(batches(loader.as_ref(), 0, self.device))
    }

    fn describe(&self) -> String {
        format!(
            "image folder {}: {} classes, {} training images (RandomResizedCrop {s} + flip), {} held out, {} val images \
             (resize {} + centre crop {s}); {} files ignored (extension not {})",
            self.root.display(),
            self.classes.len(),
            self.train_len(),
            self.eval_len(EvalSplit::Holdout),
            self.eval_len(EvalSplit::Test),
            (self.size as f64 / 0.875) as u32,
            self.ignored,
            EXTENSIONS.map(|e| format!(".{e}")).join("/"),
            s = self.size,
        )
    }
}
