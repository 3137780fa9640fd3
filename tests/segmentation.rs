//! CutMix on segmentation batches: masks pasted by the same boxes as their images (class masks, both
//! image layouts, odd batches), soft masks blended like images, both executors agreeing, and bad masks
//! refused with nothing written.

mod common;

use common::*;
use tch::{Device, Kind, Tensor};
use tch_mixcut::{Error, Executor, MixConfig, MixMode, MixOp, MixPlan, Mixer};

/// Images whose every pixel of sample `i` holds `i` in channel 0 (and noise elsewhere), and class masks
/// whose every pixel of sample `i` is `i`: after CutMix both must name the same source sample everywhere.
fn tagged(n: i64, h: i64, w: i64, mask_kind: Kind) -> (Tensor, Tensor) {
    let ids = Tensor::arange(n, (Kind::Float, Device::Cpu)).view([n, 1, 1, 1]);
    let images = Tensor::cat(&[ids.expand([n, 1, h, w], false), images(&[n, 2, h, w], Kind::Float)], 1);
    let masks = Tensor::arange(n, (Kind::Int64, Device::Cpu))
        .view([n, 1, 1])
        .expand([n, h, w], false)
        .to_kind(mask_kind)
        .contiguous();
    (images, masks)
}

fn cutmix() -> MixConfig {
    MixConfig { mode: MixMode::Elem, ..MixConfig::cutmix(1.0, 10) }
}

