//! The fused CPU executor: kernels/mix.cuh built by the C++ compiler (kernels/host.cpp) once per
//! instruction-set level, the best level this CPU supports chosen once at run time, run by a persistent
//! thread pool over the same virtual grid the CUDA kernels cover. One pass over the batch.

use std::fmt;
use std::sync::OnceLock;

use super::kernel_args::{self, MixArgs};
use super::pool::{Pool, Task};
use crate::dtype::Dtype;
use crate::error::Result;
use crate::job::params::SampleParams;
use crate::job::{Buffers, Job};

/// A host entry point: `(args, held, vector bytes, pair range, vector range)`. `held` is room for one
/// sample, for in-place ResizeMix (null otherwise; kernels/host_resize.h, `HeldBox`).
type HostEntry = unsafe extern "C" fn(*const MixArgs, *mut u8, i32, i64, i64, i64, i64);

/// Declares the entry points `mixcut_host_<level>_<name>` of one level, each as `name`.
macro_rules! host_entries {
    ($level:literal: $($name:ident),*) => {
        extern "C" {
            $(
                #[link_name = concat!("mixcut_host_", $level, "_", stringify!($name))]
                fn $name(
                    a: *const MixArgs,
                    held: *mut u8,
                    vector_bytes: i32,
                    pair_lo: i64,
                    pair_hi: i64,
                    vec_lo: i64,
                    vec_hi: i64,
                );
            )*
        }
    };
}

/// The entry points of one level, `mixcut_host_<level>_<dtype>` (kernels/host.cpp, built by build.rs).
macro_rules! host_level {
    ($module:ident, $level:literal) => {
        mod $module {
            use super::{Dtype, HostEntry, MixArgs};
            host_entries!($level: f32, f16, bf16, u8, norm_f32, norm_f16, norm_bf16);
            /// This level's entry point for `dtype`.
            pub(super) fn entry(dtype: Dtype) -> HostEntry {
                match dtype {
                    Dtype::F32 => f32,
                    Dtype::F16 => f16,
                    Dtype::Bf16 => bf16,
                    Dtype::U8 => u8,
                }
            }
            /// This level's entry point of the normalising pass into `out` (a float dtype).
            pub(super) fn norm_entry(out: Dtype) -> Option<HostEntry> {
                match out {
                    Dtype::F32 => Some(norm_f32),
                    Dtype::F16 => Some(norm_f16),
                    Dtype::Bf16 => Some(norm_bf16),
                    Dtype::U8 => None,
                }
            }
        }
    };
}

host_level!(baseline, "baseline");
#[cfg(target_arch = "x86_64")]
host_level!(v3, "v3");
#[cfg(target_arch = "x86_64")]
host_level!(avx512, "avx512");

/// An instruction-set level the fused CPU kernels are built for. The crate runs the highest level the
/// CPU supports (detected once at run time; see [`fused_cpu_isa`]); every level gives the same bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum CpuIsa {
    /// The target's baseline instruction set (x86-64 with SSE2; NEON on aarch64).
    Baseline,
    /// x86-64-v3: AVX2, F16C, BMI1/2, FMA (never used to contract `a·λ + b·(1−λ)`).
    V3,
    /// x86-64-v4: AVX-512 F, BW, CD, DQ and VL.
    Avx512,
}

impl CpuIsa {
    /// Every level, lowest first.
    pub const ALL: [CpuIsa; 3] = [CpuIsa::Baseline, CpuIsa::V3, CpuIsa::Avx512];

