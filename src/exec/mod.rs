//! Executors: the ways a plan is applied to tensors. All read the same [`Job`], built once from a plan.

pub(crate) mod cpu;
#[cfg_attr(not(mixcut_cuda), path = "cuda_off.rs")]
pub(crate) mod cuda;
pub(crate) mod fmix;
pub(crate) mod kernel_args;
pub(crate) mod label_flag;
mod pool;
pub(crate) mod reference;
#[cfg(mixcut_cuda)]
pub(crate) mod torch_stream;

use tch::{Device, Kind, Tensor};

use crate::error::{ensure, Error, Result};
use crate::job::{BatchSpec, Buffers, Job, MaskBuffers};
use label_flag::LabelFlag;

/// Which implementation a [`Mixer`](crate::Mixer) should use.
///
/// The fused CUDA kernels exist only where nvcc ≥ 12.1 was found at build time (`NVCC`, `PATH`,
/// `CUDA_HOME` / `CUDA_PATH`). A build from crates.io on a machine without the CUDA toolkit has none,
/// and cargo hides the build script's warning about it: [`cuda_kernels_built`] and
/// [`check_fused_cuda`] say so at run time, with the build's reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Executor {
    /// The fused kernels where they can run here and take the batch (device, kernels loaded, layout, no
    /// autograd), else the reference. Falls back only on [`Error::FusedUnavailable`] and
    /// [`Error::FusedUnsupported`]; every other error is returned. The first fallback for want of a fused
    /// executor (for example a build without CUDA kernels, on a CUDA tensor) is logged once as a warning
    /// through the [`log`](https://docs.rs/log) crate (target `tch_mixcut`); [`Mixer::last_executor`](crate::Mixer::last_executor)
    /// tells after every call which executor ran.
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
    /// The kernel source built by the C++ compiler, one pass over the batch on CPU threads (in launches of
    /// 128 pairs, as the CUDA kernels).
    FusedCpu,
    /// The kernel source built by nvcc, launched on libtorch's current CUDA stream of the images' device:
    /// one launch per 128 pairs of the batch (one for batches up to 256 samples).
    FusedCuda,
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

/// The executor that runs a batch under the mixer's choice: `Auto` takes the fused path where it exists
/// and takes the batch, and falls back only when it does not; `Fused` insists, with an `Err` that says
/// why not. The one place that decides whether the fused executors take a batch.
pub(crate) fn choose(
    executor: Executor,
    batch: &BatchSpec,
    images: &Tensor,
    labels: Option<&Tensor>,
    num_classes: i64,
    normalizing: bool,
) -> Result<ExecutorKind> {
    let fused = || -> Result<ExecutorKind> {
        let kind = fused_for(batch.device)?;
        kernel_args::supported(batch, images, labels, num_classes, normalizing)?;
        Ok(kind)
    };
    match executor {
        Executor::Reference => Ok(ExecutorKind::Reference),
        Executor::Fused => fused(),
        Executor::Auto => match fused() {
            Err(e) if e.is_fused_fallback() => {
                warn_once_unavailable(&e);
                Ok(ExecutorKind::Reference)
            }
            other => other,
        },
    }
}

/// Logs (through the `log` crate, once per process) that `Auto` runs the reference because a fused
/// executor is unavailable, e.g. a build without CUDA kernels on a CUDA tensor. A batch the fused path
/// does not take (a strided view, autograd) is an ordinary fallback and is not logged.
fn warn_once_unavailable(error: &Error) {
    static WARNED: std::sync::Once = std::sync::Once::new();
    if matches!(error, Error::FusedUnavailable { .. }) {
        WARNED.call_once(
            || log::warn!(target: "tch_mixcut", "tch-mixcut: Executor::Auto runs the reference executor: {error}"),
        );
    }
}

/// The fused executor for `device`, or why there is none here.
fn fused_for(device: Device) -> Result<ExecutorKind> {
    match device {
        Device::Cpu if host_side::cuda() => cpu::check().map(|()| ExecutorKind::FusedCuda),
        Device::Cpu => cpu::check().map(|()| ExecutorKind::FusedCpu),
        Device::Cuda(ordinal) => cuda::check(ordinal).map(|()| ExecutorKind::FusedCuda),
        d => Err(Error::unavailable(d, "the fused executors run on Cpu and Cuda devices only")),
    }
}

/// Runs `job` on the executor `kind`; returns `(images out, targets)`: the images written in place (the
/// input itself returned) or into a new tensor, the targets `[N, num_classes]` float32 (`[N, 0]` for a
/// job without targets). `labels` may be empty for such a job. `masks`: class masks pasted in the images'
/// pass (fused executors only; segmentation). On `Err` nothing was written.
pub(crate) fn run(
    kind: ExecutorKind,
    job: &Job,
    images: &Tensor,
    labels: &Tensor,
    masks: Option<MaskBuffers>,
    flag: &LabelFlag,
) -> Result<(Tensor, Tensor)> {
    let paste_mask = fmix::paste_masks(job)?;
    match kind {
        ExecutorKind::Reference => {
            ensure!(
                masks.is_none(),
                Error::unsupported("masks", "class masks in the images' pass need a fused executor")
            );
            reference::run(job, images, labels, paste_mask.as_ref())
        }
        ExecutorKind::FusedCpu | ExecutorKind::FusedCuda => {
            run_fused(job, images, labels, masks, paste_mask.as_ref(), flag)
        }
    }
}

