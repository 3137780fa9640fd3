//! The sampled, public **plan** of one mixing call: per sample its partner and its operation.
//!
//! A plan is plain data (no tensors): sample it, log it, draw it, test it, then hand it to any executor.

use crate::error::{ensure, number, Error, Result};
use rand::{Rng, RngExt};
use rand_distr::{Beta, Distribution};

use crate::config::{MixConfig, MixMode, Paste};

/// A CutMix box in the last two image dimensions: rows `y0..y1`, columns `x0..x1` (half-open).
///
/// For a sequence `[N, C, T]` the box is a segment: `y0 = 0, y1 = 1` and the columns are time steps
/// ([`MixPlan::validate`] holds every box in an extent of height 1 to those rows, unless it is empty).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CutBox {
    /// First row inside the box.
    pub y0: usize,
    /// One past the last row inside the box.
    pub y1: usize,
    /// First column inside the box.
    pub x0: usize,
    /// One past the last column inside the box.
    pub x1: usize,
}

impl CutBox {
    /// Number of positions inside the box: 0 for an empty or inverted one (`y1 <= y0` or `x1 <= x0`),
    /// and `usize::MAX` where the product would not fit (boxes of a valid plan never come near).
    pub fn area(&self) -> usize {
        self.y1.saturating_sub(self.y0).saturating_mul(self.x1.saturating_sub(self.x0))
    }

    /// Whether row `y`, column `x` lies inside the box.
    pub fn contains(&self, y: usize, x: usize) -> bool {
        (self.y0..self.y1).contains(&y) && (self.x0..self.x1).contains(&x)
    }
}

/// An FMix mask as plan data: the sample keeps the `round(λ·H·W)` pixels where a low-frequency noise,
/// drawn from `seed`, is largest, and takes its partner's elsewhere.
///
/// The noise is the real inverse FFT of a spectrum whose coefficients are complex Gaussians (from a
/// ChaCha8 stream seeded by `seed`) scaled by `1 / max(f, 1/max(H, W))^decay_power`, `f` the frequency in
/// cycles per pixel (FMix's `get_spectrum`), kept for the [`FMixMask::FREQUENCIES`] lowest frequencies along
/// each axis (the rest, whose amplitude is below `FREQUENCIES^−decay_power` of the lowest, is zero).
/// Ties rank by position. The mask is computed on the images' device once per call and shared by every
/// executor, so they agree bit for bit; across devices an FFT's rounding may move pixels whose noise lies
/// within rounding of the threshold.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FMixMask {
    /// The noise's random seed.
    pub seed: u64,
    /// The spectrum's decay power δ.
    pub decay_power: f64,
}

impl FMixMask {
    /// The frequencies kept along each axis, from 0 (and as many negative ones).
    pub const FREQUENCIES: usize = 16;
}

/// What happens to one sample.
///
/// `#[non_exhaustive]`: new mixing operations may be added without a major version.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum MixOp {
    /// Left as it is, with its own (plain or smoothed) target.
    Keep,
    /// `x = λ·x_self + (1−λ)·x_partner`, target mixed by the same λ.
    Mixup {
        /// Weight of the sample itself, in `[0, 1)`.
        lam: f64,
    },
    /// The partner's pixels pasted inside `bbox`; target mixed by `lam`.
    CutMix {
        /// The pasted region.
        bbox: CutBox,
        /// Weight of the sample's own label: the kept-area ratio when `correct_lam` (or minmax) is on,
        /// else the drawn λ, as in timm.
        lam: f64,
    },
    /// The partner's whole image resized to `bbox` by nearest neighbour (box row `y0 + r` shows the
    /// partner's row `⌊r·H / (y1 − y0)⌋`, columns likewise) and pasted inside it; target mixed by `lam`,
    /// the kept area.
    ResizeMix {
        /// The pasted region, at least one pixel.
        bbox: CutBox,
        /// Weight of the sample's own label: the kept-area ratio.
        lam: f64,
    },
    /// The partner's pixels outside the sample's own region, `mask`'s top `round(lam·H·W)` pixels.
    FMix {
        /// The noise that decides the region.
        mask: FMixMask,
        /// Weight of the sample's own label: the fraction of its pixels it keeps.
        lam: f64,
    },
}

