//! Every bad input gets an `Err` naming the argument, the value and what was expected; the caller's
//! tensors are unchanged afterwards, and no randomness is consumed.

mod common;

use common::*;
use tch::{Device, Kind, Tensor};
use tch_mixcut::{Error, MixConfig, Mixer};

/// The config is refused as `InvalidConfig` of `field`, and the message (the contract: option, value,
/// expectation) holds `words`.
fn config_err(config: MixConfig, field: &str, words: &[&str]) {
    let err = Mixer::new(config.clone(), 0).unwrap_err();
    assert!(
        matches!(&err, Error::InvalidConfig { field: f, .. } if *f == field),
        "{err:?} is not InvalidConfig {{ {field} }}"
    );
    let e = err.to_string();
    assert!(e.starts_with(field), "error {e:?} does not start with {field:?}");
    for w in words {
        assert!(e.contains(w), "error {e:?} lacks {w:?} (config {config:?})");
    }
}

#[test]
fn bad_configs_are_refused_with_name_value_and_expectation() {
    let base = MixConfig::vit(10);
    config_err(MixConfig { mixup_alpha: -0.5, ..base.clone() }, "mixup_alpha", &["mixup_alpha", "-0.5", ">= 0"]);
    config_err(MixConfig { cutmix_alpha: -1.0, ..base.clone() }, "cutmix_alpha", &["cutmix_alpha", "-1", ">= 0"]);
    config_err(
        MixConfig { mixup_alpha: 0.0, cutmix_alpha: 0.0, ..base.clone() },
        "mixup_alpha",
        &["mixup_alpha", "cutmix_alpha", "prob 1"],
    );
    config_err(MixConfig { prob: 1.5, ..base.clone() }, "prob", &["prob", "1.5", "[0, 1]"]);
    config_err(MixConfig { prob: -0.1, ..base.clone() }, "prob", &["prob", "-0.1"]);
    config_err(MixConfig { switch_prob: 2.0, ..base.clone() }, "switch_prob", &["switch_prob", "2", "[0, 1]"]);
    config_err(
        MixConfig { label_smoothing: 1.0, ..base.clone() },
        "label_smoothing",
        &["label_smoothing", "1", "[0, 1)"],
    );
    config_err(MixConfig { label_smoothing: -0.1, ..base.clone() }, "label_smoothing", &["label_smoothing", "-0.1"]);
    config_err(MixConfig { num_classes: 0, ..base.clone() }, "num_classes", &["num_classes", "0", ">= 1"]);
    config_err(
        MixConfig { cutmix_minmax: Some((0.0, 0.5)), ..base.clone() },
        "cutmix_minmax",
        &["cutmix_minmax", "(0, 0.5)", "0 < lo <= hi <= 1"],
    );
    config_err(
        MixConfig { cutmix_minmax: Some((0.6, 0.5)), ..base.clone() },
        "cutmix_minmax",
        &["cutmix_minmax", "(0.6, 0.5)"],
    );
    config_err(
        MixConfig { cutmix_minmax: Some((0.5, 1.2)), ..base.clone() },
        "cutmix_minmax",
        &["cutmix_minmax", "1.2"],
    );
    config_err(MixConfig { mixup_alpha: f64::NAN, ..base.clone() }, "mixup_alpha", &["mixup_alpha", "NaN", "finite"]);
    config_err(MixConfig { prob: f64::INFINITY, ..base.clone() }, "prob", &["prob", "inf", "finite"]);
    config_err(
        MixConfig { cutmix_minmax: Some((f64::NAN, 0.5)), ..base.clone() },
        "cutmix_minmax",
        &["cutmix_minmax", "NaN"],
    );
    config_err(
        MixConfig { bce_target_thresh: Some(1.0), ..base.clone() },
        "bce_target_thresh",
        &["bce_target_thresh", "1", "[0, 1)"],
    );
    config_err(
        MixConfig { bce_target_thresh: Some(f64::NAN), ..base.clone() },
        "bce_target_thresh",
        &["NaN", "finite"],
    );
    // Both alphas 0 are fine when nothing is ever mixed.
    Mixer::new(MixConfig { mixup_alpha: 0.0, cutmix_alpha: 0.0, prob: 0.0, ..base }, 0).unwrap();
}