/// Runs a fused executor, pasting class masks in the same pass where given (segmentation): `masks` holds
/// their byte views, `dst` the masks itself in place or from [`fresh_like`]. Masks are pasted, never
/// blended, and never normalised: a job with Mixup or the normalising pass is refused with them.
fn run_fused(
    job: &Job,
    images: &Tensor,
    labels: &Tensor,
    masks: Option<MaskBuffers>,
    paste_mask: Option<&Tensor>,
    flag: &LabelFlag,
) -> Result<(Tensor, Tensor)> {
    ensure!(
        masks.is_none() || (job.normalize.is_none() && job.params.iter().all(|p| p.op.copies_box_rows())),
        Error::InvalidPlan(
            "class masks in the images' pass are pasted by CutMix only: a plan with another operation, or the \
             normalising pass, cannot carry them"
                .into()
        )
    );
    // A converted or contiguous copy only where the labels need one (each is a call into libtorch).
    let converted = match job.soft_labels {
        true if labels.f_kind()? != Kind::Float || !labels.is_contiguous() => {
            Some(labels.f_to_kind(Kind::Float)?.f_contiguous()?)
        }
        false if !labels.is_contiguous() => Some(labels.f_contiguous()?),
        _ => None,
    };
    let labels = converted.as_ref().unwrap_or(labels);
    let dst = match &job.normalize {
        Some(norm) => poisoned(reference::empty_output(images, norm)?)?,
        None if job.in_place => images.shallow_clone(),
        None => fresh_like(images)?,
    };
    let targets = poisoned(Tensor::f_empty([job.batch.n as i64, job.num_classes], (Kind::Float, job.batch.device))?)?;
    // In place, ResizeMix reads its partner's whole image while the partner's box is written. The CUDA
    // kernels, whose threads cover a pair's elements in any order, read a copy of the batch instead; the
    // CPU's threads take whole pairs and hold one box aside (kernels/host_resize.h, held_sample).
    let cuda_side = matches!(job.batch.device, Device::Cuda(_)) || host_side::cuda();
    let snapshot = if cuda_side && job.resizes_in_place() {
        let mut copy = fresh_like(images)?;
        copy.f_copy_(images)?;
        Some(copy)
    } else {
        None
    };
    let src = snapshot.as_ref().unwrap_or(images);
    let bufs = Buffers { src, dst: &dst, labels, targets: &targets, masks, paste_mask };
    match job.batch.device {
        Device::Cuda(ordinal) => cuda::run(job, &bufs, ordinal, flag)?,
        // The CUDA executor's host side without the driver (the `testing` feature's benches): its argument
        // blocks, filled as for its launches.
        _ if host_side::cuda() => {
            let launch = kernel_args::build(job, &bufs, kernel_args::Widths::cuda(job), std::ptr::null_mut(), 0)?;
            launch.each_block(|_| Ok(()))?
        }
        _ => cpu::run(job, &bufs)?,
    }
    Ok((dst, targets))
}

/// A switch for the crate's benches (the `testing` feature): calls on CPU tensors made inside
/// [`host_side::with_cuda`] take the fused CUDA executor's path up to its driver calls (its checks, the
/// host's label-range check left to the device, the plan, the outputs' allocation, the argument blocks)
/// and write nothing; the host's cost of a CUDA call measured on a machine without one. Not taken: the
/// launcher's kernel lookup (a table read) and reading the label flags (mapped memory on a GPU).
pub(crate) mod host_side {
    #[cfg(feature = "testing")]
    thread_local! {
        static CUDA: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }

    /// Whether calls on this thread take the CUDA executor's host side; always false without `testing`.
    pub(crate) fn cuda() -> bool {
        #[cfg(feature = "testing")]
        return CUDA.get();
        #[cfg(not(feature = "testing"))]
        false
    }

    /// Runs `f` with this thread's calls on CPU tensors taking the CUDA executor's host side; the switch
    /// is put back as it was afterwards, also when `f` panics.
    #[cfg(feature = "testing")]
    pub(crate) fn with_cuda<R>(f: impl FnOnce() -> R) -> R {
        struct Restore(bool);
        impl Drop for Restore {
            fn drop(&mut self) {
                CUDA.set(self.0);
            }
        }
        let _restore = Restore(CUDA.replace(true));
        f()
    }
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
        let _ =
            t.f_fill_tensor_(&crate::fallible::host_scalar(if t.kind() == Kind::Uint8 { 171.0 } else { f64::NAN })?)?;
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
