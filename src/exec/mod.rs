//! Executors: the ways a plan is applied to tensors. All read the same [`Job`], built once from a plan.

pub(crate) mod cpu;
#[cfg_attr(not(mixcut_cuda), path = "cuda_off.rs")]
pub(crate) mod cuda;
pub(crate) mod kernel_args;
pub(crate) mod label_flag;
pub(crate) mod params;
mod pool;
pub(crate) mod reference;
#[cfg(mixcut_cuda)]
pub(crate) mod torch_stream;

use tch::{Device, Kind, Tensor};

use crate::check::BatchSpec;
use crate::dtype::Dtype;
use crate::error::{ensure, Error, Result};
use crate::plan::MixPlan;
use kernel_args::Buffers;
pub(crate) use kernel_args::MaskBuffers;
use label_flag::LabelFlag;
use params::{SampleParams, TargetSpec};

/// Which implementation a [`Mixer`](crate::Mixer) should use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Executor {
    /// The fused kernels where they can run here and take the batch (device, kernels loaded, layout, no
    /// autograd), else the reference. Falls back only on [`Error::FusedUnavailable`] and
    /// [`Error::FusedUnsupported`]; every other error is returned.
    #[default]
    Auto,
    /// Always the reference executor (tch ops; differentiable; any device).
    Reference,
    /// Always the fused kernels; a batch they cannot take is an `Err` that says why, never a silent fallback.
    Fused,
}

/// The implementation that actually ran a call (see [`Mixer::last_executor`](crate::Mixer::last_executor)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExecutorKind {
    /// Batched tch ops.
    Reference,
    /// The kernel source built by the C++ compiler, one pass over the batch on CPU threads.
    FusedCpu,
    /// The kernel source built by nvcc, launched on libtorch's current CUDA stream of the images' device:
    /// one launch per 480 pairs of the batch (one for batches up to 960 samples).
    FusedCuda,
}

/// Everything an executor needs, derived once from a validated plan, batch and labels.
#[derive(Clone, Debug)]
pub(crate) struct Job {
    pub params: Vec<SampleParams>,
    pub batch: BatchSpec,
    pub soft_labels: bool,
    pub num_classes: i64,
    pub targets: TargetSpec,
    /// Write the mixed images over the input.
    pub in_place: bool,
    /// The normalising pass: uint8 in, `out` out.
    pub normalize: Option<NormJob>,
}

/// The normalising pass of a job.
#[derive(Clone, Debug)]
pub(crate) struct NormJob {
    pub out: Dtype,
    pub channels_last: bool,
    /// Per-channel `1 / (255·std)` and `−mean / std`, as f32.
    pub scale: Vec<f32>,
    pub shift: Vec<f32>,
}

impl Job {
    /// Builds the job for `plan` on `batch`.
    pub(crate) fn new(
        plan: &MixPlan,
        batch: &BatchSpec,
        soft_labels: bool,
        num_classes: i64,
        targets: TargetSpec,
        in_place: bool,
    ) -> Self {
        Job {
            params: params::pack(plan),
            batch: batch.clone(),
            soft_labels,
            num_classes,
            targets,
            in_place,
            normalize: None,
        }
    }
}

/// Whether this build carries the CUDA kernels (nvcc was found and worked at build time).
pub fn cuda_kernels_built() -> bool {
    cfg!(mixcut_cuda)
}

/// Whether the fused CUDA executor can run on `cuda:ordinal` here: the kernels were built, and loaded on
/// that device (a driver, the device, code for its architecture). Never panics, also where there is no
/// CUDA driver at all. [`check_fused_cuda`] says why not.
pub fn fused_cuda_available(ordinal: usize) -> bool {
    check_fused_cuda(ordinal).is_ok()
}

/// `Ok` where [`fused_cuda_available`], else [`Error::FusedUnavailable`] with the reason: no kernels in
/// this build, no driver or device, or the loader's error with the driver version, the device's compute
/// capability and the architectures the kernels were built for. Loads the kernels on first use (once per
/// device; the outcome is cached).
pub fn check_fused_cuda(ordinal: usize) -> Result<()> {
    cuda::check(ordinal)
}