impl MixOp {
    /// Weight of the sample's own label in its target (1 for [`MixOp::Keep`]).
    pub fn lam(&self) -> f64 {
        match *self {
            MixOp::Keep => 1.0,
            MixOp::Mixup { lam }
            | MixOp::CutMix { lam, .. }
            | MixOp::ResizeMix { lam, .. }
            | MixOp::FMix { lam, .. } => lam,
        }
    }

    /// The box of a box operation (CutMix, ResizeMix).
    pub fn bbox(&self) -> Option<CutBox> {
        match *self {
            MixOp::CutMix { bbox, .. } | MixOp::ResizeMix { bbox, .. } => Some(bbox),
            MixOp::Keep | MixOp::Mixup { .. } | MixOp::FMix { .. } => None,
        }
    }

    /// Whether the sample takes pixels inside a region of its extent (CutMix, ResizeMix, FMix).
    pub fn pastes(&self) -> bool {
        match self {
            MixOp::CutMix { .. } | MixOp::ResizeMix { .. } | MixOp::FMix { .. } => true,
            MixOp::Keep | MixOp::Mixup { .. } => false,
        }
    }
}

/// A sampled plan for one batch: what every executor applies, identically.
///
/// Sample `i` mixes with its partner `N − 1 − i` ([`MixPlan::partner`], timm's flip pairing); the middle
/// sample of an odd batch pairs with itself.
#[derive(Clone, Debug, PartialEq)]
pub struct MixPlan {
    /// The operation of each sample, in batch order.
    pub ops: Vec<MixOp>,
    /// The `(height, width)` the boxes refer to: `(H, W)` for `[N, C, H, W]`, `(1, T)` for `[N, C, T]`,
    /// `None` for inputs CutMix cannot box (then no op is CutMix).
    pub extent: Option<(usize, usize)>,
}

impl MixPlan {
    /// The most samples a plan may hold (2^31 − 1): the fused executors index samples with 32-bit
    /// integers. [`Mixer::sample_plan`](crate::Mixer::sample_plan) and every apply refuse larger batches.
    pub const MAX_LEN: usize = i32::MAX as usize;

    /// The largest height or width (sequence length) a box may live in (2^31 − 1): boxes reach the
    /// kernels as 32-bit integers.
    pub const MAX_EXTENT: usize = i32::MAX as usize;

    /// A plan that leaves all `n` samples as they are (plain targets).
    pub fn identity(n: usize, extent: Option<(usize, usize)>) -> Self {
        MixPlan { ops: vec![MixOp::Keep; n], extent }
    }

    /// Batch size the plan was drawn for.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Whether the plan covers no sample.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// The sample that sample `i` mixes with: `N − 1 − i` (itself for the middle of an odd batch).
    ///
    /// `i` must be a sample of the plan (`i < len()`): like slice indexing, it panics otherwise, naming
    /// `i` and the plan's length. [`MixPlan::checked_partner`] returns `None` instead.
    pub fn partner(&self, i: usize) -> usize {
        match self.checked_partner(i) {
            Some(partner) => partner,
            None => panic!("MixPlan::partner: sample {i} out of range for a plan of {} samples", self.len()),
        }
    }

    /// The partner of sample `i` ([`MixPlan::partner`]), or `None` where `i >= len()`.
    pub fn checked_partner(&self, i: usize) -> Option<usize> {
        (i < self.len()).then(|| self.len() - 1 - i)
    }

    /// Per-sample label weights λ (1 for kept samples), in batch order.
    pub fn lams(&self) -> Vec<f64> {
        self.ops.iter().map(MixOp::lam).collect()
    }

    /// Whether applying the plan changes nothing but the target encoding.
    pub fn is_identity(&self) -> bool {
        self.ops.iter().all(|op| *op == MixOp::Keep)
    }

    /// Whether some sample uses CutMix.
    pub fn has_cutmix(&self) -> bool {
        self.ops.iter().any(|op| matches!(op, MixOp::CutMix { .. }))
    }

    /// Whether some sample pastes into a region of the extent (CutMix, ResizeMix or FMix): the plan then
    /// refers to its `extent`.
    pub fn pastes(&self) -> bool {
        self.ops.iter().any(MixOp::pastes)
    }

