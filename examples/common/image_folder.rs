//! ImageNet-layout image folders (`DIR/train/<class>/*`, `DIR/val/<class>/*`) as a training source:
//! files listed once (paths only: the data set never sits in memory), decoded (JPEG, PNG) and
//! transformed in worker threads into uint8 NHWC batches, handed over in order through bounded queues,
//! pinned and copied without blocking when the target is CUDA.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;

use anyhow::{anyhow, bail, ensure, Context, Result};
use fast_image_resize::Resizer;
use image::RgbImage;
use rand::seq::SliceRandom;
use rand::RngExt;
use tch::{Device, Kind, Tensor};

use super::augment::sample_rng;
use super::cli::TrainArgs;
use super::input::{PixelStats, IMAGENET};
use super::source::{Batch, Batches, EvalSplit, InputShape, Source};
use super::transfer::{pinned, to_device_async};
use super::transforms::{crop_resize_into, eval_crop, random_resized_crop};

/// File extensions taken as images (compared without case); other files are ignored. The content is
/// then decoded by its magic bytes, whatever the extension says.
pub const EXTENSIONS: [&str; 3] = ["jpg", "jpeg", "png"];

/// The class names of a training folder: its sub-folder names, sorted (torchvision's `find_classes`);
/// class `k` is the `k`-th name.
pub fn find_classes(train: &Path) -> Result<Vec<String>> {
    let entries = std::fs::read_dir(train).with_context(|| format!("reading {}", train.display()))?;
    let mut classes = Vec::new();
    for entry in entries {
        let entry = entry.with_context(|| format!("reading {}", train.display()))?;
        if entry.path().is_dir() {
            classes.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    classes.sort();
    ensure!(
        !classes.is_empty(),
        "{}: no class folders, expected {}/<class>/<images>",
        train.display(),
        train.display()
    );
    Ok(classes)
}

/// One split's files and labels.
#[derive(Clone, Debug, Default)]
pub struct Listing {
    /// Image files with their class index, class by class, each class's files in sorted path order.
    pub samples: Vec<(PathBuf, i64)>,
    /// Files left out because their extension is not an image's.
    pub ignored: usize,
}

fn is_image(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

/// Every file under `dir`, recursively, in sorted order.
fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()
        .with_context(|| format!("reading {}", dir.display()))?;
    entries.sort();
    for path in entries {
        if path.is_dir() {
            walk(&path, files)?;
        } else {
            files.push(path);
        }
    }
    Ok(())
}

/// The image files of `split` (`DIR/train` or `DIR/val`), labelled by `classes`. A sub-folder whose name
/// is not a class is an error; so is a class folder without images when `require_every_class`
/// (training), as in torchvision.
pub fn list(split: &Path, classes: &[String], require_every_class: bool) -> Result<Listing> {
    let mut listing = Listing::default();
    let mut empty = Vec::new();
    for name in find_classes(split)? {
        let label = classes.iter().position(|c| *c == name).ok_or_else(|| {
            anyhow!("{}: class folder {name:?} is not among the training classes {classes:?}", split.display())
        })?;
        let mut files = Vec::new();
        walk(&split.join(&name), &mut files)?;
        let before = listing.samples.len();
        for f in files {
            if is_image(&f) {
                listing.samples.push((f, label as i64));
            } else {
                listing.ignored += 1;
            }
        }
        if listing.samples.len() == before {
            empty.push(name);
        }
    }
    if require_every_class {
        let missing: Vec<&String> = classes.iter().filter(|c| !split.join(c).is_dir() || empty.contains(c)).collect();
        ensure!(
            missing.is_empty(),
            "{}: no image files ({}) for the classes {missing:?}; every training class needs at least one",
            split.display(),
            EXTENSIONS.map(|e| format!(".{e}")).join(", ")
        );
    }
    Ok(listing)
}

/// Reads and decodes one file as 8-bit RGB (the format from its magic bytes).
pub fn decode(path: &Path) -> Result<RgbImage> {
    let bytes = std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
    let image = image::load_from_memory(&bytes)
        .with_context(|| format!("{}: not a decodable JPEG or PNG image", path.display()))?;
    Ok(image.into_rgb8())
}

/// The transform a pass applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transform {
    /// RandomResizedCrop + horizontal flip, from each sample's (seed, epoch, index) stream.
    Train,
    /// Resize of the shorter side to size/0.875, centre crop.
    Eval,
}

/// How a [`Loader`] decodes and batches.
#[derive(Clone, Debug)]
pub struct LoaderConfig {
    /// Output side (square).
    pub size: u32,
    /// Samples per batch (the last may be smaller).
    pub batch_size: usize,
    /// Decoding threads.
    pub workers: usize,
    /// Batches each worker may hold ready: the bound on memory.
    pub prefetch: usize,
    /// Leave out undecodable files (counted in [`Batch::skipped`]) instead of failing.
    pub skip_bad_images: bool,
    /// Where batches go (pinned host memory and a non-blocking copy for CUDA).
    pub device: Device,
}

/// Decodes and transforms a listing's samples in worker threads into uint8 batches.
pub struct Loader {
    samples: Arc<Vec<(PathBuf, i64)>>,
    config: LoaderConfig,
}

/// What a worker sends: a batch's NHWC pixels as a (pinned, for CUDA) CPU tensor, its labels, its skips.
type Decoded = Result<(Tensor, Vec<i64>, usize)>;

impl Loader {
    /// A loader over `samples`.
    pub fn new(samples: Vec<(PathBuf, i64)>, config: LoaderConfig) -> Loader {
        Loader { samples: Arc::new(samples), config }
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// The batches of one pass over the samples in `order` (indices into the listing). Batch `b` is
    /// made by worker `b mod workers` and received in order; each sample's randomness comes from
    /// `(seed, epoch, index)`, so the batches do not depend on thread timing.
    pub fn batches(&self, order: Vec<usize>, transform: Transform, seed: u64, epoch: u64) -> LoaderIter {
        let order = Arc::new(order);
        let n_batches = order.len().div_ceil(self.config.batch_size);
        let workers = self.config.workers.min(n_batches.max(1));
        let mut receivers = Vec::with_capacity(workers);
        let mut handles = Vec::with_capacity(workers);
        for w in 0..workers {
            let (tx, rx) = sync_channel::<Decoded>(self.config.prefetch);
            receivers.push(rx);
            let (samples, order, config) = (self.samples.clone(), order.clone(), self.config.clone());
            handles.push(std::thread::spawn(move || {
                let mut resizer = Resizer::new();
                for b in (w..n_batches).step_by(workers) {
                    let chunk = &order[b * config.batch_size..((b + 1) * config.batch_size).min(order.len())];
                    let made = make_batch(&samples, chunk, &config, transform, seed, epoch, &mut resizer);
                    let failed = made.is_err();
                    if tx.send(made).is_err() || failed {
                        return; // the consumer is gone, or the pass has failed
                    }
                }
            }));
        }
        LoaderIter { receivers, handles, next: 0, n_batches, device: self.config.device, carried_skips: 0 }
    }
}

/// Decodes and transforms the samples `chunk` into one NHWC batch.
fn make_batch(
    samples: &[(PathBuf, i64)],
    chunk: &[usize],
    config: &LoaderConfig,
    transform: Transform,
    seed: u64,
    epoch: u64,
    resizer: &mut Resizer,
) -> Decoded {
    let slot = (config.size * config.size * 3) as usize;
    let mut pixels = vec![0u8; chunk.len() * slot];
    let (mut labels, mut skipped) = (Vec::with_capacity(chunk.len()), 0);
    for &i in chunk {
        let (path, label) = &samples[i];
        let rgb = match decode(path) {
            Ok(d) => d,
            Err(_) if config.skip_bad_images => {
                skipped += 1;
                continue;
            }
            Err(e) => bail!("{e:#}; pass --skip-bad-images to leave such files out"),
        };
        let (w, h) = rgb.dimensions();
        let (crop, flip) = match transform {
            Transform::Train => {
                let mut rng = sample_rng(seed, epoch, i as u64);
                (random_resized_crop(w, h, &mut rng), rng.random_bool(0.5))
            }
            Transform::Eval => (eval_crop(w, h, config.size), false),
        };
        let at = labels.len() * slot;
        crop_resize_into(resizer, &rgb, crop, config.size, flip, &mut pixels[at..at + slot])
            .with_context(|| format!("{}", path.display()))?;
        labels.push(*label);
    }
    pixels.truncate(labels.len() * slot);
    let s = config.size as i64;
    let mut images = Tensor::from_slice(&pixels).view([labels.len() as i64, s, s, 3]);
    if config.device.is_cuda() {
        images = pinned(&images, config.device);
    }
    Ok((images, labels, skipped))
}

/// The batches of one pass, in order; dropping it stops the workers.
pub struct LoaderIter {
    receivers: Vec<Receiver<Decoded>>,
    handles: Vec<JoinHandle<()>>,
    next: usize,
    n_batches: usize,
    device: Device,
    carried_skips: usize,
}

impl Iterator for LoaderIter {
    type Item = Result<Batch>;

    fn next(&mut self) -> Option<Result<Batch>> {
        while self.next < self.n_batches {
            let b = self.next;
            self.next += 1;
            let received =
                self.receivers[b % self.receivers.len()].recv().map_err(|_| anyhow!("image loader: worker stopped"));
            let (images, labels, skipped) = match received.and_then(|r| r) {
                Ok(batch) => batch,
                Err(e) => {
                    self.next = self.n_batches;
                    return Some(Err(e));
                }
            };
            self.carried_skips += skipped;
            if labels.is_empty() {
                continue; // every file of this batch was skipped: its count goes with the next batch
            }
            let images = images.to_device_(self.device, Kind::Uint8, true, false).permute([0, 3, 1, 2]);
            let labels = to_device_async(&Tensor::from_slice(&labels), self.device);
            let skipped = std::mem::take(&mut self.carried_skips);
            return Some(Ok(Batch { images, labels, skipped }));
        }
        if self.carried_skips > 0 {
            println!(
                "image loader: the last {} files of the pass could not be decoded and were skipped",
                std::mem::take(&mut self.carried_skips)
            );
        }
        None
    }
}

impl Drop for LoaderIter {
    fn drop(&mut self) {
        self.receivers.clear(); // workers blocked on a full queue see the disconnect and stop
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

/// An image folder as a training source: `train/` (less a fixed held-out pick when `--holdout` is
/// set) and `val/`, classes from the sorted folder names of `train/`.
pub struct FolderSource {
    root: PathBuf,
    classes: Vec<String>,
    train: Loader,
    holdout: Loader,
    val: Loader,
    size: u32,
    ignored: usize,
}

impl FolderSource {
    /// Lists `dir/train` and `dir/val` and sets up their loaders.
    pub fn open(dir: &Path, args: &TrainArgs, device: Device) -> Result<Self> {
        let (train_dir, val_dir) = (dir.join("train"), dir.join("val"));
        ensure!(
            val_dir.is_dir(),
            "data: {} is missing; an image folder holds train/<class>/* and val/<class>/*",
            val_dir.display()
        );
        let classes = find_classes(&train_dir)?;
        let train = list(&train_dir, &classes, true)?;
        let val = list(&val_dir, &classes, false)?;
        let mut samples = train.samples;
        ensure!(
            (args.holdout as usize) < samples.len(),
            "holdout: got {}, expected fewer than the {} training images",
            args.holdout,
            samples.len()
        );
        // A fixed pick (the same for every seed): shuffle a copy of the indices with a constant stream.
        let mut picked: Vec<usize> = (0..samples.len()).collect();
        picked.shuffle(&mut sample_rng(0, u64::MAX, 0));
        let mut is_held = vec![false; samples.len()];
        for &i in &picked[..args.holdout as usize] {
            is_held[i] = true;
        }
        let mut held = Vec::new();
        let mut kept = Vec::new();
        for (s, h) in samples.drain(..).zip(is_held) {
            if h {
                held.push(s)
            } else {
                kept.push(s)
            }
        }
        let config = LoaderConfig {
            size: args.image_size as u32,
            batch_size: args.batch_size as usize,
            workers: args.workers,
            prefetch: args.prefetch,
            skip_bad_images: args.skip_bad_images,
            device,
        };
        Ok(FolderSource {
            root: dir.to_path_buf(),
            classes,
            train: Loader::new(kept, config.clone()),
            holdout: Loader::new(held, config.clone()),
            val: Loader::new(val.samples, config),
            size: args.image_size as u32,
            ignored: train.ignored + val.ignored,
        })
    }
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
        self.train.len()
    }

    fn eval_len(&self, split: EvalSplit) -> usize {
        match split {
            EvalSplit::Test => self.val.len(),
            EvalSplit::Holdout => self.holdout.len(),
        }
    }

    fn train_batches(&self, epoch: usize, seed: u64) -> Result<Batches<'_>> {
        let mut order: Vec<usize> = (0..self.train.len()).collect();
        order.shuffle(&mut sample_rng(seed, epoch as u64, u64::MAX));
        Ok(Box::new(self.train.batches(order, Transform::Train, seed, epoch as u64)))
    }

    fn eval_batches(&self, split: EvalSplit) -> Result<Batches<'_>> {
        let loader = if split == EvalSplit::Test { &self.val } else { &self.holdout };
        Ok(Box::new(loader.batches((0..loader.len()).collect(), Transform::Eval, 0, 0)))
    }

    fn describe(&self) -> String {
        format!(
            "image folder {}: {} classes, {} training images (RandomResizedCrop {s} + flip), {} held out, {} val images \
             (resize {} + centre crop {s}); {} files ignored (extension not .jpg/.jpeg/.png)",
            self.root.display(),
            self.classes.len(),
            self.train.len(),
            self.holdout.len(),
            self.val.len(),
            (self.size as f64 / 0.875) as u32,
            self.ignored,
            s = self.size,
        )
    }
}