/// Which variant a refused call must return.
#[derive(Clone, Copy, Debug)]
enum Want {
    Images,
    Labels,
    OutOfRange,
}

fn is(want: Want, e: &Error) -> bool {
    match want {
        Want::Images => matches!(e, Error::InvalidImages(_)),
        Want::Labels => matches!(e, Error::InvalidLabels(_)),
        Want::OutOfRange => matches!(e, Error::LabelsOutOfRange { found: Some(_), .. }),
    }
}

/// Runs `apply` and `apply_` on copies and checks the variant, the message and that nothing changed.
fn call_err(config: MixConfig, images: &Tensor, labels: &Tensor, want: Want, words: &[&str]) {
    let mut mixer = Mixer::new(config.clone(), 5).unwrap();
    let (si, sl) = (snapshot(images), snapshot(labels));
    let mut inplace = images.shallow_clone();
    for (call, err) in [
        ("apply", mixer.apply(images, labels).unwrap_err()),
        ("apply_", mixer.apply_(&mut inplace, labels).unwrap_err()),
    ] {
        assert!(is(want, &err), "{call}: {err:?} is not {want:?}");
        let e = err.to_string();
        for w in words {
            assert!(e.contains(w), "{call} error {e:?} lacks {w:?}");
        }
    }
    assert_eq!(snapshot(images), si, "images changed after an error");
    assert_eq!(snapshot(labels), sl, "labels changed after an error");
    // A refused call consumes no randomness: the next plan is the first plan of a fresh mixer.
    let shape = [4, 3, 8, 8];
    assert_eq!(mixer.sample_plan(&shape).unwrap(), Mixer::new(config, 5).unwrap().sample_plan(&shape).unwrap());
}

#[test]
fn bad_images_are_refused_and_left_untouched() {
    let c = MixConfig::vit(10);
    let y = labels(4, 10);
    call_err(
        c.clone(),
        &Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0]),
        &y,
        Want::Images,
        &["images", "[4]", "rank >= 2"],
    );
    call_err(
        c.clone(),
        &images(&[4, 12], Kind::Float),
        &y,
        Want::Images,
        &["images", "[4, 12]", "CutMix", "[N, C, H, W]"],
    );
    call_err(
        c.clone(),
        &images(&[4, 2, 3, 4, 4], Kind::Float),
        &y,
        Want::Images,
        &["images", "[4, 2, 3, 4, 4]", "CutMix"],
    );
    call_err(
        c.clone(),
        &images(&[4, 3, 4, 4], Kind::Double),
        &y,
        Want::Images,
        &["images", "Double", "Float, Half, BFloat16, Uint8", "to_kind(Kind::Float)"],
    );
    call_err(
        c.clone(),
        &Tensor::zeros([4, 3, 4, 4], (Kind::Int64, Device::Cpu)),
        &y,
        Want::Images,
        &["images", "Int64"],
    );
    call_err(
        c.clone(),
        &images(&[0, 3, 4, 4], Kind::Float),
        &labels(0, 10),
        Want::Images,
        &["images", "empty batch", "N >= 1"],
    );
    call_err(c, &images(&[4, 0, 4, 4], Kind::Float), &y, Want::Images, &["images", "empty samples"]);
}

#[test]
fn bad_labels_are_refused_and_images_left_untouched() {
    let c = MixConfig::vit(10);
    let x = images(&[4, 3, 8, 8], Kind::Float);
    call_err(c.clone(), &x, &labels(5, 10), Want::Labels, &["labels", "batch size 5", "expected 4"]);
    call_err(c.clone(), &x, &labels(4, 10).to_kind(Kind::Int), Want::Labels, &["labels", "Int", "Int64"]);
    call_err(c.clone(), &x, &labels(4, 10).view([4, 1]), Want::Labels, &["labels", "[4, 1]", "Int64", "num_classes"]);
    call_err(
        c.clone(),
        &x,
        &Tensor::zeros([4, 10, 1], (Kind::Float, Device::Cpu)),
        Want::Labels,
        &["labels", "[4, 10, 1]"],
    );
    call_err(
        c.clone(),
        &x,
        &Tensor::from_slice(&[0i64, 3, 10, 2]),
        Want::OutOfRange,
        &["labels", "[0, 10]", "[0, 10)"],
    );
    call_err(
        c.clone(),
        &x,
        &Tensor::from_slice(&[0i64, -1, 1, 2]),
        Want::OutOfRange,
        &["labels", "[-1, 2]", "[0, 10)"],
    );
    call_err(
        c,
        &x,
        &Tensor::zeros([4, 9], (Kind::Float, Device::Cpu)),
        Want::Labels,
        &["labels", "width 9", "num_classes = 10"],
    );
}