    /// Checks the plan's own consistency (at most [`MixPlan::MAX_LEN`] samples, λ range, boxes inside an
    /// extent of 1 to [`MixPlan::MAX_EXTENT`] a side, a segment's box on its one row), so a hand-made plan can't
    /// drive an executor out of bounds or make executors disagree. [`Mixer`](crate::Mixer) calls it before
    /// running a plan it was given.
    pub fn validate(&self) -> Result<()> {
        ensure!(
            self.len() <= Self::MAX_LEN,
            Error::InvalidPlan(format!(
                "plan: got {} samples, expected at most MixPlan::MAX_LEN = {}",
                self.len(),
                Self::MAX_LEN
            ))
        );
        for (i, op) in self.ops.iter().enumerate() {
            let lam = op.lam();
            ensure!(
                (0.0..=1.0).contains(&lam),
                Error::InvalidPlan(format!("plan.ops[{i}] lam: got {}, expected a value in [0, 1]", number(lam)))
            );
            if !op.pastes() {
                continue;
            }
            let Some((h, w)) = self.extent else {
                return Err(Error::InvalidPlan(format!(
                    "plan.ops[{i}]: got {op:?} in a plan without extent, expected extent Some((H, W))"
                )));
            };
            // At least a pixel: FMix's spectrum and masks are made for the extent's rows and columns.
            ensure!(
                (1..=Self::MAX_EXTENT).contains(&h) && (1..=Self::MAX_EXTENT).contains(&w),
                Error::InvalidPlan(format!(
                    "plan.extent: got {h}x{w}, expected 1 to MixPlan::MAX_EXTENT = {} a side",
                    Self::MAX_EXTENT
                ))
            );
            if let Some(bbox) = op.bbox() {
                ensure!(
                    bbox.y0 <= bbox.y1 && bbox.y1 <= h && bbox.x0 <= bbox.x1 && bbox.x1 <= w,
                    Error::InvalidPlan(format!(
                        "plan.ops[{i}].bbox: got {bbox:?}, expected a box inside the extent {h}x{w}"
                    ))
                );
                // In an extent of height 1 (a segment [N, C, T]) the reference masks only the columns at rank
                // 3 while the fused executors test rows too: rows 0..0 with columns would paste on one only.
                ensure!(
                    h != 1 || bbox.x0 == bbox.x1 || (bbox.y0, bbox.y1) == (0, 1),
                    Error::InvalidPlan(format!(
                        "plan.ops[{i}].bbox: got {bbox:?} in an extent of height 1 (a segment of [N, C, T]), expected \
                         rows y0 = 0, y1 = 1 (or an empty box, x0 == x1)"
                    ))
                );
            }
            match *op {
                MixOp::ResizeMix { bbox, .. } => {
                    ensure!(
                        bbox.area() > 0,
                        Error::InvalidPlan(format!(
                            "plan.ops[{i}].bbox: got the empty box {bbox:?}, expected a ResizeMix box of at least one pixel"
                        ))
                    );
                }
                MixOp::FMix { mask, .. } => {
                    ensure!(
                        Paste::takes_decay_power(mask.decay_power),
                        Error::InvalidPlan(format!(
                            "plan.ops[{i}].mask.decay_power: got {}, expected a value in (0, Paste::MAX_DECAY_POWER = {}]",
                            number(mask.decay_power),
                            Paste::MAX_DECAY_POWER
                        ))
                    );
                }
                MixOp::Keep | MixOp::Mixup { .. } | MixOp::CutMix { .. } => {}
            }
        }
        Ok(())
    }
}

/// Draws plans for one configuration (timm's sampling logic, with one RNG the caller owns).
#[derive(Clone, Debug)]
pub(crate) struct PlanSampler {
    config: MixConfig,
    mixup: Option<Beta<f64>>,
    cutmix: Option<Beta<f64>>,
}