#[test]
fn every_mask_pixel_comes_from_the_sample_its_image_pixel_comes_from() {
    for n in [6i64, 7] {
        for mask_kind in [Kind::Int64, Kind::Uint8] {
            for executor in [Executor::Reference, Executor::Fused] {
                for layout in ["contiguous", "channels_last"] {
                    let (x, m) = tagged(n, 9, 11, mask_kind);
                    let x = if layout == "channels_last" { channels_last(&x) } else { x };
                    let mut mixer = Mixer::new(cutmix(), 5).unwrap().with_executor(executor);
                    let plan = mixer.sample_plan(&x.size()).unwrap();
                    assert!(plan.has_cutmix());
                    let (xo, mo) = mixer.planned(&plan).apply_segmentation(&x, &m).unwrap();
                    assert_eq!((mo.size(), mo.kind()), (m.size(), mask_kind));
                    let source_of_image = values(&xo.narrow(1, 0, 1).squeeze_dim(1));
                    assert_eq!(values(&mo), source_of_image, "n {n} {mask_kind:?} {executor:?} {layout}");
                    // And the source is what the plan says.
                    let mv = values(&mo);
                    for (i, op) in plan.ops.iter().enumerate() {
                        for y in 0..9 {
                            for xx in 0..11 {
                                let from = if matches!(op, MixOp::CutMix { bbox, .. } if bbox.contains(y, xx)) {
                                    plan.partner(i)
                                } else {
                                    i
                                };
                                assert_eq!(mv[(i * 9 + y) * 11 + xx], from as f64);
                            }
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn in_place_matches_out_of_place_and_reference_matches_fused() {
    let (x, m) = tagged(7, 8, 8, Kind::Int64);
    let plan = Mixer::new(cutmix(), 2).unwrap().sample_plan(&x.size()).unwrap();
    let mut reference = Mixer::new(cutmix(), 0).unwrap().with_executor(Executor::Reference);
    let mut fused = Mixer::new(cutmix(), 0).unwrap().with_executor(Executor::Fused);
    let (xr, mr) = reference.planned(&plan).apply_segmentation(&x, &m).unwrap();
    let (xf, mf) = fused.planned(&plan).apply_segmentation(&x, &m).unwrap();
    assert_eq!((values(&xr), values(&mr)), (values(&xf), values(&mf)));
    // In place, with a sampled plan from the same seed.
    let mut a = Mixer::new(cutmix(), 9).unwrap();
    let mut b = Mixer::new(cutmix(), 9).unwrap();
    let (want_x, want_m) = a.apply_segmentation(&x, &m).unwrap();
    let (mut xi, mut mi) = (x.copy(), m.copy());
    b.apply_segmentation_(&mut xi, &mut mi).unwrap();
    assert_eq!((values(&xi), values(&mi)), (values(&want_x), values(&want_m)));
    // In place with the given plan, on both executors.
    for mixer in [&mut reference, &mut fused] {
        let (mut xi, mut mi) = (x.copy(), m.copy());
        mixer.planned(&plan).apply_segmentation_(&mut xi, &mut mi).unwrap();
        assert_eq!((values(&xi), values(&mi)), (values(&xr), values(&mr)));
    }
}

#[test]
fn fused_matches_reference_for_every_mask_kind() {
    common::equivalence::segmentation(Device::Cpu);
}

#[test]
fn soft_masks_blend_like_images_under_mixup() {
    let cfg = MixConfig { mode: MixMode::Elem, ..MixConfig::vit(10) };
    let x = images(&[6, 3, 8, 8], Kind::Float);
    let soft = Tensor::rand([6, 4, 8, 8], (Kind::Float, Device::Cpu)).softmax(1, Kind::Float);
    let mut mixer = Mixer::new(cfg.clone(), 4).unwrap();
    let mut plan = mixer.sample_plan(&x.size()).unwrap();
    plan.ops[1] = MixOp::Mixup { lam: 0.3 };
    let (xo, mo) = mixer.planned(&plan).apply_segmentation(&x, &soft).unwrap();
    // The soft masks are mixed exactly as an image batch with the same plan would be.
    let (want_m, _) = Mixer::new(cfg.clone(), 0).unwrap().planned(&plan).apply(&soft, &labels(6, 10)).unwrap();
    let (want_x, _) = Mixer::new(cfg, 0).unwrap().planned(&plan).apply(&x, &labels(6, 10)).unwrap();
    assert_eq!((values(&mo), values(&xo)), (values(&want_m), values(&want_x)));
}

/// A refused call: the variant and message, and nothing written, no randomness used.
fn refused(cfg: MixConfig, x: &Tensor, m: &Tensor, words: &[&str]) {
    let mut mixer = Mixer::new(cfg.clone(), 3).unwrap();
    let (sx, sm) = (snapshot(x), snapshot(m));
    let (mut xi, mut mi) = (x.shallow_clone(), m.shallow_clone());
    let e = mixer.apply_segmentation_(&mut xi, &mut mi).unwrap_err();
    assert!(matches!(e, Error::InvalidArgument { argument: "masks", .. } | Error::InvalidImages(_)), "{e:?}");
    for w in words {
        assert!(e.to_string().contains(w), "{e} lacks {w:?}");
    }
    assert_eq!((snapshot(x), snapshot(m)), (sx, sm));
    assert_eq!(
        mixer.sample_plan(&[4, 3, 8, 8]).unwrap(),
        Mixer::new(cfg, 3).unwrap().sample_plan(&[4, 3, 8, 8]).unwrap()
    );
}

#[test]
fn bad_masks_are_refused_with_nothing_written() {
    let (x, m) = tagged(4, 8, 8, Kind::Int64);
    refused(MixConfig::vit(10), &x, &m, &["masks", "class-index", "Mixup", "mixup_alpha 0.2", "soft masks"]);
    refused(cutmix(), &x, &m.narrow(1, 0, 7), &["masks", "[4, 7, 8]", "expected N, H, W = 4, 8, 8"]);
    refused(cutmix(), &x, &m.to_kind(Kind::Int), &["masks", "Int", "Int64 or Uint8"]);
    refused(
        cutmix(),
        &x,
        &m.view([4, 1, 8, 8]).to_kind(Kind::Int64),
        &["masks", "[4, 1, 8, 8]", "Float, Half or BFloat16"],
    );
    refused(cutmix(), &x.narrow(1, 0, 1).squeeze_dim(1), &m, &["images", "[N, C, H, W]"]);
    // A hand-made plan with Mixup is refused for class masks too.
    let mut plan = MixPlan::identity(4, Some((8, 8)));
    plan.ops[0] = MixOp::Mixup { lam: 0.5 };
    let e = Mixer::new(cutmix(), 0).unwrap().planned(&plan).apply_segmentation(&x, &m).unwrap_err();
    assert!(matches!(e, Error::InvalidArgument { argument: "masks", .. }), "{e:?}");
}

#[test]
fn masks_sharing_memory_with_images_mixed_in_place_are_refused() {
    let x = images(&[4, 1, 8, 8], Kind::Uint8);
    for executor in [Executor::Reference, Executor::Fused, Executor::Auto] {
        let mut mixer = Mixer::new(cutmix(), 3).unwrap().with_executor(executor);
        let (sx, state) = (snapshot(&x), mixer.rng_state());
        let (mut xi, mut mi) = (x.shallow_clone(), x.view([4, 8, 8]));
        let e = mixer.apply_segmentation_(&mut xi, &mut mi).unwrap_err();
        assert!(matches!(e, Error::InvalidArgument { argument: "masks", .. }), "{executor:?}: {e:?}");
        assert!(e.to_string().contains("memory the images span"), "{e}");
        assert_eq!((snapshot(&x), mixer.rng_state()), (sx, state), "{executor:?}");
    }
    // Out of place the masks may alias the images: both are only read.
    let (xo, mo) = Mixer::new(cutmix(), 3).unwrap().apply_segmentation(&x, &x.view([4, 8, 8])).unwrap();
    assert_eq!(values(&xo.view([4, 8, 8])), values(&mo));
}

#[test]
fn masks_the_fused_executor_cannot_take_are_refused_by_name_before_drawing() {
    let x = images(&[4, 3, 8, 8], Kind::Float);
    let soft = || Tensor::rand([4, 2, 8, 8], (Kind::Float, Device::Cpu));
    let cases = [
        ("transposed", soft().transpose(2, 3), "strides"),
        ("expanded", Tensor::rand([1, 2, 8, 8], (Kind::Float, Device::Cpu)).expand([4, 2, 8, 8], false), "strides"),
        ("requiring grad", soft().set_requires_grad(true), "requires grad"),
    ];
    for (what, masks, word) in cases {
        let mut mixer = Mixer::new(MixConfig::vit(5), 3).unwrap().with_executor(Executor::Fused);
        let state = mixer.rng_state();
        let e = mixer.apply_segmentation(&x, &masks).unwrap_err();
        assert!(matches!(e, Error::FusedUnsupported { argument: "masks", .. }), "{what}: {e:?}");
        assert!(e.to_string().starts_with("masks: got") && e.to_string().contains(word), "{what}: {e}");
        assert_eq!(mixer.rng_state(), state, "{what}: a refused call consumed randomness");
        // Auto takes the reference for such masks.
        let (_, mixed) = Mixer::new(MixConfig::vit(5), 3).unwrap().apply_segmentation(&x, &masks).unwrap();
        assert_eq!(mixed.size(), [4, 2, 8, 8], "{what}");
    }
}
