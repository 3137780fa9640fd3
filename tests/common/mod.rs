//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod equivalence;
pub mod gpu;

use tch::{Kind, Tensor};
use tch_mixcut::{MixOp, MixPlan};

/// `n` values in [0, 1) from `seed` (splitmix64), independent of libtorch's global generator, which the
/// tests running in parallel threads would race on.
pub fn uniform(n: usize, seed: u64) -> Vec<f32> {
    let mut state = seed;
    (0..n)
        .map(|_| {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            ((z ^ (z >> 31)) >> 40) as f32 / (1u64 << 24) as f32
        })
        .collect()
}

/// Deterministic test images: distinct values per element, in the dtype's range.
pub fn images(shape: &[i64], kind: Kind) -> Tensor {
    let n = shape.iter().product::<i64>() as usize;
    let t = Tensor::from_slice(&uniform(n, 7)).view(shape);
    match kind {
        Kind::Uint8 => (t * 255.0).round().to_kind(Kind::Uint8),
        k => (t * 4.0 - 2.0).to_kind(k),
    }
}

/// Class-index labels `0, 1, 2, ...` modulo `classes`, reversed so pairs differ.
pub fn labels(n: i64, classes: i64) -> Tensor {
    Tensor::from_slice(&(0..n).map(|i| (i * 7 + 3) % classes).collect::<Vec<i64>>())
}

/// All elements as f64, in logical (row-major) order whatever the layout.
pub fn values(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(t.to_kind(Kind::Double).contiguous().flatten(0, -1)).unwrap()
}

/// The same values stored channels-last (NHWC strides, NCHW shape).
pub fn channels_last(t: &Tensor) -> Tensor {
    t.permute([0, 2, 3, 1]).contiguous().permute([0, 3, 1, 2])
}

/// A tensor's bytes-level identity: values plus shape, for "unchanged" checks.
pub fn snapshot(t: &Tensor) -> (Vec<i64>, Vec<f64>) {
    (t.size(), values(t))
}

/// One f32 Mixup step exactly as the plan's weights define it: fl(fl(a·w) + fl(b·(1−λ))).
pub fn blend(a: f32, b: f32, lam: f64) -> f32 {
    a * (lam as f32) + b * ((1.0 - lam) as f32)
}

/// Whether row `y`, column `x` of sample `i` is pasted from the partner under `plan`.
pub fn pasted(plan: &MixPlan, i: usize, y: usize, x: usize) -> bool {
    matches!(plan.ops[i], MixOp::CutMix { bbox, .. } if bbox.contains(y, x))
}

/// Raw bits of every element, in logical order.
pub fn bits(t: &Tensor) -> Vec<i64> {
    let t = t.contiguous();
    let raw = match t.kind() {
        Kind::Float => t.view_dtype(Kind::Int),
        Kind::Half | Kind::BFloat16 => t.view_dtype(Kind::Int16),
        _ => t.shallow_clone(),
    };
    Vec::<i64>::try_from(raw.to_kind(Kind::Int64).flatten(0, -1)).unwrap()
}
