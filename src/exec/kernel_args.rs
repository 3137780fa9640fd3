//! The kernels' argument block (`MixArgs` in kernels/mix.cuh), built from a job: one per launch, each
//! covering up to `MAX_PAIRS` pairs, with the per-sample parameters inline (no device buffer, no copy).
//! A thread fills one block, kept from call to call, and writes only what changes: the header and the
//! launch's pairs.

use std::ffi::c_void;

use tch::Tensor;

use crate::dtype::Dtype;
use crate::error::{ensure, Error, Result};
use crate::job::params::SampleParams;
use crate::job::{BatchSpec, Buffers, Job, Layout};

/// Pairs per launch (`MIX_MAX_PAIRS`): a batch of up to 256 samples in one launch, whose argument block
/// (9 KB) the driver copies whole at every launch, whatever the batch; larger batches take more launches.
pub(crate) const MAX_PAIRS: usize = 128;

/// Channels the normalising pass takes (`MIX_MAX_CHANNELS`).
pub(crate) const MAX_CHANNELS: usize = 16;

/// Length of the normalising constants' periodic tables (`MIX_NORM_TABLE`): entry k is channel k mod C's.
pub(crate) const NORM_TABLE: usize = MAX_CHANNELS + 64;

/// The channels the normalising pass's pixel vectors are built for (`MIX_PIXEL_CHANNELS`).
pub(crate) const PIXEL_CHANNELS: usize = 3;

/// Pixels a thread of the CUDA `_pixels` and `_pixels_cl` kernels takes (`MIX_PIXEL_LANES`).
pub(crate) const GPU_PIXEL_LANES: usize = 4;

/// `#[repr(C)]` mirror of `mixcut::MixArgs`: its header, then the launch's pairs (`MixArgs::first` sits
/// where the C++ header ends: its size is a multiple of 8); `tests` check size and offsets against the
/// C++ compiler's.
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct MixArgs {
    pub head: MixHead,
    pub first: [SampleParams; MAX_PAIRS],
    pub second: [SampleParams; MAX_PAIRS],
}

/// The fields of `mixcut::MixArgs` before the pairs' parameters, shared by the launches of a job.
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct MixHead {
    pub src: *const c_void,
    pub dst: *mut c_void,
    pub labels: *const i64,
    pub soft: *const f32,
    pub targets: *mut f32,
    pub error: *mut i32,
    pub mask_src: *const u8,
    pub mask_dst: *mut u8,
    pub paste_mask: *const u8,
    pub mask_vecs: i64,
    pub mask_bytes: i32,
    pub mask_vector: i32,
    pub mask_blocks: i32,
    pub tail: i32,
    pub sample_stride: i64,
    pub vecs_per_sample: i64,
    pub n: i32,
    pub pair_begin: i32,
    pub pair_count: i32,
    pub num_classes: i32,
    pub channels: i32,
    pub height: i32,
    pub width: i32,
    pub channels_last: i32,
    pub in_place: i32,
    pub error_token: i32,
    pub on: f32,
    pub off: f32,
    pub threshold: f32,
    pub binarize: i32,
    pub dst_channels_last: i32,
    pub form: Form,
    pub by_channels: FastDiv,
    pub by_height: FastDiv,
    pub by_width: FastDiv,
    pub scale: [f32; NORM_TABLE],
    pub shift: [f32; NORM_TABLE],
}

/// `#[repr(C)]` mirror of `mixcut::FastDiv`: division by `d` as a multiply and a shift, exact for every
/// dividend below 2^31 (the kernels' element positions: [`supported`] holds samples under 2^31 elements).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FastDiv {
    pub mul: u32,
    pub shift: u32,
}

impl FastDiv {
    /// Granlund and Montgomery's round-up method with 31-bit dividends: `l = ⌈log2 d⌉`, `mul = ⌈2^(31+l) / d⌉`
    /// (below 2^32 because `d > 2^(l-1)`), `shift = 31 + l`; then `mul · d − 2^(31+l) < d <= 2^l`, which
    /// makes `(n · mul) >> shift == n / d` for every `n < 2^31`. `d` 0 (no such dimension) counts as 1.
    pub fn new(d: u32) -> Self {
        let d = u64::from(d.max(1));
        let l = 64 - (d - 1).leading_zeros(); // ⌈log2 d⌉; 0 for d = 1
        let mul = (1u64 << (31 + l)).div_ceil(d);
        Self { mul: mul as u32, shift: 31 + l }
    }

    /// `n / d` as the kernels compute it (`quotient<true>` in kernels/mix.cuh).
    #[cfg(test)]
    fn divide(self, n: u32) -> u32 {
        ((u64::from(n) * u64::from(self.mul)) >> self.shift) as u32
    }
}

/// The class count as the kernels take it, or why it is too large for them.
fn kernel_classes(num_classes: i64) -> Result<i32> {
    i32::try_from(num_classes).map_err(|_| {
        Error::unsupported("num_classes", format!("got {num_classes}, expected < 2^31 for the fused executor"))
    })
}

