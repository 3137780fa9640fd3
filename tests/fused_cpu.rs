//! The kernel source built for the host (the fused CPU executor) against the reference executor.

mod common;

use common::equivalence::{self, KINDS};
use common::*;
use tch::{Device, Kind, Tensor};
use tch_mixcut::{Error, Executor, ExecutorKind, MixConfig, Mixer};

#[test]
fn fused_cpu_matches_reference_over_the_matrix() {
    assert_eq!(equivalence::matrix(Device::Cpu), 2 * 3 * KINDS.len() * 2 * (2 * 2 + 2 * 2 + 2));
}

#[test]
fn plans_with_every_op_kind_match_including_empty_and_full_boxes() {
    equivalence::hand_plans(Device::Cpu);
}

#[test]
fn batches_larger_than_one_launch_match() {
    equivalence::large_batches(Device::Cpu);
}

#[test]
fn misaligned_storage_takes_the_scalar_path() {
    equivalence::misaligned(Device::Cpu);
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
