//! The fused CUDA executor: kernels/mix.cu, built by nvcc into a fatbin embedded in the crate, launched
//! through cudarc's driver API on the caller's tensors' device pointers, in the device's primary context
//! (libtorch's) on the legacy default stream (libtorch's stream in tch), so launches are ordered with torch
//! ops and nothing synchronises per call.
//!
//! Without a driver (`libcuda.so`) nothing here panics: [`available`] is false and `Auto` picks the
//! reference executor. Class indices outside `[0, C)` are detected on the device: the kernels set a flag in
//! mapped host memory, and the next call on that device returns an `Err` (its targets rows were zeros).

use std::collections::HashMap;
use std::ffi::{c_void, CString};
use std::sync::{Mutex, OnceLock};

use anyhow::{anyhow, bail, Result};
use cudarc::driver::{result, sys};

use super::kernel_args::{self, Buffers, MixArgs};
use super::Job;

/// The fatbin (cubins sm_80, sm_90; PTX compute_80), aligned as cuModuleLoadData wants.
#[repr(C, align(16))]
struct Aligned<T: ?Sized>(T);
static FATBIN: &Aligned<[u8]> = &Aligned(*include_bytes!(env!("MIXCUT_FATBIN")));

/// Threads per block (the kernels' `__launch_bounds__`).
const BLOCK: u32 = 256;

/// A device's loaded module, functions and label-error flag.
struct Loaded {
    ctx: sys::CUcontext,
    functions: HashMap<String, sys::CUfunction>,
    flag_host: *mut i32,
    flag_device: *mut i32,
}
// SAFETY: the handles are process-wide driver objects; access is serialised by the mutex below.
unsafe impl Send for Loaded {}

fn driver_error(what: &str, e: result::DriverError) -> anyhow::Error {
    let name = e.error_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|_| format!("{:?}", e.0));
    anyhow!("{what}: {name}")
}

/// Initialises the driver once; `Err` where there is none (checked before cudarc could panic).
fn driver() -> Result<()> {
    static INIT: OnceLock<Result<(), String>> = OnceLock::new();
    INIT.get_or_init(|| {
        // SAFETY: only probes whether libcuda can be loaded.
        if !unsafe { sys::is_culib_present() } {
            return Err("no CUDA driver (libcuda.so) on this machine".into());
        }
        result::init().map_err(|e| driver_error("cuInit", e).to_string())
    })
    .clone()
    .map_err(|e| anyhow!(e))
}

/// Whether the fused CUDA path can run on `cuda:ordinal`.
pub(crate) fn available(ordinal: usize) -> bool {
    driver().is_ok() && result::device::get_count().is_ok_and(|n| (ordinal as i32) < n)
}

fn modules() -> &'static Mutex<HashMap<usize, Loaded>> {
    static MODULES: OnceLock<Mutex<HashMap<usize, Loaded>>> = OnceLock::new();
    MODULES.get_or_init(Default::default)
}