/// Whether the fused kernels take this batch: no autograd (images or soft labels), dense samples, 32-bit
/// batch sizes, positions and classes, and for the normalising pass at most [`MAX_CHANNELS`] channels.
pub(crate) fn supported(
    batch: &BatchSpec,
    images: &Tensor,
    labels: Option<&Tensor>,
    num_classes: i64,
    normalizing: bool,
) -> Result<()> {
    ensure!(
        !labels.is_some_and(Tensor::requires_grad),
        Error::unsupported(
            "labels",
            "got soft targets that require grad, expected none for the fused executor (it records no autograd graph); \
             use Executor::Reference or Auto"
        )
    );
    ensure!(
        batch.n < (1 << 31),
        Error::unsupported(
            "images",
            format!("got a batch of {} samples, expected fewer than 2^31 for the fused executor", batch.n)
        )
    );
    ensure!(
        !normalizing || batch.channels <= MAX_CHANNELS,
        Error::unsupported(
            "images",
            format!("got {} channels, expected at most {MAX_CHANNELS} for the fused normalising pass", batch.channels)
        )
    );
    ensure!(
        !images.requires_grad(),
        Error::unsupported(
            "images",
            "got a tensor that requires grad, expected none for the fused executor (it records no autograd graph); \
             use Executor::Reference or Auto"
        )
    );
    ensure!(
        batch.layout != Layout::Strided,
        Error::unsupported(
            "images",
            format!(
                "got strides {:?} for shape {:?}, neither contiguous nor channels-last, expected one of those for the fused \
                 executor (call .contiguous() first, or use Executor::Reference)",
                images.stride(),
                images.size()
            )
        )
    );
    ensure!(
        batch.sample_numel < (1 << 31),
        Error::unsupported(
            "images",
            format!("got {} elements per sample, expected fewer than 2^31 for the fused executor", batch.sample_numel)
        )
    );
    kernel_classes(num_classes).map(|_| ())
}

/// How a launch's threads cover a sample: decided once, by [`build`], and read by both fused executors
/// (the CUDA launcher picks its kernel by it, the host build switches on it, with no default). The twin of
/// `mixcut::Form` in kernels/mix.cuh.
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Form {
    /// One element a thread (no vector fits the batch's alignment or lengths).
    Elements = 0,
    /// Vectors of consecutive elements, in the input's memory order; or the normalising pass's vectors of
    /// NCHW output from channels-last input, every C-th input byte (the CUDA kernels' in rows that hold
    /// whole vectors, the host's at any width: [`Widths::gathers`]).
    Vectors = 1,
    /// The normalising pass's vectors into channels-last output (from channels-last input, or NCHW input of
    /// one channel or one pixel, whose order is the same).
    VectorsChannelsLast = 2,
    /// The normalising pass's pixel vectors: `PIXEL_CHANNELS`-channel channels-last input into NCHW
    /// output, V pixels in every channel.
    Pixels = 3,
    /// The normalising pass's pixel vectors the other way: `PIXEL_CHANNELS`-channel NCHW input into
    /// channels-last output, V pixels of every plane.
    PixelsChannelsLast = 4,
    /// The normalising pass's vectors into channels-last output from NCHW input of any channel count, each
    /// lane's byte read from its channel's plane (the host's only: [`Widths::gathers`]).
    VectorsFromPlanes = 5,
}

impl Form {
    /// Whether a thread takes pixels (its width counts pixels, a sample holds H·W of them), not elements.
    pub(crate) fn takes_pixels(self) -> bool {
        match self {
            Form::Pixels | Form::PixelsChannelsLast => true,
            Form::Elements | Form::Vectors | Form::VectorsChannelsLast | Form::VectorsFromPlanes => false,
        }
    }
}

/// The widths a fused executor can run, widest first: vectors in input bytes (e.g. `[64, 16]` on the
/// host, `[16]` on the GPU, `[4]` for its normalising pass into f32), and pixel vectors in pixels.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Widths<'a> {
    pub vectors: &'a [usize],
    pub pixels: &'a [usize],
    /// Whether the executor takes vectors at any element's address and a sample that ends in a part
    /// vector, its tail (the host: unaligned loads and stores, then 16-byte vectors and single elements);
    /// without, a sample must start aligned and hold whole vectors (the CUDA kernels' 16-byte accesses).
    pub tails: bool,
    /// Whether the executor gathers vectors of the output, across rows and planes, where the normalising
    /// pass changes the memory order, at any channel count: channels-last output from NCHW planes
    /// ([`Form::VectorsFromPlanes`]), and NCHW output from channels-last pixels at any width
    /// ([`Form::Vectors`]). The host does; the CUDA kernels have pixel vectors for `PIXEL_CHANNELS` only,
    /// and take other channel counts one element a thread, or (into NCHW) by rows that hold whole vectors.
    pub gathers: bool,
}

impl Widths<'static> {
    /// The fused CPU executor's widths: 64-byte vectors, else 16-byte ones, at any address, with tails.
    pub(crate) const HOST: Self = Widths { vectors: &[64, 16], pixels: &[64, 16], tails: true, gathers: true };
}

impl Widths<'static> {
    /// The CUDA kernels' widths for `job`: one 16-byte vector of output a thread (16 input bytes for the
    /// mix; for the normalising pass, the uint8 bytes that make 16 bytes of its float output), and in its
    /// `_pixels` and `_pixels_cl` kernels [`GPU_PIXEL_LANES`] pixels of each plane (kernels/mix.cu,
    /// NORM_KERNELS). The
    /// normalising pass has its extended operations (ResizeMix, FMix) only one element a thread
    /// (`mixnorm_<dtype>_scalar_ext`): no widths.
    pub(crate) fn cuda(job: &Job) -> Self {
        if job.normalize.is_some() && job.extended() {
            return Widths { vectors: &[], pixels: &[], tails: false, gathers: false };
        }
        // 16 / the output's size, as a slice that lives as long as the program.
        let vectors: &'static [usize] = match job.normalize.as_ref().map(|norm| norm.out) {
            None | Some(Dtype::U8) => &[16],
            Some(Dtype::F16 | Dtype::Bf16) => &[8],
            Some(Dtype::F32) => &[4],
        };
        Widths { vectors, pixels: &[GPU_PIXEL_LANES], tails: false, gathers: false }
    }
}

