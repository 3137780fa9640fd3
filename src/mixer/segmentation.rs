//! Segmentation batches: CutMix on images and their dense labels with the same boxes, so every mask pixel
//! comes from the sample its image pixel comes from.
//!
//! Class-index masks `[N, H, W]` (int64 or uint8) are pasted, never blended (an index has no average), so
//! Mixup is refused for them; soft masks `[N, C, H, W]` (float) blend like images under Mixup too. The
//! fused executors paste class masks in the images' own pass (one launch: the masks as their bytes, an
//! int64 pixel's 8 bytes pasted together, by the images' boxes); soft masks, and the reference executor,
//! take a second launch of the same plan.

use tch::{Kind, Tensor};

use super::Mixer;
use crate::check;
use crate::config::Paste;
use crate::error::{ensure, Error, Result};
use crate::exec::{self, ExecutorKind};
use crate::job::{BatchSpec, Job, MaskBuffers};
use crate::plan::{MixOp, MixPlan};

/// The two kinds of mask.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Masks {
    /// Class indices `[N, H, W]`, elements of this many bytes.
    Classes { bytes: usize },
    /// Per-class scores or probabilities `[N, C, H, W]`.
    Soft,
}

impl Mixer {
    /// CutMix (and, for soft masks, Mixup) on a segmentation batch, out of place: returns the mixed images
    /// and masks. `images` `[N, C, H, W]` (contiguous or channels-last); `masks` class indices `[N, H, W]`
    /// (int64 or uint8: Mixup is refused for them, configure CutMix only) or soft masks `[N, C', H, W]`
    /// (Float, Half or BFloat16), pasted by the same boxes as the images and blended by the same λ.
    pub fn apply_segmentation(&mut self, images: &Tensor, masks: &Tensor) -> Result<(Tensor, Tensor)> {
        self.run_segmentation(None, images, masks, false)
    }

    /// [`Mixer::apply_segmentation`] in place: images and masks are overwritten. On `Err` neither changed.
    pub fn apply_segmentation_(&mut self, images: &mut Tensor, masks: &mut Tensor) -> Result<()> {
        self.run_segmentation(None, images, masks, true).map(|_| ())
    }

