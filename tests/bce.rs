//! Binary cross-entropy recipes: thresholded targets from the mixing pass (every executor), multi-hot
//! labels, and `binary_cross_entropy` against values computed by hand.

mod common;

use common::equivalence;
use common::*;
use tch::{Device, Kind, Reduction, Tensor};
use tch_mixcut::{binary_cross_entropy, BceOptions, Error, Executor, MixConfig, MixMode, Mixer};

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// −[p·t·log σ(x) + (1 − t)·log(1 − σ(x))]·w, the textbook per-element loss.
fn bce(x: f64, t: f64, w: f64, p: f64) -> f64 {
    -w * (p * t * sigmoid(x).ln() + (1.0 - t) * (1.0 - sigmoid(x)).ln())
}

fn approx(got: &Tensor, want: &[f64]) {
    let g = values(got);
    assert_eq!(g.len(), want.len(), "{g:?} vs {want:?}");
    for (a, b) in g.iter().zip(want) {
        assert!((a - b).abs() < 1e-5, "{g:?} vs {want:?}");
    }
}

#[test]
fn loss_matches_hand_computed_values_for_every_option() {
    let x = [0.5, -1.0, 2.0, 0.0, -0.3, 1.5];
    let logits = Tensor::from_slice(&x.map(|v| v as f32)).view([2, 3]);
    let labels = Tensor::from_slice(&[1i64, 2]);
    // Smoothing 0.1 over 3 classes: off = 0.1/3, on = 0.9 + 0.1/3.
    let (off, on) = (0.1 / 3.0, 0.9 + 0.1 / 3.0);
    let t = [off, on, off, off, off, on];
    let per: Vec<f64> = (0..6).map(|i| bce(x[i], t[i], 1.0, 1.0)).collect();
    approx(&binary_cross_entropy(&logits, &labels, &BceOptions::default()).unwrap(), &[per.iter().sum::<f64>() / 6.0]);
    let none = BceOptions { reduction: Reduction::None, ..BceOptions::default() };
    approx(&binary_cross_entropy(&logits, &labels, &none).unwrap(), &per);
    let sum = BceOptions { reduction: Reduction::Sum, ..BceOptions::default() };
    approx(&binary_cross_entropy(&logits, &labels, &sum).unwrap(), &[per.iter().sum()]);
    // sum_classes: per-sample sums, then the batch mean.
    let sum_classes = BceOptions { reduction: Reduction::None, sum_classes: true, ..BceOptions::default() };
    approx(
        &binary_cross_entropy(&logits, &labels, &sum_classes).unwrap(),
        &[(per[..3].iter().sum::<f64>() + per[3..].iter().sum::<f64>()) / 2.0],
    );
    // Weights and positive weights per class.
    let (w, p) = ([1.0, 2.0, 0.5], [3.0, 1.0, 2.0]);
    let (wt, pt) = (Tensor::from_slice(&w.map(|v| v as f32)), Tensor::from_slice(&p.map(|v| v as f32)));
    let weighted =
        BceOptions { weight: Some(&wt), pos_weight: Some(&pt), reduction: Reduction::None, ..BceOptions::default() };
    let want: Vec<f64> = (0..6).map(|i| bce(x[i], t[i], w[i % 3], p[i % 3])).collect();
    approx(&binary_cross_entropy(&logits, &labels, &weighted).unwrap(), &want);
    // Float targets are used as given (no smoothing), then thresholded.
    let soft = [0.7, 0.3, 0.0, 0.2, 0.9, 0.45];
    let targets = Tensor::from_slice(&soft.map(|v| v as f32)).view([2, 3]);
    let thresholded = BceOptions { target_threshold: Some(0.4), reduction: Reduction::None, ..BceOptions::default() };
    let want: Vec<f64> = (0..6).map(|i| bce(x[i], if soft[i] > 0.4 { 1.0 } else { 0.0 }, 1.0, 1.0)).collect();
    approx(&binary_cross_entropy(&logits, &targets, &thresholded).unwrap(), &want);
    let given = BceOptions { reduction: Reduction::None, ..BceOptions::default() };
    let want: Vec<f64> = (0..6).map(|i| bce(x[i], soft[i], 1.0, 1.0)).collect();
    approx(&binary_cross_entropy(&logits, &targets, &given).unwrap(), &want);
}

#[test]
fn loss_refuses_bad_shapes_and_options() {
    let logits = Tensor::zeros([2, 3], (Kind::Float, Device::Cpu));
    let e = binary_cross_entropy(&logits, &Tensor::zeros([2, 4], (Kind::Float, Device::Cpu)), &BceOptions::default())
        .unwrap_err();
    assert!(matches!(e, Error::InvalidArgument { argument: "targets", .. }) && e.to_string().contains("[2, 4]"), "{e}");
    let e =
        binary_cross_entropy(&logits.view([6]), &Tensor::from_slice(&[0i64, 1]), &BceOptions::default()).unwrap_err();
    assert!(matches!(e, Error::InvalidArgument { argument: "logits", .. }), "{e}");
    let bad = BceOptions { smoothing: 1.0, ..BceOptions::default() };
    let e = binary_cross_entropy(&logits, &Tensor::from_slice(&[0i64, 1]), &bad).unwrap_err();
    assert!(matches!(e, Error::InvalidArgument { argument: "smoothing", .. }), "{e}");
}

