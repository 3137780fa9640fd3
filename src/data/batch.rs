//! One batch: its samples decoded, transformed and packed into uint8 NHWC, in a worker thread.

use std::path::Path;

use fast_image_resize::Resizer;
use tch::{Device, Kind, Tensor};

use super::config::LoaderConfig;
use super::decode::decode;
use super::error::{DataError, DataResult};
use super::folder::Sample;
use super::transforms::crop_resize_into;

/// A batch of images and labels, on the CPU.
#[derive(Debug)]
pub struct Batch {
    /// uint8 `[N, size, size, 3]`, contiguous (NHWC), pinned when the loader pins: ready for
    /// [`Mixer::apply_normalized`](crate::Mixer::apply_normalized) with
    /// [`InputLayout::Nhwc`](crate::InputLayout::Nhwc).
    pub images: Tensor,
    /// int64 class indices `[N]`.
    pub labels: Tensor,
    /// Each image's index into the folder's samples.
    pub indices: Vec<usize>,
    /// Files left out of this batch (or of earlier batches that came out empty) because they could not be
    /// read or decoded; always 0 unless [`LoaderConfig::skip_bad_images`] is set.
    pub skipped: usize,
    /// The batch's number in its epoch (0, 1, … as [`Loader::epoch`](super::Loader::epoch) yields them,
    /// one skipped for a batch whose every file was skipped): `number + 1` resumes after it with
    /// [`Loader::epoch_from`](super::Loader::epoch_from).
    pub number: usize,
}

impl Batch {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.indices.len()
    }

    /// Whether the batch holds no image.
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }

    /// The images and labels on `device`. From pinned memory to a CUDA device the copies are queued on
    /// the current stream without waiting (libtorch keeps the pinned block until they have run).
    pub fn to_device(&self, device: Device) -> (Tensor, Tensor) {
        (
            self.images.to_device_(device, Kind::Uint8, true, false),
            self.labels.to_device_(device, Kind::Int64, true, false),
        )
    }
}

/// Decodes and transforms the samples `indices` (batch `number` of epoch `epoch`) into one batch.
pub(crate) fn make_batch(
    samples: &[Sample],
    indices: &[usize],
    number: usize,
    config: &LoaderConfig,
    epoch: u64,
    resizer: &mut Resizer,
) -> DataResult<Batch> {
    let (slot, s) = ((config.size * config.size * 3) as usize, config.size as i64);
    let mut images = Tensor::f_empty([indices.len() as i64, s, s, 3], (Kind::Uint8, Device::Cpu))?;
    if config.pin_memory {
        // aten's `_pin_memory`: tch's `pin_memory(device)` prints a deprecation warning on every call.
        images = images.f_internal_pin_memory(Device::Cuda(0))?;
    }
    // The images are written straight into the batch's storage, with no copy into a tensor afterwards.
    // SAFETY: `images` is a fresh contiguous uint8 CPU tensor of `indices.len() · slot` bytes that nothing
    // else refers to while `pixels` lives; the bytes are zeroed before the slice is made.
    let pixels = unsafe {
        let data = images.data_ptr() as *mut u8;
        std::ptr::write_bytes(data, 0, indices.len() * slot);
        std::slice::from_raw_parts_mut(data, indices.len() * slot)
    };
    let (mut kept, mut labels, mut skipped) = (Vec::with_capacity(indices.len()), Vec::new(), 0);
    for &i in indices {
        let at = kept.len() * slot;
        match load_into(&samples[i].path, i, config, epoch, resizer, &mut pixels[at..at + slot]) {
            Ok(()) => {
                kept.push(i);
                labels.push(samples[i].label);
            }
            Err(_) if config.skip_bad_images => skipped += 1,
            Err(e) => return Err(e),
        }
    }
    if kept.len() < indices.len() {
        images = images.f_narrow(0, 0, kept.len() as i64)?; // the skipped files' slots are left out
    }
    let mut labels = Tensor::f_from_slice(&labels)?;
    if config.pin_memory {
        labels = labels.f_internal_pin_memory(Device::Cuda(0))?;
    }
    Ok(Batch { images, labels, indices: kept, skipped, number })
}

/// Reads, decodes, crops, resizes and flips sample `index`'s file into `out` (one batch slot).
fn load_into(
    path: &Path,
    index: usize,
    config: &LoaderConfig,
    epoch: u64,
    resizer: &mut Resizer,
    out: &mut [u8],
) -> DataResult<()> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    let (size, seed) = (config.size, config.seed);
    let choose = |w: u32, h: u32| config.transform.sample(w, h, size, seed, epoch, index as u64);
    let hint = " (LoaderConfig::skip_bad_images counts such files instead)";
    let prepared =
        decode(&bytes, config.decoding, size, &choose).map_err(|m| DataError::decode(path, format!("{m}{hint}")))?;
    crop_resize_into(resizer, &prepared.image, prepared.crop, size, prepared.flip, out)
        .map_err(|m| DataError::decode(path, m))
}
