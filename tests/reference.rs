//! The reference executor's values against the formulas, on the CPU.

mod common;

use common::*;
use tch::{Kind, Tensor};
use tch_mixcut::{CutBox, Executor, MixConfig, MixMode, MixOp, MixPlan, Mixer};

fn reference(config: MixConfig, seed: u64) -> Mixer {
    Mixer::new(config, seed).unwrap().with_executor(Executor::Reference)
}

/// A hand-made plan: sample 0 Mixup, 1 CutMix, the rest kept.
fn hand_plan(n: usize, extent: (usize, usize)) -> MixPlan {
    let mut plan = MixPlan::identity(n, Some(extent));
    plan.ops[0] = MixOp::Mixup { lam: 0.3 };
    let bbox = CutBox { y0: extent.0 / 4, y1: extent.0 / 2 + 1, x0: 1, x1: extent.1 - 1 };
    plan.ops[1] = MixOp::CutMix { bbox, lam: 0.6 };
    plan
}

/// Checks `out` = plan applied to `x` element by element (f32 arithmetic of the plan's weights).
fn check_images(plan: &MixPlan, x: &Tensor, out: &Tensor, round_u8: bool) {
    let shape = x.size();
    let (xv, ov) = (values(x), values(out));
    let per = xv.len() / shape[0] as usize;
    let (h, w) = plan.extent.unwrap_or((1, 1));
    for (i, op) in plan.ops.iter().enumerate() {
        for p in 0..per {
            let (a, b) = (xv[i * per + p], xv[plan.partner(i) * per + p]);
            let (y, xx) = ((p / w) % h, p % w);
            let want = match *op {
                MixOp::Keep => a,
                MixOp::Mixup { lam } => {
                    let m = blend(a as f32, b as f32, lam);
                    if round_u8 {
                        (m.round_ties_even() as f64).clamp(0.0, 255.0)
                    } else {
                        m as f64
                    }
                }
                MixOp::CutMix { .. } => {
                    if pasted(plan, i, y, xx) {
                        b
                    } else {
                        a
                    }
                }
                other => panic!("an op this test does not know: {other:?}"),
            };
            let tol = if x.kind() == Kind::Float || round_u8 { 0.0 } else { 1e-2 * want.abs().max(1.0) };
            assert!((ov[i * per + p] - want).abs() <= tol, "sample {i} pos {p}: got {} want {want}", ov[i * per + p]);
        }
    }
}

/// Checks targets = λ·y_i + (1−λ)·y_j with smoothing, and rows summing to 1.
fn check_targets(plan: &MixPlan, labels: &[i64], targets: &Tensor, classes: usize, smoothing: f64) {
    let t = values(targets);
    assert_eq!(targets.size(), [plan.len() as i64, classes as i64]);
    assert_eq!(targets.kind(), Kind::Float);
    let off = smoothing / classes as f64;
    let onehot = |l: i64, c: usize| if c as i64 == l { 1.0 - smoothing + off } else { off };
    for (i, op) in plan.ops.iter().enumerate() {
        let lam = op.lam();
        for c in 0..classes {
            let want = lam * onehot(labels[i], c) + (1.0 - lam) * onehot(labels[plan.partner(i)], c);
            assert!((t[i * classes + c] - want).abs() < 1e-6, "row {i} class {c}: {} vs {want}", t[i * classes + c]);
        }
        let sum: f64 = t[i * classes..(i + 1) * classes].iter().sum();
        assert!((sum - 1.0).abs() < 1e-5, "row {i} sums to {sum}");
    }
}

#[test]
fn mixup_equals_lambda_blend_in_every_mode() {
    for mode in [MixMode::Batch, MixMode::Pair, MixMode::Elem] {
        let mut m = reference(MixConfig { mode, ..MixConfig::mixup(0.4, 10) }, 3);
        let (x, y) = (images(&[6, 3, 5, 7], Kind::Float), labels(6, 10));
        let plan = m.sample_plan(&x.size()).unwrap();
        assert!(!plan.is_identity());
        let (out, targets) = m.planned(&plan).apply(&x, &y).unwrap();
        check_images(&plan, &x, &out, false);
        check_targets(&plan, &Vec::<i64>::try_from(&y).unwrap(), &targets, 10, 0.0);
    }
}

#[test]
fn cutmix_pastes_partner_inside_box_only() {
    let mut m = reference(MixConfig { mode: MixMode::Elem, ..MixConfig::cutmix(1.0, 5) }, 4);
    let (x, y) = (images(&[8, 2, 9, 11], Kind::Float), labels(8, 5));
    let plan = m.sample_plan(&x.size()).unwrap();
    assert!(plan.has_cutmix());
    let (out, targets) = m.planned(&plan).apply(&x, &y).unwrap();
    check_images(&plan, &x, &out, false);
    check_targets(&plan, &Vec::<i64>::try_from(&y).unwrap(), &targets, 5, 0.0);
}