impl PlanSampler {
    /// Builds the Beta distributions of a validated configuration.
    pub(crate) fn new(config: &MixConfig) -> Result<Self> {
        let beta = |name: &'static str, a: f64| -> Result<Option<Beta<f64>>> {
            if a > 0.0 {
                Ok(Some(
                    Beta::new(a, a)
                        .map_err(|e| Error::config(name, format!("got {0}, Beta({0}, {0}) refused: {e}", number(a))))?,
                ))
            } else {
                Ok(None)
            }
        };
        Ok(PlanSampler {
            config: config.clone(),
            mixup: beta("mixup_alpha", config.mixup_alpha)?,
            cutmix: beta(
                "cutmix_alpha",
                config.cutmix_alpha.max(if config.cutmix_minmax.is_some() { 1.0 } else { 0.0 }),
            )?,
        })
    }

    /// Samples a plan for a batch of `n` samples whose boxes live in `extent`.
    pub(crate) fn sample<R: Rng + ?Sized>(
        &self,
        rng: &mut R,
        n: usize,
        extent: Option<(usize, usize)>,
    ) -> Result<MixPlan> {
        if self.config.cutmix_enabled() && extent.is_none() {
            return Err(Error::InvalidImages(
                "CutMix is enabled but the images have no extent to box, expected [N, C, H, W] or [N, C, T]".into(),
            ));
        }
        let mut plan = MixPlan::identity(n, extent);
        let pairs = n / 2;
        match self.config.mode {
            MixMode::Batch => {
                let op = self.draw(rng, extent);
                for i in 0..2 * pairs {
                    plan.ops[if i < pairs { i } else { i + n % 2 }] = op;
                }
            }
            MixMode::Pair => {
                for i in 0..pairs {
                    let op = self.draw(rng, extent);
                    plan.ops[i] = op;
                    plan.ops[n - 1 - i] = op;
                }
            }
            MixMode::Elem => {
                for i in (0..n).filter(|&i| 2 * i + 1 != n) {
                    plan.ops[i] = self.draw(rng, extent);
                }
            }
        }
        Ok(plan)
    }

    /// One draw: whether to mix, Mixup or the paste (CutMix, ResizeMix or FMix), and its parameters.
    fn draw<R: Rng + ?Sized>(&self, rng: &mut R, extent: Option<(usize, usize)>) -> MixOp {
        let c = &self.config;
        if rng.random::<f64>() >= c.prob {
            return MixOp::Keep;
        }
        let use_cutmix = match (&self.mixup, &self.cutmix) {
            (Some(_), Some(_)) => rng.random::<f64>() < c.switch_prob,
            (None, Some(_)) => true,
            (Some(_), None) => false,
            (None, None) => return MixOp::Keep,
        };
        if !use_cutmix {
            let lam = self.mixup.as_ref().map_or(1.0, |b| b.sample(rng));
            return if lam < 1.0 { MixOp::Mixup { lam } } else { MixOp::Keep };
        }
        let (h, w) = extent.expect("checked in sample()");
        match c.paste {
            Paste::CutMix => self.draw_cutmix(rng, h, w),
            Paste::ResizeMix { lam_min, lam_max } => self.draw_resizemix(rng, (h, w), (lam_min, lam_max)),
            Paste::FMix { decay_power } => self.draw_fmix(rng, (h, w), decay_power),
        }
    }

    /// timm's CutMix draw: the box from λ (or from `cutmix_minmax`), λ corrected to the area where asked.
    fn draw_cutmix<R: Rng + ?Sized>(&self, rng: &mut R, h: usize, w: usize) -> MixOp {
        let c = &self.config;
        let (bbox, drawn) = match c.cutmix_minmax {
            Some(minmax) => (box_minmax(rng, h, w, minmax), None),
            None => {
                let lam = self.cutmix.as_ref().map_or(1.0, |b| b.sample(rng));
                (box_for_lam(rng, h, w, lam), Some(lam))
            }
        };
        let lam = match drawn {
            Some(lam) if !c.correct_lam => lam,
            _ => 1.0 - bbox.area() as f64 / (h as f64 * w as f64),
        };
        if lam < 1.0 {
            MixOp::CutMix { bbox, lam }
        } else {
            MixOp::Keep
        }
    }

    /// ResizeMix's draw: the side fraction τ in `[lo, hi]` (Beta(α, α) rescaled, as mmpretrain), a box of
    /// `⌊τ·side⌉` (at least 1) at a uniform position, λ the kept area.
    fn draw_resizemix<R: Rng + ?Sized>(&self, rng: &mut R, (h, w): (usize, usize), (lo, hi): (f64, f64)) -> MixOp {
        let b = self.cutmix.as_ref().map_or(0.5, |beta| beta.sample(rng));
        let tau = lo + (hi - lo) * b;
        let side = |len: usize| ((len as f64 * tau).round() as usize).clamp(1, len);
        let (bh, bw) = (side(h), side(w));
        let y0 = rng.random_range(0..=h - bh);
        let x0 = rng.random_range(0..=w - bw);
        let bbox = CutBox { y0, y1: y0 + bh, x0, x1: x0 + bw };
        MixOp::ResizeMix { bbox, lam: 1.0 - (bh * bw) as f64 / (h * w) as f64 }
    }

    /// FMix's draw: λ ~ Beta(α, α) rounded to whole pixels (λ is then exactly the kept fraction), and the
    /// noise's seed.
    fn draw_fmix<R: Rng + ?Sized>(&self, rng: &mut R, (h, w): (usize, usize), decay_power: f64) -> MixOp {
        let drawn = self.cutmix.as_ref().map_or(0.5, |beta| beta.sample(rng));
        let pixels = h * w;
        let own = ((drawn * pixels as f64).round() as usize).min(pixels);
        let seed = rng.random::<u64>();
        if own == pixels {
            return MixOp::Keep;
        }
        MixOp::FMix { mask: FMixMask { seed, decay_power }, lam: own as f64 / pixels as f64 }
    }
}

