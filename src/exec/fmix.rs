//! FMix's paste masks, computed once per call from the plan's [`FMixMask`]s on the images' device (tch's
//! FFT, then a selection per sample: on the host in Rust, elsewhere with tch ops), and read by every
//! executor (so they agree bit for bit).

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use tch::{Device, Kind, Tensor};

use super::cpu;
use crate::error::Result;
use crate::fallible;
use crate::job::{FMixSample, Job};
use crate::plan::FMixMask;

/// The job's paste masks: uint8 `[N, H, W]` contiguous on the images' device, 1 where a sample takes its
/// partner's pixel (0 for every sample that is not FMix); `None` when no sample is.
pub(crate) fn paste_masks(job: &Job) -> Result<Option<Tensor>> {
    if job.fmix.is_empty() {
        return Ok(None);
    }
    let extent = job.batch.extent.expect("FMix plans carry an extent (validated)");
    Ok(Some(masks(&job.fmix, job.batch.n, extent, job.batch.device)?))
}

/// The paste masks of `samples` in a batch of `n`, uint8 `[n, H, W]` on `device` (see [`paste_masks`]).
pub(crate) fn masks(samples: &[FMixSample], n: usize, (h, w): (usize, usize), device: Device) -> Result<Tensor> {
    let noise = noise(samples, (h, w), device)?;
    match device {
        Device::Cpu => masks_on_host(&noise, samples, n, (h, w)),
        _ => masks_by_ops(&noise, samples, n, (h, w)),
    }
}

/// [`masks`] from the samples' `noise` with tch ops: a selection per distinct λ, then whole-batch passes for
/// the ties, so a GPU takes every sample at once.
fn masks_by_ops(noise: &Tensor, samples: &[FMixSample], n: usize, (h, w): (usize, usize)) -> Result<Tensor> {
    let own = top_pixels(noise, samples, (h, w))?;
    let device = noise.device();
    let samples: Vec<i64> = samples.iter().map(|s| s.sample as i64).collect();
    let mut masks = Tensor::f_zeros([n as i64, h as i64, w as i64], (Kind::Uint8, device))?;
    let paste = own.f_logical_not()?.f_to_kind(Kind::Uint8)?.f_view([-1, h as i64, w as i64])?;
    let _ = masks.f_index_copy_(0, &fallible::upload(&samples, device)?, &paste)?;
    Ok(masks)
}

/// The rows of the spectrum that are kept: frequencies 0..=K and −K..−1 (K below the Nyquist row).
fn kept_rows(h: usize) -> Vec<usize> {
    let k = FMixMask::FREQUENCIES.min((h - 1) / 2);
    (0..=k).chain(h - k..h).collect()
}

/// The kept columns of the real FFT's half spectrum: frequencies 0..=K.
fn kept_columns(w: usize) -> usize {
    FMixMask::FREQUENCIES.min(w / 2) + 1
}

/// The noise of each FMix sample, `[k, H·W]` float32: the real inverse FFT of its spectrum.
fn noise(samples: &[FMixSample], (h, w): (usize, usize), device: Device) -> Result<Tensor> {
    noise_in_units(samples, (h, w), device, |decay_power| spectrum_unit(decay_power, (h, w)))
}

/// [`noise`] with each sample's spectrum multiplied by `unit(δ)` before its f32 rounding.
fn noise_in_units(
    samples: &[FMixSample],
    (h, w): (usize, usize),
    device: Device,
    unit: impl Fn(f64) -> f64,
) -> Result<Tensor> {
    let rows = kept_rows(h);
    let columns = kept_columns(w);
    let mut values = Vec::with_capacity(samples.len() * rows.len() * columns * 2);
    // Plans mostly share one δ, so its scales (a `powf` each) are computed once, not once per sample.
    let mut tables: Vec<(u64, Vec<f64>)> = Vec::new();
    for s in samples {
        let key = s.mask.decay_power.to_bits();
        let at = match tables.iter().position(|(k, _)| *k == key) {
            Some(at) => at,
            None => {
                let unit = unit(s.mask.decay_power);
                tables.push((key, scales(s.mask.decay_power, (h, w), (&rows, columns), unit)));
                tables.len() - 1
            }
        };
        spectrum(s.mask.seed, &tables[at].1, &mut values);
    }
    let k = samples.len() as i64;
    let block =
        fallible::upload(&values, device)?.f_view([k, rows.len() as i64, columns as i64, 2])?.f_view_as_complex()?;
    let half = (w / 2 + 1) as i64;
    let band = Tensor::f_zeros([k, rows.len() as i64, half], (Kind::ComplexFloat, device))?;
    band.f_narrow(2, 0, columns as i64)?.f_copy_(&block)?;
    let mut full = Tensor::f_zeros([k, h as i64, half], (Kind::ComplexFloat, device))?;
    let row_index: Vec<i64> = rows.iter().map(|&r| r as i64).collect();
    let _ = full.f_index_copy_(1, &fallible::upload(&row_index, device)?, &band)?;
    Ok(full.f_fft_irfftn([h as i64, w as i64].as_slice(), [1i64, 2].as_slice(), "backward")?.f_view([k, -1])?)
}

