//! ResizeMix, FMix and TransMix: what each operation does to a batch, checked against values computed
//! here from the plan (not only against the reference executor); their sampling statistics; TransMix's
//! targets; bad input named.

mod common;

use common::*;
use tch::{Device, Kind, Tensor};
use tch_mixcut::{CutBox, Error, Executor, FMixMask, MixConfig, MixMode, MixOp, MixPlan, Mixer, Paste};

/// `[n, 2, h, w]` float images whose pixel (c, y, x) of sample i holds `i·10⁴ + c·10³ + y·w + x`: every value
/// names where it came from.
fn tagged(n: usize, h: usize, w: usize) -> Tensor {
    let v: Vec<f32> = (0..n * 2 * h * w)
        .map(|k| {
            let (i, r) = (k / (2 * h * w), k % (2 * h * w));
            (i * 10_000 + (r / (h * w)) * 1000 + r % (h * w)) as f32
        })
        .collect();
    Tensor::from_slice(&v).view([n as i64, 2, h as i64, w as i64])
}

/// Class indices 0, 1, ..., n − 1: sample i's label is i.
fn classes(n: usize) -> Tensor {
    Tensor::arange(n as i64, (Kind::Int64, Device::Cpu))
}

fn executors() -> [Executor; 2] {
    [Executor::Reference, Executor::Fused]
}