/// Loads the module on `ordinal` once (in its primary context) and runs `f` with it.
fn with_device<R>(ordinal: usize, f: impl FnOnce(&mut Loaded) -> Result<R>) -> Result<R> {
    driver()?;
    let mut map = modules().lock().map_err(|_| anyhow!("tch-mixcut CUDA module cache poisoned"))?;
    if !map.contains_key(&ordinal) {
        // SAFETY: plain driver calls on a device the driver reported; the module image is the embedded fatbin.
        let loaded = unsafe {
            let dev = result::device::get(ordinal as i32).map_err(|e| driver_error(&format!("cuDeviceGet({ordinal})"), e))?;
            let ctx = result::primary_ctx::retain(dev).map_err(|e| driver_error("cuDevicePrimaryCtxRetain", e))?;
            result::ctx::set_current(ctx).map_err(|e| driver_error("cuCtxSetCurrent", e))?;
            let module = result::module::load_data(FATBIN.0.as_ptr() as *const c_void)
                .map_err(|e| driver_error(&format!("loading the mixcut kernels on cuda:{ordinal}"), e))?;
            let mut functions = HashMap::new();
            for dtype in ["f32", "f16", "bf16", "u8"] {
                for suffix in ["", "_scalar"] {
                    let name = format!("mix_{dtype}{suffix}");
                    let func = result::module::get_function(module, CString::new(name.clone()).unwrap())
                        .map_err(|e| driver_error(&format!("kernel {name}"), e))?;
                    functions.insert(name, func);
                }
            }
            let flag_host = result::malloc_host(4, sys::CU_MEMHOSTALLOC_DEVICEMAP | sys::CU_MEMHOSTALLOC_PORTABLE)
                .map_err(|e| driver_error("cuMemHostAlloc (label flag)", e))? as *mut i32;
            flag_host.write_volatile(0);
            let mut flag_device: sys::CUdeviceptr = 0;
            sys::cuMemHostGetDevicePointer_v2(&mut flag_device, flag_host as *mut c_void, 0)
                .result()
                .map_err(|e| driver_error("cuMemHostGetDevicePointer (label flag)", e))?;
            Loaded { ctx, functions, flag_host, flag_device: flag_device as *mut i32 }
        };
        map.insert(ordinal, loaded);
    }
    f(map.get_mut(&ordinal).expect("inserted above"))
}

/// Reports (once) out-of-range class indices seen by earlier launches on `ordinal`.
pub(crate) fn take_label_error(ordinal: usize, num_classes: i64) -> Result<()> {
    with_device(ordinal, |d| {
        // SAFETY: the flag is a live pinned allocation; the kernels only ever store 1 into it.
        let flagged = unsafe { d.flag_host.read_volatile() } != 0;
        if flagged {
            unsafe { d.flag_host.write_volatile(0) };
            bail!(
                "labels: an earlier call on cuda:{ordinal} had class indices outside [0, {num_classes}) (their target rows \
                 were written as zeros); check the labels, or call Mixer::set_strict_labels(true) to check before each launch"
            );
        }
        Ok(())
    })
}

/// The device pointer of `ordinal`'s label-error flag.
pub(crate) fn error_flag(ordinal: usize) -> Result<*mut i32> {
    with_device(ordinal, |d| Ok(d.flag_device))
}

/// Launches the job's fused pass on `cuda:ordinal` (`bufs` validated and allocated by the caller).
pub(crate) fn run(job: &Job, bufs: &Buffers, in_place: bool, ordinal: usize) -> Result<()> {
    let dtype = kernel_args::dtype_name(job.kind)?;
    let (blocks, vector_bytes) = kernel_args::build(job, bufs, in_place, &[16])?;
    let name = format!("mix_{dtype}{}", if vector_bytes == 16 { "" } else { "_scalar" });
    with_device(ordinal, |d| {
        let func = d.functions[&name];
        // SAFETY: the context is the device's primary context (libtorch's), made current for this thread.
        unsafe { result::ctx::set_current(d.ctx) }.map_err(|e| driver_error("cuCtxSetCurrent", e))?;
        for args in &blocks {
            let image_blocks = (args.vecs_per_sample as u64).div_ceil(BLOCK as u64).clamp(1, 1 << 16) as u32;
            let grid = (image_blocks + args.write_targets as u32, args.pair_count as u32, 1);
            let mut param = (&**args) as *const MixArgs as *mut c_void;
            // SAFETY: the argument block matches the kernel's signature (layout checked by tests); every
            // pointer in it is a live tensor on this device, valid until the stream reaches the kernel
            // because the caller holds the tensors; the null stream is libtorch's legacy default stream.
            unsafe { result::launch_kernel(func, grid, (BLOCK, 1, 1), 0, std::ptr::null_mut(), std::slice::from_mut(&mut param)) }
                .map_err(|e| driver_error(&format!("kernel {name} launch on cuda:{ordinal}"), e))?;
        }
        Ok(())
    })
}
