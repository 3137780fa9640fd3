//! Run-time loading of libtorch's CUDA backend.
//!
//! Linkers drop `libtorch_cuda.so` from tch binaries (nothing references it by symbol), and then CUDA
//! tensors fail with "Could not run 'aten::empty.memory_format' ... 'CUDA' backend". Loading it at run
//! time instead keeps one binary working on CPU-only machines (where its CUDA libraries are missing) and
//! on GPU machines alike.

use std::sync::OnceLock;

/// Loads `libtorch_cuda.so` once (globally, so its kernels register with the dispatcher) and reports
/// whether libtorch now sees a usable CUDA device. Call it before creating CUDA tensors;
/// [`Mixer::new`](crate::Mixer::new) calls it too. Returns `false`, without error, where there is no CUDA.
pub fn load_cuda_backend() -> bool {
    static LOADED: OnceLock<bool> = OnceLock::new();
    let loaded = *LOADED.get_or_init(|| {
        // SAFETY: loading libtorch's own CUDA library runs its static registrations, which is what
        // linking it would do; the handle is leaked so the library stays loaded for the process.
        let lib = unsafe {
            libloading::os::unix::Library::open(
                Some("libtorch_cuda.so"),
                libloading::os::unix::RTLD_NOW | libloading::os::unix::RTLD_GLOBAL,
            )
        };
        match lib {
            Ok(lib) => {
                std::mem::forget(lib);
                true
            }
            Err(_) => false,
        }
    });
    loaded && tch::Cuda::is_available()
}
