//! The reference executor: the plan applied with batched tch ops. Runs on any device libtorch supports,
//! is differentiable, and is the oracle the fused kernels are tested against.

use tch::{Kind, Tensor};

use crate::dtype::Dtype;
use crate::error::Result;
use crate::fallible::{self, one_hot, scalar_on};
use crate::job::params::SampleParams;
use crate::job::{Job, NormJob};

/// Runs the job: its targets first (they read the labels before anything is written), then the images,
/// in place (the input itself returned) or into a new tensor. A job without targets (`num_classes` 0)
/// gets `[N, 0]`. `paste_mask`: FMix's (`exec::fmix`), where the job has FMix samples.
pub(crate) fn run(
    job: &Job,
    images: &Tensor,
    labels: &Tensor,
    paste_mask: Option<&Tensor>,
) -> Result<(Tensor, Tensor)> {
    let targets = if job.num_classes == 0 {
        Tensor::f_empty([job.batch.n as i64, 0], (Kind::Float, job.batch.device))?
    } else {
        self::targets(job, labels)?
    };
    let out = match (&job.normalize, job.in_place) {
        (Some(_), _) => normalized(job, images, paste_mask)?,
        (None, true) => {
            // A shallow clone shares the caller's storage: this writes the caller's tensor.
            images.shallow_clone().f_copy_(&self::images(job, images, paste_mask)?)?;
            images.shallow_clone()
        }
        (None, false) => self::images(job, images, paste_mask)?,
    };
    Ok((out, targets))
}

/// A per-sample column broadcast over the trailing `rank - 1` dims.
fn per_sample<T: tch::kind::Element + Copy>(
    params: &[SampleParams],
    f: impl Fn(&SampleParams) -> T,
    rank: usize,
    job: &Job,
) -> Result<Tensor> {
    let mut shape = vec![1i64; rank];
    shape[0] = params.len() as i64;
    let values: Vec<T> = params.iter().map(f).collect();
    Ok(fallible::upload(&values, job.batch.device)?.f_reshape(shape.as_slice())?)
}

/// A new tensor (same layout) holding `t`'s values: never an alias of a caller's tensor.
fn fresh_copy(t: &Tensor) -> Result<Tensor> {
    let mut out = t.f_empty_like()?;
    out.f_copy_(t)?;
    Ok(out)
}

/// The Mixup samples' blend `fl(fl(a·λ) + fl(b·(1−λ)))` in f32 (for every sample; use it where the op is
/// Mixup), and the mask of those samples; `None` when the plan has no Mixup.
fn mixup_f32(job: &Job, images: &Tensor, partner: &Tensor) -> Result<Option<(Tensor, Tensor)>> {
    let (p, rank) = (&job.params, images.dim());
    if !job.blends() {
        return Ok(None);
    }
    let w_self = per_sample(p, |s| s.w_self, rank, job)?;
    let w_other = per_sample(p, |s| s.w_other, rank, job)?;
    let (a, b) = (images.f_to_kind(Kind::Float)?, partner.f_to_kind(Kind::Float)?);
    let mixed = a.f_mul(&w_self)?.f_add(&b.f_mul(&w_other)?)?;
    Ok(Some((mixed, per_sample(p, |s| s.op.blends(), rank, job)?)))
}

/// On the CPU, every NaN of a blend, stored in `dtype`, becomes the one quiet NaN the fused CPU executor
/// gives it (`0x7fc00000`, f16 `0x7e00`, bf16 `0x7fc0`): which NaN a sum returns depends on the operand
/// order, and libtorch's vectorised bf16 conversion writes `0xffff`, so both sides fix one. On CUDA both
/// executors take the GPU's own NaN. Images and targets (f32) alike.
fn quiet_nan(device: tch::Device, dtype: Dtype, mixed: Tensor) -> Result<Tensor> {
    let bits = |v: i64, raw: Kind, kind: Kind| -> Result<Option<Tensor>> {
        Ok(Some(Tensor::f_from_slice(&[v])?.f_to_kind(raw)?.f_view_dtype(kind)?))
    };
    let quiet = match dtype {
        _ if device != tch::Device::Cpu => None,
        Dtype::F32 => bits(0x7fc0_0000, Kind::Int, Kind::Float)?,
        Dtype::F16 => bits(0x7e00, Kind::Int16, Kind::Half)?,
        Dtype::Bf16 => bits(0x7fc0, Kind::Int16, Kind::BFloat16)?,
        Dtype::U8 => None, // no NaN
    };
    match quiet {
        Some(quiet) => Ok(quiet.f_where_self(&mixed.f_isnan()?, &mixed)?),
        None => Ok(mixed),
    }
}

