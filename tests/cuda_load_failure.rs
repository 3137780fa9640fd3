//! A device whose kernels cannot load (the corrupt-image test hook stands in for a GPU the fatbin has no
//! code for, or a driver older than the toolkit): `Auto` falls back to the reference executor, `Fused`
//! refuses with the reason, and the device stays usable. One test per process: the outcome of loading is
//! cached per device.

mod common;

use common::gpu::gpu;
use common::*;
use tch::{Device, Kind};
use tch_mixcut::{Error, Executor, ExecutorKind, MixConfig, Mixer};

#[test]
fn kernels_that_cannot_load_mean_fallback_and_a_reason() {
    // Before anything touches CUDA (the loader reads it on first use).
    std::env::set_var("TCH_MIXCUT_TEST_CORRUPT_KERNELS", "1");
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
