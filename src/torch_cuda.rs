//! The run-time loader of libtorch's CUDA backend, `libtorch_cuda.so`.
//!
//! Linkers drop `libtorch_cuda.so` from tch binaries (nothing references it by symbol), and then CUDA
//! tensors fail with "Could not run 'aten::empty.memory_format' ... 'CUDA' backend". Loading it at run
//! time instead keeps one binary working on CPU-only machines (where its CUDA libraries are missing) and
//! on GPU machines alike. Linux and other Unix systems only (`dlopen`); elsewhere nothing is loaded.

use std::sync::OnceLock;

/// The outcome of the one attempt: `Err` holds the loader's message.
fn attempt() -> &'static Result<(), String> {
    static LOADED: OnceLock<Result<(), String>> = OnceLock::new();
    LOADED.get_or_init(open)
}

#[cfg(unix)]
fn open() -> Result<(), String> {
    use libloading::os::unix::{Library, RTLD_GLOBAL, RTLD_NOW};
    // SAFETY: loading libtorch's own CUDA library runs its static registrations, which is what linking it
    // would do; the handle is leaked so the library stays loaded for the process.
    let lib = unsafe { Library::open(Some("libtorch_cuda.so"), RTLD_NOW | RTLD_GLOBAL) }.map_err(|e| describe(&e))?;
    std::mem::forget(lib);
    Ok(())
}

/// libloading's error with its cause (the dynamic loader's own message).
pub(crate) fn describe(e: &libloading::Error) -> String {
    match std::error::Error::source(e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

#[cfg(not(unix))]
fn open() -> Result<(), String> {
    Err("loading libtorch_cuda at run time is implemented for Linux (dlopen) only; link it instead".into())
}

/// Whether libtorch_cuda is loaded and libtorch sees a CUDA device.
pub(crate) fn load() -> bool {
    attempt().is_ok() && tch::Cuda::is_available()
}

/// Loads `libtorch_cuda.so` once (globally, so its kernels register with the dispatcher) and reports
/// whether libtorch now sees a usable CUDA device. Call it before creating CUDA tensors;
/// [`Mixer::new`](crate::Mixer::new) calls it too. Returns `false`, without error, where there is no CUDA;
/// [`cuda_backend_error`] says why the library did not load.
pub fn load_cuda_backend() -> bool {
    load()
}

/// The device to train on: CUDA device 0 where libtorch sees one once [`load_cuda_backend`] has run, else
/// the CPU. Use it in place of tch's `Device::cuda_if_available()`, which answers the CPU on a GPU machine
/// when the linker dropped `libtorch_cuda.so` from the binary and nothing has loaded it yet.
///
/// ```no_run
/// let device = tch_mixcut::cuda_if_available();
/// let x = tch::Tensor::zeros([2, 3], (tch::Kind::Float, device));
/// ```
pub fn cuda_if_available() -> tch::Device {
    // tch asks libtorch after the load, so a backend linked in (or loaded otherwise) still counts where
    // this loader cannot open the library (other systems, other builds of libtorch).
    let _ = load();
    tch::Device::cuda_if_available()
}

/// Why `libtorch_cuda.so` could not be loaded (the dynamic loader's message), or `None` when it loaded.
/// A loaded library with no device is not an error: see `tch::Cuda::device_count()`.
pub fn cuda_backend_error() -> Option<&'static str> {
    attempt().as_ref().err().map(String::as_str)
}
