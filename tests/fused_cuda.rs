//! The fused CUDA executor against the reference executor on the GPU. Each test skips, saying why, when
//! there is no CUDA device or the kernels were not built; with `TCH_MIXCUT_REQUIRE_GPU=1` (the GPU kit)
//! it fails instead.

mod common;

use common::equivalence::{self, KINDS};
use common::gpu::gpu;
use common::*;
use tch::{Device, Kind, Tensor};
use tch_mixcut::{Error, Executor, ExecutorKind, MixConfig, MixMode, Mixer};

#[test]
fn environment_report() {
    // What the kit's log needs to explain a skip or a failure: printed whatever the outcome.
    eprintln!("kernels built: {}", tch_mixcut::cuda_kernels_built());
    eprintln!("libtorch_cuda: {}", tch_mixcut::cuda_backend_error().unwrap_or("loaded"));
    eprintln!("CUDA devices seen by libtorch: {}", tch::Cuda::device_count());
    let Some(_) = gpu() else { return };
    match tch_mixcut::check_fused_cuda(0) {
        Ok(()) => eprintln!("fused CUDA executor on cuda:0: available"),
        Err(e) => panic!("the fused CUDA executor cannot run on cuda:0: {e}"),
    }
}

/// What a build without nvcc (from a registry, on a machine without the CUDA toolkit) tells at run time,
/// as docs/install.md documents: `cuda_kernels_built()` is false and `check_fused_cuda` gives the build
/// script's reason, which cargo hides from a registry dependency's build. .ci/run builds this test with
/// no nvcc and `TCH_MIXCUT_EXPECT_NO_KERNELS=1`.
#[test]
fn a_build_without_nvcc_says_so_at_run_time() {
    if std::env::var_os("TCH_MIXCUT_EXPECT_NO_KERNELS").is_none() {
        return eprintln!("skipped: TCH_MIXCUT_EXPECT_NO_KERNELS is unset (a build that may hold the kernels)");
    }
    assert!(!tch_mixcut::cuda_kernels_built());
    assert!(!tch_mixcut::fused_cuda_available(0));
    let err = tch_mixcut::check_fused_cuda(0).unwrap_err();
    let Error::FusedUnavailable { device: Device::Cuda(0), reason } = &err else { panic!("{err:?}") };
    assert!(reason.contains("this build has no CUDA kernels: nvcc not found"), "{reason}");
    assert!(reason.contains("set NVCC"), "the reason says what to do: {reason}");
}

#[test]
fn fused_cuda_matches_reference_over_the_matrix() {
    let Some(dev) = gpu() else { return };
    assert_eq!(equivalence::matrix(dev), 2 * 3 * KINDS.len() * 2 * (2 * 2 + 2 * 2 + 2));
}

#[test]
fn fused_cuda_hand_plans_large_batches_misaligned() {
    let Some(dev) = gpu() else { return };
    equivalence::hand_plans(dev);
    equivalence::large_batches(dev);
    equivalence::misaligned(dev);
}

#[test]
fn samples_of_odd_length_match() {
    let Some(dev) = gpu() else { return };
    equivalence::split_tails(dev);
}

#[test]
fn fused_cuda_in_place_cutmix_runs_of_every_length() {
    let Some(dev) = gpu() else { return };
    equivalence::run_lengths(dev);
}

#[test]
fn fused_cuda_normalising_pass_matches_reference() {
    let Some(dev) = gpu() else { return };
    assert_eq!(equivalence::normalize_matrix(dev), 14 * 3 * 5 * 3 * 2);
}

#[test]
fn segmentation_masks_match() {
    let Some(dev) = gpu() else { return };
    equivalence::segmentation(dev);
}

#[test]
fn the_mix_family_matches() {
    let Some(dev) = gpu() else { return };
    assert_eq!(equivalence::family_matrix(dev), 4 * 2 * 3 * 2 * KINDS.len() * 2 * 2);
    equivalence::family_hand_plans(dev);
    equivalence::family_wide_resizes(dev);
    equivalence::family_segmentation(dev);
    assert_eq!(equivalence::family_normalize(dev), 7 * 2 * 2 * 3 * 2 * 2);
}

#[test]
fn bce_targets_and_multi_hot_labels_match() {
    let Some(dev) = gpu() else { return };
    equivalence::bce_targets(dev);
}