/// One fused pass as both executors launch it: the header every launch shares, the form, its width
/// (input bytes a vector; pixels for the pixel forms, [`Form::takes_pixels`]; 0 for elements), and
/// whether it holds extended operations (ResizeMix, FMix: the CUDA launcher's `_ext` kernels).
/// [`Launch::each_block`] gives its argument blocks, one per [`MAX_PAIRS`] pairs.
pub(crate) struct Launch<'j> {
    pub head: MixHead,
    pub form: Form,
    pub width: usize,
    pub extended: bool,
    params: &'j [SampleParams],
}

/// Builds the launch of a job: the form and width ([`form`]), then the header of its argument blocks.
/// `error` is where the kernels store `token` on an out-of-range class index (device-visible memory for
/// CUDA).
pub(crate) fn build<'j>(
    job: &'j Job,
    bufs: &Buffers,
    widths: Widths,
    error: *mut i32,
    token: i32,
) -> Result<Launch<'j>> {
    let src_strides = bufs.src.stride();
    let storage = Storage {
        src: bufs.src.data_ptr(),
        dst: bufs.dst.data_ptr(),
        sample_stride: src_strides[0],
        dst_channels_last: output_channels_last(job, bufs, &src_strides)?,
    };
    let extended = job.extended();
    let (form, width) = form(job, &storage, widths);
    let head = head(job, bufs, &storage, form, width, error, token)?;
    Ok(Launch { head, form, width, extended, params: &job.params })
}

impl Launch<'_> {
    /// Calls `f` with each argument block in turn, in pair order: pairs `[begin, begin + count)` of the
    /// batch, sample `begin + k` first and its partner `n − 1 − begin − k` second. The block is this
    /// thread's, reused by its next call (so `f` must be done with it, as a launch is once the driver
    /// has copied it); entries past `pair_count` hold whatever an earlier launch left, which no kernel reads.
    pub(crate) fn each_block(&self, mut f: impl FnMut(&mut MixArgs) -> Result<()>) -> Result<()> {
        thread_local! {
            static BLOCK: std::cell::Cell<Option<Box<MixArgs>>> = const { std::cell::Cell::new(None) };
        }
        // Taken out of the cell while in use: a nested call on this thread would make a block of its own.
        let mut a = BLOCK.take().unwrap_or_else(zeroed_block);
        let result = self.fill_each(&mut a, &mut f);
        BLOCK.set(Some(a));
        result
    }

    fn fill_each(&self, a: &mut MixArgs, f: &mut impl FnMut(&mut MixArgs) -> Result<()>) -> Result<()> {
        let n = self.params.len();
        let pairs = n.div_ceil(2);
        a.head = self.head;
        for begin in (0..pairs).step_by(MAX_PAIRS) {
            let count = (pairs - begin).min(MAX_PAIRS);
            (a.head.pair_begin, a.head.pair_count) = (begin as i32, count as i32);
            a.first[..count].copy_from_slice(&self.params[begin..begin + count]);
            for (k, second) in a.second[..count].iter_mut().enumerate() {
                *second = self.params[n - 1 - begin - k];
            }
            f(a)?;
        }
        Ok(())
    }
}

/// A block of zeros, made on the heap (9 KB; the stack need not hold it).
fn zeroed_block() -> Box<MixArgs> {
    let layout = std::alloc::Layout::new::<MixArgs>();
    // SAFETY: the layout is MixArgs' own (not zero-sized), as `Box::from_raw` expects of memory from the
    // global allocator; every field of MixArgs is an integer, a float, a raw pointer, an array of those,
    // `Form` (discriminant 0: `Form::Elements`) or `SampleParams`, whose `Op` has 0 for `Op::Keep`: all
    // zero bytes is a valid value.
    unsafe {
        let block = std::alloc::alloc_zeroed(layout).cast::<MixArgs>();
        if block.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        Box::from_raw(block)
    }
}

/// Where the images' pass reads and writes, read from the tensors once a call (each read is a call into
/// libtorch).
struct Storage {
    src: *mut c_void,
    dst: *mut c_void,
    /// Elements between consecutive input samples.
    sample_stride: i64,
    /// Whether the output is stored channels-last ([`output_channels_last`]).
    dst_channels_last: bool,
}

/// Whether the output is stored channels-last: as the normalising pass asks, else as the input (a fresh
/// output of `empty_like` keeps the input's dense strides; anything else is refused rather than written
/// out of bounds).
fn output_channels_last(job: &Job, bufs: &Buffers, src_strides: &[i64]) -> Result<bool> {
    if let Some(norm) = &job.normalize {
        return Ok(norm.channels_last);
    }
    let dst_strides = bufs.dst.stride();
    ensure!(
        dst_strides == src_strides,
        Error::unsupported(
            "images",
            format!("output strides {dst_strides:?} differ from input strides {src_strides:?}")
        )
    );
    Ok(job.batch.layout == Layout::ChannelsLast)
}