    /// The level's name: `baseline`, `v3` or `avx512` (the values `TCH_MIXCUT_CPU_ISA` takes).
    pub fn name(self) -> &'static str {
        match self {
            CpuIsa::Baseline => "baseline",
            CpuIsa::V3 => "v3",
            CpuIsa::Avx512 => "avx512",
        }
    }

    /// Whether this build carries the level's kernels compiled for it and this CPU can run them.
    pub fn is_available(self) -> bool {
        let built = || env!("MIXCUT_HOST_ISAS").split(',').any(|level| level == self.name());
        match self {
            CpuIsa::Baseline => true,
            #[cfg(target_arch = "x86_64")]
            CpuIsa::V3 => built() && x86_v3(),
            #[cfg(target_arch = "x86_64")]
            CpuIsa::Avx512 => built() && x86_v3() && x86_v4(),
            #[cfg(not(target_arch = "x86_64"))]
            CpuIsa::V3 | CpuIsa::Avx512 => {
                let _ = built;
                false
            }
        }
    }

    /// The level's entry point for `dtype` (only called for available levels).
    fn entry(self, dtype: Dtype) -> HostEntry {
        match self {
            CpuIsa::Baseline => baseline::entry(dtype),
            #[cfg(target_arch = "x86_64")]
            CpuIsa::V3 => v3::entry(dtype),
            #[cfg(target_arch = "x86_64")]
            CpuIsa::Avx512 => avx512::entry(dtype),
            #[cfg(not(target_arch = "x86_64"))]
            CpuIsa::V3 | CpuIsa::Avx512 => unreachable!("{self} kernels exist on x86_64 only"),
        }
    }

    /// The level's entry point of the normalising pass into `out` (`None` for uint8, never an output).
    fn norm_entry(self, out: Dtype) -> Option<HostEntry> {
        match self {
            CpuIsa::Baseline => baseline::norm_entry(out),
            #[cfg(target_arch = "x86_64")]
            CpuIsa::V3 => v3::norm_entry(out),
            #[cfg(target_arch = "x86_64")]
            CpuIsa::Avx512 => avx512::norm_entry(out),
            #[cfg(not(target_arch = "x86_64"))]
            CpuIsa::V3 | CpuIsa::Avx512 => unreachable!("{self} kernels exist on x86_64 only"),
        }
    }
}

impl fmt::Display for CpuIsa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What `-march=x86-64-v3` lets the compiler use (the v2 features included).
#[cfg(target_arch = "x86_64")]
fn x86_v3() -> bool {
    use std::arch::is_x86_feature_detected as has;
    has!("sse3")
        && has!("ssse3")
        && has!("sse4.1")
        && has!("sse4.2")
        && has!("popcnt")
        && has!("cmpxchg16b")
        && has!("avx")
        && has!("avx2")
        && has!("bmi1")
        && has!("bmi2")
        && has!("f16c")
        && has!("fma")
        && has!("lzcnt")
        && has!("movbe")
        && has!("xsave")
}

/// What `-march=x86-64-v4` adds to v3.
#[cfg(target_arch = "x86_64")]
fn x86_v4() -> bool {
    use std::arch::is_x86_feature_detected as has;
    has!("avx512f") && has!("avx512bw") && has!("avx512cd") && has!("avx512dq") && has!("avx512vl")
}

/// The level the fused CPU executor runs: the highest available one, at most `TCH_MIXCUT_CPU_ISA`
/// (`baseline`, `v3` or `avx512`) where that is set; read once, on first use. An unknown value is ignored,
/// with a warning through the [`log`](https://docs.rs/log) crate naming the accepted values.
pub fn fused_cpu_isa() -> CpuIsa {
    static CHOSEN: OnceLock<CpuIsa> = OnceLock::new();
    *CHOSEN.get_or_init(|| {
        let cap = std::env::var_os("TCH_MIXCUT_CPU_ISA").and_then(|value| {
            isa_cap(&value.to_string_lossy()).map_err(|warning| log::warn!("tch-mixcut: {warning}")).ok()
        });
        CpuIsa::ALL
            .into_iter()
            .filter(|isa| isa.is_available() && cap.is_none_or(|cap| *isa <= cap))
            .max()
            .unwrap_or(CpuIsa::Baseline)
    })
}

/// The level a `TCH_MIXCUT_CPU_ISA` value names, or the warning for a value that names none.
fn isa_cap(value: &str) -> Result<CpuIsa, String> {
    CpuIsa::ALL.into_iter().find(|isa| isa.name() == value).ok_or_else(|| {
        let names: Vec<&str> = CpuIsa::ALL.iter().map(|isa| isa.name()).collect();
        format!(
            "TCH_MIXCUT_CPU_ISA: got {value:?}, expected one of {} (ignored: the highest level available runs)",
            names.join(", ")
        )
    })
}

/// The level for a call on this thread: the chosen one ([`fused_cpu_isa`]).
#[cfg(not(any(test, feature = "testing")))]
fn current_isa() -> CpuIsa {
    fused_cpu_isa()
}

#[cfg(any(test, feature = "testing"))]
pub(crate) use forced::{current_isa, with_isa};

/// The test hook that forces a level for calls made on one thread (`testing::with_cpu_isa`).
#[cfg(any(test, feature = "testing"))]
mod forced {
    use std::cell::Cell;

    use super::{fused_cpu_isa, CpuIsa};

    thread_local! {
        static FORCED: Cell<Option<CpuIsa>> = const { Cell::new(None) };
    }

