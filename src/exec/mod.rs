//! Executors: the ways a plan is applied to tensors. All read the same [`Job`], built once from a plan.

pub(crate) mod cpu;
#[cfg_attr(not(mixcut_cuda), path = "cuda_off.rs")]
pub(crate) mod cuda;
pub(crate) mod kernel_args;
pub(crate) mod params;
pub(crate) mod reference;

use anyhow::{bail, Result};
use tch::{Device, Kind, Tensor};

use crate::check::{BatchSpec, Layout};
use kernel_args::Buffers;
use crate::plan::MixPlan;
use params::SampleParams;

/// Which implementation a [`Mixer`](crate::Mixer) should use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Executor {
    /// The fused kernels where they apply to the batch (device, dtype, layout, no autograd), else the
    /// reference. Never picks a path that is not built or cannot run here.
    #[default]
    Auto,
    /// Always the reference executor (tch ops; differentiable; any device).
    Reference,
    /// Always the fused kernels; a batch they cannot take is an `Err`, never a silent fallback.
    Fused,
}

/// The implementation that actually ran a call (see [`Mixer::last_executor`](crate::Mixer::last_executor)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExecutorKind {
    /// Batched tch ops.
    Reference,
    /// The kernel source built by the C++ compiler, one pass over the batch on CPU threads.
    FusedCpu,
    /// The kernel source built by nvcc, one launch on libtorch's current CUDA stream.
    FusedCuda,
}

/// Everything an executor needs, derived once from a validated plan, batch and labels.
#[derive(Clone, Debug)]
pub(crate) struct Job {
    pub params: Vec<SampleParams>,
    pub device: Device,
    pub kind: Kind,
    pub layout: Layout,
    pub extent: Option<(usize, usize)>,
    pub channels: usize,
    pub sample_numel: usize,
    pub soft_labels: bool,
    pub num_classes: i64,
    /// One-hot values for class-index labels (smoothing already applied).
    pub on: f32,
    pub off: f32,
}

impl Job {
    /// Builds the job for `plan` on `batch`.
    pub(crate) fn new(plan: &MixPlan, batch: &BatchSpec, soft_labels: bool, num_classes: i64, (on, off): (f32, f32)) -> Self {
        Job {
            params: params::pack(plan),
            device: batch.device,
            kind: batch.kind,
            layout: batch.layout,
            extent: batch.extent,
            channels: batch.channels,
            sample_numel: batch.sample_numel,
            soft_labels,
            num_classes,
            on,
            off,
        }
    }
}

/// Whether this build carries the CUDA kernels (nvcc was found at build time).
pub fn cuda_kernels_built() -> bool {
    cfg!(mixcut_cuda)
}

/// Whether the fused CUDA executor can run on `cuda:ordinal` here: kernels built, a driver, the device.
/// Never panics, also where there is no CUDA driver at all.
pub fn fused_cuda_available(ordinal: usize) -> bool {
    cuda::available(ordinal)
}

/// Whether a fused executor exists for `device` here (CPU: always; CUDA: kernels built and a driver).
pub(crate) fn fused_available(device: Device) -> bool {
    match device {
        Device::Cpu => true,
        Device::Cuda(ordinal) => cuda::available(ordinal),
        _ => false,
    }
}

/// Runs a fused executor; returns `(images out, targets)`. On `Err` before the launch nothing was written.
pub(crate) fn run_fused(job: &Job, images: &Tensor, labels: &Tensor, in_place: bool) -> Result<(Tensor, Tensor)> {
    let labels = if job.soft_labels { labels.f_to_kind(Kind::Float)?.f_contiguous()? } else { labels.f_contiguous()? };
    let mut dst = if in_place { images.shallow_clone() } else { images.f_empty_like()? };
    let mut targets = Tensor::f_empty([job.params.len() as i64, job.num_classes], (Kind::Float, job.device))?;
    if cfg!(debug_assertions) {
        // Debug builds poison fresh outputs, so an element the kernels fail to write shows in the tests.
        let _ = targets.f_fill_(f64::NAN)?;
        if !in_place {
            let _ = dst.f_fill_(if job.kind == Kind::Uint8 { 171.0 } else { f64::NAN })?;
        }
    }
    let mut host_flag = 0i32;
    let error = match job.device {
        Device::Cpu => &mut host_flag as *mut i32,
        Device::Cuda(ordinal) => cuda::error_flag(ordinal)?,
        d => bail!("images: on {d:?}, expected Cpu or Cuda for the fused executor"),
    };
    let bufs = Buffers { src: images, dst: &dst, labels: &labels, targets: &targets, error };
    match job.device {
        Device::Cuda(ordinal) => cuda::run(job, &bufs, in_place, ordinal)?,
        _ => cpu::run(job, &bufs, in_place)?,
    }
    if host_flag != 0 {
        bail!("labels: class indices outside [0, {}), expected values in range", job.num_classes);
    }
    Ok((dst, targets))
}