/// Where the box samples (CutMix, ResizeMix) take pasted values (inside their boxes); `None` without them.
fn box_mask(job: &Job, rank: usize) -> Result<Option<Tensor>> {
    let p = &job.params;
    if !p.iter().any(|s| s.op.has_box()) {
        return Ok(None);
    }
    let (h, w) = job.batch.extent.expect("box plans carry an extent (validated)");
    let inside = |coord_len: usize,
                  dim: usize,
                  lo: &dyn Fn(&SampleParams) -> i32,
                  hi: &dyn Fn(&SampleParams) -> i32|
     -> Result<Tensor> {
        let mut shape = vec![1i64; rank];
        shape[dim] = coord_len as i64;
        let coord = fallible::arange(coord_len, job.batch.device)?.f_reshape(shape.as_slice())?;
        let lo = per_sample(p, |s| lo(s), rank, job)?;
        let hi = per_sample(p, |s| hi(s), rank, job)?;
        Ok(coord.f_ge_tensor(&lo)?.f_logical_and(&coord.f_lt_tensor(&hi)?)?)
    };
    let mut mask =
        per_sample(p, |s| s.op.has_box(), rank, job)?.f_logical_and(&inside(w, rank - 1, &|s| s.x0, &|s| s.x1)?)?;
    if rank == 4 {
        mask = mask.f_logical_and(&inside(h, 2, &|s| s.y0, &|s| s.y1)?)?;
    }
    Ok(Some(mask))
}

/// Where each sample takes a pasted value (box samples inside their boxes, FMix samples where their paste
/// mask is set) and the values it takes there (its partner's, or for ResizeMix its partner's whole image
/// resized to the box); `None` when no sample pastes.
fn pasted(job: &Job, partner: &Tensor, paste_mask: Option<&Tensor>) -> Result<Option<(Tensor, Tensor)>> {
    let rank = partner.dim();
    let boxes = box_mask(job, rank)?;
    let masks = match paste_mask {
        // [N, H, W] (rank 3: [N, 1, T]) broadcast over the channels.
        Some(m) => {
            let mut shape = partner.size();
            shape[1] = 1;
            Some(m.f_to_kind(Kind::Bool)?.f_reshape(shape.as_slice())?)
        }
        None => None,
    };
    let mask = match (boxes, masks) {
        (None, None) => return Ok(None),
        (Some(b), Some(m)) => b.f_logical_or(&m)?,
        (Some(b), None) => b,
        (None, Some(m)) => m,
    };
    let values = match job.params.iter().any(|s| s.op.resizes_partner()) {
        true => resized(job, partner)?
            .f_where_self(&per_sample(&job.params, |s| s.op.resizes_partner(), rank, job)?, partner)?,
        false => partner.shallow_clone(),
    };
    Ok(Some((mask, values)))
}

/// ResizeMix's pasted values: in each ResizeMix sample's box, its partner's whole image resized by nearest
/// neighbour (box row `y0 + r` shows row `⌊r·H / (y1 − y0)⌋`, columns likewise; exact integer arithmetic, as
/// the kernels); elsewhere, and for other samples, some partner value (never taken).
fn resized(job: &Job, partner: &Tensor) -> Result<Tensor> {
    let (h, w) = job.batch.extent.expect("box plans carry an extent (validated)");
    let index = |len: usize, lo: &dyn Fn(&SampleParams) -> i32, hi: &dyn Fn(&SampleParams) -> i32| {
        let mut v = Vec::with_capacity(job.params.len() * len);
        for s in &job.params {
            let (lo, hi) = (lo(s) as i64, hi(s) as i64);
            let inside = |t: i64| s.op.resizes_partner() && lo <= t && t < hi;
            v.extend((0..len as i64).map(|t| if inside(t) { (t - lo) * len as i64 / (hi - lo) } else { 0 }));
        }
        fallible::upload(&v, job.batch.device)?.f_view([job.params.len() as i64, len as i64])
    };
    let s = partner.size();
    let cols = index(w, &|s| s.x0, &|s| s.x1)?;
    if partner.dim() == 3 {
        return Ok(partner.f_gather(2, &cols.f_view([s[0], 1, s[2]])?.f_expand(s.as_slice(), false)?, false)?);
    }
    let rows = index(h, &|s| s.y0, &|s| s.y1)?.f_view([s[0], 1, s[2], 1])?.f_expand(s.as_slice(), false)?;
    let cols = cols.f_view([s[0], 1, 1, s[3]])?.f_expand(s.as_slice(), false)?;
    Ok(partner.f_gather(2, &rows, false)?.f_gather(3, &cols, false)?)
}

