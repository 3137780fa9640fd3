//! Random training transforms whose randomness comes from (seed, epoch, sample index) alone, so the
//! same seed gives the same batches whatever the order, batch or thread that handles a sample.

use anyhow::{ensure, Result};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::Tensor;

use super::transfer::to_device_async;

/// SplitMix64's finaliser: a bijective mix of 64 bits.
fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The random stream of sample `index` in `epoch` of a run seeded with `seed`.
pub fn sample_rng(seed: u64, epoch: u64, index: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(splitmix64(splitmix64(splitmix64(seed) ^ epoch) ^ index))
}

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