/// The form and width of a launch. Vectors run in the same memory order on both sides (NCHW input of one
/// channel, or one pixel, is in channels-last order too); without [`Widths::tails`], every sample must also start on a
/// 16-byte boundary and hold whole vectors (with, it must hold one vector). Normalising between
/// channels-last and NCHW: pixel vectors (`PIXEL_CHANNELS` channels; without tails, input aligned to the
/// vector and planes of whole vectors), else, where the executor gathers ([`Widths::gathers`]), vectors of
/// the output whose lanes read their own input bytes (their channels' planes, or their pixels), else,
/// into NCHW output, output rows that hold whole vectors, the input being read element by element.
fn form(job: &Job, storage: &Storage, widths: Widths) -> (Form, usize) {
    let dst_channels_last = storage.dst_channels_last;
    let batch = &job.batch;
    let size = batch.dtype.size();
    let out_size = job.normalize.as_ref().map_or(size, |norm| norm.out.size());
    let stride = storage.sample_stride as usize;
    let src_at = storage.src as usize;
    let src_channels_last = batch.layout == Layout::ChannelsLast;
    let (h, w) = batch.extent.unwrap_or((1, 1));
    // NCHW input of one channel or one pixel is already in channels-last order. (Such a batch stored
    // channels-last is contiguous too, so the checks call it NCHW: it never comes the other way.)
    let one_order = batch.channels == 1 || h * w == 1;
    let same_order = dst_channels_last == src_channels_last || (dst_channels_last && one_order);
    let dst_aligned = storage.dst as usize % 16 == 0;
    let changes_order = job.normalize.is_some() && !same_order;
    let to_rows = changes_order && src_channels_last;
    let pixels = widths.pixels.iter().copied().find(|&lanes| {
        let (align, plane) = (lanes.min(16), h * w);
        let fits = match widths.tails {
            true => plane >= lanes,
            false => plane % lanes == 0 && src_at % align == 0 && stride % align == 0 && dst_aligned,
        };
        changes_order && batch.channels == PIXEL_CHANNELS && fits
    });
    match pixels {
        Some(lanes) if to_rows => return (Form::Pixels, lanes),
        Some(lanes) => return (Form::PixelsChannelsLast, lanes),
        None => {}
    }
    let gathered = widths.vectors.iter().copied().find(|&lanes| {
        let fits = match widths.tails {
            true => batch.sample_numel >= lanes,
            false => batch.sample_numel % lanes == 0 && dst_aligned,
        };
        changes_order && widths.gathers && fits && (lanes * out_size) % 16 == 0
    });
    match gathered {
        Some(lanes) if to_rows => return (Form::Vectors, lanes),
        Some(lanes) => return (Form::VectorsFromPlanes, lanes),
        None => {}
    }
    let vector = widths.vectors.iter().copied().find(|&bytes| {
        let lanes = bytes / size;
        let same_order_fits = match widths.tails {
            true => batch.sample_numel >= lanes,
            false => {
                (batch.sample_numel * size) % bytes == 0
                    && src_at % 16 == 0
                    && (stride * size) % bytes == 0
                    && dst_aligned
            }
        };
        // Channels-last in, NCHW out: a vector is part of an output row (the input gathered).
        let rows_fit = to_rows && w % lanes == 0 && (widths.tails || dst_aligned);
        ((same_order && same_order_fits) || rows_fit) && (lanes * out_size) % 16 == 0
    });
    match vector {
        None => (Form::Elements, 0),
        Some(bytes) if job.normalize.is_some() && dst_channels_last => (Form::VectorsChannelsLast, bytes),
        Some(bytes) => (Form::Vectors, bytes),
    }
}

/// Class masks as the blocks take them: pointers, vectors a sample and the vector (16 bytes where both
/// views start aligned and a sample is whole vectors, else 1); no masks: nulls.
fn mask_fields(bufs: &Buffers, n: usize) -> (*const u8, *mut u8, i64, i32, i32) {
    let Some(m) = &bufs.masks else { return (std::ptr::null(), std::ptr::null_mut(), 0, 0, 1) };
    let per_sample = m.src.numel() / n.max(1);
    let aligned = m.src.data_ptr() as usize % 16 == 0 && m.dst.data_ptr() as usize % 16 == 0 && per_sample % 16 == 0;
    let vector = if aligned { 16 } else { 1 };
    (
        m.src.data_ptr() as *const u8,
        m.dst.data_ptr() as *mut u8,
        (per_sample / vector) as i64,
        m.bytes as i32,
        vector as i32,
    )
}

/// The normalising pass's per-channel constants as periodic tables (entry k is channel k mod C's); zeros
/// without the pass.
fn norm_tables(job: &Job) -> ([f32; NORM_TABLE], [f32; NORM_TABLE]) {
    let (mut scale, mut shift) = ([0f32; NORM_TABLE], [0f32; NORM_TABLE]);
    if let Some(norm) = &job.normalize {
        let channels = norm.scale.len();
        for k in 0..NORM_TABLE {
            (scale[k], shift[k]) = (norm.scale[k % channels], norm.shift[k % channels]);
        }
    }
    (scale, shift)
}

