//! The plan flattened into per-sample numbers: the one encoding every executor reads, so the reference
//! and the fused kernels compute with bit-identical weights. Mirrors `MixSample` in `kernels/mix.cuh`.

use crate::config::MixConfig;
use crate::plan::{CutBox, MixOp, MixPlan};

/// A sample's operation as the kernels read it: the twin of `mixcut::Op` in kernels/mix.cuh (values and
/// predicates checked against the C++ compiler's by a test). Code asks the predicates below, never "not
/// Mixup, so a box": a new operation is then a compile error wherever a `match` does not handle it.
#[repr(i32)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) enum Op {
    /// Left as it is.
    #[default]
    Keep = 0,
    /// Blended with the partner by `w_self`, `w_other`.
    Mixup = 1,
    /// The partner's pixels pasted inside the box.
    CutMix = 2,
    /// The partner's whole image, resized to the box, pasted inside it.
    ResizeMix = 3,
    /// The partner's pixels pasted where the sample's paste mask is set.
    FMix = 4,
}

impl Op {
    /// Every operation, in code order.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) const ALL: [Op; 5] = [Op::Keep, Op::Mixup, Op::CutMix, Op::ResizeMix, Op::FMix];

    /// Whether the sample's pixels become a weighted sum of its own and its partner's.
    pub(crate) fn blends(self) -> bool {
        match self {
            Op::Keep | Op::CutMix | Op::ResizeMix | Op::FMix => false,
            Op::Mixup => true,
        }
    }

    /// Whether the sample takes pasted pixels inside a rectangle, its box (and only there).
    pub(crate) fn has_box(self) -> bool {
        match self {
            Op::Keep | Op::Mixup | Op::FMix => false,
            Op::CutMix | Op::ResizeMix => true,
        }
    }

    /// Whether the sample takes its partner's pixels where its paste mask is set.
    pub(crate) fn has_mask(self) -> bool {
        match self {
            Op::Keep | Op::Mixup | Op::CutMix | Op::ResizeMix => false,
            Op::FMix => true,
        }
    }

    /// Whether what is pasted is the partner's whole image resized to the box (nearest neighbour).
    pub(crate) fn resizes_partner(self) -> bool {
        match self {
            Op::Keep | Op::Mixup | Op::CutMix | Op::FMix => false,
            Op::ResizeMix => true,
        }
    }

    /// Whether, in place, nothing outside the sample's pasted region changes (no region: nothing changes).
    pub(crate) fn changes_region_only(self) -> bool {
        match self {
            Op::Keep | Op::CutMix | Op::ResizeMix | Op::FMix => true,
            Op::Mixup => false,
        }
    }

    /// Whether the sample's target mixes its partner's label in.
    pub(crate) fn mixes_labels(self) -> bool {
        match self {
            Op::Keep => false,
            Op::Mixup | Op::CutMix | Op::ResizeMix | Op::FMix => true,
        }
    }

    /// Whether, in place, the sample's change is its partner's box rows at the same place (the host's
    /// row copies, kernels/host.cpp's run_boxes).
    pub(crate) fn copies_box_rows(self) -> bool {
        self.changes_region_only() && !self.has_mask() && !self.resizes_partner()
    }
}

/// One sample's parameters, `#[repr(C)]` as the kernels read them (32 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct SampleParams {
    /// The operation.
    pub op: Op,
    /// Weight of the sample itself: λ as f32 (pixels for Mixup, labels for every op).
    pub w_self: f32,
    /// Weight of the partner: `1 − λ`, computed in f64 then rounded once.
    pub w_other: f32,
    /// Box rows `y0..y1` and columns `x0..x1` (CutMix and ResizeMix).
    pub y0: i32,
    pub y1: i32,
    pub x0: i32,
    pub x1: i32,
    pub _pad: i32,
}

/// Flattens a (validated) plan.
pub(crate) fn pack(plan: &MixPlan) -> Vec<SampleParams> {
    plan.ops
        .iter()
        .map(|op| {
            let lam = op.lam();
            let mut p = SampleParams { w_self: lam as f32, w_other: (1.0 - lam) as f32, ..Default::default() };
            let boxed = |p: &mut SampleParams, op: Op, b: &CutBox| {
                p.op = op;
                (p.y0, p.y1, p.x0, p.x1) = (b.y0 as i32, b.y1 as i32, b.x0 as i32, b.x1 as i32);
            };
            match op {
                MixOp::Keep => p.op = Op::Keep,
                MixOp::Mixup { .. } => p.op = Op::Mixup,
                MixOp::CutMix { bbox, .. } => boxed(&mut p, Op::CutMix, bbox),
                MixOp::ResizeMix { bbox, .. } => boxed(&mut p, Op::ResizeMix, bbox),
                MixOp::FMix { .. } => p.op = Op::FMix,
            }
            p
        })
        .collect()
}

/// How the targets are built from the labels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct TargetSpec {
    /// One-hot values of class-index labels (label smoothing applied).
    pub on: f32,
    pub off: f32,
    /// Mixed targets become `1` where `> threshold`, else `0` (timm's BCE target threshold), as f32.
    pub threshold: Option<f32>,
}

impl TargetSpec {
    /// The configuration's targets: one-hot values with label smoothing `s` over `C` classes exactly as
    /// timm (`off = s / C`, `on = 1 − s + off`, rounded once to f32), and its BCE threshold.
    pub(crate) fn of(config: &MixConfig) -> Self {
        let off = config.label_smoothing / config.num_classes as f64;
        TargetSpec {
            on: (1.0 - config.label_smoothing + off) as f32,
            off: off as f32,
            threshold: config.bce_target_thresh.map(|t| t as f32),
        }
    }

    /// Plain one-hot targets (evaluation).
    pub(crate) fn plain() -> Self {
        TargetSpec { on: 1.0, off: 0.0, threshold: None }
    }
}