/// Mixed images (a new tensor) for the job's plan.
pub(crate) fn images(job: &Job, images: &Tensor, paste_mask: Option<&Tensor>) -> Result<Tensor> {
    let partner = images.f_flip([0])?; // sample i's partner is N-1-i
    let mut out = fresh_copy(images)?;
    if let Some((mut mixed, is_mixup)) = mixup_f32(job, images, &partner)? {
        if job.batch.dtype == Dtype::U8 {
            // Round half to even, as timm's FastCollateMixup (np.rint) and the kernels.
            // Bounds on the images' device: clamp takes no host scalar beside a CUDA tensor.
            let bound = |v| scalar_on(v, (Kind::Float, job.batch.device));
            let _ = mixed.f_round_()?.f_clamp_tensor_(Some(bound(0.0)?), Some(bound(255.0)?))?;
        }
        let stored = mixed.f_to_kind(job.batch.dtype.kind())?;
        out = quiet_nan(job.batch.device, job.batch.dtype, stored)?.f_where_self(&is_mixup, &out)?;
    }
    if let Some((mask, values)) = pasted(job, &partner, paste_mask)? {
        out = values.f_where_self(&mask, &out)?;
    }
    Ok(out)
}

/// A fresh `[N, C, H, W]` output of the normalising pass, in its dtype and memory format.
pub(crate) fn empty_output(images: &Tensor, norm: &NormJob) -> Result<Tensor> {
    let s = images.size();
    let options = (norm.out.kind(), images.device());
    Ok(if norm.channels_last {
        Tensor::f_empty([s[0], s[2], s[3], s[1]], options)?.f_permute([0, 3, 1, 2])?
    } else {
        Tensor::f_empty(s.as_slice(), options)?
    })
}

/// The normalising pass (`images`: uint8 `[N, C, H, W]`): mixed in f32 without rounding, then
/// `fl(fl(m·scale_c) + shift_c)`, rounded into the output dtype, in the output's memory format.
pub(crate) fn normalized(job: &Job, images: &Tensor, paste_mask: Option<&Tensor>) -> Result<Tensor> {
    let norm = job.normalize.as_ref().expect("a normalising job");
    let partner = images.f_flip([0])?;
    let mut m = images.f_to_kind(Kind::Float)?;
    if let Some((mixed, is_mixup)) = mixup_f32(job, images, &partner)? {
        m = mixed.f_where_self(&is_mixup, &m)?;
    }
    if let Some((mask, values)) = pasted(job, &partner, paste_mask)? {
        m = values.f_to_kind(Kind::Float)?.f_where_self(&mask, &m)?;
    }
    let channel = |v: &[f32]| -> Result<Tensor> { Ok(fallible::upload(v, job.batch.device)?.f_view([1, -1, 1, 1])?) };
    let y = m.f_mul(&channel(&norm.scale)?)?.f_add(&channel(&norm.shift)?)?.f_to_kind(norm.out.kind())?;
    let mut out = empty_output(images, norm)?;
    out.f_copy_(&y)?;
    Ok(out)
}

/// Soft targets `[N, C]` float32 for the job's plan (thresholded to {0, 1} where the job says so).
pub(crate) fn targets(job: &Job, labels: &Tensor) -> Result<Tensor> {
    let spec = &job.targets;
    let y = if job.soft_labels {
        labels.f_to_kind(Kind::Float)?
    } else {
        one_hot(labels, job.num_classes, (spec.off as f64, spec.on as f64), (Kind::Float, job.batch.device))?
    };
    let mixed = if !job.params.iter().any(|s| s.op.mixes_labels()) {
        fresh_copy(&y)?
    } else {
        let keep = per_sample(&job.params, |s| !s.op.mixes_labels(), 2, job)?;
        let w_self = per_sample(&job.params, |s| s.w_self, 2, job)?;
        let w_other = per_sample(&job.params, |s| s.w_other, 2, job)?;
        let blend = y.f_mul(&w_self)?.f_add(&y.f_flip([0])?.f_mul(&w_other)?)?;
        y.f_where_self(&keep, &quiet_nan(job.batch.device, Dtype::F32, blend)?)?
    };
    match spec.threshold {
        // Compared in f32, as the kernels do: the threshold is an f32 tensor, not a double scalar.
        Some(t) => Ok(mixed.f_gt_tensor(&fallible::upload(&[t], job.batch.device)?)?.f_to_kind(Kind::Float)?),
        None => Ok(mixed),
    }
}