/// The header every launch of the job shares (its pair range left empty).
fn head(
    job: &Job,
    bufs: &Buffers,
    storage: &Storage,
    form: Form,
    width: usize,
    error: *mut i32,
    token: i32,
) -> Result<MixHead> {
    let batch = &job.batch;
    let lanes = if width == 0 {
        1
    } else if form.takes_pixels() {
        width
    } else {
        width / batch.dtype.size()
    };
    let (h, w) = batch.extent.unwrap_or((1, 1));
    let elements = if form.takes_pixels() { h * w } else { batch.sample_numel };
    let (mask_src, mask_dst, mask_vecs, mask_bytes, mask_vector) = mask_fields(bufs, batch.n);
    let (scale, shift) = norm_tables(job);
    let soft = job.soft_labels;
    Ok(MixHead {
        src: storage.src,
        dst: storage.dst,
        labels: if soft { std::ptr::null() } else { bufs.labels.data_ptr() as *const i64 },
        soft: if soft { bufs.labels.data_ptr() as *const f32 } else { std::ptr::null() },
        targets: bufs.targets.data_ptr() as *mut f32,
        error,
        mask_src,
        mask_dst,
        paste_mask: bufs.paste_mask.map_or(std::ptr::null(), |m| m.data_ptr() as *const u8),
        mask_vecs,
        mask_bytes,
        mask_vector,
        mask_blocks: 0,
        tail: (elements % lanes) as i32,
        sample_stride: storage.sample_stride,
        vecs_per_sample: (elements / lanes) as i64,
        n: batch.n as i32,
        pair_begin: 0,
        pair_count: 0,
        num_classes: kernel_classes(job.num_classes)?,
        channels: batch.channels as i32,
        height: h as i32,
        width: w as i32,
        channels_last: (batch.layout == Layout::ChannelsLast) as i32,
        in_place: job.in_place as i32,
        error_token: token,
        on: job.targets.on,
        off: job.targets.off,
        threshold: job.targets.threshold.unwrap_or(0.0),
        binarize: job.targets.threshold.is_some() as i32,
        dst_channels_last: storage.dst_channels_last as i32,
        form,
        by_channels: FastDiv::new(batch.channels as u32),
        by_height: FastDiv::new(h as u32),
        by_width: FastDiv::new(w as u32),
        scale,
        shift,
    })
}

#[cfg(test)]
mod tests {
    use tch::{Kind, Tensor};

    use super::{build, FastDiv, Form, Widths, MAX_PAIRS};
    use crate::dtype::Dtype;
    use crate::job::params::TargetSpec;
    use crate::job::{Buffers, Job, NormJob};
    use crate::MixPlan;

    /// (vector bytes, pixel vectors, whole vectors a sample) that `build` picks for the normalising pass
    /// of `x` (`[N, C, H, W]`, any memory order) into `out` with the CUDA kernels' `widths` and
    /// `pixel_widths` (no tails), or the host's ([`Widths::HOST`]) when `widths` is empty.
    fn vectors(
        x: &Tensor,
        out: Dtype,
        channels_last: bool,
        widths: &[usize],
        pixel_widths: &[usize],
    ) -> (usize, bool, i64) {
        let (width, pixels, vecs, tail) = launched(x, Some(out), channels_last, widths, pixel_widths);
        assert_eq!(tail, 0, "{widths:?}: whole vectors (the CUDA kernels' widths leave no tail)");
        (width, pixels, vecs)
    }

    /// (width, pixel vectors, whole vectors a sample, tail) of the launch `build` makes for `x`: its mix
    /// (`out` None, output in `x`'s memory order), or its normalising pass into `out`; with the CUDA
    /// kernels' widths (as [`vectors`]), or the host's when `widths` is empty.
    fn launched(
        x: &Tensor,
        out: Option<Dtype>,
        channels_last: bool,
        widths: &[usize],
        pixel_widths: &[usize],
    ) -> (usize, bool, i64, i32) {
        let (width, form, vecs, tail) = launched_form(x, out, channels_last, widths, pixel_widths);
        (width, form.takes_pixels(), vecs, tail)
    }

    /// [`launched`] with the launch's form.
    fn launched_form(
        x: &Tensor,
        out: Option<Dtype>,
        channels_last: bool,
        widths: &[usize],
        pixel_widths: &[usize],
    ) -> (usize, Form, i64, i32) {
        let batch = crate::check::images(x, true).unwrap();
        let (n, c) = (batch.n, batch.channels);
        let mut job = Job::new(&MixPlan::identity(n, batch.extent), &batch, false, 10, TargetSpec::plain(), false);
        job.normalize = out.map(|out| NormJob { out, channels_last, scale: vec![1.0; c], shift: vec![0.0; c] });
        let s = x.size();
        let dst = match out {
            None => x.empty_like(),
            Some(out) if channels_last => {
                Tensor::empty([s[0], s[2], s[3], s[1]], (out.kind(), x.device())).permute([0, 3, 1, 2])
            }
            Some(out) => Tensor::empty(s.as_slice(), (out.kind(), x.device())),
        };
        let (labels, targets) =
            (Tensor::zeros([n as i64], (Kind::Int64, x.device())), Tensor::zeros([n as i64, 10], tch::kind::FLOAT_CPU));
        let bufs = Buffers { src: x, dst: &dst, labels: &labels, targets: &targets, masks: None, paste_mask: None };
        let widths = match widths.is_empty() {
            true => Widths::HOST,
            false => Widths { vectors: widths, pixels: pixel_widths, tails: false, gathers: false },
        };
        let launch = build(&job, &bufs, widths, std::ptr::null_mut(), 0).unwrap();
        (launch.width, launch.form, launch.head.vecs_per_sample, launch.head.tail)
    }

    /// `[N, H, W, C]` uint8 as the `[N, C, H, W]` channels-last view the executors take, starting `offset`
    /// bytes into its allocation.
    fn nhwc(n: i64, c: i64, h: i64, w: i64, offset: i64) -> Tensor {
        let numel = n * c * h * w;
        Tensor::zeros([numel + offset], (Kind::Uint8, tch::Device::Cpu))
            .narrow(0, offset, numel)
            .view([n, h, w, c])
            .permute([0, 3, 1, 2])
    }