    /// Checks a segmentation batch, resolves the plan (sampling one unless given) and mixes both.
    pub(super) fn run_segmentation(
        &mut self,
        plan: Option<&MixPlan>,
        images: &Tensor,
        masks: &Tensor,
        in_place: bool,
    ) -> Result<(Tensor, Tensor)> {
        let cutmix = plan.map_or(self.is_enabled() && self.config.cutmix_enabled(), MixPlan::pastes);
        let batch = check::images(images, cutmix)?;
        ensure!(
            images.dim() == 4,
            Error::InvalidImages(format!(
                "got shape {:?}, expected [N, C, H, W] for a segmentation batch",
                images.size()
            ))
        );
        let kind = check_masks(masks, images)?;
        if kind != Masks::Soft {
            let mixup = match plan {
                Some(p) => p.ops.iter().any(|op| matches!(op, MixOp::Mixup { .. })),
                None => self.is_enabled() && self.config.mixup_enabled() && self.config.prob > 0.0,
            };
            ensure!(
                !mixup,
                Error::argument(
                    "masks",
                    format!(
                        "got class-index masks {:?} with Mixup enabled (mixup_alpha {}), expected CutMix only: indices cannot \
                         blend (set mixup_alpha to 0, or give soft masks [N, C, H, W] of a float dtype)",
                        masks.size(),
                        self.config.mixup_alpha
                    )
                )
            );
        }
        if in_place {
            check::in_place(images)?;
            check::masks_apart(masks, images)?;
            check::in_place(masks).map_err(about_masks)?;
            ensure!(
                kind == Masks::Soft || masks.is_contiguous(),
                Error::argument(
                    "masks",
                    format!(
                        "got strides {:?}, expected a contiguous class-index mask to write in place",
                        masks.stride()
                    )
                )
            );
        }
        // Class masks move as byte rows by widened boxes, or (ResizeMix, FMix: an element's bytes must stay
        // together where pixels are resized or masked) as channels-last pixels of `bytes` channels.
        let pixels = match plan {
            Some(p) => !byte_rows(p),
            None => self.config.paste != Paste::CutMix,
        };
        let mask_view = match kind {
            Masks::Classes { bytes } if pixels => as_pixels(masks, bytes)?,
            _ => as_image(masks, kind)?,
        };
        let image_kind = self.choose(&batch, images, None, false)?;
        // Class masks beside a fused executor go in the images' pass: their bytes pasted by the same boxes (up
        // to 2^31 bytes a sample, as the kernels index them). Masks that take a pass of their own are checked,
        // and their executor chosen, before the plan is drawn: a refusal names them and uses no randomness.
        let (h, w) = (masks.size()[1], masks.size()[2]);
        let pass = match (kind, image_kind) {
            (Masks::Classes { bytes }, ExecutorKind::FusedCpu | ExecutorKind::FusedCuda)
                if h * w * bytes as i64 <= i32::MAX as i64 && !pixels =>
            {
                MaskPass::Same { bytes }
            }
            _ => {
                let batch = check::images(&mask_view, cutmix).map_err(about_masks)?;
                let kind = self.choose(&batch, &mask_view, None, false).map_err(about_masks)?;
                MaskPass::Own { batch, kind }
            }
        };
        let plan = self.resolve_plan(plan, &batch)?;
        let (mask_batch, mask_kind) = match pass {
            MaskPass::Same { bytes } => {
                // In place, `mask_view` shares the (contiguous) masks' storage.
                let mask_out = if in_place { mask_view.shallow_clone() } else { exec::fresh_like(&mask_view)? };
                let job = Job::images_only(&plan, &batch, in_place);
                let buffers = MaskBuffers { src: &mask_view, dst: &mask_out, bytes };
                let mixed = self.mix(image_kind, &job, images, Some(buffers))?;
                self.record(image_kind, &plan);
                return Ok((mixed, if in_place { masks.shallow_clone() } else { from_bytes(&mask_out, masks)? }));
            }
            MaskPass::Own { batch, kind } => (batch, kind),
        };
        let mask_plan = match kind {
            Masks::Classes { bytes } if !pixels => widened(&plan, bytes),
            Masks::Classes { .. } | Masks::Soft => plan.clone().into_owned(),
        };
        // Otherwise (soft masks; the reference executor; very large masks) the masks take a launch of their
        // own, first and into a new tensor (they are small), so whatever fails before the images are written
        // leaves both untouched; then the images (in place or not); then the masks' copy, which cannot fail
        // for want of memory.
        let mixed_masks = self.mix_only(&mask_plan, &mask_batch, mask_kind, &mask_view, false)?;
        let mixed_masks = match kind {
            Masks::Classes { .. } if pixels => from_bytes(&mixed_masks.f_permute([0, 2, 3, 1])?, masks)?,
            Masks::Classes { .. } => from_bytes(&mixed_masks, masks)?,
            Masks::Soft => mixed_masks,
        };
        let mixed = self.mix_only(&plan, &batch, image_kind, images, in_place)?;
        self.record(image_kind, &plan);
        if !in_place {
            return Ok((mixed, mixed_masks));
        }
        masks.shallow_clone().f_copy_(&mixed_masks)?;
        Ok((mixed, masks.shallow_clone()))
    }

    /// Applies `plan` to `images` alone (no targets).
    fn mix_only(
        &self,
        plan: &MixPlan,
        batch: &BatchSpec,
        kind: ExecutorKind,
        images: &Tensor,
        in_place: bool,
    ) -> Result<Tensor> {
        self.mix(kind, &Job::images_only(plan, batch, in_place), images, None)
    }

    /// Runs a job without targets, with class masks in the same pass if given.
    fn mix(&self, kind: ExecutorKind, job: &Job, images: &Tensor, masks: Option<MaskBuffers>) -> Result<Tensor> {
        let no_labels = Tensor::f_empty([0], (Kind::Int64, job.batch.device))?;
        Ok(exec::run(kind, job, images, &no_labels, masks, &self.label_flag)?.0)
    }
}

/// How the masks are mixed: in the images' pass (class masks beside a fused executor, as `bytes`-wide
/// elements), or in a pass of their own, as this batch, by this executor.
enum MaskPass {
    Same { bytes: usize },
    Own { batch: BatchSpec, kind: ExecutorKind },
}

/// An error about the masks' image view (`check::images`, the executor's choice), naming `masks`.
fn about_masks(error: Error) -> Error {
    match error {
        Error::InvalidImages(message) => Error::argument("masks", message),
        Error::FusedUnsupported { argument: "images", reason } => Error::unsupported("masks", reason),
        other => other,
    }
}

