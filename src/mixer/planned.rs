//! [`Planned`]: the calls of [`Mixer`] with a plan given instead of sampled.

use tch::Tensor;

use super::{Call, Mixer};
use crate::error::Result;
use crate::normalize::Normalize;
use crate::plan::MixPlan;

/// A [`Mixer`] bound to one given plan, from [`Mixer::planned`]: the same calls as the mixer's own, each
/// applying `plan` instead of sampling one.
///
/// The plan is checked against each batch (its length, its boxes' extent, its own invariants) before
/// anything is written. Targets use the mixer's configuration (classes, label smoothing, loss), and the
/// mixer's random stream is not used.
///
/// ```
/// use tch::{Device, Kind, Tensor};
/// use tch_mixcut::{MixConfig, Mixer};
///
/// let mut mixer = Mixer::new(MixConfig::vit(10), 0)?;
/// let images = Tensor::rand([8, 3, 32, 32], (Kind::Float, Device::Cpu));
/// let labels = Tensor::randint(10, [8], (Kind::Int64, Device::Cpu));
/// let plan = mixer.sample_plan(&images.size())?; // inspect it, log it, send it to another rank ...
/// let (mixed, targets) = mixer.planned(&plan).apply(&images, &labels)?;
/// let (again, _) = mixer.planned(&plan).apply(&images, &labels)?;
/// assert!(mixed.equal(&again) && targets.size() == [8, 10]);
/// # Ok::<(), tch_mixcut::Error>(())
/// ```
#[derive(Debug)]
pub struct Planned<'m, 'p> {
    mixer: &'m mut Mixer,
    plan: &'p MixPlan,
}

impl Mixer {
    /// This mixer with `plan` to apply (e.g. one from [`Mixer::sample_plan`], inspected or shared):
    /// `mixer.planned(&plan).apply(&images, &labels)`, and likewise `apply_`, `apply_normalized` and the
    /// segmentation calls.
    pub fn planned<'m, 'p>(&'m mut self, plan: &'p MixPlan) -> Planned<'m, 'p> {
        Planned { mixer: self, plan }
    }
}

impl Planned<'_, '_> {
    /// [`Mixer::apply`] with this plan: a mixed copy and the soft targets.
    pub fn apply(&mut self, images: &Tensor, labels: &Tensor) -> Result<(Tensor, Tensor)> {
        self.mixer.run(Call::new(Some(self.plan), images, labels))
    }

    /// [`Mixer::apply_`] with this plan: mixes in place (through views, as tch's `_` methods do) and returns
    /// the soft targets.
    pub fn apply_(&mut self, images: &mut Tensor, labels: &Tensor) -> Result<Tensor> {
        Ok(self.mixer.run(Call { in_place: true, ..Call::new(Some(self.plan), images, labels) })?.1)
    }

    /// [`Mixer::apply_normalized`] with this plan.
    pub fn apply_normalized(&mut self, images: &Tensor, labels: &Tensor, norm: &Normalize) -> Result<(Tensor, Tensor)> {
        self.mixer.run(Call { normalize: Some(norm), ..Call::new(Some(self.plan), images, labels) })
    }

    /// [`Mixer::apply_segmentation`] with this plan: the mixed images and masks.
    pub fn apply_segmentation(&mut self, images: &Tensor, masks: &Tensor) -> Result<(Tensor, Tensor)> {
        self.mixer.run_segmentation(Some(self.plan), images, masks, false)
    }

    /// [`Mixer::apply_segmentation_`] with this plan: images and masks overwritten; on `Err` neither changed.
    pub fn apply_segmentation_(&mut self, images: &mut Tensor, masks: &mut Tensor) -> Result<()> {
        self.mixer.run_segmentation(Some(self.plan), images, masks, true).map(|_| ())
    }
}
