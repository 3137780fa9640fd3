//! The kernel source built for the host (the fused CPU executor) against the reference executor.

mod common;

use common::equivalence::{self, KINDS};
use common::*;
use tch::{Device, Kind, Tensor};
use tch_mixcut::testing::{with_cpu_isa, with_cuda_host_side};
use tch_mixcut::{CpuIsa, CutBox, Error, Executor, ExecutorKind, MixConfig, MixOp, MixPlan, Mixer};

/// The instruction-set levels of the host kernels this build and CPU run, lowest first.
fn levels() -> Vec<CpuIsa> {
    let levels: Vec<CpuIsa> = CpuIsa::ALL.into_iter().filter(|l| l.is_available()).collect();
    assert!(levels.contains(&CpuIsa::Baseline) && levels.contains(&tch_mixcut::fused_cpu_isa()));
    eprintln!("fused CPU levels here: {levels:?} (default {})", tch_mixcut::fused_cpu_isa());
    levels
}

/// Runs `f` once on every level (the fused executor forced to it on this thread).
fn on_every_level(f: impl Fn()) {
    for isa in levels() {
        with_cpu_isa(isa, &f).expect("an available level");
    }
}

#[test]
fn fused_cpu_matches_reference_over_the_matrix_on_every_level() {
    on_every_level(|| assert_eq!(equivalence::matrix(Device::Cpu), 2 * 3 * KINDS.len() * 2 * (2 * 2 + 2 * 2 + 2)));
}

/// The normalising pass's vectors gathered across rows and planes (the host's own forms, either way
/// between NCHW and channels-last), built for each level apart.
#[test]
fn the_normalising_pass_gathered_vectors_match_on_every_level() {
    let shapes = &equivalence::GATHERED_SHAPES;
    on_every_level(|| assert_eq!(equivalence::normalize_matrix_over(Device::Cpu, shapes), 4 * 3 * 5 * 3 * 2));
}

#[test]
fn plans_with_every_op_kind_match_including_empty_and_full_boxes() {
    on_every_level(|| equivalence::hand_plans(Device::Cpu));
}

#[test]
fn in_place_cutmix_over_box_rows_matches_on_wide_images() {
    on_every_level(|| equivalence::wide_boxes(Device::Cpu));
}

#[test]
fn in_place_cutmix_runs_of_every_length_match() {
    on_every_level(|| equivalence::run_lengths(Device::Cpu));
}

#[test]
fn batches_larger_than_one_launch_match() {
    on_every_level(|| equivalence::large_batches(Device::Cpu));
}

#[test]
fn misaligned_storage_matches() {
    on_every_level(|| equivalence::misaligned(Device::Cpu));
}

#[test]
fn samples_of_odd_length_split_between_threads_match() {
    equivalence::split_tails(Device::Cpu);
}

#[test]
fn levels_not_built_or_not_supported_are_refused() {
    for isa in CpuIsa::ALL {
        assert_eq!(with_cpu_isa(isa, || ()).is_some(), isa.is_available(), "{isa}");
    }
}

/// A batch [6, 1, H, W] whose samples hold every bit pattern of a 16-bit dtype (every u8 value; for f32,
/// special values and pseudo-random bit patterns), each sample rotated differently: sample 5 is sample 0
/// shifted by one, so its λ = 0.5 pair averages neighbours (halfway cases of round to nearest even).
fn edge_batch(kind: Kind) -> Tensor {
    let patterns: Vec<u32> = match kind {
        Kind::Half | Kind::BFloat16 => (0..=u16::MAX as u32).collect(),
        Kind::Uint8 => (0..=255u32).cycle().take(1024).collect(),
        _ => {
            let special = [
                0.0f32,
                -0.0,
                1.0,
                -1.0,
                1.0 + f32::EPSILON,
                0.5,
                65504.0,
                65520.0,
                65536.0,
                3.4e38,
                -3.4e38,
                1e-45,
                -1e-45,
                1.17e-38,
                5.96e-8,
                2.98e-8,
                8.9e-8,
                6.1e-5,
                3.05e-5,
                9.2e-41,
                f32::INFINITY,
                f32::NEG_INFINITY,
                f32::NAN,
                -f32::NAN,
                255.5,
                2.5,
            ];
            let mut state = 0x2545_f491u32;
            let random = std::iter::repeat_with(move || {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                state
            });
            special.iter().map(|f| f.to_bits()).chain(random).take(4096).collect()
        }
    };
    let len = patterns.len();
    let side = (len as f64).sqrt() as i64;
    let rotations = [0usize, 17, len / 3 + 1, len / 2 + 5, len - 7, 1];
    let samples: Vec<Tensor> = rotations
        .iter()
        .map(|&r| {
            let rotated: Vec<u32> = (0..len).map(|i| patterns[(i + r) % len]).collect();
            let t = match kind {
                Kind::Float => {
                    Tensor::from_slice(&rotated.iter().map(|&b| b as i32).collect::<Vec<_>>()).view_dtype(Kind::Float)
                }
                Kind::Uint8 => Tensor::from_slice(&rotated.iter().map(|&b| b as u8).collect::<Vec<_>>()),
                k => Tensor::from_slice(&rotated.iter().map(|&b| b as u16 as i16).collect::<Vec<_>>()).view_dtype(k),
            };
            t.view([1, 1, side, side])
        })
        .collect();
    Tensor::cat(&samples, 0)
}