#[test]
fn resizemix_pastes_the_partners_whole_image_resized_into_the_box() {
    let (n, h, w) = (6usize, 7usize, 10usize);
    let cfg = MixConfig { mode: MixMode::Elem, ..MixConfig::resizemix(10) };
    let x = tagged(n, h, w);
    let plan = Mixer::new(cfg.clone(), 3).unwrap().sample_plan(&x.size()).unwrap();
    for executor in executors() {
        for in_place in [false, true] {
            let mut mixer = Mixer::new(cfg.clone(), 0).unwrap().with_executor(executor);
            let out = if in_place {
                let mut y = x.copy();
                let _ = mixer.planned(&plan).apply_(&mut y, &labels(n as i64, 10)).unwrap();
                y
            } else {
                mixer.planned(&plan).apply(&x, &labels(n as i64, 10)).unwrap().0
            };
            let got = values(&out);
            for (i, op) in plan.ops.iter().enumerate() {
                let MixOp::ResizeMix { bbox, lam } = *op else { panic!("every sample is ResizeMix: {op:?}") };
                assert!((lam - (1.0 - bbox.area() as f64 / (h * w) as f64)).abs() < 1e-12);
                for c in 0..2 {
                    for y in 0..h {
                        for xx in 0..w {
                            let want = if bbox.contains(y, xx) {
                                let sy = (y - bbox.y0) * h / (bbox.y1 - bbox.y0);
                                let sx = (xx - bbox.x0) * w / (bbox.x1 - bbox.x0);
                                plan.partner(i) * 10_000 + c * 1000 + sy * w + sx
                            } else {
                                i * 10_000 + c * 1000 + y * w + xx
                            };
                            let at = ((i * 2 + c) * h + y) * w + xx;
                            assert_eq!(
                                got[at], want as f64,
                                "{executor:?} in place {in_place}: sample {i} ({c}, {y}, {xx})"
                            );
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn fmix_keeps_exactly_its_share_and_takes_the_partners_pixels_elsewhere() {
    let (n, h, w) = (6usize, 16usize, 12usize);
    let cfg = MixConfig { mode: MixMode::Elem, ..MixConfig::fmix(1.0, 10) };
    let x = tagged(n, h, w);
    let plan = Mixer::new(cfg.clone(), 4).unwrap().sample_plan(&x.size()).unwrap();
    let mut outputs = Vec::new();
    for executor in executors() {
        let mut mixer = Mixer::new(cfg.clone(), 0).unwrap().with_executor(executor);
        let (out, targets) = mixer.planned(&plan).apply(&x, &classes(n)).unwrap();
        let got = values(&out);
        for (i, op) in plan.ops.iter().enumerate() {
            let MixOp::FMix { lam, .. } = *op else { continue };
            let mut own = 0;
            for y in 0..h {
                for xx in 0..w {
                    let (c0, c1) = (got[((i * 2) * h + y) * w + xx], got[((i * 2 + 1) * h + y) * w + xx]);
                    let from = (c0 as usize) / 10_000;
                    assert!(from == i || from == plan.partner(i), "sample {i}: a pixel from {from}");
                    assert_eq!((c0 as usize) % 10_000, y * w + xx, "pasted at the same place");
                    assert_eq!(c1 - c0, 1000.0, "both channels from the same sample");
                    own += (from == i) as usize;
                }
            }
            assert_eq!(own as f64, (lam * (h * w) as f64).round(), "sample {i}");
            let t = values(&targets.get(i as i64));
            assert!((t[i] - lam).abs() < 1e-6 && (t[plan.partner(i)] - (1.0 - lam)).abs() < 1e-6, "{t:?} λ {lam}");
        }
        outputs.push(got);
    }
    assert_eq!(outputs[0], outputs[1], "reference and fused agree");
}

#[test]
fn fmix_masks_are_smooth_regions_not_noise() {
    // Low-frequency noise with δ = 3: the kept region's boundary is short. Counted over 20 masks of 32x32,
    // the pixels whose right neighbour came from the other sample; white noise would give about half.
    let cfg = MixConfig { mode: MixMode::Elem, ..MixConfig::fmix(1.0, 10) };
    let x = tagged(40, 32, 32);
    let (out, _) = Mixer::new(cfg, 5).unwrap().apply(&x, &labels(40, 10)).unwrap();
    let from = out.narrow(1, 0, 1).divide_scalar_mode(10_000.0, "floor");
    let changes = from.narrow(3, 1, 31).ne_tensor(&from.narrow(3, 0, 31)).sum(Kind::Int64).int64_value(&[]);
    let fraction = changes as f64 / (40.0 * 32.0 * 31.0);
    assert!(fraction < 0.08, "{fraction} of neighbours differ");
}

#[test]
fn resizemix_and_fmix_sampling_follow_their_definitions() {
    let mut mixer = Mixer::new(MixConfig { mode: MixMode::Elem, ..MixConfig::resizemix(10) }, 6).unwrap();
    let mut taus = Vec::new();
    for _ in 0..40 {
        for op in mixer.sample_plan(&[64, 3, 40, 50]).unwrap().ops {
            let MixOp::ResizeMix { bbox, .. } = op else { panic!("{op:?}") };
            let (th, tw) = ((bbox.y1 - bbox.y0) as f64 / 40.0, (bbox.x1 - bbox.x0) as f64 / 50.0);
            assert!((th - tw).abs() <= 0.5 / 40.0 + 0.5 / 50.0 + 1e-9, "one τ for both sides: {bbox:?}");
            assert!((0.1 - 0.5 / 40.0..=0.8 + 0.5 / 40.0).contains(&th), "{bbox:?}");
            taus.push(tw);
        }
    }
    // τ uniform in [0.1, 0.8] (Beta(1, 1) rescaled): mean 0.45, variance 0.7²/12.
    let m = taus.iter().sum::<f64>() / taus.len() as f64;
    let v = taus.iter().map(|t| (t - m).powi(2)).sum::<f64>() / taus.len() as f64;
    assert!((m - 0.45).abs() < 0.01 && (v - 0.49 / 12.0).abs() < 0.003, "mean {m} var {v}");

    let mut mixer = Mixer::new(MixConfig { mode: MixMode::Elem, ..MixConfig::fmix(0.5, 10) }, 7).unwrap();
    let mut lams = Vec::new();
    for _ in 0..40 {
        for op in mixer.sample_plan(&[64, 3, 20, 20]).unwrap().ops {
            match op {
                MixOp::FMix { lam, mask } => {
                    assert_eq!(mask.decay_power, 3.0);
                    assert!(((lam * 400.0).round() - lam * 400.0).abs() < 1e-9, "λ is a whole number of pixels: {lam}");
                    lams.push(lam);
                }
                MixOp::Keep => lams.push(1.0),
                other => panic!("{other:?}"),
            }
        }
    }
    // Beta(0.5, 0.5): mean 0.5, variance 1/8.
    let m = lams.iter().sum::<f64>() / lams.len() as f64;
    let v = lams.iter().map(|t| (t - m).powi(2)).sum::<f64>() / lams.len() as f64;
    assert!((m - 0.5).abs() < 0.02 && (v - 0.125).abs() < 0.01, "mean {m} var {v}");
}

#[test]
fn in_place_resizemix_pairs_that_paste_into_each_other_read_the_originals() {
    // Samples 0 and 1 of a pair paste each other's whole image into boxes that overlap where both write.
    let x = tagged(2, 8, 8);
    let plan = MixPlan {
        ops: vec![
            MixOp::ResizeMix { bbox: CutBox { y0: 0, y1: 8, x0: 0, x1: 8 }, lam: 0.0 },
            MixOp::ResizeMix { bbox: CutBox { y0: 2, y1: 6, x0: 2, x1: 6 }, lam: 0.75 },
        ],
        extent: Some((8, 8)),
    };
    let cfg = MixConfig::resizemix(10);
    let (want, _) = Mixer::new(cfg.clone(), 0).unwrap().planned(&plan).apply(&x, &labels(2, 10)).unwrap();
    // Sample 0 becomes sample 1 whole; sample 1's centre shows sample 0 at half size, its border stays.
    assert!(want.get(0).equal(&x.get(1)));
    assert_eq!(want.double_value(&[1, 0, 2, 2]), 0.0);
    assert_eq!(want.double_value(&[1, 0, 3, 3]), 2.0 * 8.0 + 2.0);
    assert_eq!(want.double_value(&[1, 0, 0, 0]), 10_000.0);
    for executor in executors() {
        let mut y = x.copy();
        let mut mixer = Mixer::new(cfg.clone(), 0).unwrap().with_executor(executor);
        let _ = mixer.planned(&plan).apply_(&mut y, &labels(2, 10)).unwrap();
        assert!(y.equal(&want), "{executor:?}");
    }
}

#[test]
fn transmix_weights_labels_by_the_attention_on_each_samples_own_patches() {
    let mixer = Mixer::new(MixConfig::cutmix(1.0, 4), 0).unwrap();
    // 4 samples of 8x8, patches 4x4 (2x2 of them); sample 0 and 3 pair, 1 and 2.
    let plan = MixPlan {
        ops: vec![
            MixOp::CutMix { bbox: CutBox { y0: 0, y1: 4, x0: 0, x1: 4 }, lam: 0.75 }, // patch 0 pasted
            MixOp::CutMix { bbox: CutBox { y0: 0, y1: 4, x0: 0, x1: 6 }, lam: 0.625 }, // patch 0, half of 1
            MixOp::Mixup { lam: 0.3 },
            MixOp::Keep,
        ],
        extent: Some((8, 8)),
    };
    let labels = Tensor::from_slice(&[0i64, 1, 2, 3]);
    let attention = Tensor::from_slice(&[
        0.7f32, 0.1, 0.1, 0.1, // most on the pasted patch: λ 0.3
        0.25, 0.25, 0.25, 0.25, // uniform: the kept area, 1 − (16 + 8)/64
        1.0, 0.0, 0.0, 0.0, // Mixup: the plan's λ
        0.0, 0.0, 0.0, 1.0, // kept: 1
    ])
    .view([4, 4]);
    let t = mixer.transmix_targets(&attention, &plan, &labels, 4).unwrap();
    let lam = |i: i64, c: i64| t.double_value(&[i, c]);
    assert!((lam(0, 0) - 0.3).abs() < 1e-6 && (lam(0, 3) - 0.7).abs() < 1e-6, "{t}");
    assert!((lam(1, 1) - 0.625).abs() < 1e-6 && (lam(1, 2) - 0.375).abs() < 1e-6, "{t}");
    assert!((lam(2, 2) - 0.3).abs() < 1e-6 && (lam(2, 1) - 0.7).abs() < 1e-6, "{t}");
    assert_eq!(lam(3, 3), 1.0);
    // Heads are averaged: two heads whose mean is the rows above give the same targets.
    let heads = Tensor::stack(&[&attention * 2.0, attention.zeros_like()], 1);
    assert!(mixer.transmix_targets(&heads, &plan, &labels, 4).unwrap().allclose(&t, 1e-6, 1e-6, false));
}

#[test]
fn transmix_with_fmix_counts_each_patch_by_its_kept_pixels() {
    let cfg = MixConfig { mode: MixMode::Elem, ..MixConfig::fmix(1.0, 10) };
    let mut mixer = Mixer::new(cfg, 8).unwrap();
    let x = tagged(4, 8, 8);
    let plan = mixer.sample_plan(&x.size()).unwrap();
    let (mixed, targets) = mixer.planned(&plan).apply(&x, &classes(4)).unwrap();
    // Uniform attention over 1x1 patches: λ is the kept fraction, the plan's λ, as in the targets of apply.
    let attention = Tensor::ones([4, 64], (Kind::Float, Device::Cpu));
    let t = mixer.transmix_targets(&attention, &plan, &classes(4), 1).unwrap();
    assert!(t.allclose(&targets, 1e-6, 1e-6, false), "{t} vs {targets}");
    // Attention only on the pixels a sample kept: λ 1.
    let kept = mixed
        .narrow(1, 0, 1)
        .divide_scalar_mode(10_000.0, "floor")
        .view([4, 64])
        .eq_tensor(&Tensor::arange(4, (Kind::Float, Device::Cpu)).view([4, 1]));
    let t = mixer.transmix_targets(&kept.to_kind(Kind::Float), &plan, &classes(4), 1).unwrap();
    for i in 0..4 {
        assert!((t.double_value(&[i, i]) - 1.0).abs() < 1e-6, "{t}");
    }
}

#[test]
fn bad_input_to_the_family_is_refused_naming_it() {
    let mixer = Mixer::new(MixConfig::cutmix(1.0, 4), 0).unwrap();
    let plan = MixPlan::identity(4, Some((8, 8)));
    let labels = Tensor::from_slice(&[0i64, 1, 2, 3]);
    let err = |r: Result<Tensor, Error>| r.unwrap_err().to_string();
    let e = err(mixer.transmix_targets(&Tensor::ones([4, 5], (Kind::Float, Device::Cpu)), &plan, &labels, 4));
    assert!(e.contains("attention") && e.contains("[4, 4]"), "{e}");
    let e = err(mixer.transmix_targets(&Tensor::ones([4, 4], (Kind::Float, Device::Cpu)), &plan, &labels, 3));
    assert!(e.contains("patch") && e.contains("got 3"), "{e}");
    let e = err(mixer.transmix_targets(
        &Tensor::ones([4, 4], (Kind::Float, Device::Cpu)),
        &plan,
        &labels.narrow(0, 0, 3),
        4,
    ));
    assert!(e.contains("labels"), "{e}");
    // A ResizeMix box must hold a pixel; an FMix decay power must be positive.
    let mut bad = MixPlan::identity(4, Some((8, 8)));
    bad.ops[1] = MixOp::ResizeMix { bbox: CutBox { y0: 2, y1: 2, x0: 0, x1: 3 }, lam: 0.5 };
    let mut m = Mixer::new(MixConfig::resizemix(4), 0).unwrap();
    let x = tagged(4, 8, 8);
    let before = x.copy();
    let e = m.planned(&bad).apply(&x, &labels).unwrap_err().to_string();
    assert!(e.contains("plan.ops[1].bbox") && e.contains("at least one pixel"), "{e}");
    bad.ops[1] = MixOp::FMix { mask: FMixMask { seed: 1, decay_power: -1.0 }, lam: 0.5 };
    let e = m.planned(&bad).apply(&x, &labels).unwrap_err().to_string();
    assert!(e.contains("decay_power") && e.contains("got -1,"), "{e}");
    bad.ops[1] = MixOp::FMix { mask: FMixMask { seed: 1, decay_power: 33.0 }, lam: 0.5 };
    let e = m.planned(&bad).apply(&x, &labels).unwrap_err().to_string();
    assert!(e.contains("plan.ops[1].mask.decay_power: got 33,") && e.contains("MAX_DECAY_POWER = 32"), "{e}");
    assert!(x.equal(&before));
    let e = Mixer::new(MixConfig { paste: Paste::FMix { decay_power: 0.0 }, ..MixConfig::cutmix(1.0, 4) }, 0)
        .unwrap_err()
        .to_string();
    assert!(e.contains("paste") && e.contains("decay_power"), "{e}");
    let e = Mixer::new(MixConfig { paste: Paste::FMix { decay_power: 33.0 }, ..MixConfig::cutmix(1.0, 4) }, 0)
        .unwrap_err()
        .to_string();
    assert!(e.contains("decay_power 33") && e.contains("MAX_DECAY_POWER = 32"), "{e}");
}

#[test]
fn fmix_with_a_steep_spectrum_still_keeps_exactly_its_share() {
    // 224^17 is past f32's range: the spectrum used to overflow, its noise became NaN and whole images
    // were pasted while the targets said half.
    for (side, decay_power) in [(224usize, 17.0), (32, Paste::MAX_DECAY_POWER)] {
        let x = Tensor::cat(
            &[
                Tensor::zeros([1, 1, side as i64, side as i64], (Kind::Float, Device::Cpu)),
                Tensor::ones([1, 1, side as i64, side as i64], (Kind::Float, Device::Cpu)),
            ],
            0,
        );
        let mut plan = MixPlan::identity(2, Some((side, side)));
        plan.ops[0] = MixOp::FMix { mask: FMixMask { seed: 11, decay_power }, lam: 0.5 };
        for executor in executors() {
            let mut m = Mixer::new(MixConfig::fmix(1.0, 2), 0).unwrap().with_executor(executor);
            let (mixed, _) = m.planned(&plan).apply(&x, &classes(2)).unwrap();
            let pasted = mixed.get(0).sum(Kind::Int64).int64_value(&[]);
            assert_eq!(pasted as usize, side * side / 2, "{side}x{side}, δ {decay_power}, {executor:?}");
        }
    }
}

#[test]
fn transmix_refuses_attention_that_gives_no_share() {
    let mixer = Mixer::new(MixConfig::cutmix(1.0, 10), 0).unwrap();
    let mut plan = MixPlan::identity(4, Some((8, 8)));
    let bbox = CutBox { y0: 0, y1: 4, x0: 0, x1: 4 };
    plan.ops[0] = MixOp::CutMix { bbox, lam: 0.75 };
    plan.ops[3] = MixOp::CutMix { bbox, lam: 0.75 };
    let labels = classes(4);
    let ones = Tensor::ones([4, 4], (Kind::Float, Device::Cpu));
    let err = |attention: &Tensor| mixer.transmix_targets(attention, &plan, &labels, 4).unwrap_err();
    let e = err(&Tensor::zeros([4, 0, 4], (Kind::Float, Device::Cpu)));
    assert!(
        matches!(e, Error::InvalidArgument { argument: "attention", .. }) && e.to_string().contains("heads >= 1"),
        "{e}"
    );
    let zero_row = ones.copy();
    let _ = zero_row.get(3).fill_(0.0);
    let negative = ones.copy();
    let _ = negative.get(0).get(2).fill_(-1.0);
    for (attention, words) in [
        (ones.zeros_like(), "summing to 0 (smallest 0) for sample 0"),
        (ones.full_like(f64::NAN), "summing to NaN"),
        (zero_row, "summing to 0 (smallest 0) for sample 3"),
        (negative, "(smallest -1) for sample 0"),
    ] {
        let e = err(&attention);
        assert!(
            matches!(e, Error::InvalidArgument { argument: "attention", .. }) && e.to_string().contains(words),
            "{e}"
        );
    }
    // A sample that does not paste keeps the plan's λ whatever its attention: not refused.
    let kept_zero = ones.copy();
    let _ = kept_zero.get(1).fill_(0.0);
    let targets = mixer.transmix_targets(&kept_zero, &plan, &labels, 4).unwrap();
    assert_eq!(values(&targets.get(1)), values(&Tensor::from_slice(&[0f32, 1., 0., 0., 0., 0., 0., 0., 0., 0.])));
}

#[test]
fn transmix_refuses_undefined_labels_and_empty_plans_without_panicking() {
    let mixer = Mixer::new(MixConfig::cutmix(1.0, 10), 0).unwrap();
    let plan = MixPlan::identity(4, Some((8, 8)));
    let attention = Tensor::ones([4, 4], (Kind::Float, Device::Cpu));
    let e = mixer.transmix_targets(&attention, &plan, &Tensor::new(), 4).unwrap_err();
    assert!(
        matches!(e, Error::InvalidArgument { argument: "labels", .. }) && e.to_string().contains("undefined"),
        "{e}"
    );
    let e = mixer.transmix_targets(&attention, &plan, &classes(4).to_kind(Kind::Int), 4).unwrap_err();
    assert!(e.to_string().contains("shape [4] dtype Int,"), "{e}");
    let e = mixer
        .transmix_targets(
            &Tensor::zeros([0, 4], (Kind::Float, Device::Cpu)),
            &MixPlan::identity(0, Some((8, 8))),
            &Tensor::zeros([0], (Kind::Int64, Device::Cpu)),
            4,
        )
        .unwrap_err();
    assert!(matches!(e, Error::InvalidPlan(_)) && e.to_string().contains("no samples"), "{e}");
    // A pasting plan over an extent with no pixels (its FMix masks would have no rows).
    let mut flat = MixPlan::identity(2, Some((0, 4)));
    flat.ops[0] = MixOp::FMix { mask: FMixMask { seed: 1, decay_power: 3.0 }, lam: 0.5 };
    let e =
        mixer.transmix_targets(&Tensor::ones([2, 0], (Kind::Float, Device::Cpu)), &flat, &classes(2), 4).unwrap_err();
    assert!(matches!(e, Error::InvalidPlan(_)) && e.to_string().contains("plan.extent: got 0x4"), "{e}");
    let e = mixer.transmix_targets(&Tensor::new(), &plan, &classes(4), 4).unwrap_err();
    assert!(
        matches!(e, Error::InvalidArgument { argument: "attention", .. }) && e.to_string().contains("undefined"),
        "{e}"
    );
    // A class count whose targets cannot be addressed, as for apply.
    let huge = Mixer::new(MixConfig::cutmix(1.0, i64::MAX), 0).unwrap();
    let e = huge.transmix_targets(&attention, &plan, &classes(4), 4).unwrap_err();
    assert!(matches!(e, Error::InvalidConfig { field: "num_classes", .. }), "{e}");
}
