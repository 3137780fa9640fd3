//! torchvision's ImageNet transforms on a decoded RGB image, written straight into a batch slot:
//! training `RandomResizedCrop(size)` + `RandomHorizontalFlip()`, evaluation `Resize(size / 0.875)` +
//! `CenterCrop(size)`. Crop and resize are one pass of fast_image_resize's bilinear convolution
//! (antialiased when shrinking, like PIL's bilinear filter that torchvision uses on PIL images).

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A crop of the source image, in source pixels (fractional for the evaluation crop).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Crop {
    /// Left edge.
    pub left: f64,
    /// Top edge.
    pub top: f64,
    /// Width.
    pub width: f64,
    /// Height.
    pub height: f64,
}

impl Crop {
    /// The same region in an image scaled by `sx` horizontally and `sy` vertically.
    pub fn scaled(self, sx: f64, sy: f64) -> Crop {
        Crop { left: self.left * sx, top: self.top * sy, width: self.width * sx, height: self.height * sy }
    }

    /// The crop cut back to a `width × height` image where rounding took its far edge past the image's.
    pub fn within(self, width: u32, height: u32) -> Crop {
        let left = self.left.min(width as f64);
        let top = self.top.min(height as f64);
        Crop { left, top, width: self.width.min(width as f64 - left), height: self.height.min(height as f64 - top) }
    }
}

/// Which transform a pass applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transform {
    /// RandomResizedCrop (scale 0.08–1, ratio 3/4–4/3) and a horizontal flip with probability ½, from
    /// each sample's (seed, epoch, index) stream.
    Train,
    /// Resize of the shorter side to size/0.875, then a centre crop; no randomness.
    Eval,
}

impl Transform {
    /// The crop of a `width × height` image and whether to mirror it, for sample `index` of `epoch`.
    pub fn sample(self, width: u32, height: u32, size: u32, seed: u64, epoch: u64, index: u64) -> (Crop, bool) {
        match self {
            Transform::Train => {
                let mut rng = sample_rng(seed, epoch, index);
                (random_resized_crop(width, height, &mut rng), rng.random_bool(0.5))
            }
            Transform::Eval => (eval_crop(width, height, size), false),
        }
    }
}

/// SplitMix64's finaliser: a bijective mix of 64 bits.
fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The random stream of sample `index` in `epoch` of a run seeded with `seed`: it depends on nothing
/// else, so a sample's crop and flip are the same whatever the thread, batch or order that handles it.
pub fn sample_rng(seed: u64, epoch: u64, index: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(splitmix64(splitmix64(splitmix64(seed) ^ epoch) ^ index))
}

/// torchvision's `RandomResizedCrop.get_params` with scale (0.08, 1) and ratio (3/4, 4/3): up to 10
/// tries of a uniform area fraction and a log-uniform aspect ratio that fit the image, else the whole
/// image clamped to the ratio range, centred. Python's `round` (ties to even) and `int` (truncation)
/// are kept.
pub fn random_resized_crop(width: u32, height: u32, rng: &mut impl RngExt) -> Crop {
    let (scale, ratio) = ((0.08, 1.0), (3.0f64 / 4.0, 4.0f64 / 3.0));
    let area = width as f64 * height as f64;
    let (log_lo, log_hi) = (ratio.0.ln(), ratio.1.ln());
    for _ in 0..10 {
        let target_area = area * rng.random_range(scale.0..scale.1);
        let aspect = rng.random_range(log_lo..log_hi).exp();
        let w = (target_area * aspect).sqrt().round_ties_even() as u32;
        let h = (target_area / aspect).sqrt().round_ties_even() as u32;
        if 0 < w && w <= width && 0 < h && h <= height {
            let top = rng.random_range(0..=height - h);
            let left = rng.random_range(0..=width - w);
            return Crop { left: left as f64, top: top as f64, width: w as f64, height: h as f64 };
        }
    }
    let in_ratio = width as f64 / height as f64;
    let (w, h) = if in_ratio < ratio.0 {
        (width, (width as f64 / ratio.0).round_ties_even() as u32)
    } else if in_ratio > ratio.1 {
        ((height as f64 * ratio.1).round_ties_even() as u32, height)
    } else {
        (width, height)
    };
    Crop { left: ((width - w) / 2) as f64, top: ((height - h) / 2) as f64, width: w as f64, height: h as f64 }
}

/// torchvision's `Resize(int(size / 0.875))` (shorter side to that length, the longer side truncated
/// as torchvision does) then `CenterCrop(size)`, expressed as the crop of the source image that ends up
/// in the output.
pub fn eval_crop(width: u32, height: u32, size: u32) -> Crop {
    let resize = (size as f64 / 0.875) as u32;
    let (short, long) = (width.min(height), width.max(height));
    let long_resized = (resize as f64 * long as f64 / short as f64) as u32;
    let (rw, rh) = if width <= height { (resize, long_resized) } else { (long_resized, resize) };
    let (sx, sy) = (width as f64 / rw as f64, height as f64 / rh as f64);
    let top = ((rh as f64 - size as f64) / 2.0).round_ties_even();
    let left = ((rw as f64 - size as f64) / 2.0).round_ties_even();
    Crop { left: left * sx, top: top * sy, width: size as f64 * sx, height: size as f64 * sy }
}

/// An 8-bit RGB image, rows top to bottom, pixels `R, G, B`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rgb8 {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width · height · 3` bytes.
    pub pixels: Vec<u8>,
}

/// Resizes `crop` of `image` to `size × size` into `out` (`size · size · 3` bytes, HWC), mirrored
/// left-right when `flip`. Errors are fast_image_resize's, in words.
pub fn crop_resize_into(
    resizer: &mut Resizer,
    image: &Rgb8,
    crop: Crop,
    size: u32,
    flip: bool,
    out: &mut [u8],
) -> Result<(), String> {
    let src = ImageRef::new(image.width, image.height, &image.pixels, PixelType::U8x3)
        .map_err(|e| format!("source image: {e}"))?;
    let mut dst = Image::from_slice_u8(size, size, out, PixelType::U8x3).map_err(|e| format!("batch slot: {e}"))?;
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Bilinear)).crop(
        crop.left,
        crop.top,
        crop.width,
        crop.height,
    );
    resizer.resize(&src, &mut dst, &options).map_err(|e| format!("resize: {e}"))?;
    if flip {
        mirror_rows(out, size as usize);
    }
    Ok(())
}

/// Mirrors each row of an HWC RGB image `size` pixels wide.
fn mirror_rows(out: &mut [u8], size: usize) {
    for row in out.chunks_exact_mut(size * 3) {
        for x in 0..size / 2 {
            let (a, b) = (3 * x, 3 * (size - 1 - x));
            for c in 0..3 {
                row.swap(a + c, b + c);
            }
        }
    }
}
