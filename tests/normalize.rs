//! The fused normalising pass (uint8 in; mixed, converted, normalised float out, in one pass): both
//! executors bit for bit over the layouts and dtypes, its values against the textbook formula, evaluation
//! mode, and bad input refused with nothing written.

mod common;

use common::equivalence::{self, compare_normalized};
use common::*;
use tch::{Device, Kind, Tensor};
use tch_mixcut::{Error, Executor, InputLayout, MixConfig, MixMode, MixOp, MixPlan, Mixer, Normalize};

#[test]
fn fused_matches_reference_over_layouts_dtypes_modes_and_batches() {
    assert_eq!(equivalence::normalize_matrix(Device::Cpu), 14 * 3 * 5 * 3 * 2);
}

#[test]
fn hand_plan_with_full_empty_and_corner_boxes() {
    let plan = equivalence::hand_plan();
    let cfg = equivalence::config(MixMode::Elem, 4, 4);
    let x = images(&[5, 3, 6, 9], Kind::Uint8);
    for kind in [Kind::Float, Kind::BFloat16] {
        compare_normalized(&plan, &cfg, &x, &labels(5, 4), &Normalize::imagenet(kind), "hand plan");
    }
}

#[test]
fn values_follow_the_definition_and_stay_close_to_the_textbook_formula() {
    let x = images(&[4, 3, 5, 5], Kind::Uint8);
    let mut plan = MixPlan::identity(4, Some((5, 5)));
    plan.ops[0] = MixOp::Mixup { lam: 0.3 };
    plan.ops[3] = MixOp::Mixup { lam: 0.6 };
    let norm = Normalize::imagenet(Kind::Float);
    let mut m = Mixer::new(MixConfig::mixup(1.0, 10), 0).unwrap();
    let (out, _) = m.planned(&plan).apply_normalized(&x, &labels(4, 10), &norm).unwrap();
    let (xv, ov) = (values(&x), values(&out));
    let per = 75;
    for i in 0..4 {
        for p in 0..per {
            let c = p / 25;
            let (a, b) = (xv[i * per + p] as f32, xv[(3 - i) * per + p] as f32);
            let mixed = match plan.ops[i] {
                MixOp::Mixup { lam } => blend(a, b, lam),
                _ => a,
            };
            // The definition: fl(fl(m · s_c) + t_c) with s_c, t_c rounded once from f64.
            let (s, t) = ((1.0 / (255.0 * norm.std[c])) as f32, (-norm.mean[c] / norm.std[c]) as f32);
            assert_eq!(ov[i * per + p] as f32, mixed * s + t, "sample {i} element {p}");
            // Within a few ulp of (m / 255 - mean) / std in f64.
            let textbook = (mixed as f64 / 255.0 - norm.mean[c]) / norm.std[c];
            assert!(
                (ov[i * per + p] - textbook).abs() <= 4.0 * f32::EPSILON as f64 * textbook.abs().max(1.0),
                "{i} {p}"
            );
        }
    }
}

#[test]
fn evaluation_normalises_without_mixing_and_gives_plain_targets() {
    let x = images(&[6, 3, 8, 8], Kind::Uint8);
    let nhwc = x.permute([0, 2, 3, 1]).contiguous();
    let norm = Normalize { input: InputLayout::Nhwc, channels_last: true, ..Normalize::imagenet(Kind::Float) };
    let mut m = Mixer::new(MixConfig { label_smoothing: 0.1, ..MixConfig::deit(10) }, 0).unwrap();
    let (out, targets) = m.apply_normalized_t(&nhwc, &labels(6, 10), &norm, false).unwrap();
    let mean = Tensor::from_slice(&[0.485f32, 0.456, 0.406]).view([1, 3, 1, 1]);
    let std = Tensor::from_slice(&[0.229f32, 0.224, 0.225]).view([1, 3, 1, 1]);
    let textbook = (x.to_kind(Kind::Float) / 255.0 - mean) / std;
    assert!(out.allclose(&textbook, 1e-5, 1e-5, false));
    let onehot = Tensor::zeros([6, 10], (Kind::Float, Device::Cpu)).scatter_value(1, &labels(6, 10).view([6, 1]), 1.0);
    assert_eq!(values(&targets), values(&onehot));
    // Training mode mixes (and samples from the mixer's stream).
    let (mixed, _) = m.apply_normalized_t(&nhwc, &labels(6, 10), &norm, true).unwrap();
    assert_ne!(values(&mixed), values(&out));
}

