//! The worker threads and the bounded queue between them and the consumer. Workers take batch numbers
//! in order from a shared counter, but only while fewer than `prefetch` batches are being made or wait
//! to be taken; the consumer receives batch `b` only after batch `b − 1`, so the batches are the same
//! whatever the thread timing.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use fast_image_resize::Resizer;

use super::batch::{make_batch, Batch};
use super::config::LoaderConfig;
use super::error::{DataError, DataResult};
use super::folder::Sample;

/// What the workers and the consumer share.
struct State {
    /// The next batch number a worker will take.
    next: usize,
    /// Batches the consumer has taken.
    taken: usize,
    /// Batches being made.
    making: usize,
    /// Made batches waiting for the consumer, by number.
    ready: BTreeMap<usize, DataResult<Batch>>,
    /// The most batches held (being made or ready) at any moment.
    peak: usize,
    /// Set when the consumer stops early or a batch failed: workers take no new batch.
    stop: bool,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A worker that panics holds no lock while making its batch, so a poisoned lock still holds
        // consistent counters.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One epoch's batches, in order; dropping it stops the workers.
pub struct Batches {
    shared: Arc<Shared>,
    handles: Vec<JoinHandle<()>>,
    n_batches: usize,
    carried_skips: usize,
}

impl Batches {
    /// Starts `config.workers` threads making the batches `chunks[first..]` of `samples` (`first` at most
    /// `chunks.len()`).
    pub(crate) fn start(
        samples: Arc<Vec<Sample>>,
        chunks: Arc<Vec<Vec<usize>>>,
        first: usize,
        config: &LoaderConfig,
        epoch: u64,
    ) -> Batches {
        let n_batches = chunks.len();
        // The batches before `first` count as taken: workers start at `first` and the queue's bound holds.
        let state = State { next: first, taken: first, making: 0, ready: BTreeMap::new(), peak: 0, stop: false };
        let shared = Arc::new(Shared { state: Mutex::new(state), changed: Condvar::new() });
        let handles = (0..config.workers.min(n_batches - first))
            .map(|_| {
                let (shared, samples, chunks, config) =
                    (shared.clone(), samples.clone(), chunks.clone(), config.clone());
                std::thread::spawn(move || work(&shared, &samples, &chunks, &config, epoch))
            })
            .collect();
        Batches { shared, handles, n_batches, carried_skips: 0 }
    }

    /// Batches in the epoch, those before [`Loader::epoch_from`](super::Loader::epoch_from)'s `first`
    /// included.
    pub fn n_batches(&self) -> usize {
        self.n_batches
    }

    /// The most batches held at once so far (being made or waiting to be taken): never more than
    /// [`LoaderConfig::prefetch`].
    pub fn peak_held(&self) -> usize {
        self.shared.lock().peak
    }

    /// Waits for batch `b` and takes it.
    fn take(&mut self, b: usize) -> DataResult<Batch> {
        let mut state = self.shared.lock();
        let made = loop {
            if let Some(made) = state.ready.remove(&b) {
                break made;
            }
            state = self.shared.changed.wait(state).unwrap_or_else(|p| p.into_inner());
        };
        state.taken = b + 1;
        state.stop |= made.is_err();
        self.shared.changed.notify_all();
        made
    }
}

/// A worker: takes the next batch number while the queue has room, makes the batch, hands it over.
fn work(shared: &Shared, samples: &[Sample], chunks: &[Vec<usize>], config: &LoaderConfig, epoch: u64) {
    let mut resizer = Resizer::new();
    loop {
        let b = {
            let mut state = shared.lock();
            while !state.stop && state.next < chunks.len() && state.next >= state.taken + config.prefetch {
                state = shared.changed.wait(state).unwrap_or_else(|p| p.into_inner());
            }
            if state.stop || state.next >= chunks.len() {
                return;
            }
            state.next += 1;
            state.making += 1;
            state.peak = state.peak.max(state.making + state.ready.len());
            state.next - 1
        };
        let made = catch_unwind(AssertUnwindSafe(|| make_batch(samples, &chunks[b], b, config, epoch, &mut resizer)))
            .unwrap_or(Err(DataError::WorkerStopped { batch: b }));
        let mut state = shared.lock();
        state.making -= 1;
        state.ready.insert(b, made);
        shared.changed.notify_all();
    }
}

impl Iterator for Batches {
    type Item = DataResult<Batch>;

    fn next(&mut self) -> Option<DataResult<Batch>> {
        loop {
            let b = self.shared.lock().taken;
            if b >= self.n_batches {
                return None;
            }
            let mut batch = match self.take(b) {
                Ok(batch) => batch,
                Err(e) => {
                    self.n_batches = b + 1; // the epoch ends with this error
                    return Some(Err(e));
                }
            };
            self.carried_skips += batch.skipped;
            if batch.is_empty() && b + 1 < self.n_batches {
                continue; // every file was skipped: the count goes with the next batch
            }
            batch.skipped = std::mem::take(&mut self.carried_skips);
            return Some(Ok(batch));
        }
    }
}

impl Drop for Batches {
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.changed.notify_all();
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}
