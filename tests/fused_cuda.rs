//! The fused CUDA executor against the reference executor on the GPU. Each test skips, saying why, when
//! there is no CUDA device or the kernels were not built (no nvcc at build time).

mod common;

use common::equivalence::{self, KINDS};
use common::*;
use tch::{Device, Kind, Tensor};
use tch_mixcut::{Executor, ExecutorKind, MixConfig, MixMode, Mixer};

/// The device to test on, or `None` after printing why the test is skipped.
fn gpu() -> Option<Device> {
    if !tch_mixcut::cuda_kernels_built() {
        eprintln!("skipped: the CUDA kernels were not built (no nvcc at build time)");
        return None;
    }
    if !tch_mixcut::load_cuda_backend() {
        eprintln!("skipped: no CUDA device");
        return None;
    }
    Some(Device::Cuda(0))
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
fn launches_are_ordered_with_torch_ops_without_a_sync() {
    let Some(dev) = gpu() else { return };
    let cfg = MixConfig { mode: MixMode::Elem, ..MixConfig::vit(10) };
    let plan = Mixer::new(cfg.clone(), 2).unwrap().sample_plan(&[64, 3, 64, 64]).unwrap();
    let x = images(&[64, 3, 64, 64], Kind::Float);
    let y = labels(64, 10);
    // CPU oracle: (x * 2) mixed, then + 1.
    let mut cpu = Mixer::new(cfg.clone(), 0).unwrap().with_executor(Executor::Reference);
    let (want, _) = cpu.apply_plan(&plan, &(&x * 2.0), &y).unwrap();
    let want = want + 1.0;
    // GPU: a torch op queued before the kernel, one after, no synchronisation in between.
    let mut fused = Mixer::new(cfg, 0).unwrap().with_executor(Executor::Fused);
    for _ in 0..20 {
        let mut g = x.to_device(dev) * 2.0;
        let _ = fused.apply_plan_(&plan, &mut g, &y.to_device(dev)).unwrap();
        let got = g + 1.0;
        assert_eq!(values(&got), values(&want));
    }
    assert_eq!(fused.last_executor(), Some(ExecutorKind::FusedCuda));
}

#[test]
fn out_of_range_labels_are_reported_by_the_next_call_or_at_once_when_strict() {
    let Some(dev) = gpu() else { return };
    let mut m = Mixer::new(MixConfig::mixup(1.0, 10), 1).unwrap().with_executor(Executor::Fused);
    let x = images(&[4, 3, 8, 8], Kind::Float).to_device(dev);
    let bad = Tensor::from_slice(&[0i64, 1, 12, 3]).to_device(dev);
    let _ = m.apply(&x, &bad).unwrap();
    tch::Cuda::synchronize(0);
    let e = m.apply(&x, &labels(4, 10).to_device(dev)).unwrap_err().to_string();
    assert!(e.contains("labels") && e.contains("[0, 10)"), "{e}");
    let _ = m.apply(&x, &labels(4, 10).to_device(dev)).unwrap();
    m.set_strict_labels(true);
    let mut y = x.copy();
    let before = snapshot(&y);
    let e = m.apply_(&mut y, &bad).unwrap_err().to_string();
    assert!(e.contains("labels") && e.contains("[0, 12]"), "{e}");
    assert_eq!(snapshot(&y), before);
}

#[test]
fn second_device_works_the_same_way() {
    let Some(_) = gpu() else { return };
    if tch::Cuda::device_count() < 2 {
        eprintln!("skipped: one CUDA device (cuda:1 needs two)");
        return;
    }
    equivalence::hand_plans(Device::Cuda(1));
}
