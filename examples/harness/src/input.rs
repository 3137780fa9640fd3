//! Model input from uint8 pixels: the training loop's fused pass options (tch-mixcut mixes, converts and
//! normalises in one pass), and the same conversion in tch ops for code that mixes in place first (the
//! minimal example).

use anyhow::{ensure, Result};
use tch::{Kind, Tensor};
use tch_mixcut::{InputLayout, Normalize};

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

/// The fused pass's options for a uint8 `[N, C, H, W]` batch with these statistics: float32 out, in the
/// batch's own memory order (image folders' batches are NHWC storage: channels-last stays channels-last,
/// which conv nets take as it is and which lets the pass run on whole vectors).
pub fn fused(stats: &PixelStats, images: &Tensor) -> Normalize {
    let s = images.stride();
    let channels_last = s.len() == 4 && s[1] == 1 && images.size()[1] > 1;
    Normalize {
        mean: stats.mean.to_vec(),
        std: stats.std.to_vec(),
        kind: Kind::Float,
        channels_last,
        input: InputLayout::Nchw,
    }
}

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
