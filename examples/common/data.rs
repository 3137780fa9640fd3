//! Fashion-MNIST as Debian's `dataset-fashion-mnist` ships it: gzipped IDX files.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context, Result};
use tch::{Device, Kind, Tensor};

/// Where Debian installs the data set.
pub const DEBIAN_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// The ten class names, in label order.
pub const CLASSES: [&str; 10] =
    ["T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

/// One split: `images` uint8 `[N, 1, 28, 28]`, `labels` int64 `[N]`, both on the CPU.
pub struct Split {
    pub images: Tensor,
    pub labels: Tensor,
}

impl Split {
    /// Number of samples.
    pub fn len(&self) -> i64 {
        self.labels.size()[0]
    }

    /// The first `n` samples (all if `n` is larger).
    pub fn take(&self, n: i64) -> Split {
        let n = n.min(self.len());
        Split { images: self.images.narrow(0, 0, n), labels: self.labels.narrow(0, 0, n) }
    }

    /// The samples at `index` (int64 on the CPU), moved to `device`.
    pub fn batch(&self, index: &Tensor, device: Device) -> (Tensor, Tensor) {
        (self.images.index_select(0, index).to_device(device), self.labels.index_select(0, index).to_device(device))
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
    ensure!(word(0) == magic, "{}: magic {:#x}, expected {magic:#x} (IDX, unsigned bytes, rank {rank})", path.display(), word(0));
    let dims: Vec<usize> = (1..=rank).map(|i| word(i) as usize).collect();
    let body = &bytes[4 + 4 * rank..];
    ensure!(body.len() == dims.iter().product::<usize>(), "{}: {} data bytes for dims {dims:?}", path.display(), body.len());
    Ok((dims, body.to_vec()))
}