#[test]
fn edge_values_give_the_same_bits_on_every_level_and_match_the_reference() {
    for kind in KINDS {
        let x = edge_batch(kind);
        let (h, w) = (x.size()[2] as usize, x.size()[3] as usize);
        let mut plan = MixPlan::identity(6, Some((h, w)));
        plan.ops[0] = MixOp::Mixup { lam: 0.5 };
        plan.ops[5] = MixOp::Mixup { lam: 0.5 };
        plan.ops[1] = MixOp::Mixup { lam: 0.3 };
        plan.ops[4] = MixOp::Mixup { lam: 0.9 };
        plan.ops[2] = MixOp::CutMix { bbox: CutBox { y0: 3, y1: h - 5, x0: 5, x1: w - 9 }, lam: 0.6 };
        plan.ops[3] = MixOp::Mixup { lam: 0.1 };
        let y = labels(6, 10);
        let cfg = MixConfig::mixup(1.0, 10);
        let (want, want_t) = Mixer::new(cfg.clone(), 0)
            .unwrap()
            .with_executor(Executor::Reference)
            .planned(&plan)
            .apply(&x, &y)
            .unwrap();
        let want = bits(&want);
        let mut first: Option<(CpuIsa, Vec<i64>)> = None;
        for isa in levels() {
            let mut m = Mixer::new(cfg.clone(), 0).unwrap().with_executor(Executor::Fused);
            let (got, got_t) = with_cpu_isa(isa, || m.planned(&plan).apply(&x, &y).unwrap()).unwrap();
            let mut inplace = x.copy();
            let _ = with_cpu_isa(isa, || m.planned(&plan).apply_(&mut inplace, &y).unwrap()).unwrap();
            let got = bits(&got);
            assert_eq!(bits(&inplace), got, "{kind:?} {isa}: in place");
            assert_eq!(values(&got_t), values(&want_t), "{kind:?} {isa}: targets");
            // NaNs included: both executors give every NaN a blend computes the one quiet NaN.
            for (e, (&g, &r)) in got.iter().zip(&want).enumerate() {
                assert!(g == r, "{kind:?} {isa}: element {e}: got bits {g:#x}, reference {r:#x}");
            }
            match &first {
                None => first = Some((isa, got)),
                Some((base, bits)) => assert!(bits == &got, "{kind:?}: {isa} differs from {base}"),
            }
        }
    }
}

#[test]
fn auto_picks_fused_on_cpu_and_reference_where_fused_cannot() {
    let mut m = Mixer::new(MixConfig::vit(10), 1).unwrap();
    let (x, y) = (images(&[4, 3, 8, 8], Kind::Float), labels(4, 10));
    let _ = m.apply(&x, &y).unwrap();
    assert_eq!(m.last_executor(), Some(ExecutorKind::FusedCpu));
    // Autograd: the fused executor records none, so Auto takes the reference and Fused refuses.
    let xg = x.copy().set_requires_grad(true);
    let _ = m.apply(&xg, &y).unwrap();
    assert_eq!(m.last_executor(), Some(ExecutorKind::Reference));
    m.set_executor(Executor::Fused);
    let e = m.apply(&xg, &y).unwrap_err();
    assert!(matches!(e, Error::FusedUnsupported { argument: "images", .. }), "{e:?}");
    assert!(e.to_string().contains("requires grad") && e.to_string().contains("fused"), "{e}");
    // Strided views: Auto falls back, Fused says why.
    let strided = images(&[4, 3, 8, 16], Kind::Float).narrow(3, 0, 8);
    let e = m.apply(&strided, &y).unwrap_err();
    assert!(matches!(e, Error::FusedUnsupported { argument: "images", .. }), "{e:?}");
    assert!(e.to_string().contains("strides") && e.to_string().contains("contiguous"), "{e}");
    m.set_executor(Executor::Auto);
    let (a, _) = m.apply(&strided, &y).unwrap();
    assert_eq!(m.last_executor(), Some(ExecutorKind::Reference));
    assert_eq!(a.size(), [4, 3, 8, 8]);
}

