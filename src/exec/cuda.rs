//! The fused CUDA executor: kernels/mix.cu, built by nvcc into a fatbin embedded in the crate, launched
//! through cudarc's driver API on the caller's tensors' device pointers, in the device's primary context
//! (libtorch's), on libtorch's current CUDA stream for the calling thread, with nothing synchronising per
//! call.
//!
//! Availability is the outcome of loading the kernels on the device, once, cached: no driver, no such
//! device, no code for the device's architecture, a driver older than the toolkit that built the kernels,
//! or libtorch's stream functions missing all make the device unavailable with a reason, and
//! `Executor::Auto` falls back to the reference executor. What a failed load acquired is released. The
//! caller's current CUDA context is left as it was (pushed and popped around every driver call here).
//!
//! Class indices outside `[0, C)` are detected on the device: the kernels store the mixer's token in its
//! slot of a flag array in mapped host memory (see `label_flag`), and the mixer's next call reads it.

use std::ffi::{c_void, CString};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::OnceLock;

use cudarc::driver::{result, sys, DriverError};
use tch::Device;

use super::kernel_args::{self, Form, MixArgs};
use super::label_flag::{LabelFlag, SLOTS};
use super::torch_stream;
use crate::dtype::Dtype;
use crate::error::{Error, Result};
use crate::job::{Buffers, Job};

/// The fatbin, aligned as cuModuleLoadData wants.
#[repr(C, align(16))]
struct Aligned<T: ?Sized>(T);
static FATBIN: &Aligned<[u8]> = &Aligned(*include_bytes!(env!("MIXCUT_FATBIN")));

/// What the fatbin holds, as build.rs compiled it (e.g. "cubins sm_75, sm_80 … and PTX compute_75, nvcc 13.0").
const FATBIN_CONTENTS: &str = env!("MIXCUT_FATBIN_CONTENTS");

/// Test hook (the `testing` feature only): set to `1` before the first CUDA call, the loader is handed a
/// corrupt image instead of the fatbin, so the GPU tests can check the failure path (fallback, reason,
/// nothing leaked).
#[cfg(feature = "testing")]
const CORRUPT_IMAGE_VAR: &str = "TCH_MIXCUT_TEST_CORRUPT_KERNELS";

/// `[dtype][slot]` entry points; `slot` is the [`Kernel`]'s place in its family's [`Family::kernels`].
type FunctionTable = [[sys::CUfunction; KERNELS_PER_DTYPE]; Dtype::ALL.len()];

/// The most entry points a family has per dtype.
const KERNELS_PER_DTYPE: usize = 6;

/// The two kernel families of kernels/mix.cu: the mix (`mix_<dtype>...`) and the normalising pass
/// (`mixnorm_<dtype>...`).
#[derive(Clone, Copy)]
enum Family {
    Mix,
    Norm,
}

/// How a kernel's threads cover a sample, and what else it does: its entry point's suffix after
/// `<prefix>_<dtype>`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kernel {
    /// One 16-byte output vector a thread, in the memory order of the arguments.
    Vector,
    /// One element a thread.
    Scalar,
    /// The mix's vectors, and class masks pasted in the same launch (segmentation).
    VectorMasks,
    /// The mix's elements, and class masks.
    ScalarMasks,
    /// The normalising pass's vectors into channels-last output (fewer registers: kernels/mix.cu).
    ChannelsLast,
    /// The normalising pass's pixel vectors: 3-channel channels-last input, NCHW output.
    Pixels,
    /// The normalising pass's pixel vectors the other way: 3-channel NCHW input, channels-last output.
    PixelsChannelsLast,
    /// The mix's vectors, with the extended operations (ResizeMix, FMix).
    VectorExt,
    /// One element a thread, with the extended operations.
    ScalarExt,
}