/// The power of two that brings the spectrum's largest scale, `max(H, W)^δ`, to at most 1, so no value
/// overflows f32 (the unscaled spectrum did past about δ = 16 at 224 pixels, and its noise became NaN).
/// Multiplying by a power of two is exact, and every rounding after it (the FFT's included) scales with it
/// while the values stay normal f32 numbers, so the noise is the unscaled one times the unit, bit for bit,
/// unless the spectrum spans nearly all of f32's range (`max(H, W)^δ` near 2^126), where its smallest
/// coefficients become subnormal.
fn spectrum_unit(decay_power: f64, (h, w): (usize, usize)) -> f64 {
    2f64.powi(-((decay_power * (h.max(w) as f64).log2()).ceil() as i32))
}

/// The scale of each kept coefficient times `unit`, row by row: `1 / max(f, 1/max(H, W))^δ` at frequency
/// `f` (FMix's `get_spectrum`).
fn scales(decay_power: f64, (h, w): (usize, usize), (rows, columns): (&[usize], usize), unit: f64) -> Vec<f64> {
    let floor = 1.0 / h.max(w) as f64;
    let mut out = Vec::with_capacity(rows.len() * columns);
    for &r in rows {
        let fy = if 2 * r < h { r as f64 } else { r as f64 - h as f64 } / h as f64;
        for c in 0..columns {
            let fx = c as f64 / w as f64;
            out.push(1.0 / (fy * fy + fx * fx).sqrt().max(floor).powf(decay_power) * unit);
        }
    }
    out
}

/// One sample's kept coefficients, appended to `out` as (real, imaginary) pairs: complex Gaussians from
/// `seed`'s stream times `scales`, in their order.
fn spectrum(seed: u64, scales: &[f64], out: &mut Vec<f32>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for &scale in scales {
        let re: f64 = StandardNormal.sample(&mut rng);
        let im: f64 = StandardNormal.sample(&mut rng);
        out.extend([(re * scale) as f32, (im * scale) as f32]);
    }
}

/// [`masks`] on the host: each sample's noise selected and thresholded by [`paste_row`], the samples split
/// over as many threads as libtorch's intra-op count. The same masks as [`masks_by_ops`], bit for bit, from
/// a copy, a selection and a pass per sample, where the ops take a selection per distinct λ and about ten
/// whole-batch passes.
fn masks_on_host(noise: &Tensor, samples: &[FMixSample], n: usize, (h, w): (usize, usize)) -> Result<Tensor> {
    let pixels = h * w; // at least 1: a pasting plan's extent is validated
    let noise = noise.f_contiguous()?;
    let masks = Tensor::f_zeros([(n * pixels) as i64], (Kind::Uint8, Device::Cpu))?;
    // SAFETY: `noise` is a contiguous float32 CPU tensor of `samples.len() · pixels` elements (see `noise`),
    // held and not written while `values` lives.
    let values = unsafe { std::slice::from_raw_parts(noise.data_ptr() as *const f32, samples.len() * pixels) };
    // SAFETY: `masks` is a fresh contiguous uint8 CPU tensor of `n · pixels` bytes that nothing else refers to
    // while `out` lives.
    let out = unsafe { std::slice::from_raw_parts_mut(masks.data_ptr() as *mut u8, n * pixels) };
    let mut rows: Vec<Option<&mut [u8]>> = out.chunks_mut(pixels).map(Some).collect();
    let mut work: Vec<(&[f32], usize, &mut [u8])> = Vec::with_capacity(samples.len());
    for (s, noise_row) in samples.iter().zip(values.chunks(pixels)) {
        let mask_row = rows[s.sample].take().expect("one FMix sample per batch position");
        work.push((noise_row, ((s.lam * pixels as f64).round() as usize).min(pixels), mask_row));
    }
    // Below this many noise values a call stays on the calling thread: starting threads costs more.
    const PARALLEL_MIN_VALUES: usize = 1 << 16;
    let threads = if values.len() < PARALLEL_MIN_VALUES { 1 } else { cpu::intra_op_threads().min(work.len()) };
    let per_thread = work.len().div_ceil(threads.max(1)).max(1);
    let mut shares = work.chunks_mut(per_thread);
    let first = shares.next();
    std::thread::scope(|scope| {
        for share in shares {
            scope.spawn(move || paste_rows(share));
        }
        // The calling thread takes a share too, so one thread starts none.
        if let Some(first) = first {
            paste_rows(first);
        }
    });
    Ok(masks.f_view([n as i64, h as i64, w as i64])?)
}