#[test]
fn in_place_on_a_tensor_that_requires_grad_is_refused() {
    let mut mixer = Mixer::new(MixConfig::mixup(1.0, 10), 0).unwrap();
    let mut x = images(&[4, 3, 4, 4], Kind::Float).set_requires_grad(true);
    let before = snapshot(&x);
    let e = mixer.apply_(&mut x, &labels(4, 10)).unwrap_err();
    assert!(matches!(e, Error::InvalidImages(_)) && e.to_string().contains("requires grad"), "{e}");
    assert_eq!(snapshot(&x), before);
    // Out of place the reference executor stays differentiable.
    let (mixed, targets) = mixer.apply(&x, &labels(4, 10)).unwrap();
    tch_mixcut::soft_cross_entropy(&mixed.flatten(1, -1).narrow(1, 0, 10), &targets).backward();
    assert!(x.grad().defined());
}

#[test]
fn expanded_images_cannot_be_mixed_in_place() {
    let mut mixer = Mixer::new(MixConfig::mixup(1.0, 10), 0).unwrap();
    let mut x = images(&[1, 3, 4, 4], Kind::Float).expand([4, 3, 4, 4], false);
    let e = mixer.apply_(&mut x, &labels(4, 10)).unwrap_err();
    assert!(matches!(e, Error::InvalidImages(_)) && e.to_string().contains("expanded"), "{e}");
}

#[test]
fn soft_cross_entropy_checks_shapes() {
    let logits = Tensor::zeros([4, 10], (Kind::Float, Device::Cpu));
    let e = tch_mixcut::f_soft_cross_entropy(&logits, &Tensor::zeros([4, 9], (Kind::Float, Device::Cpu))).unwrap_err();
    assert!(matches!(e, Error::InvalidArgument { argument: "targets", .. }) && e.to_string().contains("[4, 9]"), "{e}");
    // Uniform logits against any target distribution: loss = ln C.
    let t = Tensor::full([4, 10], 0.1, (Kind::Float, Device::Cpu));
    let loss = tch_mixcut::soft_cross_entropy(&logits, &t).double_value(&[]);
    assert!((loss - 10f64.ln()).abs() < 1e-6, "{loss}");
}

/// `sample_plan(shape)` is refused as `InvalidArgument { shape }` naming the shape, with no randomness used.
fn shape_err(config: MixConfig, shape: &[i64], words: &[&str]) {
    let mut mixer = Mixer::new(config, 5).unwrap();
    let before = mixer.rng_state();
    let err = mixer.sample_plan(shape).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { argument: "shape", .. }), "{shape:?}: {err:?}");
    let e = err.to_string();
    assert!(e.starts_with("shape: got ") && e.contains(&format!("{shape:?}")), "{e}");
    for w in words {
        assert!(e.contains(w), "error {e:?} lacks {w:?}");
    }
    assert_eq!(mixer.rng_state(), before, "{shape:?}: a refused shape consumed randomness");
}

