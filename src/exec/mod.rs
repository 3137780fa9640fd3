//! Executors: the ways a plan is applied to tensors. All read the same [`Job`], built once from a plan.

pub(crate) mod params;
pub(crate) mod reference;

use tch::{Device, Kind};

use crate::check::{BatchSpec, Layout};
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
    pub partners: Vec<i64>,
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
            partners: plan.samples.iter().map(|s| s.partner as i64).collect(),
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
