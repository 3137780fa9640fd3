//! The plan flattened into per-sample numbers: the one encoding every executor reads, so the reference
//! and the fused kernels compute with bit-identical weights. Mirrors `MixSample` in `kernels/mix.cuh`.

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

/// One-hot values with label smoothing `s` over `C` classes, exactly as timm: `(on, off)` with
/// `off = s / C` and `on = 1 − s + off`, rounded once to f32.
pub(crate) fn smoothing_values(smoothing: f64, num_classes: i64) -> (f32, f32) {
    let off = smoothing / num_classes as f64;
    ((1.0 - smoothing + off) as f32, off as f32)
}
