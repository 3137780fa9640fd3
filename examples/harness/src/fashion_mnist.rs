//! Fashion-MNIST as Debian's `dataset-fashion-mnist` ships it (gzipped IDX files), held in memory on the
//! training device, as a training [`Source`]: optional held-out slice, optional crop-and-flip augmentation.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context, Result};
use tch::{Device, Kind, Tensor};

use crate::augment;
use crate::input::{PixelStats, FASHION_MNIST};
use crate::source::{Batch, Batches, EvalSplit, InputShape, Source};
use crate::transfer::to_device_async;

/// Where Debian installs the data set.
pub const DEBIAN_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// The ten class names, in label order.
pub const CLASSES: [&str; 10] =
    ["T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

/// One split: `images` uint8 `[N, 1, 28, 28]`, `labels` int64 `[N]`.
pub struct Split {
    /// uint8 `[N, 1, 28, 28]`.
    pub images: Tensor,
    /// int64 `[N]`.
    pub labels: Tensor,
}

impl Split {
    /// Number of samples.
    pub fn len(&self) -> i64 {
        self.labels.size()[0]
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The first `n` samples (all if `n` is larger).
    pub fn take(&self, n: i64) -> Split {
        self.slice(0, n)
    }

    /// `n` samples from `start` (fewer if the split ends first).
    pub fn slice(&self, start: i64, n: i64) -> Split {
        let n = n.min(self.len() - start).max(0);
        Split { images: self.images.narrow(0, start, n), labels: self.labels.narrow(0, start, n) }
    }

    /// The same split on `device`.
    pub fn to_device(&self, device: Device) -> Split {
        Split { images: self.images.to_device(device), labels: self.labels.to_device(device) }
    }

    /// The samples at `index` (int64, on the split's device).
    pub fn batch(&self, index: &Tensor) -> Batch {
        Batch { images: self.images.index_select(0, index), labels: self.labels.index_select(0, index), skipped: 0 }
    }
}

/// The folder to read: the given one, else `$FASHION_MNIST_DIR`, else Debian's.
pub fn resolve_dir(given: Option<&Path>) -> PathBuf {
    given
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os("FASHION_MNIST_DIR").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(DEBIAN_DIR))
}

/// Loads `train` (60,000) or `t10k` (10,000) from `dir`.
pub fn load(dir: &Path, split: &str) -> Result<Split> {
    let file = |kind: &str| dir.join(format!("{split}-{kind}-ubyte.gz"));
    let (image_path, label_path) = (file("images-idx3"), file("labels-idx1"));
    if !image_path.exists() {
        bail!(
            "Fashion-MNIST not found: {} is missing. Install it with `apt-get install dataset-fashion-mnist` \
             (bash scripts/setup.sh does), or pass --data DIR / set FASHION_MNIST_DIR to a folder holding \
             {split}-images-idx3-ubyte.gz and {split}-labels-idx1-ubyte.gz",
            image_path.display()
        );
    }
    let (image_dims, pixels) = read_idx(&image_path, 3)?;
    let (label_dims, labels) = read_idx(&label_path, 1)?;
    ensure!(image_dims[0] == label_dims[0], "{}: {} images but {} labels", dir.display(), image_dims[0], label_dims[0]);
    let dims: Vec<i64> = [image_dims[0], 1, image_dims[1], image_dims[2]].iter().map(|&d| d as i64).collect();
    let images = Tensor::from_slice(&pixels).reshape(dims.as_slice());
    let labels = Tensor::from_slice(&labels).to_kind(Kind::Int64);
    Ok(Split { images, labels })
}

/// Reads a gzipped IDX file of unsigned bytes with `rank` dimensions.
fn read_idx(path: &Path, rank: usize) -> Result<(Vec<usize>, Vec<u8>)> {
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?)
        .read_to_end(&mut bytes)
        .with_context(|| format!("decompressing {}", path.display()))?;
    let magic = 0x0800 | rank as u32;
    ensure!(bytes.len() >= 4 + 4 * rank, "{}: truncated header", path.display());
    let word = |i: usize| u32::from_be_bytes(bytes[4 * i..4 * i + 4].try_into().unwrap());
    ensure!(
        word(0) == magic,
        "{}: magic {:#x}, expected {magic:#x} (IDX, unsigned bytes, rank {rank})",
        path.display(),
        word(0)
    );
    let dims: Vec<usize> = (1..=rank).map(|i| word(i) as usize).collect();
    let body = &bytes[4 + 4 * rank..];
    ensure!(
        body.len() == dims.iter().product::<usize>(),
        "{}: {} data bytes for dims {dims:?}",
        path.display(),
        body.len()
    );
    Ok((dims, body.to_vec()))
}