impl Kernel {
    /// The entry point that runs a launch of this form (class masks: the mix's kernels that paste them too;
    /// `extended`: the `_ext` kernels). `None` for what no kernel takes: class masks beside extended
    /// operations (segmentation gives those masks a launch of their own), the normalising pass's
    /// extended operations in another form than elements, or the host's own gathered vectors
    /// (kernel_args builds none of these for the CUDA kernels' widths).
    fn of(family: Family, form: Form, masks: bool, extended: bool) -> Option<Kernel> {
        let vectors =
            matches!(form, Form::Vectors | Form::VectorsChannelsLast | Form::Pixels | Form::PixelsChannelsLast);
        Some(match (family, form) {
            _ if masks && extended => return None,
            (_, Form::VectorsFromPlanes) => return None,
            (Family::Mix, Form::Elements) if extended => Kernel::ScalarExt,
            (Family::Mix, Form::Elements) if masks => Kernel::ScalarMasks,
            (Family::Mix, Form::Elements) => Kernel::Scalar,
            // The mix keeps the input's memory order: every vector form is its plain vectors.
            (Family::Mix, _) if vectors && extended => Kernel::VectorExt,
            (Family::Mix, _) if masks => Kernel::VectorMasks,
            (Family::Mix, Form::Vectors | Form::VectorsChannelsLast | Form::Pixels | Form::PixelsChannelsLast) => {
                Kernel::Vector
            }
            (Family::Norm, Form::Elements) if extended => Kernel::ScalarExt,
            (Family::Norm, _) if extended => return None,
            (Family::Norm, Form::Elements) => Kernel::Scalar,
            (Family::Norm, Form::Vectors) => Kernel::Vector,
            (Family::Norm, Form::VectorsChannelsLast) => Kernel::ChannelsLast,
            (Family::Norm, Form::Pixels) => Kernel::Pixels,
            (Family::Norm, Form::PixelsChannelsLast) => Kernel::PixelsChannelsLast,
        })
    }

    fn suffix(self) -> &'static str {
        match self {
            Kernel::Vector => "",
            Kernel::Scalar => "_scalar",
            Kernel::VectorMasks => "_masks",
            Kernel::ScalarMasks => "_scalar_masks",
            Kernel::ChannelsLast => "_cl",
            Kernel::Pixels => "_pixels",
            Kernel::PixelsChannelsLast => "_pixels_cl",
            Kernel::VectorExt => "_ext",
            Kernel::ScalarExt => "_scalar_ext",
        }
    }
}

impl Family {
    fn prefix(self) -> &'static str {
        match self {
            Family::Mix => "mix",
            Family::Norm => "mixnorm",
        }
    }

    /// Its entry points, in their [`FunctionTable`] order.
    fn kernels(self) -> &'static [Kernel] {
        match self {
            Family::Mix => &[
                Kernel::Vector,
                Kernel::Scalar,
                Kernel::VectorMasks,
                Kernel::ScalarMasks,
                Kernel::VectorExt,
                Kernel::ScalarExt,
            ],
            Family::Norm => &[
                Kernel::Vector,
                Kernel::Scalar,
                Kernel::ChannelsLast,
                Kernel::Pixels,
                Kernel::PixelsChannelsLast,
                Kernel::ScalarExt,
            ],
        }
    }

    /// A kernel's slot in a [`FunctionTable`] row (`None` for one the family lacks).
    fn slot(self, kernel: Kernel) -> Option<usize> {
        self.kernels().iter().position(|&k| k == kernel)
    }
}

/// Threads per block (the kernels' `__launch_bounds__`).
const BLOCK: u32 = 256;

/// A device on which the kernels are loaded. Never unloaded: it lives as long as the process.
struct Loaded {
    ctx: sys::CUcontext,
    /// `functions[dtype][slot]`: each dtype's mix in [`Family::Mix`]'s forms.
    functions: FunctionTable,
    /// The same for the normalising pass, by output dtype (null for uint8, never an output).
    norm_functions: FunctionTable,
    /// `SLOTS + 1` label-error flags (the last one for mixers without a slot), host and device views.
    flags_host: *mut i32,
    flags_device: sys::CUdeviceptr,
}
// SAFETY: driver handles and pinned host memory are usable from any thread; nothing here changes after the
// load, and the flags are only accessed with volatile loads and stores of whole i32s.
unsafe impl Send for Loaded {}
// SAFETY: as above.
unsafe impl Sync for Loaded {}

fn driver_error(context: impl Into<String>) -> impl FnOnce(DriverError) -> Error {
    move |source| Error::Cuda { context: context.into(), source }
}

/// The driver's name of an error, e.g. `CUDA_ERROR_NO_BINARY_FOR_GPU`.
fn error_name(e: &DriverError) -> String {
    e.error_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|_| format!("{:?}", e.0))
}

