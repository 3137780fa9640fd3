//! The fused CPU executor's persistent worker threads. A call hands one task to each of a few workers,
//! runs its own share on the calling thread and waits for the rest. Workers spin for a short while after
//! each task before they park, and the caller spins before it sleeps: back-to-back calls then hand work
//! over in well under a microsecond, where waking a sleeping pool (as rayon's `in_place_scope` does)
//! costs tens of microseconds, as much as a whole 128×3×32×32 batch.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::thread::Thread;
use std::time::{Duration, Instant};

/// How long a worker looks for its next task before it parks, and a caller for its workers to finish
/// before it sleeps.
const SPIN: Duration = Duration::from_micros(50);

/// One unit of work: plain data, run by whichever thread takes it.
pub(crate) trait Task: Copy + Send + 'static {
    /// Does the work. Must not panic (the pool has no way to report it).
    fn run(&self);
}

struct Slot<T> {
    /// Bumped by the caller for each task it hands this worker.
    epoch: AtomicU64,
    task: Mutex<Option<T>>,
    /// Set while the worker is (about to be) parked; the caller then unparks it.
    sleeping: AtomicBool,
    thread: OnceLock<Thread>,
}

struct Shared<T> {
    slots: Vec<Slot<T>>,
    /// Tasks handed out and not yet finished.
    pending: AtomicUsize,
    /// Set while the caller sleeps on `done`.
    caller_waiting: AtomicBool,
    done_lock: Mutex<()>,
    done: Condvar,
}

/// A fixed set of worker threads for tasks of type `T`, used by one call at a time.
pub(crate) struct Pool<T: Task> {
    shared: Arc<Shared<T>>,
    /// Held for the whole of a call that uses the workers.
    busy: Mutex<()>,
    /// The process the workers run in: a forked child has none of them.
    pid: u32,
}

fn lock<G>(m: &Mutex<G>) -> MutexGuard<'_, G> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn spin_until(mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        for _ in 0..64 {
            if done() {
                return true;
            }
            std::hint::spin_loop();
        }
        if start.elapsed() >= SPIN {
            return done();
        }
    }
}

impl<T: Task> Pool<T> {
    /// A pool of `workers` threads (0: every call runs on its caller).
    pub(crate) fn new(workers: usize, name: &str) -> Pool<T> {
        let slots = (0..workers)
            .map(|_| Slot {
                epoch: AtomicU64::new(0),
                task: Mutex::new(None),
                sleeping: AtomicBool::new(false),
                thread: OnceLock::new(),
            })
            .collect();
        let shared = Arc::new(Shared {
            slots,
            pending: AtomicUsize::new(0),
            caller_waiting: AtomicBool::new(false),
            done_lock: Mutex::new(()),
            done: Condvar::new(),
        });
        for w in 0..workers {
            let s = Arc::clone(&shared);
            let handle = std::thread::Builder::new()
                .name(format!("{name}-{w}"))
                .spawn(move || worker(&s, w))
                .expect("spawning a fused CPU executor thread");
            let _ = shared.slots[w].thread.set(handle.thread().clone());
        }
        Pool { shared, busy: Mutex::new(()), pid: std::process::id() }
    }

    /// How many worker threads the pool has.
    pub(crate) fn workers(&self) -> usize {
        self.shared.slots.len()
    }

    /// Whether every worker is awake (looking for work, not parked): handing it a task costs next to
    /// nothing then. A hint: it may change right after.
    pub(crate) fn awake(&self) -> bool {
        self.shared.slots.iter().all(|s| !s.sleeping.load(Ordering::Relaxed))
    }