/// [`paste_row`] over a share of (noise, own count, mask) rows, with one scratch row.
fn paste_rows(share: &mut [(&[f32], usize, &mut [u8])]) {
    let mut scratch = Vec::new();
    for (noise, own, mask) in share.iter_mut() {
        paste_row(noise, *own, &mut scratch, mask);
    }
}

/// Writes 1 into `mask` where a pixel is not among the `own` largest of `noise` (ties by position, as in
/// [`top_pixels`]): `noise`'s `own`-th largest value by selection into `scratch`, then a pass that keeps
/// the values above it and one that keeps as many equal to it as make up `own`, first positions first.
fn paste_row(noise: &[f32], own: usize, scratch: &mut Vec<f32>, mask: &mut [u8]) {
    if own == 0 {
        mask.fill(1);
        return;
    }
    scratch.clear();
    scratch.extend_from_slice(noise);
    let (_, &mut threshold, larger) = scratch.select_nth_unstable_by(noise.len() - own, f32::total_cmp);
    // Compared as IEEE values, as tch's ops compare: −0 equals +0, so the threshold's sign of zero is moot.
    // Every value above it is in the selection's upper part.
    let above = larger.iter().filter(|&&v| v > threshold).count();
    // Without branches: which side of the threshold a pixel lies on is as unpredictable as the noise.
    for (&v, m) in noise.iter().zip(mask.iter_mut()) {
        *m = 1 - u8::from(v > threshold);
    }
    let mut ties = own - above; // at least 1: the threshold's own place
    for (&v, m) in noise.iter().zip(mask.iter_mut()) {
        if ties == 0 {
            break;
        }
        if v == threshold {
            *m = 0;
            ties -= 1;
        }
    }
}

