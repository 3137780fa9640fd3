//! The kernels' argument block (`MixArgs` in kernels/mix.cuh), built from a job: one per launch, each
//! covering up to `MAX_PAIRS` pairs, with the per-sample parameters inline (no device buffer, no copy).

use std::ffi::c_void;

use anyhow::{ensure, Result};
use tch::{Kind, Tensor};

use super::params::SampleParams;
use super::Job;
use crate::check::{BatchSpec, Layout};

/// Pairs per launch (`MIX_MAX_PAIRS`): keeps the argument block under CUDA's 32,764-byte limit.
pub(crate) const MAX_PAIRS: usize = 480;

/// `#[repr(C)]` mirror of `mixcut::MixArgs`; `tests` check size and offsets against the C++ compiler's.
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct MixArgs {
    pub src: *const c_void,
    pub dst: *mut c_void,
    pub labels: *const i64,
    pub soft: *const f32,
    pub targets: *mut f32,
    pub error: *mut i32,
    pub sample_stride: i64,
    pub vecs_per_sample: i64,
    pub n: i32,
    pub pair_begin: i32,
    pub pair_count: i32,
    pub num_classes: i32,
    pub channels: i32,
    pub height: i32,
    pub width: i32,
    pub channels_last: i32,
    pub in_place: i32,
    pub write_targets: i32,
    pub on: f32,
    pub off: f32,
    pub pad: i32,
    pub first: [SampleParams; MAX_PAIRS],
    pub second: [SampleParams; MAX_PAIRS],
}

/// The tensors one fused pass reads and writes (already validated and allocated).
pub(crate) struct Buffers<'a> {
    pub src: &'a Tensor,
    pub dst: &'a Tensor,
    /// int64 `[N]` contiguous class indices, or float32 `[N, C]` contiguous soft targets.
    pub labels: &'a Tensor,
    pub targets: &'a Tensor,
    /// Device-visible `i32` set by the kernels on an out-of-range class index.
    pub error: *mut i32,
}

/// The kernels' name for a dtype (`mix_<name>` on the GPU, `mixcut_host_<name>` on the CPU).
pub(crate) fn dtype_name(kind: Kind) -> Result<&'static str> {
    Ok(match kind {
        Kind::Float => "f32",
        Kind::Half => "f16",
        Kind::BFloat16 => "bf16",
        Kind::Uint8 => "u8",
        k => anyhow::bail!("images: dtype {k:?} reached a fused executor, expected Float, Half, BFloat16 or Uint8"),
    })
}

/// Bytes of one element.
pub(crate) fn elem_size(kind: Kind) -> usize {
    match kind {
        Kind::Uint8 => 1,
        Kind::Half | Kind::BFloat16 => 2,
        _ => 4,
    }
}

/// Whether the fused kernels can take this batch: dense samples and 32-bit positions.
pub(crate) fn supported(batch: &BatchSpec, num_classes: i64) -> Result<()> {
    ensure!(
        batch.layout != Layout::Strided,
        "images: strides that are neither contiguous nor channels-last, expected one of those for the fused executor \
         (call .contiguous() first, or use Executor::Reference)"
    );
    ensure!(
        batch.sample_numel < (1 << 31),
        "images: {} elements per sample, expected fewer than 2^31 for the fused executor",
        batch.sample_numel
    );
    ensure!(num_classes < (1 << 31), "num_classes: got {num_classes}, expected < 2^31 for the fused executor");
    Ok(())
}

/// The argument blocks of every launch, and the vector width they use in bytes: the widest of
/// `widths` (descending, e.g. `[64, 16]` on the host, `[16]` on the GPU) that every sample start and length
/// is aligned to, or 0 for single elements.
pub(crate) fn build(job: &Job, bufs: &Buffers, in_place: bool, widths: &[usize]) -> Result<(Vec<Box<MixArgs>>, usize)> {
    ensure!(bufs.src.stride() == bufs.dst.stride(), "internal: output strides {:?} differ from input strides {:?}", bufs.dst.stride(), bufs.src.stride());
    let n = job.params.len();
    let size = elem_size(job.kind);
    let stride = bufs.src.stride()[0] as usize;
    // Vector accesses need every sample to start on a 16-byte boundary and hold whole vectors.
    let aligned = bufs.src.data_ptr() as usize % 16 == 0 && bufs.dst.data_ptr() as usize % 16 == 0;
    let vector_bytes = widths
        .iter()
        .copied()
        .find(|&bytes| aligned && (job.sample_numel * size) % bytes == 0 && (stride * size) % bytes == 0)
        .unwrap_or(0);
    let lanes = if vector_bytes == 0 { 1 } else { vector_bytes / size };
    let (h, w) = job.extent.unwrap_or((1, 1));
    let soft = job.soft_labels;
    let pairs = n.div_ceil(2);
    let mut blocks = Vec::new();
    for begin in (0..pairs).step_by(MAX_PAIRS) {
        let count = (pairs - begin).min(MAX_PAIRS);
        let mut a = Box::new(MixArgs {
            src: bufs.src.data_ptr(),
            dst: bufs.dst.data_ptr(),
            labels: if soft { std::ptr::null() } else { bufs.labels.data_ptr() as *const i64 },
            soft: if soft { bufs.labels.data_ptr() as *const f32 } else { std::ptr::null() },
            targets: bufs.targets.data_ptr() as *mut f32,
            error: bufs.error,
            sample_stride: stride as i64,
            vecs_per_sample: (job.sample_numel / lanes) as i64,
            n: n as i32,
            pair_begin: begin as i32,
            pair_count: count as i32,
            num_classes: job.num_classes as i32,
            channels: job.channels as i32,
            height: h as i32,
            width: w as i32,
            channels_last: (job.layout == Layout::ChannelsLast) as i32,
            in_place: in_place as i32,
            write_targets: 1,
            on: job.on,
            off: job.off,
            pad: 0,
            first: [SampleParams::default(); MAX_PAIRS],
            second: [SampleParams::default(); MAX_PAIRS],
        });
        for k in 0..count {
            a.first[k] = job.params[begin + k];
            a.second[k] = job.params[n - 1 - begin - k];
        }
        blocks.push(a);
    }
    Ok((blocks, vector_bytes))
}