    /// The level for a call on this thread: the forced one, else the chosen one.
    pub(crate) fn current_isa() -> CpuIsa {
        FORCED.with(Cell::get).unwrap_or_else(fused_cpu_isa)
    }

    /// Runs `f` with the fused CPU executor forced to `isa` for calls made on this thread; `None` (and `f`
    /// not run) where the level is not available here.
    pub(crate) fn with_isa<R>(isa: CpuIsa, f: impl FnOnce() -> R) -> Option<R> {
        if !isa.is_available() {
            return None;
        }
        let before = FORCED.with(|c| c.replace(Some(isa)));
        struct Restore(Option<CpuIsa>);
        impl Drop for Restore {
            fn drop(&mut self) {
                FORCED.with(|c| c.set(self.0));
            }
        }
        let _restore = Restore(before);
        Some(f())
    }
}

/// Clears the upper halves of the AVX registers where the CPU has them. Legacy SSE code (the baseline
/// kernels) that runs while AVX code (libtorch's, the C library's) left them dirty pays a penalty on every
/// instruction: twice the time on this project's CPU machine.
fn clear_upper_state() {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx") {
        #[target_feature(enable = "avx")]
        #[allow(unused_unsafe)] // the intrinsic is safe here from Rust 1.87 on, unsafe before
        fn zeroupper() {
            // SAFETY: only reached where the CPU has AVX (checked above); the instruction touches no memory.
            unsafe { std::arch::x86_64::_mm256_zeroupper() }
        }
        // SAFETY: the CPU has AVX, which the function requires.
        unsafe { zeroupper() }
    }
}

/// One thread's rectangle of the grid: pairs × vectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Share {
    pub pairs: (i64, i64),
    pub vecs: (i64, i64),
}

/// Splits `pairs × vecs` into at most `threads` rectangles of about equal work: by pairs when there are
/// enough of them (contiguous ranges of about equal total `cost`, one entry per pair), else by vectors
/// within each pair.
pub(crate) fn split(pairs: i64, vecs: i64, threads: usize, cost: &[u64]) -> Vec<Share> {
    let threads = threads.max(1) as i64;
    if pairs >= threads {
        debug_assert_eq!(cost.len() as i64, pairs);
        let total: u64 = cost.iter().sum();
        // Share t ends at the first pair whose running cost reaches t+1 threads' worth.
        let mut bounds = vec![0i64];
        let mut running = 0u64;
        for (k, &c) in cost.iter().enumerate() {
            running += c;
            while (bounds.len() as i64) < threads
                && running as u128 * threads as u128 >= total as u128 * bounds.len() as u128
            {
                bounds.push(k as i64 + 1);
            }
        }
        bounds.resize(threads as usize + 1, pairs);
        bounds[threads as usize] = pairs;
        bounds
            .windows(2)
            .map(|b| Share { pairs: (b[0], b[1]), vecs: (0, vecs) })
            .filter(|s| s.pairs.0 < s.pairs.1)
            .collect()
    } else {
        let per_pair = (threads / pairs.max(1)).max(1);
        (0..pairs)
            .flat_map(|k| {
                (0..per_pair)
                    .map(move |t| Share { pairs: (k, k + 1), vecs: (vecs * t / per_pair, vecs * (t + 1) / per_pair) })
            })
            .filter(|s| s.vecs.0 < s.vecs.1)
            .collect()
    }
}

/// Bytes a pair's work reads and writes, roughly: the kernels' cost model for splitting. In place, a pair
/// of kept, CutMix and ResizeMix samples touches only its boxes (kernels/host.cpp, run_boxes; a ResizeMix
/// box reads as many partner elements as it writes); everything else passes the whole samples. Each pair
/// also writes its two target rows.
fn pair_cost(
    first: &SampleParams,
    second: &SampleParams,
    in_place: bool,
    sample_bytes: u64,
    (h, w): (usize, usize),
    classes: u64,
) -> u64 {
    let targets = 8 * classes;
    let boxes_only = in_place && [first, second].iter().all(|p| p.op.copies_box_rows() || p.op.resizes_partner());
    if !boxes_only {
        return 4 * sample_bytes + targets;
    }
    let area = |p: &SampleParams| if p.op.has_box() { ((p.y1 - p.y0) * (p.x1 - p.x0)).max(0) as u64 } else { 0 };
    let plane = (h * w).max(1) as u64;
    4 * sample_bytes * (area(first) + area(second)).min(plane) / plane + targets
}