/// Initialises the driver once; the number of devices, or why there is no CUDA here.
fn driver() -> std::result::Result<usize, &'static str> {
    static INIT: OnceLock<std::result::Result<usize, String>> = OnceLock::new();
    INIT.get_or_init(|| {
        // SAFETY: only probes whether libcuda can be loaded (cudarc would panic on first use without it).
        if !unsafe { sys::is_culib_present() } {
            return Err("no CUDA driver (libcuda.so) on this machine".into());
        }
        result::init().map_err(|e| format!("cuInit failed: {}", error_name(&e)))?;
        let count = result::device::get_count().map_err(|e| format!("cuDeviceGetCount failed: {}", error_name(&e)))?;
        Ok(count.max(0) as usize)
    })
    .as_ref()
    .map(|&n| n)
    .map_err(String::as_str)
}

/// One cell per device the driver reports, each holding the outcome of loading the kernels there.
static DEVICES: OnceLock<Vec<OnceLock<std::result::Result<Loaded, String>>>> = OnceLock::new();

/// The device cells, initialising the driver first; `None` where there is no CUDA.
fn devices() -> Option<&'static [OnceLock<std::result::Result<Loaded, String>>]> {
    let count = driver().ok()?;
    Some(DEVICES.get_or_init(|| (0..count).map(|_| OnceLock::new()).collect()))
}

/// The device's loaded kernels, loading them on first use.
fn loaded(ordinal: usize) -> Result<&'static Loaded> {
    let device = Device::Cuda(ordinal);
    let cells = devices().ok_or_else(|| Error::unavailable(device, driver().err().unwrap_or("no CUDA driver")))?;
    let cell = cells.get(ordinal).ok_or_else(|| {
        Error::unavailable(
            device,
            format!("the CUDA driver sees {} device(s), expected an ordinal below that", cells.len()),
        )
    })?;
    cell.get_or_init(|| load(ordinal)).as_ref().map_err(|reason| Error::unavailable(device, reason.clone()))
}

/// `Ok` where the kernels are loaded (or load now) on `cuda:ordinal`.
pub(crate) fn check(ordinal: usize) -> Result<()> {
    loaded(ordinal).map(|_| ())
}

/// Makes a context current for the calling thread until dropped, then restores the previous one.
struct Current;

impl Current {
    fn push(ctx: sys::CUcontext) -> std::result::Result<Current, DriverError> {
        // SAFETY: `ctx` is a retained primary context; the pop in `drop` undoes exactly this push.
        unsafe { sys::cuCtxPushCurrent_v2(ctx) }.result()?;
        Ok(Current)
    }
}

impl Drop for Current {
    fn drop(&mut self) {
        let mut popped: sys::CUcontext = std::ptr::null_mut();
        // SAFETY: pops the context `push` made current; the caller's context becomes current again.
        let _ = unsafe { sys::cuCtxPopCurrent_v2(&mut popped) };
    }
}

/// Driver version, device name and compute capability, for failure messages.
fn describe(dev: sys::CUdevice) -> String {
    let mut version = 0;
    // SAFETY: writes one int.
    let driver = match unsafe { sys::cuDriverGetVersion(&mut version) }.result() {
        Ok(()) => format!("driver for CUDA {}.{}", version / 1000, version % 1000 / 10),
        Err(e) => format!("driver version unknown ({})", error_name(&e)),
    };
    let name = result::device::get_name(dev).unwrap_or_else(|_| "unknown device".into());
    let attribute = |a| unsafe { result::device::get_attribute(dev, a) }.unwrap_or(-1);
    let (major, minor) = (
        attribute(sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR),
        attribute(sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR),
    );
    format!("{name}, compute capability {major}.{minor}, {driver}; the kernels hold {FATBIN_CONTENTS}")
}

/// Loads the kernels on `cuda:ordinal`; on failure releases what it acquired and says why.
fn load(ordinal: usize) -> std::result::Result<Loaded, String> {
    let dev = result::device::get(ordinal as i32).map_err(|e| format!("cuDeviceGet({ordinal}): {}", error_name(&e)))?;
    // Resolve libtorch's stream functions first: without them the kernels could not be ordered with torch ops.
    torch_stream::current(ordinal).map_err(|e| match e {
        Error::FusedUnavailable { reason, .. } => reason,
        other => other.to_string(),
    })?;
    // SAFETY: `dev` is a device the driver reported; the primary context is the one libtorch uses.
    let ctx = unsafe { result::primary_ctx::retain(dev) }
        .map_err(|e| format!("cuDevicePrimaryCtxRetain: {}", error_name(&e)))?;
    let loaded = load_in(ctx);
    if loaded.is_err() {
        // SAFETY: balances the retain above; nothing of this load uses the context any more.
        let _ = unsafe { result::primary_ctx::release(dev) };
    }
    loaded.map_err(|what| format!("the fused CUDA kernels cannot load on cuda:{ordinal}: {what} ({})", describe(dev)))
}

