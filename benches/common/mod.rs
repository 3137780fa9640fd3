//! Plans the CPU and GPU benches share: CutMix of one fixed centred box in every sample.

use tch_mixcut::{CutBox, FMixMask, MixOp, MixPlan};

/// A centred box covering about `area` of the H×W image (at least one pixel).
pub fn centred_box((h, w): (usize, usize), area: f64) -> CutBox {
    let side = |len: usize| ((len as f64 * area.sqrt()).round() as usize).clamp(1, len);
    let (bh, bw) = (side(h), side(w));
    let (y0, x0) = ((h - bh) / 2, (w - bw) / 2);
    CutBox { y0, y1: y0 + bh, x0, x1: x0 + bw }
}

/// CutMix in every sample (the middle one of an odd batch keeps) with [`centred_box`] of `area`, λ the
/// kept fraction.
pub fn box_plan(n: usize, (h, w): (usize, usize), area: f64) -> MixPlan {
    let bbox = centred_box((h, w), area);
    let lam = 1.0 - bbox.area() as f64 / (h * w) as f64;
    let mut plan = MixPlan::identity(n, Some((h, w)));
    for (i, op) in plan.ops.iter_mut().enumerate() {
        if 2 * i + 1 != n {
            *op = MixOp::CutMix { bbox, lam };
        }
    }
    plan
}

/// [`box_plan`]'s box as ResizeMix (the partner's whole image resized into it).
pub fn resize_plan(n: usize, extent: (usize, usize), area: f64) -> MixPlan {
    let mut plan = box_plan(n, extent, area);
    for op in plan.ops.iter_mut() {
        if let MixOp::CutMix { bbox, lam } = *op {
            *op = MixOp::ResizeMix { bbox, lam };
        }
    }
    plan
}

/// FMix in every pair, each sample keeping the fraction `lam` of its pixels (its own seed).
pub fn fmix_plan(n: usize, (h, w): (usize, usize), lam: f64) -> MixPlan {
    let mut plan = MixPlan::identity(n, Some((h, w)));
    let own = ((h * w) as f64 * lam).round() / (h * w) as f64;
    for (i, op) in plan.ops.iter_mut().enumerate() {
        if 2 * i + 1 != n {
            *op = MixOp::FMix { mask: FMixMask { seed: i as u64, decay_power: 3.0 }, lam: own };
        }
    }
    plan
}