/// Below this many bytes of work a call runs on the calling thread, when the pool's workers are awake
/// (back-to-back calls): handing work over costs more than it saves. A 128×3×32×32 batch with 1000 classes
/// is above it: two threads take it in about half the time of one.
const PARALLEL_MIN_BYTES: u64 = 1 << 18;

/// The same when the workers sleep: waking one costs tens of microseconds.
const PARALLEL_MIN_BYTES_ASLEEP: u64 = 1 << 20;

/// The pool's workers: one fewer than the cores, as the calling thread takes a share too.
fn pool() -> &'static Pool<ShareTask> {
    static POOL: OnceLock<Pool<ShareTask>> = OnceLock::new();
    POOL.get_or_init(|| Pool::new(cores().saturating_sub(1), "tch-mixcut"))
}

fn cores() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Threads for a call with `bytes` of work: libtorch's intra-op thread count (so this executor never runs
/// more threads at once than libtorch's own ops would), at most the cores, and 1 for small work.
fn threads_for(bytes: u64) -> usize {
    if bytes < if pool().awake() { PARALLEL_MIN_BYTES } else { PARALLEL_MIN_BYTES_ASLEEP } {
        return 1;
    }
    intra_op_threads()
}

/// libtorch's intra-op thread count, at most the cores: the most threads a host step of this crate runs.
pub(crate) fn intra_op_threads() -> usize {
    usize::try_from(tch::get_num_threads()).unwrap_or(1).clamp(1, cores())
}

/// Raw argument pointer that may cross into pool threads.
#[derive(Clone, Copy)]
struct ArgsPtr(*const MixArgs);
// SAFETY: the argument block is only read, and it and every buffer it points to outlive the call that
// hands out tasks pointing at them (Pool::run returns only when every task has run); the tasks write
// disjoint parts of the outputs (see `split`).
unsafe impl Send for ArgsPtr {}

/// A task's own room for one sample's elements (in-place ResizeMix), or null.
#[derive(Clone, Copy)]
struct HeldPtr(*mut u8);
// SAFETY: each task gets a disjoint part of a buffer that outlives Pool::run, and only that task uses it.
unsafe impl Send for HeldPtr {}

/// One share of one launch: what a thread runs.
#[derive(Clone, Copy)]
struct ShareTask {
    entry: HostEntry,
    args: ArgsPtr,
    held: HeldPtr,
    vector_bytes: i32,
    share: Share,
    /// The baseline level's SSE code: clear the AVX upper halves first.
    baseline: bool,
}

impl Task for ShareTask {
    fn run(&self) {
        if self.baseline {
            clear_upper_state();
        }
        let Share { pairs, vecs } = self.share;
        // SAFETY: the argument block and every buffer it points to outlive the task (see ArgsPtr); `entry`
        // matches the dtype the block was built for and a level this CPU runs; shares are disjoint
        // rectangles of the grid, a grid cell writes only its own pair's elements, and `held` is this task's own
        // (room for one sample, or null).
        unsafe { (self.entry)(self.args.0, self.held.0, self.vector_bytes, pairs.0, pairs.1, vecs.0, vecs.1) }
    }
}

/// Whether the fused CPU executor can run here: always (its kernels are part of every build).
#[cfg(not(test))]
pub(crate) fn check() -> Result<()> {
    Ok(())
}

#[cfg(test)]
pub(crate) use test_hooks::check;

/// A hook for the crate's unit tests: a reason that makes the fused CPU executor "unavailable" on this
/// thread, as a CUDA device whose kernels fail to load is.
#[cfg(test)]
pub(crate) mod test_hooks {
    use std::cell::RefCell;

    use crate::error::{Error, Result};

    thread_local! {
        static UNAVAILABLE: RefCell<Option<String>> = const { RefCell::new(None) };
    }

    /// `Err` with the forced reason while [`with_unavailable`] runs, else `Ok`.
    pub(crate) fn check() -> Result<()> {
        UNAVAILABLE.with(|r| match &*r.borrow() {
            Some(reason) => Err(Error::unavailable(tch::Device::Cpu, reason.clone())),
            None => Ok(()),
        })
    }

    /// Runs `f` while the fused CPU executor reports `reason` as why it cannot run.
    pub(crate) fn with_unavailable<R>(reason: &str, f: impl FnOnce() -> R) -> R {
        UNAVAILABLE.with(|r| *r.borrow_mut() = Some(reason.to_string()));
        let out = f();
        UNAVAILABLE.with(|r| *r.borrow_mut() = None);
        out
    }
}