#[test]
fn smoothed_targets_follow_timm() {
    let mut m = reference(MixConfig::deit(7), 5);
    let (x, y) = (images(&[4, 3, 8, 8], Kind::Float), labels(4, 7));
    let plan = hand_plan(4, (8, 8));
    let (_, targets) = m.planned(&plan).apply(&x, &y).unwrap();
    check_targets(&plan, &Vec::<i64>::try_from(&y).unwrap(), &targets, 7, 0.1);
}

#[test]
fn in_place_equals_out_of_place() {
    for kind in [Kind::Float, Kind::Half, Kind::BFloat16, Kind::Uint8] {
        let mut m = reference(MixConfig { mode: MixMode::Elem, ..MixConfig::vit(10) }, 6);
        let (x, y) = (images(&[5, 3, 6, 6], kind), labels(5, 10));
        let plan = m.sample_plan(&x.size()).unwrap();
        let (out, t1) = m.planned(&plan).apply(&x, &y).unwrap();
        let mut inplace = x.copy();
        let t2 = m.planned(&plan).apply_(&mut inplace, &y).unwrap();
        assert_eq!(values(&out), values(&inplace), "{kind:?}");
        assert_eq!(values(&t1), values(&t2));
    }
}

#[test]
fn in_place_writes_the_callers_storage() {
    let mut m = reference(MixConfig::mixup(1.0, 10), 1);
    let mut x = images(&[4, 3, 4, 4], Kind::Float);
    let (before, ptr) = (values(&x), x.data_ptr());
    let plan = hand_plan(4, (4, 4));
    let _targets = m.planned(&plan).apply_(&mut x, &labels(4, 10)).unwrap();
    assert_eq!(x.data_ptr(), ptr);
    assert_ne!(values(&x), before);
}

#[test]
fn out_of_place_leaves_inputs_untouched_and_returns_new_storage() {
    let mut m = reference(MixConfig::vit(10), 1);
    let (x, y) = (images(&[4, 3, 4, 4], Kind::Float), labels(4, 10));
    let (sx, sy) = (snapshot(&x), snapshot(&y));
    let (out, _) = m.planned(&MixPlan::identity(4, Some((4, 4)))).apply(&x, &y).unwrap();
    assert_ne!(out.data_ptr(), x.data_ptr());
    assert_eq!((snapshot(&x), snapshot(&y)), (sx, sy));
}

#[test]
fn u8_mixup_rounds_half_to_even() {
    let mut m = reference(MixConfig::mixup(1.0, 10), 1);
    // 1·0.5 + 2·0.5 = 1.5 → 2, 0.5·3 + 0.5·0 = 1.5 → 2, 2.5 → 2: ties go to even, as np.rint.
    let x = Tensor::from_slice(&[1u8, 3, 5, 2, 0, 0]).reshape([2, 3]);
    let mut plan = MixPlan::identity(2, None);
    plan.ops[0] = MixOp::Mixup { lam: 0.5 };
    plan.ops[1] = MixOp::Mixup { lam: 0.5 };
    let (out, _) = m.planned(&plan).apply(&x, &labels(2, 10)).unwrap();
    assert_eq!(Vec::<u8>::try_from(out.flatten(0, -1)).unwrap(), vec![2, 2, 2, 2, 2, 2]);
    let x = images(&[6, 3, 5, 5], Kind::Uint8);
    let plan = hand_plan(6, (5, 5));
    let (out, _) = m.planned(&plan).apply(&x, &labels(6, 10)).unwrap();
    assert_eq!(out.kind(), Kind::Uint8);
    check_images(&plan, &x, &out, true);
}

#[test]
fn channels_last_equals_contiguous() {
    for kind in [Kind::Float, Kind::Uint8] {
        let mut m = reference(MixConfig { mode: MixMode::Elem, ..MixConfig::vit(10) }, 9);
        let (x, y) = (images(&[6, 3, 7, 5], kind), labels(6, 10));
        let plan = m.sample_plan(&x.size()).unwrap();
        let xl = channels_last(&x);
        assert!(!xl.is_contiguous());
        let (a, ta) = m.planned(&plan).apply(&x, &y).unwrap();
        let (b, tb) = m.planned(&plan).apply(&xl, &y).unwrap();
        assert_eq!(values(&a), values(&b));
        assert_eq!(values(&ta), values(&tb));
        let mut inplace = xl.copy();
        let _targets = m.planned(&plan).apply_(&mut inplace, &y).unwrap();
        assert_eq!(values(&a), values(&inplace));
    }
}