#[test]
fn auto_uses_the_fused_pass_and_reference_beyond_sixteen_channels() {
    let mut m = Mixer::new(MixConfig::vit(10), 1).unwrap();
    let norm = Normalize::imagenet(Kind::BFloat16);
    let _ = m.apply_normalized(&images(&[4, 3, 8, 8], Kind::Uint8), &labels(4, 10), &norm).unwrap();
    assert_eq!(m.last_executor(), Some(tch_mixcut::ExecutorKind::FusedCpu));
    let wide = Normalize { mean: vec![0.5; 17], std: vec![0.25; 17], ..norm.clone() };
    let _ = m.apply_normalized(&images(&[4, 17, 4, 4], Kind::Uint8), &labels(4, 10), &wide).unwrap();
    assert_eq!(m.last_executor(), Some(tch_mixcut::ExecutorKind::Reference));
    m.set_executor(Executor::Fused);
    let e = m.apply_normalized(&images(&[4, 17, 4, 4], Kind::Uint8), &labels(4, 10), &wide).unwrap_err();
    assert!(
        matches!(e, Error::FusedUnsupported { argument: "images", .. }) && e.to_string().contains("17 channels"),
        "{e}"
    );
}

/// A refused normalising call: the variant, the message, images untouched, no randomness used.
fn refused(images: &Tensor, norm: &Normalize, check: impl Fn(&Error) -> bool, words: &[&str]) {
    let cfg = MixConfig::vit(10);
    let mut m = Mixer::new(cfg.clone(), 9).unwrap();
    let before = snapshot(images);
    let e = m.apply_normalized(images, &labels(images.size()[0], 10), norm).unwrap_err();
    assert!(check(&e), "{e:?}");
    for w in words {
        assert!(e.to_string().contains(w), "{e} lacks {w:?}");
    }
    assert_eq!(snapshot(images), before);
    assert_eq!(m.sample_plan(&[4, 3, 8, 8]).unwrap(), Mixer::new(cfg, 9).unwrap().sample_plan(&[4, 3, 8, 8]).unwrap());
}