/// The image handed to the loader: the embedded fatbin (or, under the test hook, a corrupt one).
fn image() -> *const c_void {
    #[cfg(feature = "testing")]
    if std::env::var_os(CORRUPT_IMAGE_VAR).is_some_and(|v| v == "1") {
        // Neither an ELF, a fatbin nor PTX, and NUL-terminated: the driver may parse it as PTX text.
        static CORRUPT: Aligned<[u8; 16]> = Aligned(*b"not a fatbin!!!\0");
        return CORRUPT.0.as_ptr().cast();
    }
    FATBIN.0.as_ptr().cast()
}

/// The module, its functions and the label flags, in the retained context `ctx`.
fn load_in(ctx: sys::CUcontext) -> std::result::Result<Loaded, String> {
    let _current = Current::push(ctx).map_err(|e| format!("cuCtxPushCurrent: {}", error_name(&e)))?;
    // SAFETY: the image is a complete fatbin embedded in the binary (or the test hook's corrupt bytes, which
    // the driver rejects); it outlives the call.
    let module =
        unsafe { result::module::load_data(image()) }.map_err(|e| format!("cuModuleLoadData: {}", error_name(&e)))?;
    let rest = (|| {
        let mix = functions(module, Family::Mix, |_| true)?;
        let norm = functions(module, Family::Norm, Dtype::is_float)?;
        let (flags_host, flags_device) = label_flags()?;
        Ok(Loaded { ctx, functions: mix, norm_functions: norm, flags_host, flags_device })
    })();
    if rest.is_err() {
        // SAFETY: the module was loaded above and nothing refers to it.
        let _ = unsafe { result::module::unload(module) };
    }
    rest
}

/// The entry points of `family` ([`Family::forms`]) of every dtype that `has` them.
fn functions(
    module: sys::CUmodule,
    family: Family,
    has: impl Fn(Dtype) -> bool,
) -> std::result::Result<FunctionTable, String> {
    let mut table = [[std::ptr::null_mut(); KERNELS_PER_DTYPE]; Dtype::ALL.len()];
    for dtype in Dtype::ALL.into_iter().filter(|&d| has(d)) {
        for (slot, kernel) in family.kernels().iter().enumerate() {
            let name = format!("{}_{}{}", family.prefix(), dtype.suffix(), kernel.suffix());
            let c_name = CString::new(name.clone()).expect("kernel names have no NUL");
            // SAFETY: `module` is a loaded module.
            let func = unsafe { result::module::get_function(module, c_name) }
                .map_err(|e| format!("kernel {name}: {}", error_name(&e)))?;
            table[dtype as usize][slot] = func;
        }
    }
    Ok(table)
}

/// `SLOTS + 1` zeroed flags in mapped, portable host memory: host pointer and device pointer.
fn label_flags() -> std::result::Result<(*mut i32, sys::CUdeviceptr), String> {
    let bytes = (SLOTS + 1) * std::mem::size_of::<i32>();
    let flags = sys::CU_MEMHOSTALLOC_DEVICEMAP | sys::CU_MEMHOSTALLOC_PORTABLE;
    // SAFETY: a plain pinned allocation in the current context.
    let host =
        unsafe { result::malloc_host(bytes, flags) }.map_err(|e| format!("cuMemHostAlloc: {}", error_name(&e)))?;
    // SAFETY: `host` holds `bytes` writable bytes.
    unsafe { std::ptr::write_bytes(host.cast::<u8>(), 0, bytes) };
    let mut device: sys::CUdeviceptr = 0;
    // SAFETY: `host` was allocated with CU_MEMHOSTALLOC_DEVICEMAP.
    match unsafe { sys::cuMemHostGetDevicePointer_v2(&mut device, host, 0) }.result() {
        Ok(()) => Ok((host.cast(), device)),
        Err(e) => {
            // SAFETY: frees the allocation above, which nothing else refers to.
            let _ = unsafe { result::free_host(host) };
            Err(format!("cuMemHostGetDevicePointer: {}", error_name(&e)))
        }
    }
}