/// Whether each pixel is among its sample's top `round(λ·H·W)` by noise (ties by position), `[k, H·W]`:
/// those above the sample's threshold (its `own`-th largest value, a selection, not a sort), then as many
/// of those equal to it as make up `own`, first positions first.
fn top_pixels(noise: &Tensor, samples: &[FMixSample], (h, w): (usize, usize)) -> Result<Tensor> {
    let pixels = (h * w) as i64;
    let own: Vec<i64> = samples.iter().map(|s| (s.lam * pixels as f64).round() as i64).collect();
    let device = noise.device();
    let mut thresholds = fallible::filled(&[own.len() as i64], f64::INFINITY, (Kind::Float, device))?;
    let mut counts = own.clone();
    counts.sort_unstable();
    counts.dedup();
    for &count in counts.iter().filter(|&&c| c > 0) {
        // The rows that keep `count` pixels share one selection.
        let rows: Vec<i64> = (0..own.len() as i64).filter(|&r| own[r as usize] == count).collect();
        let rows = fallible::upload(&rows, device)?;
        let (kth, _) = noise.f_index_select(0, &rows)?.f_kthvalue(pixels - count + 1, 1, false)?;
        let _ = thresholds.f_index_copy_(0, &rows, &kth)?;
    }
    let thresholds = thresholds.f_view([-1, 1])?;
    let own = fallible::upload(&own, device)?.f_view([-1, 1])?;
    let above = noise.f_gt_tensor(&thresholds)?;
    let missing = own.f_sub(&above.f_sum_dim_intlist(1, true, Kind::Int64)?)?;
    let equal = noise.f_eq_tensor(&thresholds)?;
    let ties = equal.f_logical_and(&equal.f_cumsum(1, Kind::Int64)?.f_le_tensor(&missing)?)?;
    Ok(above.f_logical_or(&ties)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::params::TargetSpec;
    use crate::plan::{MixOp, MixPlan};

    fn job(plan: &MixPlan, shape: &[i64]) -> Job {
        let x = Tensor::zeros(shape, (Kind::Float, Device::Cpu));
        let batch = crate::check::images(&x, true).unwrap();
        Job::new(plan, &batch, false, 10, TargetSpec::plain(), false)
    }

    #[test]
    fn masks_keep_exactly_the_planned_pixels_and_follow_the_seed() {
        let fmix = |seed, lam| MixOp::FMix { mask: FMixMask { seed, decay_power: 3.0 }, lam };
        let plan =
            MixPlan { ops: vec![fmix(1, 0.25), MixOp::Keep, fmix(2, 0.5), fmix(1, 0.25)], extent: Some((12, 20)) };
        let m = paste_masks(&job(&plan, &[4, 3, 12, 20])).unwrap().unwrap();
        assert_eq!((m.size(), m.kind()), (vec![4, 12, 20], Kind::Uint8));
        let pasted = |i: i64| m.get(i).sum(Kind::Int64).int64_value(&[]);
        assert_eq!([pasted(0), pasted(1), pasted(2), pasted(3)], [180, 0, 120, 180]);
        assert!(m.get(0).equal(&m.get(3)), "the same seed and λ give the same mask");
        assert!(!m.get(0).equal(&m.get(2)));
        // Low-frequency noise: the kept region is mostly in one piece, so few neighbours differ (white
        // noise would make about half of them differ).
        let m0 = m.get(0).to_kind(Kind::Int64);
        let edges = (m0.narrow(1, 1, 19) - m0.narrow(1, 0, 19)).abs().sum(Kind::Int64).int64_value(&[]);
        assert!(edges < 40, "{edges} horizontal edges in a 12x20 mask");
    }

    #[test]
    fn the_power_of_two_unit_keeps_the_masks_and_large_decay_powers_keep_their_count() {
        let sample = |seed, decay_power| FMixSample { sample: 0, mask: FMixMask { seed, decay_power }, lam: 0.37 };
        for (extent, decay_power) in
            [((224, 224), 3.0), ((32, 32), 3.0), ((12, 20), 1.5), ((1, 9), 5.0), ((64, 48), 12.0)]
        {
            let samples: Vec<_> = (0..6).map(|seed| sample(seed, decay_power)).collect();
            let noise_times = |unit: &dyn Fn(f64) -> f64| noise_in_units(&samples, extent, Device::Cpu, unit).unwrap();
            let (scaled, unscaled) = (noise_times(&|d| spectrum_unit(d, extent)), noise_times(&|_| 1.0));
            let unit = spectrum_unit(decay_power, extent);
            assert!(
                scaled.equal(&(&unscaled * unit)),
                "{extent:?} δ {decay_power}: not the unscaled noise times {unit}"
            );
            let own = |noise: &Tensor| top_pixels(noise, &samples, extent).unwrap();
            assert!(own(&scaled).equal(&own(&unscaled)), "{extent:?} δ {decay_power}: the unit moved pixels");
        }
        // Past f32's range unscaled (224^17 > 3.4e38): the count still holds, and the noise is finite.
        for (extent, decay_power) in [((224, 224), 17.0), ((32, 32), 32.0), ((1024, 1024), 32.0), ((33, 1024), 12.0)] {
            let samples = [sample(11, decay_power)];
            let noise = noise(&samples, extent, Device::Cpu).unwrap();
            assert!(bool::try_from(noise.isfinite().all()).unwrap(), "{extent:?} δ {decay_power}");
            let kept = top_pixels(&noise, &samples, extent).unwrap().sum(Kind::Int64).int64_value(&[]);
            assert_eq!(kept, (0.37 * (extent.0 * extent.1) as f64).round() as i64, "{extent:?} δ {decay_power}");
        }
    }

    #[test]
    fn ties_at_the_threshold_go_to_the_first_positions() {
        let noise = Tensor::from_slice(&[1f32, 2., 2., 2., 0., 5., 5., 5., 5., 5.]).view([2, 5]);
        let sample = |sample, lam| FMixSample { sample, mask: FMixMask { seed: 0, decay_power: 3.0 }, lam };
        let own = top_pixels(&noise, &[sample(0, 0.4), sample(1, 0.6)], (1, 5)).unwrap();
        let want = Tensor::from_slice(&[false, true, true, false, false, true, true, true, false, false]);
        assert!(own.equal(&want.view([2, 5])), "{own}");
        let none = top_pixels(&noise, &[sample(0, 0.0), sample(1, 1.0)], (1, 5)).unwrap();
        assert_eq!(Vec::<i64>::try_from(none.sum_dim_intlist(1, false, Kind::Int64)).unwrap(), [0, 5]);
    }

    #[test]
    fn the_host_selection_gives_the_masks_of_the_ops() {
        let sample = |sample, seed, lam| FMixSample { sample, mask: FMixMask { seed, decay_power: 3.0 }, lam };
        // Ties at the threshold, signed zeros among them, and the counts 0 and all.
        let crafted =
            Tensor::from_slice(&[1f32, 2., 2., 2., 0., 5., 5., 5., 5., 5., -0., 0., -0., 0., 1.]).view([3, 5]);
        for lams in [[0.4, 0.6, 0.4], [0.0, 1.0, 0.2], [0.2, 0.8, 0.6], [1.0, 0.0, 0.8]] {
            let samples = [sample(2, 0, lams[0]), sample(0, 0, lams[1]), sample(3, 0, lams[2])];
            let (host, ops) =
                (masks_on_host(&crafted, &samples, 5, (1, 5)), masks_by_ops(&crafted, &samples, 5, (1, 5)));
            assert!(host.unwrap().equal(&ops.unwrap()), "λ {lams:?}");
        }
        // Drawn noise, serial and split across threads, with batch positions that are not FMix.
        for (extent, k) in [((12, 20), 7), ((64, 48), 40), ((1, 9), 3)] {
            let samples: Vec<_> = (0..k).map(|i| sample(2 * i + 1, i as u64, (i % 11) as f64 / 10.0)).collect();
            let drawn = noise(&samples, extent, Device::Cpu).unwrap();
            let (host, ops) =
                (masks_on_host(&drawn, &samples, 2 * k, extent), masks_by_ops(&drawn, &samples, 2 * k, extent));
            assert!(host.unwrap().equal(&ops.unwrap()), "{extent:?}");
        }
    }

    #[test]
    fn the_scale_table_gives_the_spectrum_of_each_coefficients_own_scale() {
        let (extent, decay_power) = ((30, 17), 2.5);
        let (rows, columns) = (kept_rows(extent.0), kept_columns(extent.1));
        let unit = spectrum_unit(decay_power, extent);
        let mut tabled = Vec::new();
        spectrum(9, &scales(decay_power, extent, (&rows, columns), unit), &mut tabled);
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let mut direct = Vec::new();
        for &r in &rows {
            let fy = if 2 * r < extent.0 { r as f64 } else { r as f64 - extent.0 as f64 } / extent.0 as f64;
            for c in 0..columns {
                let f = (fy * fy + (c as f64 / extent.1 as f64).powi(2)).sqrt().max(1.0 / 30.0);
                let scale = 1.0 / f.powf(decay_power) * unit;
                let (re, im): (f64, f64) = (StandardNormal.sample(&mut rng), StandardNormal.sample(&mut rng));
                direct.extend([(re * scale) as f32, (im * scale) as f32]);
            }
        }
        assert_eq!(tabled, direct);
    }

    #[test]
    fn sequences_and_tiny_extents_get_masks() {
        let op = MixOp::FMix { mask: FMixMask { seed: 7, decay_power: 3.0 }, lam: 0.5 };
        for (shape, extent) in
            [(vec![2i64, 3, 9], (1usize, 9usize)), (vec![2, 1, 1, 2], (1, 2)), (vec![2, 1, 2, 1], (2, 1))]
        {
            let plan = MixPlan { ops: vec![op, op], extent: Some(extent) };
            let m = paste_masks(&job(&plan, &shape)).unwrap().unwrap();
            let pixels = (extent.0 * extent.1) as i64;
            assert_eq!(m.get(0).sum(Kind::Int64).int64_value(&[]), pixels - (pixels as f64 * 0.5).round() as i64);
        }
    }
}