#[test]
fn fused_cpu_refuses_out_of_range_labels_before_writing() {
    let mut m = Mixer::new(MixConfig::mixup(1.0, 10), 1).unwrap().with_executor(Executor::Fused);
    let mut x = images(&[4, 3, 8, 8], Kind::Float);
    let before = snapshot(&x);
    let e = m.apply_(&mut x, &Tensor::from_slice(&[0i64, 1, 12, 3])).unwrap_err();
    assert!(matches!(e, Error::LabelsOutOfRange { num_classes: 10, found: Some((0, 12)), .. }), "{e:?}");
    assert_eq!(snapshot(&x), before);
}

#[test]
fn no_driver_means_no_fused_cuda_path_and_no_panic() {
    if tch_mixcut::load_cuda_backend() {
        eprintln!("skipped: a CUDA device is present (tests/fused_cuda.rs covers it)");
        return;
    }
    // Without libcuda cudarc would panic on first use; the crate must check first and say "unavailable".
    assert!(!tch_mixcut::fused_cuda_available(0));
    assert!(!tch_mixcut::fused_cuda_available(3));
    let e = tch_mixcut::check_fused_cuda(0).unwrap_err();
    assert!(matches!(e, Error::FusedUnavailable { device: tch::Device::Cuda(0), .. }), "{e:?}");
    eprintln!("why not: {e}");
}

#[test]
fn the_mix_family_matches_reference_over_the_matrix_on_every_level() {
    on_every_level(|| assert_eq!(equivalence::family_matrix(Device::Cpu), 4 * 2 * 3 * 2 * KINDS.len() * 2 * 2));
}

#[test]
fn the_mix_family_hand_plans_and_segmentation_match() {
    on_every_level(|| {
        equivalence::family_hand_plans(Device::Cpu);
        equivalence::family_wide_resizes(Device::Cpu);
        equivalence::family_threaded_resizes(Device::Cpu);
        equivalence::family_segmentation(Device::Cpu);
    });
}

#[test]
fn the_mix_familys_normalising_pass_matches() {
    on_every_level(|| assert_eq!(equivalence::family_normalize(Device::Cpu), 7 * 2 * 2 * 3 * 2 * 2));
}

#[test]
fn a_segment_box_means_the_same_on_every_executor() {
    let x = Tensor::arange(12, (Kind::Float, Device::Cpu)).view([2, 1, 6]);
    let y = Tensor::from_slice(&[0i64, 1]);
    let with_rows = |y0, y1| {
        let mut plan = MixPlan::identity(2, Some((1, 6)));
        plan.ops[0] = MixOp::CutMix { bbox: CutBox { y0, y1, x0: 1, x1: 4 }, lam: 0.5 };
        plan
    };
    for executor in [Executor::Reference, Executor::Fused] {
        let mut m = Mixer::new(MixConfig::cutmix(1.0, 2), 0).unwrap().with_executor(executor);
        // Rows 0..0 with columns: the reference used to paste the columns, the fused executors nothing.
        for (y0, y1) in [(0, 0), (1, 1)] {
            let e = m.planned(&with_rows(y0, y1)).apply(&x, &y).unwrap_err();
            assert!(
                matches!(e, Error::InvalidPlan(_)) && e.to_string().contains("y0 = 0, y1 = 1"),
                "{executor:?}: {e}"
            );
        }
        let (mixed, _) = m.planned(&with_rows(0, 1)).apply(&x, &y).unwrap();
        assert_eq!(values(&mixed), [0., 7., 8., 9., 4., 5., 6., 7., 8., 9., 10., 11.], "{executor:?}");
    }
}