/// (x * 2) mixed in place then + 1, on the GPU with no synchronisation in between, against the CPU.
/// `slow`: queue tens of milliseconds of matmuls on the current stream first, so that a kernel launched
/// on any other stream would read `x * 2` before it is written.
fn mix_between_torch_ops(dev: Device, rounds: usize, slow: bool) {
    let cfg = MixConfig { mode: MixMode::Elem, ..MixConfig::vit(10) };
    let shape = [64, 3, 64, 64];
    let plan = Mixer::new(cfg.clone(), 2).unwrap().sample_plan(&shape).unwrap();
    let (x, y) = (images(&shape, Kind::Float), labels(64, 10));
    let mut cpu = Mixer::new(cfg.clone(), 0).unwrap().with_executor(Executor::Reference);
    let (want, _) = cpu.planned(&plan).apply(&(&x * 2.0), &y).unwrap();
    let want = values(&(want + 1.0));
    let mut fused = Mixer::new(cfg, 0).unwrap().with_executor(Executor::Fused);
    let (xd, yd) = (x.to_device(dev), y.to_device(dev));
    let big = Tensor::rand([4096, 4096], (Kind::Float, dev)) / 4096.0;
    for round in 0..rounds {
        if slow {
            let mut acc = big.shallow_clone();
            for _ in 0..8 {
                acc = acc.matmul(&big);
            }
        }
        let mut g = &xd * 2.0;
        let _ = fused.planned(&plan).apply_(&mut g, &yd).unwrap();
        let got = g + 1.0;
        assert_eq!(values(&got), want, "round {round}");
    }
    assert_eq!(fused.last_executor(), Some(ExecutorKind::FusedCuda));
}

#[test]
fn launches_are_ordered_with_torch_ops_without_a_sync() {
    let Some(dev) = gpu() else { return };
    mix_between_torch_ops(dev, 20, false);
}

#[test]
fn launches_follow_libtorchs_current_stream() {
    let Some(dev) = gpu() else { return };
    // A pool stream is non-blocking with respect to the legacy default stream: a kernel launched on the
    // default stream would race with the torch ops around it, and the values would differ.
    tch_mixcut::testing::set_torch_stream(0, true).unwrap();
    let outcome = std::panic::catch_unwind(|| mix_between_torch_ops(dev, 10, true));
    tch_mixcut::testing::set_torch_stream(0, false).unwrap();
    outcome.unwrap();
}

#[test]
fn out_of_range_labels_are_reported_by_the_next_call_or_at_once_when_strict() {
    let Some(dev) = gpu() else { return };
    let mut m = Mixer::new(MixConfig::mixup(1.0, 10), 1).unwrap().with_executor(Executor::Fused);
    let x = images(&[4, 3, 8, 8], Kind::Float).to_device(dev);
    let bad = Tensor::from_slice(&[0i64, 1, 12, 3]).to_device(dev);
    let good = labels(4, 10).to_device(dev);
    let _ = m.apply(&x, &bad).unwrap();
    tch::Cuda::synchronize(0);
    let e = m.apply(&x, &good).unwrap_err();
    assert!(matches!(e, Error::LabelsOutOfRange { num_classes: 10, found: None, device: Device::Cuda(0) }), "{e:?}");
    assert!(e.to_string().contains("earlier batch") && e.to_string().contains("scaled by λ"), "{e}");
    // Reported once; the context is still usable.
    let _ = m.apply(&x, &good).unwrap();
    // The explicit check a training loop makes at the end of an epoch.
    let _ = m.apply(&x, &bad).unwrap();
    tch::Cuda::synchronize(0);
    assert!(matches!(m.take_label_error(), Err(Error::LabelsOutOfRange { found: None, .. })));
    assert!(m.take_label_error().is_ok());
    m.set_strict_labels(true);
    let mut y = x.copy();
    let before = snapshot(&y);
    let e = m.apply_(&mut y, &bad).unwrap_err();
    assert!(matches!(e, Error::LabelsOutOfRange { found: Some((0, 12)), .. }), "{e:?}");
    assert_eq!(snapshot(&y), before);
}

#[test]
fn label_errors_belong_to_the_mixer_that_made_them() {
    let Some(dev) = gpu() else { return };
    let x = images(&[4, 3, 8, 8], Kind::Float).to_device(dev);
    let bad = Tensor::from_slice(&[0i64, 1, 12, 3]).to_device(dev);
    let good = labels(4, 10).to_device(dev);
    let mut a = Mixer::new(MixConfig::mixup(1.0, 10), 1).unwrap().with_executor(Executor::Fused);
    let mut b = Mixer::new(MixConfig::mixup(1.0, 10), 2).unwrap().with_executor(Executor::Fused);
    let _ = a.apply(&x, &bad).unwrap();
    tch::Cuda::synchronize(0);
    let _ = b.apply(&x, &good).unwrap();
    assert!(b.take_label_error().is_ok());
    assert!(a.apply(&x, &good).is_err());
    // A dropped mixer's late report is not handed to the next owner of its slot.
    let mut c = Mixer::new(MixConfig::mixup(1.0, 10), 3).unwrap().with_executor(Executor::Fused);
    let _ = c.apply(&x, &bad).unwrap();
    drop(c);
    tch::Cuda::synchronize(0);
    let mut d = Mixer::new(MixConfig::mixup(1.0, 10), 4).unwrap().with_executor(Executor::Fused);
    let _ = d.apply(&x, &good).unwrap();
    assert!(d.take_label_error().is_ok());
}

