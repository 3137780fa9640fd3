//! What the executors consume, as plain data: the batch's description, the job (the plan flattened into
//! per-sample numbers, the target encoding, the normalising pass) and the buffers of one pass.
//!
//! This module imports no executor and no check: `check` produces these values, `exec` consumes them,
//! `Mixer` builds a [`Job`] from a plan and hands it to `exec::run`.

pub(crate) mod params;

use tch::{Device, Tensor};

use crate::dtype::Dtype;
use crate::plan::{FMixMask, MixOp, MixPlan};
use params::{SampleParams, TargetSpec};

/// How a batch's samples sit in memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Layout {
    /// Row-major `[N, C, ...]` (tch's default).
    Contiguous,
    /// Channels innermost: `[N, C, H, W]` stored as NHWC (or `[N, C, T]` stored as NTC).
    ChannelsLast,
    /// Anything else (a view, a slice, expanded strides): only the reference executor takes it.
    Strided,
}

/// What was learnt about a valid `images` batch.
#[derive(Clone, Debug)]
pub(crate) struct BatchSpec {
    pub n: usize,
    pub dtype: Dtype,
    pub device: Device,
    pub layout: Layout,
    /// `(H, W)` for rank 4, `(1, T)` for rank 3, `None` otherwise.
    pub extent: Option<(usize, usize)>,
    /// Channels `C` for ranks 3 and 4 (1 otherwise).
    pub channels: usize,
    /// Elements per sample.
    pub sample_numel: usize,
}

/// The two accepted label encodings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Labels {
    /// int64 class indices `[N]`.
    Indices,
    /// Soft targets `[N, num_classes]`, any float dtype.
    Soft,
}

/// Everything an executor needs, derived once from a validated plan, batch and labels.
#[derive(Clone, Debug)]
pub(crate) struct Job {
    pub params: Vec<SampleParams>,
    pub batch: BatchSpec,
    pub soft_labels: bool,
    /// Classes of the targets; 0: the job writes no targets (segmentation's images and masks).
    pub num_classes: i64,
    pub targets: TargetSpec,
    /// Write the mixed images over the input.
    pub in_place: bool,
    /// The normalising pass: uint8 in, `out` out.
    pub normalize: Option<NormJob>,
    /// The FMix samples, whose paste masks the executors read (`exec::fmix`).
    pub fmix: Vec<FMixSample>,
}

/// An FMix sample of a job: its noise and the fraction of its pixels it keeps.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FMixSample {
    pub sample: usize,
    pub mask: FMixMask,
    pub lam: f64,
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
            fmix: fmix_samples(plan),
        }
    }

    /// A job that mixes images (and masks) only: no labels, no targets.
    pub(crate) fn images_only(plan: &MixPlan, batch: &BatchSpec, in_place: bool) -> Self {
        Job::new(plan, batch, false, 0, TargetSpec::plain(), in_place)
    }

    /// Whether some sample blends its pixels with its partner's.
    pub(crate) fn blends(&self) -> bool {
        self.params.iter().any(|p| p.op.blends())
    }

    /// Whether the job writes its images in place and some sample resizes its partner (ResizeMix), whose
    /// whole image it then reads while the partner may change.
    pub(crate) fn resizes_in_place(&self) -> bool {
        self.in_place && self.params.iter().any(|p| p.op.resizes_partner())
    }

    /// Whether some sample pastes by a mask or resizes its partner (FMix, ResizeMix): the fused kernels'
    /// extended operations.
    pub(crate) fn extended(&self) -> bool {
        self.params.iter().any(|p| p.op.has_mask() || p.op.resizes_partner())
    }
}

/// The plan's FMix samples.
pub(crate) fn fmix_samples(plan: &MixPlan) -> Vec<FMixSample> {
    let fmix = |(sample, op): (usize, &MixOp)| match *op {
        MixOp::FMix { mask, lam } => Some(FMixSample { sample, mask, lam }),
        MixOp::Keep | MixOp::Mixup { .. } | MixOp::CutMix { .. } | MixOp::ResizeMix { .. } => None,
    };
    plan.ops.iter().enumerate().filter_map(fmix).collect()
}

/// The tensors one fused pass reads and writes (already validated and allocated).
pub(crate) struct Buffers<'a> {
    pub src: &'a Tensor,
    pub dst: &'a Tensor,
    /// int64 `[N]` contiguous class indices, or float32 `[N, C]` contiguous soft targets.
    pub labels: &'a Tensor,
    pub targets: &'a Tensor,
    /// Class masks pasted in the same pass (segmentation), if any.
    pub masks: Option<MaskBuffers<'a>>,
    /// FMix's paste masks, uint8 `[N, H, W]` contiguous on the images' device (1: the partner's pixel),
    /// when a sample has one.
    pub paste_mask: Option<&'a Tensor>,
}

/// Class masks as their bytes: `[N, 1, H, W · bytes]` uint8, contiguous, in and out (the same in place).
pub(crate) struct MaskBuffers<'a> {
    pub src: &'a Tensor,
    pub dst: &'a Tensor,
    /// Bytes of one mask element.
    pub bytes: usize,
}
