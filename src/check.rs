//! Input validation shared by every executor: it runs once, before any tensor is touched, so a refused
//! call leaves the caller's tensors exactly as they were.

use tch::{Kind, Tensor};

use crate::dtype::Dtype;
use crate::error::{ensure, Error, Result};
use crate::job::{BatchSpec, Labels, Layout, NormJob};
use crate::normalize::{InputLayout, Normalize};
use crate::plan::MixPlan;

/// Whether `kind` is a real floating-point dtype.
pub(crate) fn is_float(kind: Kind) -> bool {
    matches!(kind, Kind::Float | Kind::Half | Kind::BFloat16 | Kind::Double)
}

/// Checks `images` and returns its description.
pub(crate) fn images(images: &Tensor, cutmix: bool) -> Result<BatchSpec> {
    let bad = |message: String| Error::InvalidImages(message);
    ensure!(images.defined(), bad("got an undefined tensor, expected a batch [N, ...]".into()));
    let shape = images.size();
    ensure!(
        shape.len() >= 2,
        bad(format!("got shape {shape:?} (rank {}), expected rank >= 2 ([N, ...])", shape.len()))
    );
    let kind = images.f_kind()?;
    let Some(dtype) = Dtype::of(kind) else {
        let hint = if kind == Kind::Double {
            " (convert: .to_kind(Kind::Float), or Kind::Uint8 pixel values for the normalising pass)"
        } else {
            ""
        };
        return Err(bad(format!("got dtype {kind:?}, expected one of {}{hint}", Dtype::accepted())));
    };
    ensure!(
        !images.is_sparse() && !images.is_mkldnn(),
        bad("got a sparse or mkldnn tensor, expected a dense strided tensor".into())
    );
    let n = shape[0] as usize;
    ensure!(n >= 1, bad(format!("got an empty batch (shape {shape:?}), expected N >= 1")));
    let sample_numel: usize = shape[1..].iter().product::<i64>() as usize;
    ensure!(sample_numel >= 1, bad(format!("got shape {shape:?} with empty samples, expected every dim >= 1")));
    if let Some(why) = past_plan_limits(&shape) {
        return Err(bad(format!("got shape {shape:?} {why}")));
    }
    let extent = extent(&shape);
    ensure!(
        !cutmix || extent.is_some(),
        bad(format!("got shape {shape:?} with CutMix enabled, expected [N, C, H, W] (a box) or [N, C, T] (a segment)"))
    );
    let channels = if extent.is_some() { shape[1] as usize } else { 1 };
    Ok(BatchSpec { n, dtype, device: images.device(), layout: layout(images), extent, channels, sample_numel })
}

/// Checks a batch shape `[N, ...]` before a plan is sampled for it (every dim at least 1, an element count
/// that fits in i64, N and the box extent within [`MixPlan`]'s limits); returns N and the box extent.
pub(crate) fn shape(shape: &[i64]) -> Result<(usize, Option<(usize, usize)>)> {
    let bad = |expected: String| Error::argument("shape", format!("got {shape:?}, expected {expected}"));
    ensure!(!shape.is_empty(), bad("[N, ...] with N >= 1".into()));
    ensure!(shape.iter().all(|&d| d >= 1), bad("every dim >= 1 ([N, ...] with N >= 1 and non-empty samples)".into()));
    ensure!(
        shape.iter().try_fold(1i64, |count, &d| count.checked_mul(d)).is_some(),
        bad(format!("at most {} elements in all", i64::MAX))
    );
    if let Some(why) = past_plan_limits(shape) {
        return Err(Error::argument("shape", format!("got {shape:?} {why}")));
    }
    Ok((shape[0] as usize, extent(shape)))
}

/// Why a shape of positive dims is past what a plan holds ([`MixPlan::MAX_LEN`] samples, boxes in at most
/// [`MixPlan::MAX_EXTENT`] rows and columns), as "with …, expected …"; `None` where it is within.
fn past_plan_limits(shape: &[i64]) -> Option<String> {
    let n = shape[0] as u64;
    if n > MixPlan::MAX_LEN as u64 {
        return Some(format!("with N = {n}, expected at most MixPlan::MAX_LEN = {} samples", MixPlan::MAX_LEN));
    }
    let (h, w) = extent(shape)?;
    (h.max(w) > MixPlan::MAX_EXTENT).then(|| {
        format!("with a box extent of {h}x{w}, expected at most MixPlan::MAX_EXTENT = {} a side", MixPlan::MAX_EXTENT)
    })
}

/// The `(height, width)` CutMix boxes live in: `(H, W)` for `[N, C, H, W]`, `(1, T)` for `[N, C, T]`.
pub(crate) fn extent(shape: &[i64]) -> Option<(usize, usize)> {
    match shape.len() {
        4 => Some((shape[2] as usize, shape[3] as usize)),
        3 => Some((1, shape[2] as usize)),
        _ => None,
    }
}