/// Checks `masks` against `images` `[N, C, H, W]`.
fn check_masks(masks: &Tensor, images: &Tensor) -> Result<Masks> {
    let bad = |message: String| Error::argument("masks", message);
    ensure!(
        masks.defined(),
        bad("got an undefined tensor, expected [N, H, W] class indices or [N, C, H, W] soft masks".into())
    );
    let (shape, want) = (masks.size(), images.size());
    let kind = masks.f_kind()?;
    ensure!(
        masks.device() == images.device(),
        bad(format!("on {:?} but images on {:?}, expected both on the same device", masks.device(), images.device()))
    );
    let masks = match (shape.len(), kind) {
        (3, Kind::Int64 | Kind::Uint8) => Masks::Classes { bytes: kind.elt_size_in_bytes() },
        (4, Kind::Float | Kind::Half | Kind::BFloat16) => Masks::Soft,
        _ => {
            return Err(bad(format!(
                "got shape {shape:?} dtype {kind:?}, expected class indices [N, H, W] (Int64 or Uint8) or soft masks \
                 [N, C, H, W] (Float, Half or BFloat16)"
            )))
        }
    };
    let (n, h, w) = (shape[0], shape[shape.len() - 2], shape[shape.len() - 1]);
    ensure!(
        (n, h, w) == (want[0], want[2], want[3]),
        bad(format!(
            "got shape {shape:?}, expected N, H, W = {}, {}, {} as in images {want:?}",
            want[0], want[2], want[3]
        ))
    );
    Ok(masks)
}

/// The masks as an image batch the kernels take: soft masks as they are; class masks as their bytes,
/// `[N, 1, H, W·bytes]` uint8.
fn as_image(masks: &Tensor, kind: Masks) -> Result<Tensor> {
    match kind {
        Masks::Soft => Ok(masks.shallow_clone()),
        Masks::Classes { bytes } => {
            let s = masks.size();
            let dense = if masks.is_contiguous() { masks.shallow_clone() } else { masks.f_contiguous()? };
            Ok(dense.f_view_dtype(Kind::Uint8)?.f_view([s[0], 1, s[1], s[2] * bytes as i64])?)
        }
    }
}

/// Class masks as a channels-last uint8 image `[N, bytes, H, W]`: a pixel's channels are its element's
/// bytes, so whatever moves pixels moves whole elements.
fn as_pixels(masks: &Tensor, bytes: usize) -> Result<Tensor> {
    let s = masks.size();
    let dense = if masks.is_contiguous() { masks.shallow_clone() } else { masks.f_contiguous()? };
    Ok(dense.f_view_dtype(Kind::Uint8)?.f_view([s[0], s[1], s[2], bytes as i64])?.f_permute([0, 3, 1, 2])?)
}

/// The class masks back from their mixed bytes (in the masks' element order), in the masks' dtype and
/// shape.
fn from_bytes(bytes: &Tensor, masks: &Tensor) -> Result<Tensor> {
    Ok(bytes.f_reshape([-1])?.f_view_dtype(masks.f_kind()?)?.f_view(masks.size().as_slice())?)
}

/// Whether the plan's class masks can move as byte rows by widened boxes: CutMix copies its partner's
/// elements at the same place, so it moves their bytes in place (Mixup never reaches class masks).
fn byte_rows(plan: &MixPlan) -> bool {
    plan.ops.iter().all(|op| match op {
        MixOp::Keep | MixOp::Mixup { .. } | MixOp::CutMix { .. } => true,
        MixOp::ResizeMix { .. } | MixOp::FMix { .. } => false,
    })
}

/// `plan` for rows whose elements are `bytes` wide: every box's columns scaled by `bytes`.
fn widened(plan: &MixPlan, bytes: usize) -> MixPlan {
    let ops = plan
        .ops
        .iter()
        .map(|op| match *op {
            MixOp::CutMix { mut bbox, lam } => {
                bbox.x0 *= bytes;
                bbox.x1 *= bytes;
                MixOp::CutMix { bbox, lam }
            }
            MixOp::Keep | MixOp::Mixup { .. } | MixOp::ResizeMix { .. } | MixOp::FMix { .. } => *op,
        })
        .collect();
    MixPlan { ops, extent: plan.extent.map(|(h, w)| (h, w * bytes)) }
}