/// Runs the job's fused pass on CPU tensors (`bufs` validated and allocated by the caller).
pub(crate) fn run(job: &Job, bufs: &Buffers) -> Result<()> {
    let isa = current_isa();
    let entry = match &job.normalize {
        Some(norm) => isa.norm_entry(norm.out).expect("the normalising pass's output dtype was validated as a float"),
        None => isa.entry(job.batch.dtype),
    };
    // Labels were range-checked before the call: the kernels' out-of-range flag stays 0 here.
    let flag = std::sync::atomic::AtomicI32::new(0);
    let launch = kernel_args::build(job, bufs, kernel_args::Widths::HOST, flag.as_ptr(), 1)?;
    let extent = job.batch.extent.unwrap_or((1, 1));
    // In place, ResizeMix reads its partner's whole image: a pair is never split between threads, and each
    // thread has room to hold one sample's box (kernels/host_resize.h, held_sample).
    let resizes_in_place = job.resizes_in_place();
    // A multiple of 64 bytes: each part starts as aligned as the buffer (8 bytes, enough for every dtype).
    let held_bytes =
        if resizes_in_place { (job.batch.sample_numel * job.batch.dtype.size()).next_multiple_of(64) } else { 0 };
    let mut held: Vec<u64> = Vec::new();
    launch.each_block(|a| {
        let h = &a.head;
        // A class mask pasted in the same pass (segmentation) has the images' boxes: its bytes count alike.
        let mask_bytes = if h.mask_bytes > 0 { (h.mask_vecs * h.mask_vector as i64) as u64 } else { 0 };
        let sample_bytes = (job.batch.sample_numel * job.batch.dtype.size()) as u64 + mask_bytes;
        let cost: Vec<u64> = (0..h.pair_count as usize)
            .map(|k| pair_cost(&a.first[k], &a.second[k], job.in_place, sample_bytes, extent, job.num_classes as u64))
            .collect();
        let mut threads = threads_for(cost.iter().sum()).min(pool().workers() + 1);
        if resizes_in_place {
            threads = threads.min(h.pair_count.max(1) as usize);
            // Uninitialised: the kernels write a held box before reading it.
            held.reserve_exact(threads * held_bytes / 8);
        }
        let base = held.as_mut_ptr().cast::<u8>();
        // Task t's part (t < threads: within the reserved capacity), or null where nothing is held.
        let held_part =
            |t: usize| if resizes_in_place { base.wrapping_add(t * held_bytes) } else { std::ptr::null_mut() };
        let tasks: Vec<ShareTask> = split(h.pair_count as i64, h.vecs_per_sample, threads, &cost)
            .into_iter()
            .enumerate()
            .map(|(t, share)| ShareTask {
                entry,
                args: ArgsPtr(a),
                held: HeldPtr(held_part(t)),
                vector_bytes: launch.width as i32,
                share,
                baseline: isa == CpuIsa::Baseline,
            })
            .collect();
        // The pool returns once every share is done: the block is free for the next one.
        if let Some((mine, others)) = tasks.split_first() {
            pool().run(*mine, others);
        }
        Ok(())
    })?;
    debug_assert_eq!(flag.into_inner(), 0, "labels are range-checked before the fused CPU pass");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::params::Op;

    extern "C" {
        fn mixcut_args_size_baseline() -> u64;
        fn mixcut_args_first_offset_baseline() -> u64;
        fn mixcut_args_on_offset_baseline() -> u64;
        fn mixcut_args_scale_offset_baseline() -> u64;
        fn mixcut_pixel_channels_baseline() -> u64;
        fn mixcut_pixel_lanes_baseline() -> u64;
        fn mixcut_op_count_baseline() -> i32;
        fn mixcut_op_predicates_baseline(code: i32) -> u32;
    }

    #[test]
    fn operations_and_their_predicates_match_cpp() {
        // SAFETY: returns a constant.
        assert_eq!(unsafe { mixcut_op_count_baseline() } as usize, Op::ALL.len());
        for (code, op) in Op::ALL.into_iter().enumerate() {
            assert_eq!(op as i32, code as i32, "{op:?}: codes are 0, 1, ... in order");
            let bits = op.blends() as u32
                | (op.has_box() as u32) << 1
                | (op.has_mask() as u32) << 2
                | (op.resizes_partner() as u32) << 3
                | (op.changes_region_only() as u32) << 4
                | (op.mixes_labels() as u32) << 5;
            // SAFETY: reads no memory; `code` is a valid operation code.
            assert_eq!(unsafe { mixcut_op_predicates_baseline(code as i32) }, bits, "{op:?}");
        }
    }

    #[test]
    fn args_layout_matches_cpp() {
        // SAFETY: the three functions only return constants.
        let (size, first, on) = unsafe {
            (mixcut_args_size_baseline(), mixcut_args_first_offset_baseline(), mixcut_args_on_offset_baseline())
        };
        assert_eq!(size as usize, std::mem::size_of::<MixArgs>());
        assert_eq!(first as usize, std::mem::offset_of!(MixArgs, first));
        assert_eq!(on as usize, std::mem::offset_of!(MixArgs, head.on));
        // SAFETY: returns a constant.
        let scale = unsafe { mixcut_args_scale_offset_baseline() };
        assert_eq!(scale as usize, std::mem::offset_of!(MixArgs, head.scale));
        // SAFETY: both return constants.
        let pixels = unsafe { (mixcut_pixel_channels_baseline(), mixcut_pixel_lanes_baseline()) };
        assert_eq!(pixels, (kernel_args::PIXEL_CHANNELS as u64, kernel_args::GPU_PIXEL_LANES as u64));
        assert!(std::mem::size_of::<MixArgs>() <= 9 * 1024, "the argument block the docs call 9 KB");
    }

    #[test]
    fn split_covers_the_grid_once() {
        for (pairs, vecs, threads) in
            [(128, 100, 2), (1, 1000, 4), (3, 7, 8), (5, 1, 2), (1, 1, 16), (480, 3, 7), (4, 9, 4)]
        {
            for cost in [
                vec![1u64; pairs as usize],
                (0..pairs as u64).map(|k| (k * 7919) % 13).collect(),
                vec![0; pairs as usize],
            ] {
                let shares = split(pairs, vecs, threads, &cost);
                assert!(shares.len() <= threads);
                let mut cells = vec![0u32; (pairs * vecs) as usize];
                for s in &shares {
                    for k in s.pairs.0..s.pairs.1 {
                        for v in s.vecs.0..s.vecs.1 {
                            cells[(k * vecs + v) as usize] += 1;
                        }
                    }
                }
                assert!(cells.iter().all(|&c| c == 1), "{pairs}x{vecs} over {threads}, cost {cost:?}: {shares:?}");
            }
        }
    }

    #[test]
    fn split_balances_the_cost() {
        // One expensive pair first, then cheap ones: the first share takes it alone.
        let mut cost = vec![1u64; 64];
        cost[0] = 63;
        let shares = split(64, 10, 2, &cost);
        assert_eq!(shares.iter().map(|s| s.pairs).collect::<Vec<_>>(), vec![(0, 1), (1, 64)]);
        // Equal costs: equal halves.
        let shares = split(64, 10, 2, &[5; 64]);
        assert_eq!(shares.iter().map(|s| s.pairs).collect::<Vec<_>>(), vec![(0, 32), (32, 64)]);
    }

    #[test]
    fn unknown_isa_values_are_refused_with_the_accepted_names() {
        for isa in CpuIsa::ALL {
            assert_eq!(isa_cap(isa.name()), Ok(isa));
        }
        for value in ["v4", "AVX512", " v3", "avx2", ""] {
            let warning = isa_cap(value).unwrap_err();
            assert!(warning.starts_with("TCH_MIXCUT_CPU_ISA: got"), "{warning}");
            assert!(warning.contains(&format!("{value:?}")) && warning.contains("baseline, v3, avx512"), "{warning}");
        }
    }

    #[test]
    fn the_chosen_level_is_available_and_forcing_is_per_thread() {
        let chosen = fused_cpu_isa();
        assert!(chosen.is_available());
        assert!(CpuIsa::Baseline.is_available());
        assert_eq!(with_isa(CpuIsa::Baseline, current_isa), Some(CpuIsa::Baseline));
        assert_eq!(current_isa(), chosen, "the forced level ends with the closure");
        for isa in CpuIsa::ALL {
            assert_eq!(with_isa(isa, || ()).is_some(), isa.is_available(), "{isa}");
        }
        #[cfg(target_arch = "x86_64")]
        if std::env::var_os("TCH_MIXCUT_CPU_ISA").is_none() {
            assert_eq!(CpuIsa::V3.is_available(), x86_v3(), "built with the v3 kernels: {}", env!("MIXCUT_HOST_ISAS"));
        }
    }
}