#[test]
fn loss_refuses_class_indices_out_of_range_and_undefined_tensors() {
    // These used to panic inside tch (a failed op that takes a Scalar, or `kind()` of an undefined tensor).
    let logits = Tensor::zeros([2, 3], (Kind::Float, Device::Cpu));
    for (bad, range) in [([0i64, 3], "[0, 3]"), ([-1, 0], "[-1, 0]")] {
        let e = binary_cross_entropy(&logits, &Tensor::from_slice(&bad), &BceOptions::default()).unwrap_err();
        let text = e.to_string();
        assert!(
            matches!(e, Error::InvalidArgument { argument: "targets", .. })
                && text.contains(range)
                && text.contains("[0, 3)"),
            "{text}"
        );
    }
    let e = binary_cross_entropy(&logits, &Tensor::new(), &BceOptions::default()).unwrap_err();
    assert!(
        matches!(e, Error::InvalidArgument { argument: "targets", .. }) && e.to_string().contains("undefined"),
        "{e}"
    );
    let e = binary_cross_entropy(&Tensor::new(), &Tensor::from_slice(&[0i64, 1]), &BceOptions::default()).unwrap_err();
    assert!(
        matches!(e, Error::InvalidArgument { argument: "logits", .. }) && e.to_string().contains("undefined"),
        "{e}"
    );
    let e = binary_cross_entropy(&logits.to_kind(Kind::Int64), &Tensor::from_slice(&[0i64, 1]), &BceOptions::default())
        .unwrap_err();
    assert!(matches!(e, Error::InvalidArgument { argument: "logits", .. }) && e.to_string().contains("Int64"), "{e}");
}

#[test]
fn an_empty_batch_has_an_empty_loss() {
    let logits = Tensor::zeros([0, 3], (Kind::Float, Device::Cpu));
    let indices = Tensor::zeros([0], (Kind::Int64, Device::Cpu));
    let sum = BceOptions { reduction: Reduction::Sum, ..BceOptions::default() };
    assert_eq!(binary_cross_entropy(&logits, &indices, &sum).unwrap().double_value(&[]), 0.0);
    let none = BceOptions { reduction: Reduction::None, ..BceOptions::default() };
    assert_eq!(binary_cross_entropy(&logits, &indices, &none).unwrap().size(), [0, 3]);
}

#[test]
fn mixer_thresholds_the_mixed_targets_on_every_executor() {
    let cfg =
        MixConfig { mode: MixMode::Elem, bce_target_thresh: Some(0.2), label_smoothing: 0.1, ..MixConfig::vit(5) };
    let (x, y) = (images(&[7, 3, 8, 8], Kind::Float), labels(7, 5));
    let plan = Mixer::new(cfg.clone(), 3).unwrap().sample_plan(&x.size()).unwrap();
    let soft_cfg = MixConfig { bce_target_thresh: None, ..cfg.clone() };
    let (_, soft) =
        Mixer::new(soft_cfg, 0).unwrap().with_executor(Executor::Reference).planned(&plan).apply(&x, &y).unwrap();
    let (_, hard) =
        Mixer::new(cfg.clone(), 0).unwrap().with_executor(Executor::Reference).planned(&plan).apply(&x, &y).unwrap();
    let want: Vec<f64> = values(&soft).iter().map(|&v| if (v as f32) > 0.2f32 { 1.0 } else { 0.0 }).collect();
    assert_eq!(values(&hard), want);
    assert!(want.contains(&1.0) && want.contains(&0.0));
    equivalence::compare(&plan, &cfg, &x, &equivalence::soft_labels(7, 5), "bce threshold, soft labels");
    equivalence::bce_targets(Device::Cpu);
}

#[test]
fn multi_hot_labels_mix_without_a_sum_to_one_check() {
    // Audio tagging: several classes on per clip; rows sum to 2 or 3, and that is accepted.
    let tags = Tensor::from_slice(&[1f32, 1., 0., 0., 0., 1., 1., 1., 1., 0., 1., 0., 0., 1., 1., 0.]).view([4, 4]);
    let cfg = MixConfig { mode: MixMode::Elem, ..MixConfig::mixup(0.5, 4) };
    let x = images(&[4, 1, 100], Kind::Float);
    let mut m = Mixer::new(cfg.clone(), 2).unwrap();
    let plan = m.sample_plan(&x.size()).unwrap();
    let (_, targets) = m.planned(&plan).apply(&x, &tags).unwrap();
    let (t, y) = (values(&targets), values(&tags));
    for (i, op) in plan.ops.iter().enumerate() {
        let (lam, j) = (op.lam(), plan.partner(i));
        for c in 0..4 {
            let want = (lam as f32) * y[i * 4 + c] as f32 + ((1.0 - lam) as f32) * y[j * 4 + c] as f32;
            assert_eq!(t[i * 4 + c] as f32, want, "sample {i} class {c}");
        }
    }
    equivalence::compare(&plan, &cfg, &x, &tags, "multi-hot");
}