    #[test]
    fn nhwc_into_nchw_takes_pixel_vectors_for_three_aligned_channels_else_rows_or_elements() {
        // As the CUDA executor into bf16 (8-byte vectors of input, 4 pixels a pixel vector) and the host.
        let (gpu, gpu_pixels, host) = (&[16 / Dtype::Bf16.size()][..], &[4][..], &[][..]);
        // Three channels, planes of whole vectors: V pixels in every plane, H·W / V vectors a sample.
        assert_eq!(vectors(&nhwc(4, 3, 8, 8, 0), Dtype::Bf16, false, gpu, gpu_pixels), (4, true, 16));
        assert_eq!(vectors(&nhwc(4, 3, 5, 8, 0), Dtype::F32, false, &[4], gpu_pixels), (4, true, 10));
        assert_eq!(vectors(&nhwc(2, 3, 8, 8, 0), Dtype::F32, false, host, host), (64, true, 1));
        assert_eq!(vectors(&nhwc(2, 3, 4, 8, 0), Dtype::F32, false, host, host), (16, true, 2));
        // Planes of 15 pixels: neither form, elements.
        assert_eq!(vectors(&nhwc(4, 3, 3, 5, 0), Dtype::Bf16, false, gpu, gpu_pixels), (0, false, 45));
        // Off alignment by one byte: no pixel vectors; rows of whole vectors still gather their bytes.
        assert_eq!(vectors(&nhwc(4, 3, 8, 8, 1), Dtype::Bf16, false, gpu, gpu_pixels), (8, false, 24));
        assert_eq!(vectors(&nhwc(4, 3, 4, 6, 1), Dtype::F32, false, &[4], gpu_pixels), (0, false, 72));
        // Four channels: rows of whole vectors, every C-th byte, C·H·W / V vectors.
        assert_eq!(vectors(&nhwc(3, 4, 2, 64, 0), Dtype::Bf16, false, gpu, gpu_pixels), (8, false, 64));
        // Channels-last output keeps the input's order: plain vectors.
        assert_eq!(vectors(&nhwc(4, 3, 8, 8, 0), Dtype::Bf16, true, gpu, gpu_pixels), (8, false, 24));
    }

    /// NHWC uint8 into NCHW output where no pixel vector goes (other channel counts, 3 channels in planes
    /// under the narrowest pixel vector): the host gathers vectors of the output from the pixels at any
    /// width, with a tail; the GPU takes rows of whole vectors, else elements.
    #[test]
    fn nhwc_into_nchw_gathers_vectors_from_the_pixels_on_the_host() {
        let into =
            |x: &Tensor, widths: &[usize], pixels: &[usize]| launched_form(x, Some(Dtype::F32), false, widths, pixels);
        let (gpu, gpu_pixels, host) = (&[4][..], &[4][..], &[][..]);
        let gathered = Form::Vectors;
        // Four channels, rows of 9 pixels: 180 elements, two vectors of 64 and 52 of tail; the GPU's
        // vectors do not fit the rows.
        assert_eq!(into(&nhwc(3, 4, 5, 9, 0), host, host), (64, gathered, 2, 52));
        assert_eq!(into(&nhwc(3, 4, 5, 9, 0), gpu, gpu_pixels), (0, Form::Elements, 180, 0));
        // Rows of whole vectors, one byte off: gathered on the host too; the GPU's rows.
        assert_eq!(into(&nhwc(2, 4, 2, 64, 1), host, host), (64, gathered, 8, 0));
        assert_eq!(into(&nhwc(2, 4, 2, 64, 1), gpu, gpu_pixels), (4, Form::Vectors, 128, 0));
        // Three channels in planes of 15 pixels: 45 elements, two vectors of 16 and 13 of tail.
        assert_eq!(into(&nhwc(4, 3, 3, 5, 0), host, host), (16, gathered, 2, 13));
        // Under 16 elements a sample: elements.
        assert_eq!(into(&nhwc(4, 5, 1, 3, 0), host, host), (0, Form::Elements, 15, 0));
    }

