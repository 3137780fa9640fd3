//! The loader: one epoch's order (shuffled per epoch, sharded across data-parallel ranks as PyTorch's
//! `DistributedSampler` does), cut into batches that worker threads make.

use std::sync::Arc;

use rand::seq::SliceRandom;

use super::config::LoaderConfig;
use super::error::{DataError, DataResult};
use super::folder::{ImageFolder, Sample};
use super::queue::Batches;
use super::transforms::sample_rng;

/// Decodes, transforms and batches a folder's images in worker threads, one epoch at a time.
#[derive(Clone, Debug)]
pub struct Loader {
    samples: Arc<Vec<Sample>>,
    config: LoaderConfig,
}

impl Loader {
    /// A loader over `folder`'s samples; refuses options out of range and an empty folder.
    pub fn new(folder: &ImageFolder, config: LoaderConfig) -> DataResult<Loader> {
        Self::from_samples(folder.samples().to_vec(), config)
    }

    /// A loader over a list of files and labels (for example a subset of a folder).
    pub fn from_samples(samples: Vec<Sample>, config: LoaderConfig) -> DataResult<Loader> {
        config.validate()?;
        if samples.is_empty() {
            return Err(DataError::argument("samples", "got none, expected at least one image file"));
        }
        Ok(Loader { samples: Arc::new(samples), config })
    }

    /// The same loader with another seed (the samples are shared, not copied).
    pub fn with_seed(&self, seed: u64) -> Loader {
        Loader { samples: self.samples.clone(), config: LoaderConfig { seed, ..self.config.clone() } }
    }

    /// The options.
    pub fn config(&self) -> &LoaderConfig {
        &self.config
    }

    /// The files and labels, indexed as [`Batch::indices`](super::Batch::indices) refers to them.
    pub fn samples(&self) -> &[Sample] {
        &self.samples
    }

    /// Batches this rank gets per epoch.
    pub fn len(&self) -> usize {
        let n = self.shard_len();
        if self.config.drop_last {
            n / self.config.batch_size
        } else {
            n.div_ceil(self.config.batch_size)
        }
    }

    /// Whether an epoch has no batch for this rank (fewer samples than a batch, with `drop_last`).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Samples this rank gets per epoch (before `drop_last` leaves out a short last batch).
    fn shard_len(&self) -> usize {
        let (n, world) = (self.samples.len(), self.config.world_size);
        if self.config.drop_last {
            n / world
        } else {
            n.div_ceil(world)
        }
    }

    /// This rank's sample indices for `epoch`, in batch order. Every rank draws the same order from
    /// `(seed, epoch)`; with `world_size` W it is evened to a multiple of W (its first samples repeated,
    /// or with `drop_last` its tail cut), and rank r takes positions r, r + W, r + 2W, … `epoch` is a
    /// `usize`, as [`Mixer::set_epoch`](crate::Mixer::set_epoch) takes it, so one loop variable feeds both.
    pub fn epoch_indices(&self, epoch: usize) -> Vec<usize> {
        let n = self.samples.len();
        let mut order: Vec<usize> = (0..n).collect();
        if self.config.shuffle {
            order.shuffle(&mut sample_rng(self.config.seed, epoch as u64, u64::MAX));
        }
        let world = self.config.world_size;
        let total = self.shard_len() * world;
        let evened: Vec<usize> = order.iter().copied().cycle().take(total).collect();
        evened.into_iter().skip(self.config.rank).step_by(world).collect()
    }

    /// The batches of `epoch`, made by `workers` threads ahead of the consumer, at most `prefetch` held at
    /// once. Each sample's crop and flip come from `(seed, epoch, its index)`, so the batches are the
    /// same whatever the number of workers or their timing. A file that cannot be decoded ends the epoch
    /// with an error naming it (unless `skip_bad_images`).
    pub fn epoch(&self, epoch: usize) -> Batches {
        self.batches(epoch, 0)
    }

    /// The batches of `epoch` from batch number `first` on, to resume an epoch that a checkpoint cut:
    /// the same batches [`Loader::epoch`] yields from there, without decoding the ones before. Pass the
    /// [`Batch::number`](super::Batch::number) of the last batch trained on, plus one. `first` may be
    /// [`Loader::len`] (a checkpoint at the epoch's end: no batch); beyond it is an error naming `first`.
    ///
    /// ```no_run
    /// # use tch_mixcut::data::{ImageFolder, Loader, LoaderConfig};
    /// # fn main() -> anyhow::Result<()> {
    /// # let loader = Loader::new(&ImageFolder::new("imagenet/train")?, LoaderConfig::train(224, 256))?;
    /// let (epoch, next_batch) = (3, 1200); // saved with the checkpoint: the last batch's number + 1
    /// for batch in loader.epoch_from(epoch, next_batch)? {
    ///     let batch = batch?; // batch.number: 1200, 1201, ...
    ///     # let _ = batch;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn epoch_from(&self, epoch: usize, first: usize) -> DataResult<Batches> {
        let n = self.len();
        if first > n {
            let message = format!("got batch {first}, expected at most {n} (the batches this rank gets per epoch)");
            return Err(DataError::argument("first", message));
        }
        Ok(self.batches(epoch, first))
    }

    /// The batches of `epoch` from number `first` on (`first <= self.len()`).
    fn batches(&self, epoch: usize, first: usize) -> Batches {
        let indices = self.epoch_indices(epoch);
        let mut chunks: Vec<Vec<usize>> = indices.chunks(self.config.batch_size).map(<[usize]>::to_vec).collect();
        if self.config.drop_last && chunks.last().is_some_and(|c| c.len() < self.config.batch_size) {
            chunks.pop();
        }
        Batches::start(self.samples.clone(), Arc::new(chunks), first, &self.config, epoch as u64)
    }
}
