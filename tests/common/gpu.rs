//! The GPU a test runs on, or a printed reason to skip; in the GPU-required mode (`TCH_MIXCUT_REQUIRE_GPU=1`,
//! set by the GPU check kit in bench/) a missing GPU fails the test instead, so a kit run cannot pass by
//! skipping.

use tch::Device;

/// Whether the GPU-required mode is on.
pub fn required() -> bool {
    std::env::var_os("TCH_MIXCUT_REQUIRE_GPU").is_some_and(|v| v == "1")
}

/// Skips (returns `None` after printing `reason`), or panics with it in the GPU-required mode.
pub fn skip<T>(reason: &str) -> Option<T> {
    if required() {
        panic!("TCH_MIXCUT_REQUIRE_GPU=1 but {reason}");
    }
    eprintln!("skipped: {reason}");
    None
}

/// `cuda:0` when the kernels were built, libtorch_cuda loaded and a device exists.
pub fn gpu() -> Option<Device> {
    if !tch_mixcut::cuda_kernels_built() {
        return skip("the CUDA kernels were not built (no usable nvcc at build time)");
    }
    if !tch_mixcut::load_cuda_backend() {
        let why = tch_mixcut::cuda_backend_error().unwrap_or("libtorch_cuda loaded, but libtorch sees no CUDA device");
        return skip(&format!("no CUDA device ({why})"));
    }
    // Unwritten outputs must show: release binaries poison fresh outputs only when asked to.
    if required() && !cfg!(debug_assertions) && std::env::var_os("TCH_MIXCUT_POISON").is_none_or(|v| v != "1") {
        panic!("TCH_MIXCUT_REQUIRE_GPU=1 in a release build needs TCH_MIXCUT_POISON=1 (the kit sets both)");
    }
    Some(Device::Cuda(0))
}