/// Both splits from `dir`, or (when the files are missing) random images and labels of the same shapes
/// with a note saying so: for examples that must run anywhere.
pub fn load_or_random(dir: &Path) -> Result<(Split, Split)> {
    if dir.join("train-images-idx3-ubyte.gz").exists() {
        return Ok((load(dir, "train")?, load(dir, "t10k")?));
    }
    println!("Fashion-MNIST not found in {}: random data instead (accuracy will stay near chance)", dir.display());
    let random = |n: i64| Split {
        images: Tensor::randint(256, [n, 1, 28, 28], (Kind::Uint8, Device::Cpu)),
        labels: Tensor::randint(10, [n], (Kind::Int64, Device::Cpu)),
    };
    Ok((random(60_000), random(10_000)))
}

/// Fashion-MNIST as a training source: the first `train` images of the training file, its last
/// `holdout` images held out (never trained on), and the 10,000 test images, all on one device.
pub struct FashionMnist {
    train: Split,
    holdout: Split,
    test: Split,
    batch_size: i64,
    augment: bool,
    classes: Vec<String>,
    dir: PathBuf,
}

impl FashionMnist {
    /// Loads `dir`: `train_subset` training images (0: all that are not held out), the last `holdout`
    /// images of the training file as the held-out slice; `augment` turns on pad-4 crop and flip.
    pub fn load(
        dir: &Path,
        train_subset: i64,
        holdout: i64,
        batch_size: i64,
        augment: bool,
        device: Device,
    ) -> Result<Self> {
        let all = load(dir, "train")?;
        ensure!(
            (0..all.len()).contains(&holdout),
            "holdout: got {holdout}, expected 0 to {} (fewer than the training file's {} images)",
            all.len() - 1,
            all.len()
        );
        ensure!(train_subset >= 0, "train-subset: got {train_subset}, expected 0 (all) or a positive count");
        let available = all.len() - holdout;
        let n = if train_subset > 0 { train_subset.min(available) } else { available };
        Ok(FashionMnist {
            train: all.take(n).to_device(device),
            holdout: all.slice(available, holdout).to_device(device),
            test: load(dir, "t10k")?.to_device(device),
            batch_size,
            augment,
            classes: CLASSES.iter().map(|c| c.to_string()).collect(),
            dir: dir.to_path_buf(),
        })
    }
}

impl Source for FashionMnist {
    fn classes(&self) -> &[String] {
        &self.classes
    }

    fn input(&self) -> InputShape {
        InputShape { channels: 1, size: 28, classes: CLASSES.len() as i64 }
    }

    fn stats(&self) -> &'static PixelStats {
        &FASHION_MNIST
    }

    fn train_len(&self) -> usize {
        self.train.len() as usize
    }

    fn eval_len(&self, split: EvalSplit) -> usize {
        match split {
            EvalSplit::Test => self.test.len() as usize,
            EvalSplit::Holdout => self.holdout.len() as usize,
        }
    }

    fn train_batches(&self, epoch: usize, seed: u64) -> Result<Batches<'_>> {
        // tch's CPU generator (seeded by the training loop) orders the epoch, on every device: the host
        // reads the order (for the augmentation's per-sample streams) without waiting for the GPU, which
        // copying a device-made order back would do once a step; the device gets it once an epoch.
        let order = Tensor::randperm(self.train.len(), (Kind::Int64, Device::Cpu));
        let on_device = to_device_async(&order, self.train.labels.device());
        let batches = order.split(self.batch_size, 0).into_iter().zip(on_device.split(self.batch_size, 0));
        Ok(Box::new(batches.map(move |(index, device_index)| {
            let mut batch = self.train.batch(&device_index);
            if self.augment {
                let indices = Vec::<i64>::try_from(&index)?;
                batch.images = augment::pad_crop_flip(&batch.images, 4, seed, epoch as u64, &indices)?;
            }
            Ok(batch)
        })))
    }

    fn eval_batches(&self, split: EvalSplit) -> Result<Batches<'_>> {
        let data = if split == EvalSplit::Test { &self.test } else { &self.holdout };
        let index = Tensor::arange(data.len(), (Kind::Int64, data.labels.device()));
        Ok(Box::new(index.split(1000, 0).into_iter().map(move |i| Ok(data.batch(&i)))))
    }

    fn describe(&self) -> String {
        format!(
            "Fashion-MNIST from {}: {} training images{}, {} held out (the training file's last), {} test images",
            self.dir.display(),
            self.train.len(),
            if self.augment { " (pad-4 random crop + horizontal flip)" } else { "" },
            self.holdout.len(),
            self.test.len()
        )
    }
}
