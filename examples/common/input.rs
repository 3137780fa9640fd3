//! Model input from uint8 pixels: the one function that converts and normalises a batch, so that a fused
//! library call (mix + convert + normalise) can replace it in one place.

use anyhow::{ensure, Result};
use tch::{Kind, Tensor};

/// Per-channel pixel statistics on the [0, 1] scale.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PixelStats {
    /// Mean of each channel.
    pub mean: &'static [f64],
    /// Standard deviation of each channel.
    pub std: &'static [f64],
}

/// Fashion-MNIST's training-set pixel mean and standard deviation (one grey channel).
pub const FASHION_MNIST: PixelStats = PixelStats { mean: &[0.2860], std: &[0.3530] };

/// ImageNet's RGB mean and standard deviation, as torchvision's models use them.
pub const IMAGENET: PixelStats = PixelStats { mean: &[0.485, 0.456, 0.406], std: &[0.229, 0.224, 0.225] };

/// uint8 images `[N, C, H, W]` (any strides, e.g. the NCHW view of an NHWC batch) → float32
/// `[N, C, H, W]` holding `(x / 255 − mean_c) / std_c`, on the images' device.
pub fn normalise(images: &Tensor, stats: &PixelStats) -> Result<Tensor> {
    let size = images.size();
    ensure!(images.kind() == Kind::Uint8, "images: got dtype {:?}, expected Uint8", images.kind());
    ensure!(
        size.len() == 4 && size[1] == stats.mean.len() as i64,
        "images: got shape {size:?}, expected [N, {}, H, W]",
        stats.mean.len()
    );
    let x = images.to_kind(Kind::Float) / 255.0;
    if let ([mean], [std]) = (stats.mean, stats.std) {
        return Ok((x - *mean) / *std);
    }
    let channel = |v: &[f64]| Tensor::from_slice(v).to_kind(Kind::Float).view([1, -1, 1, 1]).to_device(images.device());
    Ok((x - channel(stats.mean)) / channel(stats.std))
}