#[test]
fn odd_batch_middle_sample_is_unchanged_with_plain_target() {
    for mode in [MixMode::Batch, MixMode::Pair, MixMode::Elem] {
        let mut m = reference(MixConfig { mode, label_smoothing: 0.0, ..MixConfig::vit(4) }, 10);
        let (x, y) = (images(&[5, 3, 6, 6], Kind::Float), labels(5, 4));
        let (out, targets) = m.apply(&x, &y).unwrap();
        assert_eq!(values(&out.get(2)), values(&x.get(2)));
        let row = values(&targets.get(2));
        let l = y.int64_value(&[2]) as usize;
        assert!(row.iter().enumerate().all(|(c, &v)| v == if c == l { 1.0 } else { 0.0 }), "{row:?}");
    }
}

#[test]
fn soft_label_input_is_mixed_as_given() {
    let mut m = reference(MixConfig { label_smoothing: 0.1, ..MixConfig::mixup(1.0, 3) }, 11);
    let soft = Tensor::from_slice(&[0.7f32, 0.2, 0.1, 0.0, 1.0, 0.0, 0.3, 0.3, 0.4, 0.5, 0.0, 0.5]).reshape([4, 3]);
    let x = images(&[4, 2, 3, 3], Kind::Float);
    let plan = hand_plan(4, (3, 3));
    let (_, targets) = m.planned(&plan).apply(&x, &soft.to_kind(Kind::BFloat16)).unwrap();
    let (sv, tv) = (values(&soft.to_kind(Kind::BFloat16)), values(&targets));
    for (i, op) in plan.ops.iter().enumerate() {
        let lam = op.lam();
        for c in 0..3 {
            let want = lam * sv[i * 3 + c] + (1.0 - lam) * sv[plan.partner(i) * 3 + c];
            assert!((tv[i * 3 + c] - want).abs() < 1e-6, "{i} {c}");
        }
    }
}

#[test]
fn rank2_tabular_and_rank3_sequences() {
    let mut m = reference(MixConfig { mode: MixMode::Elem, ..MixConfig::mixup(0.5, 10) }, 12);
    let (x, y) = (images(&[6, 13], Kind::Float), labels(6, 10));
    let plan = m.sample_plan(&x.size()).unwrap();
    let (out, _) = m.planned(&plan).apply(&x, &y).unwrap();
    check_images(&plan, &x, &out, false);

    let mut m = reference(MixConfig { mode: MixMode::Elem, ..MixConfig::vit(10) }, 13);
    let x = images(&[6, 2, 50], Kind::Float);
    let plan = m.sample_plan(&x.size()).unwrap();
    assert_eq!(plan.extent, Some((1, 50)));
    let (out, targets) = m.planned(&plan).apply(&x, &y).unwrap();
    check_images(&plan, &x, &out, false);
    check_targets(&plan, &Vec::<i64>::try_from(&y).unwrap(), &targets, 10, 0.0);
}

#[test]
fn same_seed_same_output() {
    let run = || {
        let mut m = reference(MixConfig { mode: MixMode::Elem, ..MixConfig::deit(10) }, 99);
        let (x, y) = (images(&[8, 3, 8, 8], Kind::Float), labels(8, 10));
        (0..3)
            .map(|_| {
                let (a, b) = m.apply(&x, &y).unwrap();
                (values(&a), values(&b))
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(run(), run());
}

#[test]
fn evaluation_passes_images_through_with_plain_one_hot() {
    let mut m = reference(MixConfig::deit(4), 1);
    let (x, y) = (images(&[4, 3, 4, 4], Kind::Float), labels(4, 4));
    let (out, targets) = m.apply_t(&x, &y, false).unwrap();
    assert_eq!(values(&out), values(&x));
    let want = Tensor::zeros([4, 4], (Kind::Float, tch::Device::Cpu)).scatter_value(1, &y.view([4, 1]), 1.0);
    assert_eq!(values(&targets), values(&want));
    let (mixed, _) = m.apply_t(&x, &y, true).unwrap();
    assert_ne!(values(&mixed), values(&x));
}

#[test]
fn hand_made_plans_are_checked() {
    let mut m = reference(MixConfig::vit(10), 1);
    let (x, y) = (images(&[4, 3, 4, 4], Kind::Float), labels(4, 10));
    let mut plan = hand_plan(4, (4, 4));
    plan.ops[2] = MixOp::Mixup { lam: 1.5 };
    let e = m.planned(&plan).apply(&x, &y).unwrap_err().to_string();
    assert!(e.contains("plan.ops[2]") && e.contains("1.5") && e.contains("[0, 1]"), "{e}");
    let e = m.planned(&hand_plan(6, (4, 4))).apply(&x, &y).unwrap_err().to_string();
    assert!(e.contains("plan") && e.contains('6'), "{e}");
    let mut plan = hand_plan(4, (4, 4));
    plan.ops[1] = MixOp::CutMix { bbox: CutBox { y0: 0, y1: 5, x0: 0, x1: 1 }, lam: 0.5 };
    let e = m.planned(&plan).apply(&x, &y).unwrap_err().to_string();
    assert!(e.contains("bbox"), "{e}");
}