    /// NCHW uint8 into channels-last output: pixel vectors from the planes for three channels (on the GPU
    /// where the planes are whole vectors, on the host in any plane of at least one vector, with a tail of
    /// pixels), else on the host output vectors gathered from the planes, on the GPU elements; one
    /// channel, or one pixel, is the same memory order either way: plain vectors.
    #[test]
    fn nchw_into_channels_last_takes_pixel_vectors_from_three_planes_else_gathers_on_the_host() {
        let nchw = |c: i64, h: i64, w: i64| Tensor::zeros([2, c, h, w], (Kind::Uint8, tch::Device::Cpu));
        let into = |x: &Tensor, out: Dtype, widths: &[usize], pixels: &[usize]| {
            launched_form(x, Some(out), true, widths, pixels)
        };
        let (gpu_bf16, gpu_f32, gpu_pixels, host) = (&[8][..], &[4][..], &[4][..], &[][..]);
        let planes = Form::PixelsChannelsLast;
        assert_eq!(into(&nchw(3, 8, 8), Dtype::Bf16, gpu_bf16, gpu_pixels), (4, planes, 16, 0));
        assert_eq!(into(&nchw(3, 8, 8), Dtype::F32, host, host), (64, planes, 1, 0));
        // 121 pixels a plane: one vector of 64 and 57 pixels of tail on the host, elements on the GPU.
        assert_eq!(into(&nchw(3, 11, 11), Dtype::F32, host, host), (64, planes, 1, 57));
        assert_eq!(into(&nchw(3, 11, 11), Dtype::F32, gpu_f32, gpu_pixels), (0, Form::Elements, 363, 0));
        // One byte off alignment: elements on the GPU, pixel vectors on the host.
        let numel = 2 * 3 * 8 * 8;
        let off = Tensor::zeros([numel + 1], (Kind::Uint8, tch::Device::Cpu)).narrow(0, 1, numel).view([2, 3, 8, 8]);
        assert_eq!(into(&off, Dtype::Bf16, gpu_bf16, gpu_pixels), (0, Form::Elements, 192, 0));
        assert_eq!(into(&off, Dtype::Bf16, host, host), (64, planes, 1, 0));
        // Four channels: the host gathers vectors of the output from the planes, the GPU takes elements.
        let gathered = Form::VectorsFromPlanes;
        assert_eq!(into(&nchw(4, 8, 8), Dtype::F32, host, host), (64, gathered, 4, 0));
        assert_eq!(into(&nchw(4, 8, 8), Dtype::F32, gpu_f32, gpu_pixels), (0, Form::Elements, 256, 0));
        // Three channels in planes of 9 pixels, under the host's narrowest pixel vector: gathered too, one
        // vector of 16 and 11 elements of tail.
        assert_eq!(into(&nchw(3, 3, 3), Dtype::Bf16, host, host), (16, gathered, 1, 11));
        // One channel, or one pixel: the input's vectors as they are.
        assert_eq!(into(&nchw(1, 8, 8), Dtype::F32, gpu_f32, gpu_pixels), (4, Form::VectorsChannelsLast, 16, 0));
        assert_eq!(into(&nchw(1, 8, 8), Dtype::Bf16, host, host), (64, Form::VectorsChannelsLast, 1, 0));
        assert_eq!(into(&nchw(16, 1, 1), Dtype::F32, host, host), (16, Form::VectorsChannelsLast, 1, 0));
    }

    /// A sample that is not whole vectors, or starts off their alignment: the CUDA kernels' widths take it
    /// one element a thread; the host's take its whole vectors and leave the rest as the tail (a sample
    /// under one vector: the narrower one, else elements).
    #[test]
    fn the_host_takes_whole_vectors_and_a_tail_where_the_gpu_takes_elements() {
        let gpu: &[usize] = &[16];
        let odd = |kind: Kind| Tensor::zeros([4, 3, 11, 11], (kind, tch::Device::Cpu));
        // 363 elements: u8 5 vectors of 64 + 43; f32 22 of 16 lanes + 11; every sample starts anywhere.
        assert_eq!(launched(&odd(Kind::Uint8), None, false, gpu, &[]), (0, false, 363, 0));
        assert_eq!(launched(&odd(Kind::Uint8), None, false, &[], &[]), (64, false, 5, 43));
        assert_eq!(launched(&odd(Kind::Float), None, false, gpu, &[]), (0, false, 363, 0));
        assert_eq!(launched(&odd(Kind::Float), None, false, &[], &[]), (64, false, 22, 11));
        // One element off the allocation's start: whole vectors all the same, on the host alone.
        let off =
            Tensor::zeros([4 * 3 * 8 * 8 + 1], tch::kind::FLOAT_CPU).narrow(0, 1, 4 * 3 * 8 * 8).view([4, 3, 8, 8]);
        assert_eq!(launched(&off, None, false, gpu, &[]), (0, false, 192, 0));
        assert_eq!(launched(&off, None, false, &[], &[]), (64, false, 12, 0));
        // Under 64 bytes: 16-byte vectors, 3 and a tail of 2; under 16 bytes: elements.
        let small = |w: i64| Tensor::zeros([2, 1, 1, w], tch::kind::FLOAT_CPU);
        assert_eq!(launched(&small(14), None, false, &[], &[]), (16, false, 3, 2));
        assert_eq!(launched(&small(3), None, false, &[], &[]), (0, false, 3, 0));
        // The normalising pass: NCHW in and out, 5 vectors of 64 input bytes and a tail of 43; NHWC in,
        // NCHW out, 121 pixels a plane: one vector of 64 pixels and a tail of 57 pixels.
        assert_eq!(launched(&odd(Kind::Uint8), Some(Dtype::F32), false, &[], &[]), (64, false, 5, 43));
        assert_eq!(launched(&nhwc(4, 3, 11, 11, 1), Some(Dtype::Bf16), false, &[], &[]), (64, true, 1, 57));
        assert_eq!(vectors(&nhwc(4, 3, 11, 11, 1), Dtype::Bf16, false, &[8], &[4]), (0, false, 363));
        // Channels-last in and out: 5 vectors and a tail of 43 on the host, elements on the GPU.
        assert_eq!(launched(&nhwc(4, 3, 11, 11, 0), Some(Dtype::F32), true, &[], &[]), (64, false, 5, 43));
        assert_eq!(vectors(&nhwc(4, 3, 11, 11, 0), Dtype::F32, true, &[4], &[4]), (0, false, 363));
        // Four channels NHWC into NCHW: 64-byte vectors gathered from the pixels on the host, 8 a sample.
        assert_eq!(launched(&nhwc(2, 4, 2, 64, 3), Some(Dtype::F32), false, &[], &[]), (64, false, 8, 0));
    }