/// Sides of a box covering the fraction `area` of an `h × w` extent, as timm's `int(side · √area)`; a unit
/// dimension (a sequence `(1, T)`) stays whole and the other side is `int(T · area)`.
fn box_sides(h: usize, w: usize, area: f64) -> (usize, usize) {
    let boxed_dims = (h > 1) as i32 + (w > 1) as i32;
    let ratio = if boxed_dims == 2 { area.sqrt() } else { area };
    let side = |len: usize| if len > 1 || boxed_dims == 0 { (len as f64 * ratio).floor() as usize } else { 1 };
    (side(h), side(w))
}

/// timm's `rand_bbox` (margin 0, as of timm 1.0.29): a centre drawn uniformly in `[0, len)`, the box
/// `[centre − ⌊cut/2⌋, centre + ⌊(cut+1)/2⌋)` clipped at the border, so an interior box has side `cut`
/// (timm before 1.0.29 gave `2·⌊cut/2⌋`). A unit dimension (a sequence's single row) is kept whole.
fn box_for_lam<R: Rng + ?Sized>(rng: &mut R, h: usize, w: usize, lam: f64) -> CutBox {
    let (cut_h, cut_w) = box_sides(h, w, 1.0 - lam);
    let span = |rng: &mut R, len: usize, cut: usize| -> (usize, usize) {
        if len == 1 && cut == 1 {
            return (0, 1);
        }
        cut_around(rng.random_range(0..len), len, cut)
    };
    let (y0, y1) = span(rng, h, cut_h);
    let (x0, x1) = span(rng, w, cut_w);
    CutBox { y0, y1, x0, x1 }
}

/// `rand_bbox`'s span of `cut` around `centre` in `[0, len)`: `[centre − ⌊cut/2⌋, centre + ⌊(cut+1)/2⌋)`
/// clipped to `[0, len]`.
fn cut_around(centre: usize, len: usize, cut: usize) -> (usize, usize) {
    (centre.saturating_sub(cut / 2), (centre + cut.div_ceil(2)).min(len))
}

