//! Mixing options (timm's `Mixup` options, same names and meanings), presets and validation.

use crate::error::{ensure, number, Error, Result};

/// How often a new mixing draw (λ, Mixup-or-CutMix, box) is made, as timm's `mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MixMode {
    /// One draw for the whole batch (timm `"batch"`): the cheapest and the recipes' default.
    Batch,
    /// One draw per pair `(i, N-1-i)`; both samples of a pair share λ and box (timm `"pair"`).
    Pair,
    /// One draw per sample (timm `"elem"`): each sample mixes with its partner by its own λ.
    Elem,
}

impl std::str::FromStr for MixMode {
    type Err = Error;

    /// Parses timm's spelling: `batch`, `pair` or `elem`.
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "batch" => Ok(MixMode::Batch),
            "pair" => Ok(MixMode::Pair),
            "elem" => Ok(MixMode::Elem),
            other => {
                Err(Error::config("mode", format!("got {other:?}, expected one of \"batch\", \"pair\", \"elem\"")))
            }
        }
    }
}

/// What the CutMix branch pastes: timm's box of the partner's pixels, or another method of the mix family.
/// Chosen with [`MixConfig::paste`]; drawn where CutMix would be (`cutmix_alpha > 0`, `switch_prob` against
/// Mixup).
///
/// `#[non_exhaustive]`: new methods may be added without a major version.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[non_exhaustive]
pub enum Paste {
    /// CutMix (Yun et al., 2019), as timm: the partner's pixels in a box of area `1 − λ`,
    /// λ ~ Beta(`cutmix_alpha`, `cutmix_alpha`) (or a `cutmix_minmax` box).
    #[default]
    CutMix,
    /// ResizeMix (Qin et al., 2020): the partner's whole image, resized by nearest neighbour, pasted into a
    /// box whose sides are the fraction τ of the image's (`⌊τ·H⌉ × ⌊τ·W⌉`, at least 1), at a uniform
    /// position; τ = `lam_min + (lam_max − lam_min)·b`, b ~ Beta(`cutmix_alpha`, `cutmix_alpha`) (uniform for
    /// α = 1), as mmpretrain's `ResizeMix`, whose option names and defaults (0.1, 0.8) these are. The target
    /// weight λ is the kept area.
    ResizeMix {
        /// Smallest side fraction τ.
        lam_min: f64,
        /// Largest side fraction τ.
        lam_max: f64,
    },
    /// FMix (Harris et al., 2020): the sample keeps the top-λ fraction of its pixels by a low-frequency
    /// Fourier noise (amplitude `1/f^decay_power`) and takes its partner's elsewhere;
    /// λ ~ Beta(`cutmix_alpha`, `cutmix_alpha`). OpenMixup's name; its default `decay_power` is 3.
    FMix {
        /// The noise spectrum's decay power δ: larger is smoother; at most [`Paste::MAX_DECAY_POWER`].
        decay_power: f64,
    },
}

impl Paste {
    /// The largest FMix decay power δ taken: far past smooth already (the noise is its lowest frequencies to
    /// f32 precision), and the spectrum's `max(H, W)^δ` must stay within f64's range at the largest extents.
    pub const MAX_DECAY_POWER: f64 = 32.0;

    /// Whether an FMix noise takes `decay_power`: finite, in `(0, MAX_DECAY_POWER]`.
    pub(crate) fn takes_decay_power(decay_power: f64) -> bool {
        decay_power.is_finite() && decay_power > 0.0 && decay_power <= Self::MAX_DECAY_POWER
    }
}