    /// Runs `mine` on the calling thread and each of `others` on a worker, and returns when all are done.
    /// With more tasks than workers, while another call has the workers, or in a forked child, the caller
    /// runs them all.
    pub(crate) fn run(&self, mine: T, others: &[T]) {
        if others.is_empty() || std::process::id() != self.pid {
            mine.run();
            others.iter().for_each(T::run);
            return;
        }
        let guard = match self.busy.try_lock() {
            Ok(g) => Some(g),
            Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        };
        if guard.is_none() || others.len() > self.workers() {
            mine.run();
            others.iter().for_each(T::run);
            return;
        }
        let shared = &*self.shared;
        shared.pending.store(others.len(), Ordering::SeqCst);
        for (slot, task) in shared.slots.iter().zip(others) {
            *lock(&slot.task) = Some(*task);
            slot.epoch.fetch_add(1, Ordering::SeqCst);
            if slot.sleeping.load(Ordering::SeqCst) {
                slot.thread.get().expect("set at start").unpark();
            }
        }
        mine.run();
        // Acquire: the workers' writes happen before their Release decrements.
        if !spin_until(|| shared.pending.load(Ordering::Acquire) == 0) {
            shared.caller_waiting.store(true, Ordering::SeqCst);
            let mut g = lock(&shared.done_lock);
            while shared.pending.load(Ordering::Acquire) != 0 {
                g = shared.done.wait(g).unwrap_or_else(|p| p.into_inner());
            }
            drop(g);
            shared.caller_waiting.store(false, Ordering::SeqCst);
        }
        drop(guard);
    }
}

/// A worker's loop: take the task of each new epoch, run it, report it done; park when idle.
fn worker<T: Task>(shared: &Shared<T>, w: usize) {
    let slot = &shared.slots[w];
    let mut seen = 0u64;
    loop {
        if !spin_until(|| slot.epoch.load(Ordering::Acquire) != seen) {
            slot.sleeping.store(true, Ordering::SeqCst);
            // Checked again after announcing the sleep: a caller that bumped the epoch before saw no sleeper.
            if slot.epoch.load(Ordering::SeqCst) == seen {
                std::thread::park();
            }
            slot.sleeping.store(false, Ordering::SeqCst);
            continue;
        }
        seen = slot.epoch.load(Ordering::Acquire);
        if let Some(task) = lock(&slot.task).take() {
            task.run();
            if shared.pending.fetch_sub(1, Ordering::AcqRel) == 1 && shared.caller_waiting.load(Ordering::SeqCst) {
                let _g = lock(&shared.done_lock);
                shared.done.notify_all();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    static HITS: [AtomicU32; 8] = [const { AtomicU32::new(0) }; 8];

    #[derive(Clone, Copy)]
    struct Mark(usize);
    impl Task for Mark {
        fn run(&self) {
            // A little work, so workers and caller overlap.
            std::hint::black_box((0..1000u64).sum::<u64>());
            HITS[self.0].fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn every_task_runs_once_per_call_also_after_the_workers_park() {
        let pool = Pool::<Mark>::new(3, "test-pool");
        assert_eq!(pool.workers(), 3);
        // Idle workers park once they have spun for SPIN; on a loaded machine they may be scheduled late,
        // so wait until the pool is no longer all awake (a pool whose workers never park fails after 5 s).
        let start = Instant::now();
        while pool.awake() && start.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(SPIN * 20);
        }
        assert!(!pool.awake(), "idle workers park");
        for round in 1..=50u32 {
            pool.run(Mark(0), &[Mark(1), Mark(2), Mark(3)]);
            // All done when run returns.
            for h in &HITS[..4] {
                assert_eq!(h.load(Ordering::SeqCst), round);
            }
            if round % 10 == 0 {
                std::thread::sleep(SPIN * 20); // the workers park; the next call must wake them
            }
        }
        // More tasks than workers: the caller runs them all.
        pool.run(Mark(4), &[Mark(5), Mark(6), Mark(7), Mark(7)]);
        assert_eq!(HITS[7].load(Ordering::SeqCst), 2);
    }

    #[test]
    fn concurrent_callers_each_get_all_their_tasks_run() {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        #[derive(Clone, Copy)]
        struct Count;
        impl Task for Count {
            fn run(&self) {
                COUNT.fetch_add(1, Ordering::SeqCst);
            }
        }
        let pool = Arc::new(Pool::<Count>::new(1, "test-pool-2"));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let pool = Arc::clone(&pool);
                std::thread::spawn(move || (0..200).for_each(|_| pool.run(Count, &[Count])))
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(COUNT.load(Ordering::SeqCst), 4 * 200 * 2);
    }
}
