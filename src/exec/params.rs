//! The plan flattened into per-sample numbers: the one encoding every executor reads, so the reference
//! and the fused kernels compute with bit-identical weights. Mirrors `MixSample` in `kernels/mix.cuh`.

use crate::config::MixConfig;
use crate::plan::{MixOp, MixPlan};

/// Operation codes shared with the kernels.
pub(crate) const OP_KEEP: i32 = 0;
pub(crate) const OP_MIXUP: i32 = 1;
pub(crate) const OP_CUTMIX: i32 = 2;

/// One sample's parameters, `#[repr(C)]` as the kernels read them (32 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct SampleParams {
    /// `OP_KEEP`, `OP_MIXUP` or `OP_CUTMIX`.
    pub op: i32,
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
                MixOp::Keep => p.op = OP_KEEP,
                MixOp::Mixup { .. } => p.op = OP_MIXUP,
                MixOp::CutMix { bbox, .. } => {
                    p.op = OP_CUTMIX;
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