/// The options of a [`Mixer`](crate::Mixer): timm's `Mixup` options with the same names and meanings.
///
/// There is no `Default`: `num_classes` must come from your data set. Start from a preset and adjust
/// with struct-update syntax:
///
/// ```
/// use tch_mixcut::{MixConfig, MixMode};
/// let config = MixConfig { mode: MixMode::Elem, label_smoothing: 0.0, ..MixConfig::deit(10) };
/// assert_eq!(config.mixup_alpha, 0.8);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct MixConfig {
    /// Mixup's Beta(α, α) parameter; `0` turns Mixup off.
    pub mixup_alpha: f64,
    /// CutMix's Beta(α, α) parameter; `0` turns CutMix off (unless `cutmix_minmax` is set).
    pub cutmix_alpha: f64,
    /// CutMix box side as a fraction of the image side, drawn uniformly in `[lo, hi]`, instead of from
    /// λ. As in timm, setting it turns CutMix on and always corrects λ to the box area.
    pub cutmix_minmax: Option<(f64, f64)>,
    /// Probability that a batch (or pair, or sample, by `mode`) is mixed at all.
    pub prob: f64,
    /// Probability of CutMix rather than Mixup when both are on.
    pub switch_prob: f64,
    /// How often a new draw is made: per batch, per pair or per sample.
    pub mode: MixMode,
    /// Recompute CutMix's λ from the box area after clipping at the image border (timm's `correct_lam`).
    pub correct_lam: bool,
    /// Label smoothing `s` of the one-hot targets built from class indices: `1 - s + s/C` and `s/C`.
    pub label_smoothing: f64,
    /// Number of classes `C`: the width of the targets.
    pub num_classes: i64,
    /// Turn mixing off from this epoch on (timm's `mixup_off_epoch`); see [`Mixer::set_epoch`](crate::Mixer::set_epoch).
    pub off_epoch: Option<usize>,
    /// Binary cross-entropy targets: every mixed target value becomes `1` where it is greater than this
    /// threshold and `0` elsewhere (timm's `bce_target_thresh`, as in ResNet strikes back and DeiT III), in
    /// the same pass that mixes. `None` (every preset): soft targets. Compared in f32.
    pub bce_target_thresh: Option<f64>,
    /// What the CutMix branch pastes: [`Paste::CutMix`] (every timm preset), ResizeMix or FMix.
    pub paste: Paste,
}

impl MixConfig {
    /// timm's `Mixup()` defaults: Mixup α 1.0, no CutMix, prob 1, switch 0.5, batch mode,
    /// corrected λ, label smoothing 0.1.
    pub fn timm_defaults(num_classes: i64) -> Self {
        MixConfig {
            mixup_alpha: 1.0,
            cutmix_alpha: 0.0,
            cutmix_minmax: None,
            prob: 1.0,
            switch_prob: 0.5,
            mode: MixMode::Batch,
            correct_lam: true,
            label_smoothing: 0.1,
            num_classes,
            off_epoch: None,
            bce_target_thresh: None,
            paste: Paste::CutMix,
        }
    }

    /// Mixup alone with the given α, no label smoothing, every batch mixed.
    pub fn mixup(alpha: f64, num_classes: i64) -> Self {
        MixConfig { mixup_alpha: alpha, label_smoothing: 0.0, ..Self::timm_defaults(num_classes) }
    }

    /// CutMix alone with the given α, no label smoothing, every batch mixed.
    pub fn cutmix(alpha: f64, num_classes: i64) -> Self {
        MixConfig { mixup_alpha: 0.0, cutmix_alpha: alpha, label_smoothing: 0.0, ..Self::timm_defaults(num_classes) }
    }

    /// ImageNet from scratch with Mixup (α 0.2), the common ResNet recipe.
    pub fn imagenet_mixup(num_classes: i64) -> Self {
        Self::mixup(0.2, num_classes)
    }

    /// ImageNet from scratch with CutMix (α 1.0), as in the CutMix paper.
    pub fn imagenet_cutmix(num_classes: i64) -> Self {
        Self::cutmix(1.0, num_classes)
    }