/// Checks `labels` against the batch: shape, dtype, device; not the values (see [`label_range`]).
pub(crate) fn labels(labels: &Tensor, batch: &BatchSpec, num_classes: i64) -> Result<Labels> {
    let bad = |message: String| Error::InvalidLabels(message);
    ensure!(labels.defined(), bad("got an undefined tensor, expected int64 [N] or float [N, num_classes]".into()));
    let shape = labels.size();
    let kind = labels.f_kind()?;
    ensure!(
        labels.device() == batch.device,
        bad(format!("on {:?} but images on {:?}, expected both on the same device", labels.device(), batch.device))
    );
    let encoding = match (shape.len(), kind) {
        (1, Kind::Int64) => Labels::Indices,
        (2, k) if is_float(k) => Labels::Soft,
        (1, k) => {
            return Err(bad(format!("got class indices of dtype {k:?}, expected Int64 (use .to_kind(Kind::Int64))")))
        }
        _ => {
            return Err(bad(format!(
                "got shape {shape:?} dtype {kind:?}, expected int64 [N] or float [N, num_classes]"
            )))
        }
    };
    ensure!(
        shape[0] as usize == batch.n,
        bad(format!("got batch size {} (shape {shape:?}), expected {} as in images", shape[0], batch.n))
    );
    ensure!(
        encoding == Labels::Indices || shape[1] == num_classes,
        bad(format!("got soft targets of width {} (shape {shape:?}), expected num_classes = {num_classes}", shape[1]))
    );
    targets_fit(batch.n, num_classes)?;
    Ok(encoding)
}

/// Checks that float32 targets `[n, num_classes]` can be addressed: a count the configuration accepted, yet
/// past the address space for this batch, is refused here instead of failing inside libtorch.
pub(crate) fn targets_fit(n: usize, num_classes: i64) -> Result<()> {
    let most = isize::MAX as u64 / 4 / n.max(1) as u64;
    ensure!(
        num_classes as u64 <= most,
        Error::config(
            "num_classes",
            format!("got {num_classes}, expected at most {most} for a batch of {n} (targets [N, num_classes] float32)")
        )
    );
    Ok(())
}

/// Checks class-index values lie in `[0, num_classes)` (none is fine). Reads the least and the greatest
/// back in one copy, so on a GPU it waits for the labels; the fused CUDA path checks on the device instead.
pub(crate) fn label_range(labels: &Tensor, num_classes: i64) -> Result<()> {
    if labels.numel() == 0 {
        return Ok(());
    }
    let (lo, hi) = labels.f_aminmax(None, false)?;
    let ends = Tensor::f_stack(&[lo, hi], 0)?.f_to_device(tch::Device::Cpu)?;
    let (lo, hi) = (ends.f_int64_value(&[0])?, ends.f_int64_value(&[1])?);
    ensure!(
        lo >= 0 && hi < num_classes,
        Error::LabelsOutOfRange { num_classes, found: Some((lo, hi)), device: labels.device() }
    );
    Ok(())
}

/// Checks a normalising call: uint8 `[N, C, H, W]` images and options that fit them.
pub(crate) fn normalizing(batch: &BatchSpec, images: &Tensor, norm: &Normalize) -> Result<NormJob> {
    ensure!(
        batch.dtype == Dtype::U8,
        Error::InvalidImages(format!("got dtype {:?}, expected Uint8 for the normalising pass", batch.dtype.kind()))
    );
    ensure!(
        images.dim() == 4,
        Error::InvalidImages(format!(
            "got shape {:?}, expected [N, C, H, W] (or [N, H, W, C] with InputLayout::Nhwc) for the normalising pass",
            images.size()
        ))
    );
    let shape = images.size();
    let channels = norm.mean.len();
    ensure!(
        norm.input == InputLayout::Nhwc || batch.channels == channels || shape[3] as usize != channels,
        Error::argument(
            "input",
            format!(
                "got InputLayout::Nchw for images of shape {shape:?}, whose last dim holds as many values as mean \
                 ({channels}): expected InputLayout::Nhwc for [N, H, W, C] batches (tch_mixcut::data's, a decoder's)"
            )
        )
    );
    let (out, (scale, shift)) = norm.validate(batch.channels)?;
    Ok(NormJob { out, channels_last: norm.channels_last, scale, shift })
}

/// Checks that `images` may be written in place.
pub(crate) fn in_place(images: &Tensor) -> Result<()> {
    ensure!(
        !images.requires_grad(),
        Error::InvalidImages(
            "got a tensor that requires grad, expected one without (mix in place before autograd sees it, or use \
             apply() for an out-of-place result)"
                .into()
        )
    );
    let (shape, stride) = (images.size(), images.stride());
    ensure!(
        !overlapping(&shape, &stride),
        Error::InvalidImages(format!(
            "got strides {stride:?} for shape {shape:?} (expanded, overlapping memory), expected a tensor that owns its elements"
        ))
    );
    Ok(())
}

