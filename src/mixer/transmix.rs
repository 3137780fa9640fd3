//! TransMix targets (Chen et al., CVPR 2022): a pasting plan's images, with each sample's label weight
//! taken from a ViT's attention instead of the pasted area.

use tch::{Kind, Tensor};

use super::Mixer;
use crate::error::{ensure, number, Error, Result};
use crate::exec::fmix;
use crate::fallible::{self, one_hot};
use crate::job::fmix_samples;
use crate::job::params::TargetSpec;
use crate::plan::{MixOp, MixPlan};

impl Mixer {
    /// TransMix's targets for a batch mixed by `plan` (for a ViT whose patches are `patch` × `patch`
    /// pixels): sample `i`'s weight λᵢ is the share of the class token's attention that falls on the
    /// patches it kept, `Σ aₚ·ownₚ / Σ aₚ`, where a patch a box or FMix mask cuts counts by the fraction
    /// of its pixels the sample kept. Mixup samples keep the plan's λ, kept samples 1. Returns float32
    /// `[N, num_classes]`, built from `labels` as [`Mixer::apply`]'s targets are (smoothing, soft labels,
    /// the BCE threshold), on `attention`'s device.
    ///
    /// `attention`: the class token's attention over the `P = (H/patch)·(W/patch)` patches in row-major
    /// order (the class token's own entry removed), `[N, P]` or `[N, heads, P]` (averaged over heads, as
    /// the paper). The training step takes two passes: the mixed images forward once to get the attention
    /// (e.g. the last block's), and the loss against these targets on that same forward's logits.
    ///
    /// ```
    /// use tch::{Device, Kind, Tensor};
    /// use tch_mixcut::{MixConfig, Mixer};
    ///
    /// let mut mixer = Mixer::new(MixConfig::cutmix(1.0, 10), 0)?;
    /// let images = Tensor::rand([4, 3, 32, 32], (Kind::Float, Device::Cpu));
    /// let labels = Tensor::from_slice(&[0i64, 1, 2, 3]);
    /// let plan = mixer.sample_plan(&images.size())?;
    /// let (mixed, _) = mixer.planned(&plan).apply(&images, &labels)?;
    /// // A ViT with 8×8 patches: 16 patches. Its class-token attention over them, from the forward pass on `mixed`:
    /// let attention = Tensor::rand([4, 6, 16], (Kind::Float, Device::Cpu)).softmax(-1, Kind::Float);
    /// let targets = mixer.transmix_targets(&attention, &plan, &labels, 8)?;
    /// assert_eq!(targets.size(), [4, 10]);
    /// # let _ = mixed;
    /// # Ok::<(), tch_mixcut::Error>(())
    /// ```
    pub fn transmix_targets(
        &self,
        attention: &Tensor,
        plan: &MixPlan,
        labels: &Tensor,
        patch: usize,
    ) -> Result<Tensor> {
        plan.validate()?;
        let n = plan.len();
        let Some((h, w)) = plan.extent else {
            return Err(Error::InvalidPlan(
                "plan: got no extent, expected a plan drawn for [N, C, H, W] images".into(),
            ));
        };
        ensure!(
            patch >= 1 && h % patch == 0 && w % patch == 0,
            Error::argument("patch", format!("got {patch}, expected a patch side that divides the extent {h}x{w}"))
        );
        ensure!(n >= 1, Error::InvalidPlan("plan: got no samples, expected a plan drawn for N >= 1".into()));
        let patches = (h / patch) * (w / patch);
        let weights = attention_weights(attention, n, patches)?;
        let own = self::own_share(plan, (h, w), patch, attention.device())?;
        let attended = weights.f_mul(&own)?.f_sum_dim_intlist(1, false, Kind::Float)?;
        let total = weights.f_sum_dim_intlist(1, false, Kind::Float)?;
        // Samples that do not paste keep the plan's λ (Mixup) or 1 (kept).
        let plan_lam =
            fallible::upload(&plan.lams().iter().map(|&l| l as f32).collect::<Vec<_>>(), attention.device())?;
        let pastes = fallible::upload(&plan.ops.iter().map(MixOp::pastes).collect::<Vec<_>>(), attention.device())?;
        if plan.pastes() {
            usable_attention(&weights, &total, &pastes)?;
        }
        let lam = attended.f_div(&total)?.f_where_self(&pastes, &plan_lam)?;
        self.targets_with(labels, &lam)
    }