    /// ViT training: Mixup α 0.2 and CutMix α 1.0 used together, switching with probability 0.5.
    pub fn vit(num_classes: i64) -> Self {
        MixConfig { mixup_alpha: 0.2, cutmix_alpha: 1.0, label_smoothing: 0.0, ..Self::timm_defaults(num_classes) }
    }

    /// The DeiT / timm ViT recipe: Mixup α 0.8, CutMix α 1.0, switch 0.5, label smoothing 0.1.
    pub fn deit(num_classes: i64) -> Self {
        MixConfig { mixup_alpha: 0.8, cutmix_alpha: 1.0, ..Self::timm_defaults(num_classes) }
    }

    /// ResizeMix alone as mmpretrain's defaults: side fraction τ uniform in [0.1, 0.8], no label smoothing,
    /// every batch mixed.
    pub fn resizemix(num_classes: i64) -> Self {
        MixConfig { paste: Paste::ResizeMix { lam_min: 0.1, lam_max: 0.8 }, ..Self::cutmix(1.0, num_classes) }
    }

    /// FMix alone with λ ~ Beta(α, α) and decay power 3 (the paper's), no label smoothing, every batch mixed.
    pub fn fmix(alpha: f64, num_classes: i64) -> Self {
        MixConfig { paste: Paste::FMix { decay_power: 3.0 }, ..Self::cutmix(alpha, num_classes) }
    }

    /// Whether CutMix can be drawn at all (α > 0, or a minmax box range is set).
    pub fn cutmix_enabled(&self) -> bool {
        self.cutmix_alpha > 0.0 || self.cutmix_minmax.is_some()
    }

    /// Whether Mixup can be drawn at all.
    pub fn mixup_enabled(&self) -> bool {
        self.mixup_alpha > 0.0
    }

