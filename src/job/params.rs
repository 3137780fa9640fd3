//! The plan flattened into per-sample numbers: the one encoding every executor reads, so the reference
//! and the fused kernels compute with bit-identical weights. Mirrors `MixSample` in `kernels/mix.cuh`.

use crate::config::MixConfig;
use crate::plan::{MixOp, MixPlan};

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
}

impl Op {
    /// Every operation, in code order.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) const ALL: [Op; 3] = [Op::Keep, Op::Mixup, Op::CutMix];

    /// Whether the sample's pixels become a weighted sum of its own and its partner's.
    pub(crate) fn blends(self) -> bool {
        match self {
            Op::Keep | Op::CutMix => false,
            Op::Mixup => true,
        }
    }

    /// Whether the sample takes its partner's pixels inside its box (and only there).
    pub(crate) fn has_box(self) -> bool {
        match self {
            Op::Keep | Op::Mixup => false,
            Op::CutMix => true,
        }
    }

    /// Whether, in place, nothing outside the sample's box changes (no box: nothing changes).
    pub(crate) fn moves_box_only(self) -> bool {
        match self {
            Op::Keep | Op::CutMix => true,
            Op::Mixup => false,
        }
    }

    /// Whether the sample's target mixes its partner's label in.
    pub(crate) fn mixes_labels(self) -> bool {
        match self {
            Op::Keep => false,
            Op::Mixup | Op::CutMix => true,
        }
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
    /// Box rows `y0..y1` and columns `x0..x1` (CutMix only).
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
            match *op {
                MixOp::Keep => p.op = Op::Keep,
                MixOp::Mixup { .. } => p.op = Op::Mixup,
                MixOp::CutMix { bbox, .. } => {
                    p.op = Op::CutMix;
                    (p.y0, p.y1, p.x0, p.x1) = (bbox.y0 as i32, bbox.y1 as i32, bbox.x0 as i32, bbox.x1 as i32);
                }
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
