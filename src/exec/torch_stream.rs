//! libtorch's current CUDA stream, resolved at run time with no synchronisation: c10's own functions
//! (`c10::cuda::getCurrentCUDAStream`, `CUDAStream::stream`) looked up in `libc10_cuda.so` and called
//! through shim/torch_stream.cpp, which turns a C++ exception into an error message.
//!
//! Launching on this stream orders the kernels with the torch ops around them under any current stream
//! (a `torch.cuda.stream(...)` block in a PyTorch extension, C++ code in the same process), and keeps
//! libtorch's caching allocator right: it hands a freed block to the next allocation on the same stream.

// Setting the stream serves only the tests of stream ordering (the `testing` feature).
#![cfg_attr(not(feature = "testing"), allow(dead_code))]

use std::ffi::{c_char, c_void, CStr};
use std::sync::OnceLock;

use libloading::os::unix::{Library, RTLD_NOW};
use tch::Device;

use crate::error::{Error, Result};

extern "C" {
    fn mixcut_torch_current_stream(
        get_current: *const c_void,
        native: *const c_void,
        device: i8,
        out: *mut *mut c_void,
        err: *mut c_char,
        err_len: usize,
    ) -> i32;
    fn mixcut_torch_set_stream(
        get_from_pool: *const c_void,
        get_default: *const c_void,
        set_current: *const c_void,
        device: i8,
        pool: i32,
        err: *mut c_char,
        err_len: usize,
    ) -> i32;
}

/// The c10 functions the shim calls (Itanium-mangled names, as exported by libtorch 2.x).
struct C10 {
    get_current: *const c_void,
    get_default: *const c_void,
    get_from_pool: *const c_void,
    set_current: *const c_void,
    native: *const c_void,
}
// SAFETY: plain addresses of functions in a library that stays loaded for the process's lifetime.
unsafe impl Send for C10 {}
unsafe impl Sync for C10 {}

const LIBRARY: &str = "libc10_cuda.so";

fn c10() -> std::result::Result<&'static C10, &'static str> {
    static SYMBOLS: OnceLock<std::result::Result<C10, String>> = OnceLock::new();
    SYMBOLS
        .get_or_init(|| {
            // SAFETY: libc10_cuda is already loaded wherever CUDA tensors exist (libtorch_cuda needs it); opening
            // it again only takes a reference, and its initialisers have run. The handle is leaked on purpose.
            let lib = unsafe { Library::open(Some(LIBRARY), RTLD_NOW) }
                .map_err(|e| format!("{LIBRARY}: {}", crate::torch_cuda::describe(&e)))?;
            let symbol = |name: &str| -> std::result::Result<*const c_void, String> {
                // SAFETY: the address is only passed to the shim, which calls it with c10's signature.
                unsafe { lib.get::<*const c_void>(name.as_bytes()) }
                    .map(|s| *s)
                    .map_err(|e| format!("{LIBRARY} has no symbol {name}: {}", crate::torch_cuda::describe(&e)))
            };
            let c10 = C10 {
                get_current: symbol("_ZN3c104cuda20getCurrentCUDAStreamEa")?,
                get_default: symbol("_ZN3c104cuda20getDefaultCUDAStreamEa")?,
                get_from_pool: symbol("_ZN3c104cuda17getStreamFromPoolEba")?,
                set_current: symbol("_ZN3c104cuda20setCurrentCUDAStreamENS0_10CUDAStreamE")?,
                native: symbol("_ZNK3c104cuda10CUDAStream6streamEv")?,
            };
            std::mem::forget(lib);
            Ok(c10)
        })
        .as_ref()
        .map_err(String::as_str)
}

fn unavailable(ordinal: usize, why: &str) -> Error {
    Error::unavailable(Device::Cuda(ordinal), format!("cannot resolve libtorch's current CUDA stream: {why}"))
}

/// Runs a shim call with an error buffer and turns its status into a `Result`.
fn call(ordinal: usize, f: impl FnOnce(*mut c_char, usize) -> i32) -> Result<()> {
    let mut err = [0 as c_char; 512];
    if f(err.as_mut_ptr(), err.len()) == 0 {
        return Ok(());
    }
    // SAFETY: the shim writes a NUL-terminated message into the buffer when it fails.
    let message = unsafe { CStr::from_ptr(err.as_ptr()) }.to_string_lossy().into_owned();
    // c10's messages go on with hints and a backtrace: the first line says what failed.
    Err(unavailable(ordinal, message.lines().next().unwrap_or("c10 failed without a message")))
}

fn device_index(ordinal: usize) -> Result<i8> {
    i8::try_from(ordinal).map_err(|_| unavailable(ordinal, "device index above 127"))
}

/// The `CUstream` of libtorch's current stream on `cuda:ordinal` for this thread (null: the legacy default
/// stream). An `Error::FusedUnavailable` where libc10_cuda or its functions cannot be found.
pub(crate) fn current(ordinal: usize) -> Result<cudarc::driver::sys::CUstream> {
    let c10 = c10().map_err(|why| unavailable(ordinal, why))?;
    let device = device_index(ordinal)?;
    let mut stream: *mut c_void = std::ptr::null_mut();
    // SAFETY: the pointers are c10's functions with the signatures the shim declares (checked against
    // libtorch's headers at build time where they are found); `stream` outlives the call.
    call(ordinal, |err, len| unsafe {
        mixcut_torch_current_stream(c10.get_current, c10.native, device, &mut stream, err, len)
    })?;
    Ok(stream as cudarc::driver::sys::CUstream)
}

/// Makes a stream from libtorch's pool (`pool`) or the default stream libtorch's current stream on
/// `cuda:ordinal` for the calling thread.
pub(crate) fn set_current(ordinal: usize, pool: bool) -> Result<()> {
    let c10 = c10().map_err(|why| unavailable(ordinal, why))?;
    let device = device_index(ordinal)?;
    // SAFETY: as in `current`.
    call(ordinal, |err, len| unsafe {
        mixcut_torch_set_stream(c10.get_from_pool, c10.get_default, c10.set_current, device, pool as i32, err, len)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c10_exceptions_become_errors_not_aborts() {
        if crate::torch_cuda::load() {
            eprintln!("skipped: a CUDA device is present (the GPU tests cover the stream)");
            return;
        }
        match current(0) {
            // Where libc10_cuda loads but there is no device, c10 throws; the shim must turn that into an Err.
            Err(Error::FusedUnavailable { reason, .. }) => assert!(reason.contains("current CUDA stream"), "{reason}"),
            other => panic!("expected FusedUnavailable without a CUDA device, got {other:?}"),
        }
    }
}