#[test]
fn shapes_a_plan_cannot_be_sampled_for_are_refused_not_panics() {
    let big = 1i64 << 40;
    for config in [MixConfig::vit(10), MixConfig { cutmix_minmax: Some((0.2, 0.8)), ..MixConfig::vit(10) }] {
        for shape in [&[4, 3, 0, 8][..], &[4, 3, 8, 0], &[4, 3, 0], &[4, 3, -5, 8], &[4, 0, 8, 8], &[0, 3, 8, 8]] {
            shape_err(config.clone(), shape, &["every dim >= 1"]);
        }
        shape_err(config.clone(), &[], &["N >= 1"]);
        shape_err(config.clone(), &[4, 3, big, big], &["elements in all"]);
        shape_err(config.clone(), &[4, 3, 1 << 31, 8], &["MixPlan::MAX_EXTENT = 2147483647"]);
        shape_err(config.clone(), &[4, 3, 8, 1 << 31], &["MixPlan::MAX_EXTENT"]);
        shape_err(config.clone(), &[4, 3, 1 << 31], &["MixPlan::MAX_EXTENT"]);
        shape_err(config.clone(), &[big, 3, 8, 8], &["N = 1099511627776", "MixPlan::MAX_LEN = 2147483647"]);
        shape_err(config.clone(), &[i64::MAX, 1], &["MixPlan::MAX_LEN"]);
        shape_err(config, &[i64::MAX, 2], &["elements in all"]);
    }
    // CutMix needs a box or a segment: [N, D] and rank 5 have none (Mixup alone takes them).
    for shape in [&[8, 10][..], &[8, 3, 4, 8, 8]] {
        shape_err(MixConfig::vit(10), shape, &["CutMix enabled", "[N, C, H, W]"]);
        Mixer::new(MixConfig::mixup(1.0, 10), 5).unwrap().sample_plan(shape).unwrap();
    }
}

#[test]
fn a_class_count_whose_targets_cannot_be_addressed_is_refused_naming_it() {
    // Accepted by the configuration, past the address space for this batch: used to panic inside tch.
    for executor in [tch_mixcut::Executor::Reference, tch_mixcut::Executor::Auto] {
        let mut mixer = Mixer::new(MixConfig::mixup(1.0, i64::MAX), 0).unwrap().with_executor(executor);
        let x = images(&[2, 3], Kind::Float);
        let before = snapshot(&x);
        let e = mixer.apply(&x, &labels(2, 10)).unwrap_err();
        let text = e.to_string();
        assert!(matches!(e, Error::InvalidConfig { field: "num_classes", .. }), "{e:?}");
        assert!(text.contains(&i64::MAX.to_string()) && text.contains("batch of 2"), "{text}");
        assert_eq!(snapshot(&x), before);
    }
}

#[test]
fn shapes_at_the_limits_give_plans_that_validate() {
    let side = tch_mixcut::MixPlan::MAX_EXTENT as i64;
    let config = MixConfig { mode: tch_mixcut::MixMode::Elem, prob: 1.0, ..MixConfig::vit(10) };
    let mut mixer = Mixer::new(config.clone(), 1).unwrap();
    for shape in [&[2, 1, side, side][..], &[3, 2, side], &[4, 3, side, 1]] {
        for _ in 0..20 {
            let plan = mixer.sample_plan(shape).unwrap();
            plan.validate().unwrap();
            assert!(plan.lams().iter().all(|l| (0.0..=1.0).contains(l)), "{plan:?}");
        }
    }
    let mut minmax = Mixer::new(MixConfig { cutmix_minmax: Some((0.2, 0.8)), ..config }, 1).unwrap();
    minmax.sample_plan(&[2, 1, side, side]).unwrap().validate().unwrap();
}

#[test]
fn batches_past_the_plan_limits_are_refused_before_anything_is_allocated() {
    let x = images(&[1, 3, 2, 2], Kind::Float).expand([1 << 40, 3, 2, 2], false);
    let y = Tensor::zeros([1], (Kind::Int64, Device::Cpu)).expand([1 << 40], false);
    let mut mixer = Mixer::new(MixConfig::vit(10), 5).unwrap();
    let err = mixer.apply(&x, &y).unwrap_err();
    assert!(matches!(err, Error::InvalidImages(_)), "{err:?}");
    assert!(err.to_string().contains("MixPlan::MAX_LEN"), "{err}");
}

/// A plan mixing every pair of `n` samples by Mixup.
fn mixup_plan(n: usize, extent: Option<(usize, usize)>) -> tch_mixcut::MixPlan {
    let mut plan = tch_mixcut::MixPlan::identity(n, extent);
    for (i, op) in plan.ops.iter_mut().enumerate() {
        if 2 * i + 1 != n {
            *op = tch_mixcut::MixOp::Mixup { lam: 0.3 };
        }
    }
    plan
}