/// timm's `rand_bbox_minmax` (as of timm 1.0.29): each side drawn uniformly from `[⌊len·lo⌋, ⌊len·hi⌋)`
/// (numpy's `randint`, upper bound exclusive) and the start from `[0, len − side]`, so a box can reach the
/// far edge (timm before 1.0.29 drew the start from `[0, len − side)`). Where timm's side range is empty
/// (`⌊len·lo⌋ = ⌊len·hi⌋`) numpy raises; here the side is `⌊len·lo⌋`. A unit dimension is kept whole.
fn box_minmax<R: Rng + ?Sized>(rng: &mut R, h: usize, w: usize, (lo, hi): (f64, f64)) -> CutBox {
    let boxed_dims = (h > 1) as i32 + (w > 1) as i32;
    let span = |rng: &mut R, len: usize| -> (usize, usize) {
        if len == 1 && boxed_dims > 0 {
            return (0, 1);
        }
        let (a, b) = ((len as f64 * lo).floor() as usize, (len as f64 * hi).floor() as usize);
        let cut = if a < b { rng.random_range(a..b) } else { a };
        let start = rng.random_range(0..=len - cut);
        (start, start + cut)
    };
    let (y0, y1) = span(rng, h);
    let (x0, x1) = span(rng, w);
    CutBox { y0, y1, x0, x1 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn box_spans_are_timms_rand_bbox_spans() {
        // (len, cut, centre) → numpy.clip(centre − cut // 2, 0, len), numpy.clip(centre + (cut + 1) // 2, 0, len),
        // as timm 1.0.31's rand_bbox computes them.
        for ((len, cut, centre), want) in [
            ((10, 3, 0), (0, 2)),
            ((10, 3, 5), (4, 7)),
            ((10, 3, 9), (8, 10)),
            ((10, 4, 5), (3, 7)),
            ((10, 4, 0), (0, 2)),
            ((10, 4, 9), (7, 10)),
            ((10, 1, 4), (4, 5)),
            ((10, 0, 6), (6, 6)),
            ((10, 10, 5), (0, 10)),
            ((10, 10, 0), (0, 5)),
            ((10, 9, 9), (5, 10)),
            ((7, 6, 3), (0, 6)),
        ] {
            assert_eq!(cut_around(centre, len, cut), want, "len {len} cut {cut} centre {centre}");
        }
    }

    #[test]
    fn area_is_total_for_inverted_and_huge_boxes() {
        assert_eq!(CutBox { y0: 2, y1: 5, x0: 1, x1: 4 }.area(), 9);
        assert_eq!(CutBox { y0: 5, y1: 2, x0: 1, x1: 4 }.area(), 0);
        assert_eq!(CutBox { y0: 0, y1: 3, x0: 9, x1: 4 }.area(), 0);
        assert_eq!(CutBox { y0: 0, y1: usize::MAX, x0: 0, x1: 2 }.area(), usize::MAX);
    }

    #[test]
    fn partner_outside_the_plan_is_none_or_a_named_panic() {
        let plan = MixPlan::identity(4, None);
        assert_eq!((0..4).map(|i| plan.partner(i)).collect::<Vec<_>>(), [3, 2, 1, 0]);
        assert_eq!(plan.checked_partner(3), Some(0));
        assert_eq!(plan.checked_partner(4), None);
        assert_eq!(MixPlan::identity(0, None).checked_partner(0), None);
        let panic = std::panic::catch_unwind(|| plan.partner(7)).unwrap_err();
        let message = panic.downcast_ref::<String>().expect("a formatted message");
        assert_eq!(message, "MixPlan::partner: sample 7 out of range for a plan of 4 samples");
    }

    fn with_box(extent: (usize, usize), bbox: CutBox) -> MixPlan {
        let mut plan = MixPlan::identity(2, Some(extent));
        plan.ops[0] = MixOp::CutMix { bbox, lam: 0.5 };
        plan
    }

    #[test]
    fn a_segment_box_covers_its_one_row_or_nothing() {
        let ok = |y0, y1, x0, x1| with_box((1, 6), CutBox { y0, y1, x0, x1 }).validate();
        ok(0, 1, 1, 4).unwrap();
        ok(0, 0, 3, 3).unwrap(); // empty: pastes nothing anywhere
        ok(1, 1, 2, 2).unwrap();
        for (y0, y1) in [(0, 0), (1, 1)] {
            let e = ok(y0, y1, 1, 4).unwrap_err();
            assert!(matches!(e, Error::InvalidPlan(_)), "{e:?}");
            let e = e.to_string();
            assert!(
                e.starts_with("plan.ops[0].bbox") && e.contains("y0 = 0, y1 = 1") && e.contains("[N, C, T]"),
                "{e}"
            );
        }
        // Taller extents keep empty row ranges: both executors test rows there.
        with_box((3, 6), CutBox { y0: 1, y1: 1, x0: 1, x1: 4 }).validate().unwrap();
    }

    #[test]
    fn sampled_segment_plans_validate() {
        use rand::SeedableRng;
        for config in [
            MixConfig { mode: MixMode::Elem, ..MixConfig::cutmix(1.0, 4) },
            MixConfig { mode: MixMode::Elem, correct_lam: false, ..MixConfig::vit(4) },
            MixConfig { mode: MixMode::Elem, cutmix_minmax: Some((0.2, 1.0)), ..MixConfig::cutmix(1.0, 4) },
        ] {
            let sampler = PlanSampler::new(&config).unwrap();
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
            for t in 1..=12 {
                for _ in 0..20 {
                    sampler.sample(&mut rng, 5, Some((1, t))).unwrap().validate().unwrap();
                }
            }
        }
    }

    #[test]
    fn plans_past_the_limits_are_refused() {
        let e = with_box((MixPlan::MAX_EXTENT + 1, 4), CutBox { y0: 0, y1: 1, x0: 0, x1: 1 }).validate().unwrap_err();
        assert!(e.to_string().contains("MixPlan::MAX_EXTENT"), "{e}");
        with_box((MixPlan::MAX_EXTENT, 4), CutBox { y0: 0, y1: MixPlan::MAX_EXTENT, x0: 0, x1: 4 }).validate().unwrap();
    }
}