#[test]
fn second_device_works_and_leaves_the_current_context_alone() {
    let Some(_) = gpu() else { return };
    if tch::Cuda::device_count() < 2 {
        // Not a failure in the GPU-required mode either: the kit's machines have one GPU.
        eprintln!("skipped: one CUDA device (cuda:1 needs two)");
        return;
    }
    let x = images(&[6, 3, 8, 8], Kind::Float).to_device(Device::Cuda(1));
    let y = labels(6, 10).to_device(Device::Cuda(1));
    let _ = x.sum(Kind::Float).double_value(&[]); // libtorch's own work on cuda:1 first
    let _ = Tensor::zeros([1], (Kind::Float, Device::Cuda(0))).sum(Kind::Float).double_value(&[]);
    let before = cudarc::driver::result::ctx::get_current().unwrap();
    let mut m = Mixer::new(MixConfig::vit(10), 1).unwrap().with_executor(Executor::Fused);
    let mut inplace = x.copy();
    let _ = m.apply_(&mut inplace, &y).unwrap();
    assert_eq!(
        cudarc::driver::result::ctx::get_current().unwrap(),
        before,
        "mixing on cuda:1 changed the current context"
    );
    equivalence::hand_plans(Device::Cuda(1));
}

/// A device whose kernels cannot load (the corrupt-image test hook stands in for a GPU the fatbin has no
/// code for, or a driver older than the toolkit): `Auto` falls back to the reference executor, `Fused`
/// refuses with the reason, and the device stays usable. The outcome of loading is cached per device, so
/// this runs in a child process of this test binary, with the hook set before anything touches CUDA.
#[test]
fn kernels_that_cannot_load_mean_fallback_and_a_reason() {
    const CHILD: &str = "TCH_MIXCUT_TEST_LOAD_FAILURE_CHILD";
    if std::env::var_os(CHILD).is_none() {
        let exe = std::env::current_exe().unwrap();
        let out = std::process::Command::new(exe)
            .args(["--exact", "kernels_that_cannot_load_mean_fallback_and_a_reason", "--nocapture", "--test-threads=1"])
            .env(CHILD, "1")
            .env("TCH_MIXCUT_TEST_CORRUPT_KERNELS", "1")
            .output()
            .unwrap();
        let log = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        eprintln!("{log}");
        assert!(out.status.success() && log.contains("1 passed"), "the child process failed");
        return;
    }
    let Some(dev) = gpu() else { return };
    let err = tch_mixcut::check_fused_cuda(0).unwrap_err();
    let Error::FusedUnavailable { device: Device::Cuda(0), reason } = &err else { panic!("{err:?}") };
    eprintln!("reason: {reason}");
    for part in ["cannot load on cuda:0", "cuModuleLoadData", "compute capability", "driver for CUDA", "cubins sm_"] {
        assert!(reason.contains(part), "reason lacks {part:?}: {reason}");
    }
    assert!(!tch_mixcut::fused_cuda_available(0));
    let (x, y) = (images(&[4, 3, 8, 8], Kind::Float).to_device(dev), labels(4, 10).to_device(dev));
    let mut auto = Mixer::new(MixConfig::vit(10), 1).unwrap();
    let _ = auto.apply(&x, &y).unwrap();
    assert_eq!(auto.last_executor(), Some(ExecutorKind::Reference));
    let mut fused = Mixer::new(MixConfig::vit(10), 1).unwrap().with_executor(Executor::Fused);
    let e = fused.apply(&x, &y).unwrap_err();
    assert!(matches!(&e, Error::FusedUnavailable { reason: r, .. } if r == reason), "{e:?}");
    // The context is intact: libtorch still works on the device.
    assert_eq!((&x * 2.0).sum(Kind::Double).double_value(&[]), 2.0 * x.sum(Kind::Double).double_value(&[]));
}

#[test]
fn images_and_labels_on_different_devices_are_refused() {
    let Some(dev) = gpu() else { return };
    let x = images(&[4, 3, 8, 8], Kind::Float).to_device(dev);
    let mut mixer = Mixer::new(MixConfig::vit(10), 5).unwrap();
    let before = snapshot(&x);
    let e = mixer.apply(&x, &labels(4, 10)).unwrap_err();
    assert!(matches!(e, Error::InvalidLabels(_)), "{e:?}");
    for w in ["labels", "Cpu", "Cuda(0)", "same device"] {
        assert!(e.to_string().contains(w), "{e} lacks {w:?}");
    }
    assert_eq!(snapshot(&x), before);
}