    /// Checks every option; the error ([`Error::InvalidConfig`]) names the option, its value and what was
    /// expected. [`Mixer::new`](crate::Mixer::new) calls it.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &'static str, value: f64, expected: &str| {
            Error::config(field, format!("got {}, expected {expected}", number(value)))
        };
        for (field, v) in [
            ("mixup_alpha", self.mixup_alpha),
            ("cutmix_alpha", self.cutmix_alpha),
            ("prob", self.prob),
            ("switch_prob", self.switch_prob),
            ("label_smoothing", self.label_smoothing),
        ] {
            ensure!(v.is_finite(), bad(field, v, "a finite number"));
        }
        ensure!(self.mixup_alpha >= 0.0, bad("mixup_alpha", self.mixup_alpha, ">= 0"));
        ensure!(self.cutmix_alpha >= 0.0, bad("cutmix_alpha", self.cutmix_alpha, ">= 0"));
        ensure!((0.0..=1.0).contains(&self.prob), bad("prob", self.prob, "a probability in [0, 1]"));
        ensure!(
            (0.0..=1.0).contains(&self.switch_prob),
            bad("switch_prob", self.switch_prob, "a probability in [0, 1]")
        );
        ensure!(
            (0.0..1.0).contains(&self.label_smoothing),
            bad("label_smoothing", self.label_smoothing, "a value in [0, 1)")
        );
        if let Some(t) = self.bce_target_thresh {
            ensure!(
                t.is_finite() && (0.0..1.0).contains(&t),
                bad("bce_target_thresh", t, "a finite threshold in [0, 1)")
            );
        }
        ensure!(
            self.num_classes >= 1,
            Error::config("num_classes", format!("got {}, expected >= 1", self.num_classes))
        );
        if let Some((lo, hi)) = self.cutmix_minmax {
            ensure!(
                lo.is_finite() && hi.is_finite() && 0.0 < lo && lo <= hi && hi <= 1.0,
                Error::config(
                    "cutmix_minmax",
                    format!("got ({}, {}), expected finite 0 < lo <= hi <= 1", number(lo), number(hi))
                )
            );
        }
        self.validate_paste()?;
        ensure!(
            self.prob == 0.0 || self.mixup_enabled() || self.cutmix_enabled(),
            Error::config(
                "mixup_alpha",
                format!(
                    "got 0 with cutmix_alpha 0 and prob {}, expected one of them > 0 (or prob 0 to turn mixing off)",
                    self.prob
                )
            )
        );
        Ok(())
    }

    /// Checks [`MixConfig::paste`]'s parameters.
    fn validate_paste(&self) -> Result<()> {
        match self.paste {
            Paste::CutMix => Ok(()),
            Paste::ResizeMix { lam_min, lam_max } => {
                ensure!(
                    lam_min.is_finite() && lam_max.is_finite() && 0.0 < lam_min && lam_min <= lam_max && lam_max <= 1.0,
                    Error::config(
                        "paste",
                        format!(
                            "got ResizeMix lam_min {}, lam_max {}, expected finite 0 < lam_min <= lam_max <= 1",
                            number(lam_min),
                            number(lam_max)
                        )
                    )
                );
                self.no_minmax("ResizeMix")
            }
            Paste::FMix { decay_power } => {
                ensure!(
                    Paste::takes_decay_power(decay_power),
                    Error::config(
                        "paste",
                        format!(
                            "got FMix decay_power {}, expected a value in (0, Paste::MAX_DECAY_POWER = {}]",
                            number(decay_power),
                            Paste::MAX_DECAY_POWER
                        )
                    )
                );
                self.no_minmax("FMix")
            }
        }
    }

    /// `cutmix_minmax` draws CutMix boxes: refused with another paste.
    fn no_minmax(&self, paste: &str) -> Result<()> {
        ensure!(
            self.cutmix_minmax.is_none(),
            Error::config(
                "cutmix_minmax",
                format!("got {:?} with paste {paste}, expected None (it sizes CutMix boxes only)", self.cutmix_minmax)
            )
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_validate() {
        for c in [
            MixConfig::timm_defaults(1000),
            MixConfig::mixup(0.2, 10),
            MixConfig::cutmix(1.0, 10),
            MixConfig::imagenet_mixup(1000),
            MixConfig::imagenet_cutmix(1000),
            MixConfig::vit(1000),
            MixConfig::deit(1000),
            MixConfig::resizemix(1000),
            MixConfig::fmix(1.0, 1000),
        ] {
            c.validate().unwrap();
        }
    }

    #[test]
    fn paste_parameters_are_checked_naming_the_option() {
        let bad = [
            (Paste::ResizeMix { lam_min: 0.0, lam_max: 0.8 }, "paste"),
            (Paste::ResizeMix { lam_min: 0.9, lam_max: 0.8 }, "paste"),
            (Paste::ResizeMix { lam_min: 0.1, lam_max: f64::NAN }, "paste"),
            (Paste::FMix { decay_power: 0.0 }, "paste"),
            (Paste::FMix { decay_power: f64::INFINITY }, "paste"),
        ];
        for (paste, field) in bad {
            let err = MixConfig { paste, ..MixConfig::cutmix(1.0, 10) }.validate().unwrap_err();
            assert!(matches!(&err, Error::InvalidConfig { field: f, .. } if *f == field), "{paste:?}: {err:?}");
        }
        let minmax = MixConfig { cutmix_minmax: Some((0.2, 0.5)), ..MixConfig::fmix(1.0, 10) };
        let err = minmax.validate().unwrap_err().to_string();
        assert!(err.contains("cutmix_minmax") && err.contains("FMix"), "{err}");
    }

    #[test]
    fn mode_parses_timm_names() {
        assert_eq!("pair".parse::<MixMode>().unwrap(), MixMode::Pair);
        let err = "pairs".parse::<MixMode>().unwrap_err();
        assert!(matches!(err, Error::InvalidConfig { field: "mode", .. }), "{err}");
        assert!(err.to_string().contains("pairs"), "{err}");
    }
}
