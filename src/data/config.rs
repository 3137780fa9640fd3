//! The loader's options, checked once when a [`Loader`](super::Loader) is made.

use super::decode::Decoding;
use super::error::{DataError, DataResult};
use super::transforms::Transform;

/// Output sides above this are refused: a batch slot would pass a gigabyte at batch 64.
const MAX_SIZE: u32 = 2048;

/// How a [`Loader`](super::Loader) orders, decodes, transforms and batches a folder's samples.
///
/// Start from [`LoaderConfig::train`] or [`LoaderConfig::eval`] and change fields with struct update
/// syntax.
#[derive(Clone, Debug, PartialEq)]
pub struct LoaderConfig {
    /// Output side in pixels (square images).
    pub size: u32,
    /// Samples per batch.
    pub batch_size: usize,
    /// Decoding threads.
    pub workers: usize,
    /// Batches made or being made at once, at most: the bound on the loader's memory
    /// (`prefetch · batch_size · size² · 3` bytes of pixels).
    pub prefetch: usize,
    /// The transform: RandomResizedCrop + flip, or resize + centre crop.
    pub transform: Transform,
    /// Shuffle the samples each epoch (the order is a function of `seed` and the epoch).
    pub shuffle: bool,
    /// Leave out the last batch when it would be short; with sharding, also cut the epoch to a multiple
    /// of `world_size` instead of repeating its first samples.
    pub drop_last: bool,
    /// Seeds the order and every sample's crop and flip.
    pub seed: u64,
    /// JPEG decoding: full size (the default), or DCT-scaled where the crop allows.
    pub decoding: Decoding,
    /// Leave out files that cannot be read or decoded, counting them in
    /// [`Batch::skipped`](super::Batch::skipped), instead of ending the epoch with an error naming them.
    pub skip_bad_images: bool,
    /// Put batches in pinned (page-locked) host memory, so that copies to a CUDA device do not block
    /// (see [`Batch::to_device`](super::Batch::to_device)). Needs CUDA.
    pub pin_memory: bool,
    /// This process's rank among `world_size` data-parallel processes.
    pub rank: usize,
    /// Data-parallel processes sharing each epoch; each sees a disjoint `1 / world_size` of it.
    pub world_size: usize,
}

impl LoaderConfig {
    /// Training: RandomResizedCrop to `size` + horizontal flip, shuffled, seed 0, one worker per
    /// available core, `2 · workers` batches of prefetch, short last batch kept, no sharding.
    pub fn train(size: u32, batch_size: usize) -> Self {
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        LoaderConfig {
            size,
            batch_size,
            workers,
            prefetch: 2 * workers,
            transform: Transform::Train,
            shuffle: true,
            drop_last: false,
            seed: 0,
            decoding: Decoding::default(),
            skip_bad_images: false,
            pin_memory: false,
            rank: 0,
            world_size: 1,
        }
    }

    /// Evaluation: resize to `size / 0.875` + centre crop, in folder order, otherwise as
    /// [`LoaderConfig::train`].
    pub fn eval(size: u32, batch_size: usize) -> Self {
        LoaderConfig { transform: Transform::Eval, shuffle: false, ..Self::train(size, batch_size) }
    }

    /// Refuses options out of range, naming the field, the value and what was expected.
    pub(crate) fn validate(&self) -> DataResult<()> {
        let positive = [
            ("batch_size", self.batch_size),
            ("workers", self.workers),
            ("prefetch", self.prefetch),
            ("world_size", self.world_size),
        ];
        for (name, value) in positive {
            if value == 0 {
                return Err(DataError::argument(name, "got 0, expected at least 1"));
            }
        }
        if self.size == 0 || self.size > MAX_SIZE {
            return Err(DataError::argument("size", format!("got {}, expected 1 to {MAX_SIZE} pixels", self.size)));
        }
        if self.rank >= self.world_size {
            let message = format!("got {}, expected a rank below world_size {}", self.rank, self.world_size);
            return Err(DataError::argument("rank", message));
        }
        if self.pin_memory && !(crate::load_cuda_backend() && tch::Cuda::is_available()) {
            let message = "got true, expected false here: pinned memory needs CUDA, which libtorch does not see";
            return Err(DataError::argument("pin_memory", message));
        }
        Ok(())
    }
}