/// Checks that `labels` share no memory with `images`, which this call writes in place: the fused executors
/// read the labels after the images' pass, the reference before it, so an alias would give targets that
/// depend on the executor.
pub(crate) fn labels_apart(labels: &Tensor, images: &Tensor) -> Result<()> {
    ensure!(
        !share_memory(labels, images),
        Error::InvalidLabels(format!(
            "got {:?} {:?} in memory the images span, expected labels of their own when the images are mixed in \
             place (pass a copy, or mix out of place)",
            labels.size(),
            labels.f_kind()?
        ))
    );
    Ok(())
}

/// Checks that segmentation `masks` share no memory with `images` when both are written in place.
pub(crate) fn masks_apart(masks: &Tensor, images: &Tensor) -> Result<()> {
    ensure!(
        !share_memory(masks, images),
        Error::argument(
            "masks",
            format!(
                "got {:?} {:?} in memory the images span, expected masks of their own when both are mixed in place \
                 (pass a copy, or mix out of place)",
                masks.size(),
                masks.f_kind()?
            )
        )
    );
    Ok(())
}

/// Whether the byte ranges two tensors' elements span on the same device intersect. Conservative: two
/// views that interleave without sharing an element (even and odd columns) count as sharing.
fn share_memory(a: &Tensor, b: &Tensor) -> bool {
    match (byte_span(a), byte_span(b)) {
        (Some((a0, a1)), Some((b0, b1))) => a.device() == b.device() && a0 < b1 && b0 < a1,
        _ => false,
    }
}

/// The bytes `[start, end)` a tensor's elements span (`None` for no elements), from its first element's
/// address, sizes, strides and element size; a `view_dtype` alias spans the same bytes as its source.
fn byte_span(t: &Tensor) -> Option<(usize, usize)> {
    if !t.defined() {
        return None;
    }
    let shape = t.size();
    if shape.contains(&0) {
        return None;
    }
    let kind = t.f_kind().ok()?;
    let elem = kind.elt_size_in_bytes() as i128;
    let (mut low, mut high) = (0i128, 0i128); // offsets of the lowest and highest element, in elements
    for (&size, &stride) in shape.iter().zip(&t.stride()) {
        let reach = stride as i128 * (size as i128 - 1);
        if reach < 0 {
            low += reach;
        } else {
            high += reach;
        }
    }
    let first = t.data_ptr() as usize as i128;
    Some(((first + low * elem) as usize, (first + (high + 1) * elem) as usize))
}

/// Whether two indices of a tensor of this shape and these strides address the same element: sorted by
/// stride, each dim of more than one element must step past everything the smaller dims span.
fn overlapping(shape: &[i64], stride: &[i64]) -> bool {
    let mut dims: Vec<(i64, i64)> = stride.iter().zip(shape).filter(|(_, &s)| s > 1).map(|(&st, &s)| (st, s)).collect();
    dims.sort_unstable();
    let mut span = 1; // elements covered by the dims so far, as offsets 0..span
    for (st, s) in dims {
        if st < span {
            return true;
        }
        span += st * (s - 1);
    }
    false
}

/// Dense per-sample layouts that the fused executors handle, from shape and strides (size-1 dims ignored).
fn layout(t: &Tensor) -> Layout {
    if t.is_contiguous() {
        return Layout::Contiguous;
    }
    let (shape, stride) = (t.size(), t.stride());
    if shape.len() < 3 {
        return Layout::Strided;
    }
    // Channels-last: the channel dim (1) innermost, then the trailing dims from last to first, then N.
    let mut order: Vec<usize> = vec![1];
    order.extend((2..shape.len()).rev());
    order.push(0);
    let mut expected = 1i64;
    for &d in &order {
        if shape[d] != 1 && stride[d] != expected {
            return Layout::Strided;
        }
        expected *= shape[d];
    }
    Layout::ChannelsLast
}

#[cfg(test)]
mod tests {
    use super::overlapping;

    #[test]
    fn overlap_is_found_for_expanded_and_self_overlapping_strides_only() {
        assert!(!overlapping(&[4, 3, 8, 8], &[192, 64, 8, 1])); // contiguous
        assert!(!overlapping(&[4, 3, 8, 8], &[192, 1, 24, 3])); // channels-last
        assert!(!overlapping(&[4, 3, 8, 8], &[400, 100, 10, 1])); // padded rows: gaps, no overlap
        assert!(!overlapping(&[1, 5], &[0, 1])); // a size-1 dim may have any stride
        assert!(overlapping(&[4, 3], &[0, 1])); // expanded
        assert!(overlapping(&[4, 3], &[2, 1])); // rows overlap by one element (as_strided)
        assert!(overlapping(&[2, 2, 2], &[2, 1, 1]));
    }
}