/// Reports (once) an out-of-range class index stored by `flag`'s launches on any device; returns that
/// device's ordinal. Clears stale stores left in the slot by the slot's previous owner. Does not wait for
/// launches in flight.
pub(crate) fn take_label_error(flag: &LabelFlag) -> Option<usize> {
    let slot = flag.slot()?;
    let cells = DEVICES.get()?; // nothing was ever launched if the driver was never initialised
    let mut found = None;
    for (ordinal, cell) in cells.iter().enumerate() {
        let Some(Ok(d)) = cell.get() else { continue };
        // SAFETY: `slot < SLOTS` indexes the live pinned flag array, 4-byte aligned, never freed; the kernels
        // only store whole i32s into it, so an atomic view of it from the host is sound.
        let cell = unsafe { AtomicI32::from_ptr(d.flags_host.add(slot)) };
        let value = cell.load(Ordering::SeqCst);
        // Clear only what was read: a store landing in between stays for the next look.
        if value != 0
            && cell.compare_exchange(value, 0, Ordering::SeqCst, Ordering::SeqCst).is_ok()
            && value == flag.token()
        {
            found = found.or(Some(ordinal));
        }
    }
    found
}

/// Launches the job's fused pass on `cuda:ordinal` (`bufs` validated and allocated by the caller), on
/// libtorch's current stream for this thread.
pub(crate) fn run(job: &Job, bufs: &Buffers, ordinal: usize, flag: &LabelFlag) -> Result<()> {
    let d = loaded(ordinal)?;
    let slot = flag.slot().unwrap_or(SLOTS);
    let error = (d.flags_device + (slot * std::mem::size_of::<i32>()) as u64) as *mut i32;
    let (table, family, dtype) = match &job.normalize {
        Some(norm) => (&d.norm_functions, Family::Norm, norm.out),
        None => (&d.functions, Family::Mix, job.batch.dtype),
    };
    let prefix = family.prefix();
    let launch = kernel_args::build(job, bufs, kernel_args::Widths::cuda(job), error, flag.token())?;
    let kernel = Kernel::of(family, launch.form, bufs.masks.is_some(), launch.extended);
    let func = kernel.and_then(|k| family.slot(k)).map_or(std::ptr::null_mut(), |slot| table[dtype as usize][slot]);
    let (Some(kernel), false) = (kernel, func.is_null()) else {
        return Err(Error::unsupported(
            "images",
            format!(
                "no {prefix} kernel for {dtype:?} in form {:?} (class masks: {}, extended operations: {}), expected a \
                 launch the argument builder makes",
                launch.form,
                bufs.masks.is_some(),
                launch.extended
            ),
        ));
    };
    let stream = torch_stream::current(ordinal)?;
    let _current = Current::push(d.ctx).map_err(driver_error(format!("cuCtxPushCurrent on cuda:{ordinal}")))?;
    // x-blocks for `vecs` vectors a pair.
    let blocks_for = |vecs: i64| (vecs as u64).div_ceil(BLOCK as u64).clamp(1, 1 << 16) as u32;
    launch.each_block(|args| {
        let image_blocks = blocks_for(args.head.vecs_per_sample);
        // Then the class mask's blocks (segmentation), then one more x-block per pair for its targets.
        let mask_blocks = if args.head.mask_bytes > 0 { blocks_for(args.head.mask_vecs) } else { 0 };
        args.head.mask_blocks = mask_blocks as i32;
        let grid = (image_blocks + mask_blocks + 1, args.head.pair_count as u32, 1);
        let mut param = (args as *mut MixArgs).cast::<c_void>();
        // SAFETY: the argument block matches the kernel's signature (layout checked by tests) and is copied
        // by the driver at launch (so the block may be refilled once this returns). Its pointers are device
        // memory of this device, valid until the stream reaches the kernel: the caller holds images,
        // outputs and targets (and masks, in and out); the converted labels tensor (or a contiguous copy of
        // the masks) may be freed when this call returns, which is safe because libtorch's caching
        // allocator reuses a block only in stream order on the stream it was allocated on, and the kernel
        // runs on that same current stream. The flag array is never freed.
        unsafe { result::launch_kernel(func, grid, (BLOCK, 1, 1), 0, stream, std::slice::from_mut(&mut param)) }
            .map_err(|e| {
                driver_error(format!("launching {prefix}_{}{} on cuda:{ordinal}", dtype.suffix(), kernel.suffix()))(e)
            })
    })
}

/// Makes a pool stream (`pool`) or the default stream libtorch's current CUDA stream on `cuda:ordinal`
/// for the calling thread (for tests of stream ordering).
#[cfg(feature = "testing")]
pub(crate) fn set_torch_stream(ordinal: usize, pool: bool) -> Result<()> {
    torch_stream::set_current(ordinal, pool)
}