    /// Targets `λᵢ·yᵢ + (1 − λᵢ)·y_partner` from labels as the configuration encodes them.
    fn targets_with(&self, labels: &Tensor, lam: &Tensor) -> Result<Tensor> {
        let (n, classes) = (lam.size()[0], self.config.num_classes);
        crate::check::targets_fit(n as usize, classes)?;
        let spec = TargetSpec::of(&self.config);
        let device = lam.device();
        let (shape, kind) = match labels.defined() {
            true => (labels.size(), labels.f_kind().ok()),
            false => (vec![], None),
        };
        let y = match (shape.as_slice(), kind) {
            (&[len], Some(Kind::Int64)) if len == n => {
                crate::check::label_range(labels, classes)?;
                one_hot(labels, classes, (spec.off as f64, spec.on as f64), (Kind::Float, device))?
            }
            (&[len, width], Some(k)) if crate::check::is_float(k) && (len, width) == (n, classes) => {
                labels.f_to_device(device)?.f_to_kind(Kind::Float)?
            }
            _ => {
                let got = match kind {
                    Some(k) => format!("shape {shape:?} dtype {k:?}"),
                    None if labels.defined() => format!("shape {shape:?} of an unknown dtype"),
                    None => "an undefined tensor".into(),
                };
                return Err(Error::argument(
                    "labels",
                    format!("got {got}, expected int64 class indices [{n}] or soft targets [{n}, {classes}]"),
                ));
            }
        };
        let lam = lam.f_view([n, 1])?;
        let one = Tensor::f_ones_like(&lam)?;
        let mixed = y.f_mul(&lam)?.f_add(&y.f_flip([0])?.f_mul(&one.f_sub(&lam)?)?)?;
        match spec.threshold {
            Some(t) => Ok(mixed.f_gt_tensor(&fallible::upload(&[t], device)?)?.f_to_kind(Kind::Float)?),
            None => Ok(mixed),
        }
    }
}

/// The attention as `[N, P]` float32 (heads averaged), or why it is not the class token's over `P` patches.
fn attention_weights(attention: &Tensor, n: usize, patches: usize) -> Result<Tensor> {
    let shape = attention.size();
    let fits = match shape.len() {
        2 => shape == [n as i64, patches as i64],
        3 => shape[0] == n as i64 && shape[1] >= 1 && shape[2] == patches as i64,
        _ => false,
    };
    let kind = attention.f_kind().ok().filter(|_| attention.defined());
    ensure!(
        kind.is_some_and(crate::check::is_float) && fits,
        Error::argument(
            "attention",
            format!(
                "got {}, expected a float [{n}, {patches}] or [{n}, heads >= 1, {patches}] (the class token's attention \
                 over the patches)",
                kind.map_or("an undefined tensor".into(), |k| format!("shape {shape:?} dtype {k:?}"))
            )
        )
    );
    let a = attention.f_to_kind(Kind::Float)?;
    Ok(if shape.len() == 3 { a.f_mean_dim(1, false, Kind::Float)? } else { a })
}

/// Checks that every pasting sample's attention weights are `>= 0` with a finite total above 0, so that its
/// λ is a share in `[0, 1]`. Reads one flag back (on a GPU it waits for the attention).
fn usable_attention(weights: &Tensor, total: &Tensor, pastes: &Tensor) -> Result<()> {
    let zero = total.f_zeros_like()?;
    let usable = total
        .f_isfinite()?
        .f_logical_and(&total.f_gt_tensor(&zero)?)?
        .f_logical_and(&weights.f_amin(1, false)?.f_ge_tensor(&zero)?)?;
    let bad = usable.f_logical_not()?.f_logical_and(pastes)?;
    if bad.f_any()?.f_int64_value(&[])? == 0 {
        return Ok(());
    }
    let sample = bad.f_to_kind(Kind::Int64)?.f_argmax(0, false)?.f_int64_value(&[])?;
    let row = |t: &Tensor| t.f_get(sample).and_then(|v| v.f_double_value(&[]));
    Err(Error::argument(
        "attention",
        format!(
            "got weights summing to {} (smallest {}) for sample {sample}, which pastes, expected weights >= 0 with a \
             finite sum > 0 (the class token's attention over the patches, e.g. after softmax)",
            number(row(total)?),
            number(row(&weights.f_amin(1, false)?)?)
        ),
    ))
}

/// Per sample and patch, the fraction of the patch's pixels the sample kept, `[N, P]` float32: boxes by
/// their overlap with the patch, FMix by its mask; 1 for samples that do not paste.
fn own_share(plan: &MixPlan, (h, w): (usize, usize), patch: usize, device: tch::Device) -> Result<Tensor> {
    let (gh, gw) = (h / patch, w / patch);
    let overlap = |lo: usize, hi: usize, cell: usize| hi.min((cell + 1) * patch).saturating_sub(lo.max(cell * patch));
    let mut own = Vec::with_capacity(plan.len() * gh * gw);
    for op in &plan.ops {
        for gy in 0..gh {
            for gx in 0..gw {
                let taken = op.bbox().map_or(0, |b| overlap(b.y0, b.y1, gy) * overlap(b.x0, b.x1, gx));
                own.push(1.0 - taken as f32 / (patch * patch) as f32);
            }
        }
    }
    let boxes = fallible::upload(&own, device)?.f_view([plan.len() as i64, -1])?;
    let fmix = fmix_samples(plan);
    if fmix.is_empty() {
        return Ok(boxes);
    }
    let pasted = fmix::masks(&fmix, plan.len(), (h, w), device)?
        .f_to_kind(Kind::Float)?
        .f_view([plan.len() as i64, gh as i64, patch as i64, gw as i64, patch as i64])?
        .f_mean_dim([2i64, 4].as_slice(), false, Kind::Float)?
        .f_view([plan.len() as i64, -1])?;
    // FMix samples' boxes are none (all 1): their share is 1 − the pasted fraction.
    Ok(boxes.f_sub(&pasted)?)
}
