//! The fused CPU executor: kernels/mix.cuh built by the C++ compiler (kernels/host.cpp), run by CPU
//! threads over the same virtual grid the CUDA kernels cover. One pass over the batch.

use super::kernel_args::{self, Buffers, MixArgs};
use super::Job;
use crate::dtype::Dtype;
use crate::error::Result;

type HostEntry = unsafe extern "C" fn(*const MixArgs, i32, i64, i64, i64, i64);

extern "C" {
    fn mixcut_host_f32(a: *const MixArgs, vector_bytes: i32, pair_lo: i64, pair_hi: i64, vec_lo: i64, vec_hi: i64);
    fn mixcut_host_f16(a: *const MixArgs, vector_bytes: i32, pair_lo: i64, pair_hi: i64, vec_lo: i64, vec_hi: i64);
    fn mixcut_host_bf16(a: *const MixArgs, vector_bytes: i32, pair_lo: i64, pair_hi: i64, vec_lo: i64, vec_hi: i64);
    fn mixcut_host_u8(a: *const MixArgs, vector_bytes: i32, pair_lo: i64, pair_hi: i64, vec_lo: i64, vec_hi: i64);
    fn mixcut_host_norm_f32(a: *const MixArgs, vector_bytes: i32, pair_lo: i64, pair_hi: i64, vec_lo: i64, vec_hi: i64);
    fn mixcut_host_norm_f16(a: *const MixArgs, vector_bytes: i32, pair_lo: i64, pair_hi: i64, vec_lo: i64, vec_hi: i64);
    fn mixcut_host_norm_bf16(a: *const MixArgs, vector_bytes: i32, pair_lo: i64, pair_hi: i64, vec_lo: i64, vec_hi: i64);
}

/// One thread's rectangle of the grid: pairs × vectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Share {
    pub pairs: (i64, i64),
    pub vecs: (i64, i64),
}

/// Splits `pairs × vecs` into at most `threads` rectangles of about equal size: by pairs when there are
/// enough of them, else by vectors within each pair.
pub(crate) fn split(pairs: i64, vecs: i64, threads: usize) -> Vec<Share> {
    let threads = threads.max(1) as i64;
    if pairs >= threads {
        (0..threads)
            .map(|t| Share { pairs: (pairs * t / threads, pairs * (t + 1) / threads), vecs: (0, vecs) })
            .filter(|s| s.pairs.0 < s.pairs.1)
            .collect()
    } else {
        let per_pair = (threads / pairs.max(1)).max(1);
        (0..pairs)
            .flat_map(|k| {
                (0..per_pair).map(move |t| Share { pairs: (k, k + 1), vecs: (vecs * t / per_pair, vecs * (t + 1) / per_pair) })
            })
            .filter(|s| s.vecs.0 < s.vecs.1)
            .collect()
    }
}

/// The host entry point of the mix of each dtype.
fn mix_entry(dtype: Dtype) -> HostEntry {
    match dtype {
        Dtype::F32 => mixcut_host_f32,
        Dtype::F16 => mixcut_host_f16,
        Dtype::Bf16 => mixcut_host_bf16,
        Dtype::U8 => mixcut_host_u8,
    }
}

/// The host entry point of the normalising pass into each float dtype.
fn norm_entry(out: Dtype) -> Option<HostEntry> {
    match out {
        Dtype::F32 => Some(mixcut_host_norm_f32),
        Dtype::F16 => Some(mixcut_host_norm_f16),
        Dtype::Bf16 => Some(mixcut_host_norm_bf16),
        Dtype::U8 => None,
    }
}

/// Raw argument pointer that may cross into scoped threads.
struct ArgsPtr(*const MixArgs);
// SAFETY: the argument block is only read, and it and every buffer it points to outlive the thread scope
// they are used in; the threads write disjoint parts of the outputs (see `split`).
unsafe impl Send for ArgsPtr {}
// SAFETY: as above: shared references to the pointer only ever read through it.
unsafe impl Sync for ArgsPtr {}

/// Runs the job's fused pass on CPU tensors (`bufs` validated and allocated by the caller).
pub(crate) fn run(job: &Job, bufs: &Buffers) -> Result<()> {
    let entry = match &job.normalize {
        Some(norm) => norm_entry(norm.out).expect("the normalising pass's output dtype was validated as a float"),
        None => mix_entry(job.batch.dtype),
    };
    // Labels were range-checked before the call: the kernels' out-of-range flag stays 0 here.
    let flag = std::sync::atomic::AtomicI32::new(0);
    let (blocks, vector_bytes) = kernel_args::build(job, bufs, &[64, 16], flag.as_ptr(), 1)?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    for a in &blocks {
        let shares = split(a.pair_count as i64, a.vecs_per_sample, threads);
        let ptr = ArgsPtr(&**a);
        std::thread::scope(|scope| {
            for s in shares.iter().skip(1) {
                let ptr = &ptr;
                // SAFETY: the argument block and every buffer it points to outlive the scope; shares are
                // disjoint rectangles of the grid, and a grid cell writes only its own pair's elements.
                scope.spawn(move || unsafe { entry(ptr.0, vector_bytes as i32, s.pairs.0, s.pairs.1, s.vecs.0, s.vecs.1) });
            }
            if let Some(s) = shares.first() {
                // SAFETY: as above; this thread takes the first share.
                unsafe { entry(ptr.0, vector_bytes as i32, s.pairs.0, s.pairs.1, s.vecs.0, s.vecs.1) };
            }
        });
    }
    debug_assert_eq!(flag.into_inner(), 0, "labels are range-checked before the fused CPU pass");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    extern "C" {
        fn mixcut_args_size() -> u64;
        fn mixcut_args_first_offset() -> u64;
        fn mixcut_args_on_offset() -> u64;
        fn mixcut_args_scale_offset() -> u64;
    }

    #[test]
    fn args_layout_matches_cpp() {
        // SAFETY: the three functions only return constants.
        let (size, first, on, scale) =
            unsafe { (mixcut_args_size(), mixcut_args_first_offset(), mixcut_args_on_offset(), mixcut_args_scale_offset()) };
        assert_eq!(size as usize, std::mem::size_of::<MixArgs>());
        assert_eq!(first as usize, std::mem::offset_of!(MixArgs, first));
        assert_eq!(on as usize, std::mem::offset_of!(MixArgs, on));
        assert_eq!(scale as usize, std::mem::offset_of!(MixArgs, scale));
        assert!(std::mem::size_of::<MixArgs>() <= 32764, "argument block must fit CUDA's 32,764-byte limit");
    }

    #[test]
    fn split_covers_the_grid_once() {
        for (pairs, vecs, threads) in [(128, 100, 2), (1, 1000, 4), (3, 7, 8), (5, 1, 2), (1, 1, 16), (480, 3, 7)] {
            let shares = split(pairs, vecs, threads);
            assert!(shares.len() <= threads);
            let mut cells = vec![0u32; (pairs * vecs) as usize];
            for s in &shares {
                for k in s.pairs.0..s.pairs.1 {
                    for v in s.vecs.0..s.vecs.1 {
                        cells[(k * vecs + v) as usize] += 1;
                    }
                }
            }
            assert!(cells.iter().all(|&c| c == 1), "{pairs}x{vecs} over {threads}: {shares:?}");
        }
    }
}