/// `planned(..).apply_` and `apply_` refuse `labels` aliasing `images` on `executor`: `InvalidLabels` naming the
/// images, nothing written, no randomness used.
fn alias_refused(executor: tch_mixcut::Executor, config: &MixConfig, images: &Tensor, labels: &Tensor) {
    let mut mixer = Mixer::new(config.clone(), 5).unwrap().with_executor(executor);
    let (si, sl, state) = (snapshot(images), snapshot(labels), mixer.rng_state());
    let mut inplace = images.shallow_clone();
    let plan = mixup_plan(images.size()[0] as usize, None);
    for err in [
        mixer.planned(&plan).apply_(&mut inplace, labels).unwrap_err(),
        mixer.apply_(&mut inplace, labels).unwrap_err(),
    ] {
        assert!(matches!(err, Error::InvalidLabels(_)), "{executor:?}: {err:?}");
        let e = err.to_string();
        assert!(e.starts_with("labels: got") && e.contains("memory the images span") && e.contains("copy"), "{e}");
    }
    assert_eq!((snapshot(images), snapshot(labels)), (si, sl), "{executor:?}: changed after an error");
    assert_eq!(mixer.rng_state(), state, "{executor:?}: a refused call consumed randomness");
}

#[test]
fn labels_sharing_memory_with_images_mixed_in_place_are_refused() {
    use tch_mixcut::Executor;
    for executor in [Executor::Reference, Executor::Fused, Executor::Auto] {
        // Soft labels that are the images themselves.
        let x = images(&[6, 5], Kind::Float);
        alias_refused(executor, &MixConfig::mixup(1.0, 5), &x, &x.shallow_clone());
        // Class indices whose bytes the images reinterpret (view_dtype), and a narrow of the same storage.
        let indices = Tensor::from_slice(&[0i64, 1, 2, 3, 4, 5]);
        let x = indices.view_dtype(Kind::Float).view([6, 2]);
        alias_refused(executor, &MixConfig::mixup(1.0, 6), &x, &indices);
        let buf = images(&[6 * 5 + 3], Kind::Float);
        let x = buf.narrow(0, 0, 30).view([6, 5]);
        alias_refused(
            executor,
            &MixConfig::mixup(1.0, 4),
            &x,
            &buf.narrow(0, 29, 4).view([1, 4]).expand([6, 4], false),
        );
        // Disjoint parts of one buffer are fine, and mixing out of place may alias freely.
        let buf = images(&[60], Kind::Float);
        let (mut x, soft) =
            (buf.narrow(0, 0, 30).view([6, 5]), buf.narrow(0, 30, 30).view([6, 5]).softmax(1, Kind::Float));
        let soft_in_buf = buf.narrow(0, 30, 30).view([6, 5]);
        soft_in_buf.shallow_clone().copy_(&soft);
        let mut mixer = Mixer::new(MixConfig::mixup(1.0, 5), 5).unwrap().with_executor(executor);
        let plan = mixup_plan(6, None);
        let (want, want_t) = mixer.planned(&plan).apply(&x, &soft_in_buf).unwrap();
        let got_t = mixer.planned(&plan).apply_(&mut x, &soft_in_buf).unwrap();
        assert_eq!((values(&x), values(&got_t)), (values(&want), values(&want_t)), "{executor:?}");
        let x = images(&[6, 5], Kind::Float);
        let _ = mixer.planned(&plan).apply(&x, &x).unwrap();
    }
}

#[test]
fn tiny_and_huge_values_print_short_in_messages() {
    let base = MixConfig::vit(10);
    for (config, field, value) in [
        (MixConfig { label_smoothing: -1e-300, ..base.clone() }, "label_smoothing", "-1e-300"),
        (MixConfig { prob: 2.5e20, ..base.clone() }, "prob", "2.5e20"),
        (MixConfig { cutmix_minmax: Some((-1e-320, 0.5)), ..base.clone() }, "cutmix_minmax", "(-1e-320, 0.5)"),
    ] {
        config_err(config.clone(), field, &[value]);
        let e = Mixer::new(config, 0).unwrap_err().to_string();
        assert!(e.len() < 100, "{} characters: {e}", e.len());
    }
    let mut plan = tch_mixcut::MixPlan::identity(2, None);
    plan.ops[0] = tch_mixcut::MixOp::Mixup { lam: -1e-300 };
    assert_eq!(plan.validate().unwrap_err().to_string(), "plan.ops[0] lam: got -1e-300, expected a value in [0, 1]");
}