#[test]
fn bad_input_is_refused_naming_argument_value_and_expectation() {
    let x = images(&[4, 3, 8, 8], Kind::Uint8);
    let arg =
        |name: &'static str| move |e: &Error| matches!(e, Error::InvalidArgument { argument, .. } if *argument == name);
    let base = Normalize::imagenet(Kind::Float);
    refused(
        &x,
        &Normalize { mean: vec![0.5, 0.5], ..base.clone() },
        arg("mean"),
        &["mean", "2 values", "one per channel", "(3)"],
    );
    refused(&x, &Normalize { std: vec![0.2; 4], ..base.clone() }, arg("std"), &["std", "4 values", "(3)"]);
    refused(&x, &Normalize { std: vec![0.2, 0.0, 0.2], ..base.clone() }, arg("std"), &["std", "got 0", "> 0"]);
    refused(&x, &Normalize { std: vec![0.2, f64::NAN, 0.2], ..base.clone() }, arg("std"), &["NaN", "finite"]);
    refused(&x, &Normalize { mean: vec![0.2, f64::INFINITY, 0.2], ..base.clone() }, arg("mean"), &["inf", "finite"]);
    refused(&x, &Normalize::imagenet(Kind::Uint8), arg("kind"), &["kind", "Uint8", "Float, BFloat16 or Half"]);
    refused(&x, &Normalize::imagenet(Kind::Double), arg("kind"), &["Double"]);
    let images_err = |e: &Error| matches!(e, Error::InvalidImages(_));
    refused(&images(&[4, 3, 8, 8], Kind::Float), &base, images_err, &["images", "Float", "Uint8"]);
    // float64 pixels: the hint names the pass's Uint8 too.
    refused(&images(&[4, 3, 8, 8], Kind::Double), &base, images_err, &["images", "Double", "Kind::Uint8"]);
    refused(&images(&[4, 1, 8, 8], Kind::Uint8), &base, arg("mean"), &["(1)"]);
    refused(
        &images(&[4, 8, 8], Kind::Uint8),
        &Normalize { input: InputLayout::Nhwc, ..base.clone() },
        images_err,
        &["[4, 8, 8]", "Nhwc"],
    );
    refused(&images(&[4, 24], Kind::Uint8), &base, images_err, &["images"]);
    // Finite options whose f32 scale or shift overflows, vanishes, or leaves the output dtype's range.
    let three = |v: f64, ok: f64| vec![ok, v, ok];
    refused(&x, &Normalize { mean: three(1e300, 0.5), ..base.clone() }, arg("mean"), &["1e300", "0–1 scale"]);
    // The 0–255 scale, which every range check below would let through.
    let bytes = Normalize { mean: vec![123.675, 116.28, 103.53], std: vec![58.395, 57.12, 57.375], ..base.clone() };
    refused(&x, &bytes, arg("mean"), &["123.675", "0–1 scale", "divide", "255"]);
    refused(&x, &Normalize { mean: three(-0.5, 0.5), ..base.clone() }, arg("mean"), &["-0.5", "[0, 1]"]);
    // Half the conversion: 0–1 means, stds of 0–255 values.
    let half_bytes = Normalize { std: vec![58.395, 57.12, 57.375], ..base.clone() };
    refused(&x, &half_bytes, arg("std"), &["58.395", "0–1 scale", "(0, 1]", "divide", "255"]);
    refused(&x, &Normalize { std: three(1.5, 0.2), ..base.clone() }, arg("std"), &["1.5", "0–1 scale"]);
    let mut m = Mixer::new(MixConfig::vit(10), 9).unwrap();
    let unit = Normalize { mean: vec![0.0; 3], std: vec![1.0; 3], ..base.clone() };
    let (out, _) = m.apply_normalized(&x, &labels(4, 10), &unit).unwrap();
    assert!(bool::try_from(out.max().le(1.0)).unwrap(), "a std of 1 is taken: the pixels on the 0–1 scale");
    // An NHWC batch with the default InputLayout::Nchw: the layout is named, not the mean.
    let nhwc = images(&[4, 8, 8, 3], Kind::Uint8);
    refused(
        &nhwc,
        &base,
        arg("input"),
        &["InputLayout::Nchw", "[4, 8, 8, 3]", "as many values as mean (3)", "InputLayout::Nhwc"],
    );
    refused(
        &x,
        &Normalize { std: three(1e-300, 0.2), ..base.clone() },
        arg("std"),
        &["1e-300", "channel 1", "inf in f32"],
    );
    refused(&x, &Normalize { std: three(1e300, 0.2), ..base.clone() }, arg("std"), &["1e300", "0–1 scale"]);
    let zero_mean = Normalize { mean: three(0.0, 0.5), std: three(1e-39, 0.2), ..base.clone() };
    refused(&x, &zero_mean, arg("std"), &["channel 1", "span 1/std = 1.", "e39", "Float"]);
    // The span alone is past the range: the std's doing, whatever the mean.
    let steep = Normalize { mean: three(0.5, 0.5), std: three(1e-39, 0.2), ..base.clone() };
    refused(&x, &steep, arg("std"), &["1e-39", "channel 1", "Float"]);
    let half = Normalize::imagenet(Kind::Half);
    refused(&x, &Normalize { std: three(1e-5, 0.2), ..half.clone() }, arg("std"), &["Half", "65504"]);
    let mut m = Mixer::new(MixConfig::vit(10), 9).unwrap();
    let (out, _) = m.apply_normalized(&x, &labels(4, 10), &Normalize { std: three(1e-4, 0.2), ..half }).unwrap();
    assert!(bool::try_from(out.isfinite().all()).unwrap(), "within f16's range at std 1e-4");
}
