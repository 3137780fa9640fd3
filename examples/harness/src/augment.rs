//! Fashion-MNIST's training augmentation, its randomness from (seed, epoch, sample index) alone (the
//! image-folder loader's per-sample streams), so the same seed gives the same batches whatever the order.

use anyhow::{ensure, Result};
use rand::RngExt;
use tch::Tensor;
use tch_mixcut::data::transforms::sample_rng;

use crate::transfer::to_device_async;

/// torchvision's `RandomCrop(size, padding = pad)` (zero fill) then `RandomHorizontalFlip()` on a uint8
/// batch `[N, C, H, W]` on any device; `indices[i]` is sample `i`'s index in the data set.
pub fn pad_crop_flip(images: &Tensor, pad: i64, seed: u64, epoch: u64, indices: &[i64]) -> Result<Tensor> {
    let (n, c, h, w) = images.size4()?;
    ensure!(indices.len() as i64 == n, "indices: got {} entries, expected {n} (one per image)", indices.len());
    let padded_w = w + 2 * pad;
    let mut gather = Vec::with_capacity((n * h * w) as usize);
    for &i in indices {
        let mut rng = sample_rng(seed, epoch, i as u64);
        let (top, left) = (rng.random_range(0..=2 * pad), rng.random_range(0..=2 * pad));
        let flip = rng.random_bool(0.5);
        for y in 0..h {
            for x in 0..w {
                let source_x = if flip { w - 1 - x } else { x };
                gather.push((top + y) * padded_w + left + source_x);
            }
        }
    }
    let gather =
        to_device_async(&Tensor::from_slice(&gather), images.device()).view([n, 1, h * w]).expand([n, c, h * w], false);
    let padded = images.constant_pad_nd([pad, pad, pad, pad]).view([n, c, -1]);
    Ok(padded.gather(2, &gather, false).view([n, c, h, w]))
}