#[cfg(test)]
thread_local! {
    /// Test hook: a reason that makes the fused CPU executor "unavailable" on this thread.
    pub(crate) static FORCE_CPU_UNAVAILABLE: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// The fused executor for `device`, or why there is none here.
pub(crate) fn fused_for(device: Device) -> Result<ExecutorKind> {
    match device {
        #[cfg(test)]
        Device::Cpu if FORCE_CPU_UNAVAILABLE.with(|f| f.borrow().is_some()) => {
            Err(Error::unavailable(device, FORCE_CPU_UNAVAILABLE.with(|f| f.borrow().clone().unwrap_or_default())))
        }
        Device::Cpu => Ok(ExecutorKind::FusedCpu),
        Device::Cuda(ordinal) => cuda::check(ordinal).map(|()| ExecutorKind::FusedCuda),
        d => Err(Error::unavailable(d, "the fused executors run on Cpu and Cuda devices only")),
    }
}

/// Runs a fused executor; returns `(images out, targets)`. On `Err` before the launch nothing was written.
pub(crate) fn run_fused(job: &Job, images: &Tensor, labels: &Tensor, flag: &LabelFlag) -> Result<(Tensor, Tensor)> {
    run_fused_with_masks(job, images, labels, None, flag)
}

/// [`run_fused`] that also pastes class masks in the same pass (segmentation): `masks` holds their byte
/// views, `dst` the masks itself in place or from [`fresh_like`]. Masks are pasted, never blended, and
/// never normalised: a job with Mixup or the normalising pass is refused with them.
pub(crate) fn run_fused_with_masks(
    job: &Job,
    images: &Tensor,
    labels: &Tensor,
    masks: Option<MaskBuffers>,
    flag: &LabelFlag,
) -> Result<(Tensor, Tensor)> {
    ensure!(
        masks.is_none() || (job.normalize.is_none() && job.params.iter().all(|p| p.op != params::OP_MIXUP)),
        Error::InvalidPlan(
            "class masks are pasted by CutMix only: a plan with Mixup, or the normalising pass, cannot carry \
             them"
                .into()
        )
    );
    let labels =
        if job.soft_labels { labels.f_to_kind(Kind::Float)?.f_contiguous()? } else { labels.f_contiguous()? };
    let dst = match &job.normalize {
        Some(norm) => poisoned(reference::empty_output(images, norm)?)?,
        None if job.in_place => images.shallow_clone(),
        None => fresh_like(images)?,
    };
    let targets = poisoned(Tensor::f_empty([job.batch.n as i64, job.num_classes], (Kind::Float, job.batch.device))?)?;
    let bufs = Buffers { src: images, dst: &dst, labels: &labels, targets: &targets, masks };
    match job.batch.device {
        Device::Cuda(ordinal) => cuda::run(job, &bufs, ordinal, flag)?,
        _ => cpu::run(job, &bufs)?,
    }
    Ok((dst, targets))
}

/// A new tensor like `t` for a fused executor to write (dense), [`poisoned`].
pub(crate) fn fresh_like(t: &Tensor) -> Result<Tensor> {
    poisoned(t.f_empty_like()?)
}

/// A fresh output, filled with NaN (171 for uint8) where [`poison_outputs`] says so: an element the kernels
/// fail to write shows in the tests (libtorch's caching allocator may hand back a block that already holds
/// the right answer).
fn poisoned(mut t: Tensor) -> Result<Tensor> {
    if poison_outputs() {
        let _ = t.f_fill_(if t.kind() == Kind::Uint8 { 171.0 } else { f64::NAN })?;
    }
    Ok(t)
}

/// Whether fresh outputs are poisoned before the kernels run: always in builds with debug assertions (the
/// test profile), and in release builds where `TCH_MIXCUT_POISON=1` (the GPU check kit runs its carried
/// release test binaries so).
fn poison_outputs() -> bool {
    static POISON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    cfg!(debug_assertions) || *POISON.get_or_init(|| std::env::var_os("TCH_MIXCUT_POISON").is_some_and(|v| v == "1"))
}

/// The class count as the kernels take it, or why it is too large for them.
pub(crate) fn kernel_classes(num_classes: i64) -> Result<i32> {
    i32::try_from(num_classes).map_err(|_| {
        Error::unsupported("num_classes", format!("got {num_classes}, expected < 2^31 for the fused executor"))
    })
}