    /// The CUDA kernels have the extended operations' normalising pass one element a thread only: their
    /// widths for such a job are none, and `build` gives it elements; the host's take vectors.
    #[test]
    fn the_gpu_takes_the_familys_normalising_pass_one_element_a_thread() {
        let x = nhwc(2, 3, 8, 8, 0);
        let batch = crate::check::images(&x, true).unwrap();
        let mut plan = MixPlan::identity(2, batch.extent);
        plan.ops[0] = crate::MixOp::ResizeMix { bbox: crate::CutBox { y0: 1, y1: 5, x0: 2, x1: 7 }, lam: 0.5 };
        let mut job = Job::new(&plan, &batch, false, 10, TargetSpec::plain(), false);
        job.normalize =
            Some(NormJob { out: Dtype::F32, channels_last: false, scale: vec![1.0; 3], shift: vec![0.0; 3] });
        let (labels, targets) =
            (Tensor::zeros([2], tch::kind::INT64_CPU), Tensor::zeros([2, 10], tch::kind::FLOAT_CPU));
        let dst = Tensor::empty([2, 3, 8, 8], tch::kind::FLOAT_CPU);
        let bufs = Buffers { src: &x, dst: &dst, labels: &labels, targets: &targets, masks: None, paste_mask: None };
        let gpu = Widths::cuda(&job);
        assert!(gpu.vectors.is_empty() && gpu.pixels.is_empty() && !gpu.tails, "{gpu:?}");
        let launch = build(&job, &bufs, gpu, std::ptr::null_mut(), 0).unwrap();
        assert_eq!((launch.form, launch.width, launch.extended), (Form::Elements, 0, true));
        let launch = build(&job, &bufs, Widths::HOST, std::ptr::null_mut(), 0).unwrap();
        assert_eq!((launch.form, launch.width, launch.head.vecs_per_sample), (Form::Pixels, 64, 1));
    }

    /// A batch of 2·MAX_PAIRS + 3 samples: two blocks (the last one of 2 pairs), sample i first and its
    /// partner n − 1 − i second (the middle sample of an odd batch its own partner), in pair order; a
    /// call nested in `f` gets a block of its own and leaves the outer one as it was.
    #[test]
    fn each_block_gives_every_pair_once_in_order_and_nests() {
        let n = 2 * MAX_PAIRS + 3;
        let x = Tensor::zeros([n as i64, 1, 2, 2], tch::kind::FLOAT_CPU);
        let batch = crate::check::images(&x, false).unwrap();
        let mut job = Job::new(&MixPlan::identity(n, batch.extent), &batch, false, 10, TargetSpec::plain(), false);
        for (i, p) in job.params.iter_mut().enumerate() {
            p.x0 = i as i32; // tags each sample
        }
        let (labels, targets) =
            (Tensor::zeros([n as i64], tch::kind::INT64_CPU), Tensor::zeros([n as i64, 10], tch::kind::FLOAT_CPU));
        let bufs = Buffers { src: &x, dst: &x, labels: &labels, targets: &targets, masks: None, paste_mask: None };
        let widths = Widths { vectors: &[16], pixels: &[], tails: false, gathers: false };
        let launch = build(&job, &bufs, widths, std::ptr::null_mut(), 0).unwrap();
        let (mut blocks, mut pairs) = (Vec::new(), Vec::new());
        launch
            .each_block(|a| {
                let (begin, count) = (a.head.pair_begin as usize, a.head.pair_count as usize);
                blocks.push((begin, count));
                pairs.extend((0..count).map(|k| (a.first[k].x0, a.second[k].x0)));
                launch
                    .each_block(|inner| {
                        inner.first[0].x0 = -1;
                        Ok(())
                    })
                    .unwrap();
                assert_eq!(a.first[0].x0, begin as i32, "the nested call wrote into this block");
                Ok(())
            })
            .unwrap();
        assert_eq!(blocks, [(0, MAX_PAIRS), (MAX_PAIRS, 2)]);
        let expected: Vec<(i32, i32)> = (0..n.div_ceil(2)).map(|i| (i as i32, (n - 1 - i) as i32)).collect();
        assert_eq!(pairs, expected);
    }

    /// Every divisor up to 2^12 and around each power of two, against dividends at the ends of the range,
    /// around multiples of the divisor and spread over [0, 2^31).
    #[test]
    fn fast_division_is_exact_below_2_pow_31() {
        let top = (1u32 << 31) - 1;
        let mut divisors: Vec<u32> = (1..=4096).collect();
        for k in 12..31 {
            divisors.extend([(1u32 << k) - 1, 1 << k, (1 << k) + 1, (1 << k) / 3 * 2 + 1]);
        }
        divisors.extend([top, top - 1, 150_528, 224 * 224, 224 * 3]);
        for d in divisors {
            let f = FastDiv::new(d);
            let last = top / d * d; // the largest multiple of d in range
            let mut dividends: Vec<u32> = vec![0, 1, d - 1, d, top, top - 1, last, last - 1];
            dividends.extend((0..64u32).map(|k| k.wrapping_mul(0x9E37_79B9) >> 1));
            dividends
                .extend((1..=16u32).filter_map(|m| m.checked_mul(d)).flat_map(|x| [x - 1, x]).filter(|&n| n <= top));
            for n in dividends.into_iter().filter(|&n| n <= top) {
                assert_eq!(f.divide(n), n / d, "{n} / {d} with {f:?}");
            }
        }
        assert_eq!(FastDiv::new(0), FastDiv::new(1));
    }
}