#[test]
fn nan_results_of_a_blend_have_the_same_bits_on_every_executor() {
    // inf·λ + (−inf)·(1 − λ) is a NaN (the reference's used to be 0xffc00000); −NaN blends to the quiet NaN.
    let x = Tensor::from_slice(&[f32::INFINITY, -f32::NAN, 1.0, f32::NEG_INFINITY, 2.0, 3.0]).view([2, 3]);
    let plan = MixPlan { ops: vec![MixOp::Mixup { lam: 0.5 }; 2], extent: None };
    let y = labels(2, 4);
    for kind in [Kind::Float, Kind::Half, Kind::BFloat16] {
        let x = x.to_kind(kind);
        let mut outputs = Vec::new();
        for executor in [Executor::Reference, Executor::Fused] {
            let mut m = Mixer::new(MixConfig::mixup(1.0, 4), 0).unwrap().with_executor(executor);
            outputs.push(bits(&m.planned(&plan).apply(&x, &y).unwrap().0));
            let mut inplace = x.copy();
            let _ = m.planned(&plan).apply_(&mut inplace, &y).unwrap();
            outputs.push(bits(&inplace));
        }
        let quiet = match kind {
            Kind::Float => 0x7fc0_0000i64,
            Kind::Half => 0x7e00,
            _ => 0x7fc0,
        };
        for got in &outputs {
            assert_eq!(got[..2], [quiet, quiet], "{kind:?}: {outputs:x?}");
            assert_eq!(got, &outputs[0], "{kind:?}: {outputs:x?}");
        }
    }
}

#[test]
fn nan_targets_of_a_blend_have_the_same_bits_on_every_executor() {
    // Soft labels holding inf and NaN: 0·inf + 1·0.8 is a NaN (the reference's was 0xffc00000), a NaN
    // label blends to the quiet NaN, and a kept sample's row keeps its bits, a NaN's payload included.
    let payload = f32::from_bits(0xffc0_0001);
    let soft = Tensor::from_slice(&[
        0.1f32,
        -f32::NAN,
        f32::INFINITY,
        0.2,
        0.3,
        payload,
        0.5,
        f32::INFINITY,
        0.6,
        0.7,
        0.8,
        0.9,
    ])
    .view([3, 4]);
    let plan = MixPlan { ops: vec![MixOp::Mixup { lam: 0.0 }, MixOp::Keep, MixOp::Mixup { lam: 0.5 }], extent: None };
    let x = images(&[3, 5], Kind::Float);
    let mut targets = Vec::new();
    for executor in [Executor::Reference, Executor::Fused] {
        let mut m = Mixer::new(MixConfig::mixup(1.0, 4), 0).unwrap().with_executor(executor);
        targets.push(bits(&m.planned(&plan).apply(&x, &soft).unwrap().1));
    }
    let quiet = 0x7fc0_0000i64;
    assert_eq!(targets[0][..4], [0.6f32.to_bits() as i64, quiet, quiet, 0.9f32.to_bits() as i64], "{targets:x?}");
    assert_eq!(targets[0][4..8], bits(&soft.get(1))[..], "a kept row keeps its bits");
    assert_eq!(targets[0], targets[1], "{targets:x?}");
}

/// The benches' switch to the CUDA executor's host side: inside it a fused call on CPU tensors reports
/// `FusedCuda`, leaves the label range to the device (an index past the classes is not refused), writes
/// nothing into the images, and the switch is off again afterwards, also after a panic inside it.
#[test]
fn the_cuda_host_side_switch_takes_the_cuda_path_writes_nothing_and_resets() {
    let mut m = Mixer::new(MixConfig::mixup(1.0, 10), 0).unwrap().with_executor(Executor::Fused);
    let mut x = Tensor::arange(8 * 3 * 4 * 4, (Kind::Float, Device::Cpu)).view([8, 3, 4, 4]);
    let before = x.copy();
    let labels = Tensor::from_slice(&[0i64, 1, 2, 3, 4, 5, 6, 10]); // 10: past the classes
    let targets = with_cuda_host_side(|| m.apply_(&mut x, &labels)).unwrap();
    assert_eq!(targets.size(), [8, 10]);
    assert_eq!(m.last_executor(), Some(ExecutorKind::FusedCuda));
    assert!(x.equal(&before), "the host side wrote into the images");
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| with_cuda_host_side(|| panic!("in f"))));
    assert!(panicked.is_err());
    assert!(matches!(m.apply_(&mut x, &labels), Err(Error::LabelsOutOfRange { .. })), "switch left on");
    drop(m.apply_(&mut x, &labels.clamp(0, 9)).unwrap());
    assert_eq!(m.last_executor(), Some(ExecutorKind::FusedCpu));
    assert!(!x.equal(&before), "the fused CPU executor mixed nothing");
}
