//! [`Mixer`]: options → plan → executor, behind tensors-in, tensors-out calls.

use std::borrow::Cow;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tch::{Device, Tensor};

use crate::check;
use crate::config::MixConfig;
use crate::error::{ensure, Error, Result};
use crate::exec::label_flag::LabelFlag;
use crate::exec::{self, Executor, ExecutorKind};
use crate::job::params::TargetSpec;
use crate::job::{BatchSpec, Job, Labels, NormJob};
use crate::normalize::Normalize;
use crate::plan::{MixPlan, PlanSampler};
use crate::rng_state::RngState;

/// Applies Mixup / CutMix to batches: samples a [`MixPlan`] per call and runs it through an executor.
///
/// Seeded and reproducible: the same seed, rank and sequence of calls give the same plans, and every
/// executor applies a plan identically. For data-parallel training give each rank the same seed and its
/// own rank ([`Mixer::for_rank`]): ranks draw from independent ChaCha8 streams. Save the random state with
/// a checkpoint ([`Mixer::rng_state`]) to resume with the same plans.
///
/// ```
/// use tch::{Device, Kind, Tensor};
/// use tch_mixcut::{soft_cross_entropy, MixConfig, Mixer};
///
/// let mut mixer = Mixer::new(MixConfig::deit(10), 0)?; // timm's DeiT recipe over 10 classes
/// let images = Tensor::rand([8, 3, 32, 32], (Kind::Float, Device::Cpu));
/// let labels = Tensor::randint(10, [8], (Kind::Int64, Device::Cpu));
/// let (mixed, targets) = mixer.apply(&images, &labels)?; // a mixed copy, soft targets [8, 10]
/// let logits = Tensor::zeros([8, 10], (Kind::Float, Device::Cpu)); // the model's output
/// let loss = soft_cross_entropy(&logits, &targets);
/// assert_eq!((mixed.size(), loss.size()), (vec![8, 3, 32, 32], vec![]));
/// # Ok::<(), tch_mixcut::Error>(())
/// ```
#[derive(Debug)]
pub struct Mixer {
    config: MixConfig,
    sampler: PlanSampler,
    rng: ChaCha8Rng,
    executor: Executor,
    /// The caller's switch ([`Mixer::set_enabled`]).
    enabled: bool,
    /// Whether the last [`Mixer::set_epoch`] was at or past `config.off_epoch`.
    past_off_epoch: bool,
    strict_labels: bool,
    last: Option<ExecutorKind>,
    /// The plan the last successful call applied (its storage reused from call to call).
    last_plan: Option<MixPlan>,
    /// This mixer's out-of-range flag for the fused CUDA kernels.
    label_flag: LabelFlag,
}

/// One call's inputs and what it asks for.
struct Call<'a> {
    plan: Option<&'a MixPlan>,
    images: &'a Tensor,
    labels: &'a Tensor,
    in_place: bool,
    normalize: Option<&'a Normalize>,
    /// Targets other than the configuration's (evaluation: plain one-hot).
    targets: Option<TargetSpec>,
    /// Leave every sample as it is (evaluation), whatever the configuration.
    identity: bool,
}

impl<'a> Call<'a> {
    fn new(plan: Option<&'a MixPlan>, images: &'a Tensor, labels: &'a Tensor) -> Self {
        Call { plan, images, labels, in_place: false, normalize: None, targets: None, identity: false }
    }
}

/// What the checks learnt about a call's inputs.
struct Checked {
    batch: BatchSpec,
    encoding: Labels,
    kind: ExecutorKind,
    normalize: Option<NormJob>,
}

impl Mixer {
    /// A mixer for rank 0 with the given seed; the configuration is validated first.
    pub fn new(config: MixConfig, seed: u64) -> Result<Mixer> {
        Self::for_rank(config, seed, 0)
    }

    /// A mixer for one data-parallel rank: same `seed` on every rank, independent random streams.
    pub fn for_rank(config: MixConfig, seed: u64, rank: u64) -> Result<Mixer> {
        config.validate()?;
        crate::torch_cuda::load();
        let sampler = PlanSampler::new(&config)?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(rank);
        Ok(Mixer {
            config,
            sampler,
            rng,
            executor: Executor::Auto,
            enabled: true,
            past_off_epoch: false,
            strict_labels: false,
            last: None,
            last_plan: None,
            label_flag: LabelFlag::new(),
        })
    }

    /// Where the mixer's random stream stands, to save with a checkpoint. Restoring it with
    /// [`Mixer::set_rng_state`] into a mixer of the same configuration makes it draw the plans this one
    /// would draw next. (Mixing on or off is not part of it: after resuming, call [`Mixer::set_epoch`], and
    /// [`Mixer::set_enabled`] where the run had turned mixing off.)
    pub fn rng_state(&self) -> RngState {
        RngState::capture(&self.rng)
    }

    /// Restores a random state saved by [`Mixer::rng_state`] (seed, rank stream and position).
    pub fn set_rng_state(&mut self, state: &RngState) {
        self.rng = state.restore();
    }

    /// Chooses the executor (default [`Executor::Auto`]).
    pub fn with_executor(mut self, executor: Executor) -> Mixer {
        self.executor = executor;
        self
    }

    /// Changes the executor of an existing mixer.
    pub fn set_executor(&mut self, executor: Executor) {
        self.executor = executor;
    }

    /// Class-index range checks on CUDA. Off (the default), the fused kernels flag out-of-range indices
    /// on the device without a host–device sync, and this mixer's next call (or [`Mixer::take_label_error`])
    /// returns [`Error::LabelsOutOfRange`] with `found: None` (the bad batch was already mixed). On, every
    /// call checks before launching (a sync per call). CPU calls and the reference executor always check
    /// first.
    pub fn set_strict_labels(&mut self, strict: bool) {
        self.strict_labels = strict;
    }

    /// Reports an out-of-range class index that this mixer's earlier fused CUDA launches found, once, as
    /// [`Error::LabelsOutOfRange`] with `found: None`; `Ok` when there is none (or no CUDA). It sees the
    /// launches that have finished: make it after something that waits for the GPU, e.g. at the end of an
    /// epoch after reading the loss. Each mixer has its own flag: other mixers' labels never show here.
    pub fn take_label_error(&mut self) -> Result<()> {
        match exec::cuda::take_label_error(&self.label_flag) {
            Some(ordinal) => Err(Error::LabelsOutOfRange {
                num_classes: self.config.num_classes,
                found: None,
                device: Device::Cuda(ordinal),
            }),
            None => Ok(()),
        }
    }

    /// The validated configuration.
    pub fn config(&self) -> &MixConfig {
        &self.config
    }

    /// The executor that ran the last successful call, if any.
    pub fn last_executor(&self) -> Option<ExecutorKind> {
        self.last
    }

    /// The plan the last successful call applied, if any: sampled, given through [`Mixer::planned`], or
    /// the identity (mixing off, or a `_t` call with `train == false`). For logging λ or drawing the
    /// boxes without drawing plans by hand.
    ///
    /// ```no_run
    /// # use tch::{Device, Kind, Tensor};
    /// # use tch_mixcut::{MixConfig, Mixer};
    /// # let mut mixer = Mixer::new(MixConfig::deit(10), 0)?;
    /// # let (images, labels) = (Tensor::rand([8, 3, 32, 32], (Kind::Float, Device::Cpu)), Tensor::randint(10, [8], (Kind::Int64, Device::Cpu)));
    /// let (mixed, targets) = mixer.apply(&images, &labels)?;
    /// let lams = mixer.last_plan().map(|plan| plan.lams()); // per sample λ
    /// # Ok::<(), tch_mixcut::Error>(())
    /// ```
    pub fn last_plan(&self) -> Option<&MixPlan> {
        self.last_plan.as_ref()
    }

    /// Records a successful call: its executor and its plan.
    fn record(&mut self, kind: ExecutorKind, plan: &MixPlan) {
        self.last = Some(kind);
        match &mut self.last_plan {
            Some(last) => {
                // Field by field, so that the ops' storage is reused; exhaustive, so that a field added
                // to MixPlan is a compile error here rather than a stale value.
                let MixPlan { ops, extent } = plan;
                last.ops.clone_from(ops);
                last.extent = *extent;
            }
            None => self.last_plan = Some(plan.clone()),
        }
    }

    /// Turns mixing on or off (timm's `mixup_enabled`). Off, calls pass images through and return the
    /// (label-smoothed) targets, like timm after `mixup_off_epoch`. Independent of [`Mixer::set_epoch`]:
    /// mixing happens while both allow it.
    pub fn set_enabled(&mut self, enabled: bool) {
        self.enabled = enabled;
    }

    /// Whether mixing is on: enabled ([`Mixer::set_enabled`]) and before `config.off_epoch`
    /// ([`Mixer::set_epoch`]).
    pub fn is_enabled(&self) -> bool {
        self.enabled && !self.past_off_epoch
    }

    /// Tells the mixer the current epoch: mixing is off from `config.off_epoch` on (and on again for an
    /// earlier epoch, unless [`Mixer::set_enabled`] turned it off).
    pub fn set_epoch(&mut self, epoch: usize) {
        self.past_off_epoch = self.config.off_epoch.is_some_and(|off| epoch >= off);
    }

    /// Samples the plan for a batch of this shape (`[N, ...]`), advancing the random stream.
    ///
    /// When mixing is off the plan is the identity and no randomness is used. A shape with a dim below 1,
    /// more than `i64::MAX` elements, or past [`MixPlan::MAX_LEN`] or [`MixPlan::MAX_EXTENT`] is an
    /// [`Error::InvalidArgument`] naming `shape`, with no randomness used; so is a shape CutMix cannot box
    /// (neither `[N, C, H, W]` nor `[N, C, T]`) while the configuration enables it.
    pub fn sample_plan(&mut self, shape: &[i64]) -> Result<MixPlan> {
        let (n, extent) = check::shape(shape)?;
        ensure!(
            !(self.is_enabled() && self.config.cutmix_enabled()) || extent.is_some(),
            Error::argument(
                "shape",
                format!("got {shape:?} with CutMix enabled, expected [N, C, H, W] (a box) or [N, C, T] (a segment)")
            )
        );
        self.draw(n, extent)
    }

    /// A plan for `n` samples with boxes in `extent`: the identity when mixing is off (no randomness used).
    fn draw(&mut self, n: usize, extent: Option<(usize, usize)>) -> Result<MixPlan> {
        if !self.is_enabled() {
            return Ok(MixPlan::identity(n, extent));
        }
        self.sampler.sample(&mut self.rng, n, extent)
    }

    /// Mixes a batch out of place: returns `(mixed images, soft targets [N, num_classes] float32)`.
    ///
    /// `labels` are int64 class indices `[N]` or soft targets `[N, num_classes]`. The caller's tensors
    /// are never modified.
    pub fn apply(&mut self, images: &Tensor, labels: &Tensor) -> Result<(Tensor, Tensor)> {
        self.run(Call::new(None, images, labels))
    }

    /// Mixes a batch in place (no copy of the images) and returns the soft targets.
    ///
    /// Like tch's `_` methods it writes through views: where `images` is a `narrow`, `shallow_clone`,
    /// `transpose` or `view` of a data set (tch's `Iter2` without `.shuffle()` yields such views), the data
    /// set itself is mixed. Give it a batch of its own (`index_select`, `Iter2::shuffle`, `copy`), or use
    /// [`Mixer::apply`]. On `Err` the images are unchanged. Refused for tensors that require grad.
    pub fn apply_(&mut self, images: &mut Tensor, labels: &Tensor) -> Result<Tensor> {
        Ok(self.run(Call { in_place: true, ..Call::new(None, images, labels) })?.1)
    }

    /// tch's `forward_t` convention: mixes when `train`, else passes the images through (a shallow
    /// clone) with plain one-hot targets (no smoothing), so evaluation can't leak augmentation.
    pub fn apply_t(&mut self, images: &Tensor, labels: &Tensor, train: bool) -> Result<(Tensor, Tensor)> {
        if train {
            return self.apply(images, labels);
        }
        let batch = check::images(images, false)?;
        let encoding = check::labels(labels, &batch, self.config.num_classes)?;
        if encoding == Labels::Indices {
            check::label_range(labels, self.config.num_classes)?;
        }
        let plan = MixPlan::identity(batch.n, batch.extent);
        let job =
            Job::new(&plan, &batch, encoding == Labels::Soft, self.config.num_classes, TargetSpec::plain(), false);
        let targets = exec::reference::targets(&job, labels)?;
        self.record(ExecutorKind::Reference, &plan);
        Ok((images.shallow_clone(), targets))
    }

    /// The fused normalising pass: a uint8 batch in, the model's input out, mixed, converted to
    /// `norm.kind`, normalised per channel and in the memory format `norm` asks for, in one pass over the
    /// bytes; with the soft targets. `images`: uint8 `[N, C, H, W]` (contiguous or channels-last) or
    /// `[N, H, W, C]` with [`InputLayout::Nhwc`](crate::InputLayout::Nhwc). See [`Normalize`] for the exact
    /// arithmetic. The caller's tensors are never modified.
    pub fn apply_normalized(&mut self, images: &Tensor, labels: &Tensor, norm: &Normalize) -> Result<(Tensor, Tensor)> {
        self.run(Call { normalize: Some(norm), ..Call::new(None, images, labels) })
    }

    /// [`Mixer::apply_normalized`] under tch's `forward_t` convention: with `train == false` the batch is
    /// converted and normalised without mixing, with plain one-hot targets.
    pub fn apply_normalized_t(
        &mut self,
        images: &Tensor,
        labels: &Tensor,
        norm: &Normalize,
        train: bool,
    ) -> Result<(Tensor, Tensor)> {
        if train {
            return self.apply_normalized(images, labels, norm);
        }
        self.run(Call {
            normalize: Some(norm),
            targets: Some(TargetSpec::plain()),
            identity: true,
            ..Call::new(None, images, labels)
        })
    }

    /// Checks the inputs, resolves the plan (sampling one unless given), runs the chosen executor. Every
    /// check happens before the plan is sampled, so a refused call consumes no randomness.
    fn run(&mut self, call: Call) -> Result<(Tensor, Tensor)> {
        let images = match call.normalize {
            Some(norm) => norm.nchw_view(call.images)?,
            None => call.images.shallow_clone(),
        };
        let checked = self.check_inputs(&call, &images)?;
        let plan = match call.identity {
            true => Cow::Owned(MixPlan::identity(checked.batch.n, checked.batch.extent)),
            false => self.resolve_plan(call.plan, &checked.batch)?,
        };
        self.dispatch(&plan, &checked, &call, &images)
    }

    /// Validates images, labels and options, chooses the executor and checks label values where it needs
    /// them. `images` is the call's images as `[N, C, H, W]` when normalising.
    fn check_inputs(&mut self, call: &Call, images: &Tensor) -> Result<Checked> {
        let cutmix =
            !call.identity && call.plan.map_or(self.is_enabled() && self.config.cutmix_enabled(), MixPlan::pastes);
        let batch = check::images(images, cutmix)?;
        let normalize = match call.normalize {
            Some(norm) => Some(check::normalizing(&batch, images, norm)?),
            None => None,
        };
        let encoding = check::labels(call.labels, &batch, self.config.num_classes)?;
        if call.in_place {
            check::in_place(images)?;
            check::labels_apart(call.labels, images)?;
        }
        let kind = self.choose(&batch, images, Some(call.labels), normalize.is_some())?;
        // An earlier launch of this mixer flagged bad labels: report it before touching anything.
        self.take_label_error()?;
        // The fused CUDA kernels check indices on the device, into this mixer's own flag (if it got one).
        let checked_on_device =
            kind == ExecutorKind::FusedCuda && !self.strict_labels && self.label_flag.slot().is_some();
        if encoding == Labels::Indices && !checked_on_device {
            check::label_range(call.labels, self.config.num_classes)?;
        }
        Ok(Checked { batch, encoding, kind, normalize })
    }

    /// The given plan, checked against the batch, or a freshly sampled one.
    fn resolve_plan<'p>(&mut self, plan: Option<&'p MixPlan>, batch: &BatchSpec) -> Result<Cow<'p, MixPlan>> {
        let Some(plan) = plan else {
            return Ok(Cow::Owned(self.draw(batch.n, batch.extent)?));
        };
        plan.validate()?;
        ensure!(
            plan.len() == batch.n,
            Error::InvalidPlan(format!("plan: drawn for {} samples, expected {} as in images", plan.len(), batch.n))
        );
        ensure!(
            !plan.pastes() || plan.extent == batch.extent,
            Error::InvalidPlan(format!(
                "plan: boxes drawn for extent {:?}, expected {:?} as in images",
                plan.extent, batch.extent
            ))
        );
        Ok(Cow::Borrowed(plan))
    }

    /// Runs the plan with the chosen executor.
    fn dispatch(
        &mut self,
        plan: &MixPlan,
        checked: &Checked,
        call: &Call,
        images: &Tensor,
    ) -> Result<(Tensor, Tensor)> {
        let soft = checked.encoding == Labels::Soft;
        let targets = call.targets.unwrap_or_else(|| TargetSpec::of(&self.config));
        let mut job = Job::new(plan, &checked.batch, soft, self.config.num_classes, targets, call.in_place);
        job.normalize = checked.normalize.clone();
        let outputs = exec::run(checked.kind, &job, images, call.labels, None, &self.label_flag)?;
        self.record(checked.kind, plan);
        Ok(outputs)
    }

    /// The executor for this batch under the mixer's choice (see [`exec::choose`]).
    fn choose(
        &self,
        batch: &BatchSpec,
        images: &Tensor,
        labels: Option<&Tensor>,
        normalizing: bool,
    ) -> Result<ExecutorKind> {
        exec::choose(self.executor, batch, images, labels, self.config.num_classes, normalizing)
    }
}

// After the core methods, so that the documentation lists `new` and `apply` first.
pub(crate) mod planned;
mod segmentation;
mod transmix;

#[cfg(test)]
mod tests {
    use tch::{Device, Kind, Tensor};

    use super::*;
    use crate::config::MixMode;
    use crate::exec::cpu::test_hooks::with_unavailable as with_fused_unavailable;
    use crate::plan::MixOp;

    #[test]
    fn last_plan_is_the_plan_each_successful_call_applied() {
        let (x, y) =
            (Tensor::rand([6, 3, 8, 8], (Kind::Float, Device::Cpu)), Tensor::from_slice(&[0i64, 1, 2, 3, 4, 5]));
        let cfg = MixConfig { mode: MixMode::Elem, ..MixConfig::deit(10) };
        let mut m = Mixer::new(cfg.clone(), 5).unwrap();
        assert_eq!(m.last_plan(), None);
        let (mixed, _) = m.apply(&x, &y).unwrap();
        let drawn = Mixer::new(cfg.clone(), 5).unwrap().sample_plan(&[6, 3, 8, 8]).unwrap();
        assert_eq!(m.last_plan(), Some(&drawn));
        let (again, _) = Mixer::new(cfg.clone(), 0).unwrap().planned(&drawn).apply(&x, &y).unwrap();
        assert!(again.equal(&mixed), "the recorded plan is the one applied");
        let mut given = drawn.clone();
        given.ops[0] = MixOp::Mixup { lam: 0.25 };
        let _ = m.planned(&given).apply(&x, &y).unwrap();
        assert_eq!(m.last_plan(), Some(&given));
        // A refused call leaves the record alone; evaluation applies the identity.
        assert!(m.apply(&x, &Tensor::from_slice(&[0i64, 1])).is_err());
        assert_eq!(m.last_plan(), Some(&given));
        let _ = m.apply_t(&x, &y, false).unwrap();
        assert_eq!(m.last_plan(), Some(&MixPlan::identity(6, Some((8, 8)))));
        // In place, through the normalising pass and for segmentation alike.
        let mut inplace = x.copy();
        let _ = m.apply_(&mut inplace, &y).unwrap();
        let recorded = m.last_plan().unwrap().clone();
        assert_ne!(recorded, MixPlan::identity(6, Some((8, 8))));
        let (replayed, _) = Mixer::new(cfg.clone(), 0).unwrap().planned(&recorded).apply(&x, &y).unwrap();
        assert!(replayed.equal(&inplace), "apply_ records the plan it applied");
        let bytes = Tensor::randint(256, [6, 3, 8, 8], (Kind::Uint8, Device::Cpu));
        let norm = Normalize::imagenet(Kind::Float);
        let (input, _) = m.apply_normalized(&bytes, &y, &norm).unwrap();
        let recorded = m.last_plan().unwrap().clone();
        let (again, _) =
            Mixer::new(cfg.clone(), 0).unwrap().planned(&recorded).apply_normalized(&bytes, &y, &norm).unwrap();
        assert!(again.equal(&input), "the normalising pass records the plan it applied");
        let _ = m.apply_normalized_t(&bytes, &y, &norm, false).unwrap();
        assert_eq!(m.last_plan(), Some(&MixPlan::identity(6, Some((8, 8)))));
        let mut seg = Mixer::new(MixConfig::cutmix(1.0, 10), 3).unwrap();
        let masks = Tensor::randint(10, [6, 8, 8], (Kind::Int64, Device::Cpu));
        let (images, mixed_masks) = seg.apply_segmentation(&x, &masks).unwrap();
        let recorded = seg.last_plan().unwrap().clone();
        let mut replay = Mixer::new(MixConfig::cutmix(1.0, 10), 0).unwrap();
        let (again, again_masks) = replay.planned(&recorded).apply_segmentation(&x, &masks).unwrap();
        assert!(again.equal(&images) && again_masks.equal(&mixed_masks), "segmentation records its plan");
    }

    #[test]
    fn a_fused_executor_that_cannot_load_makes_auto_fall_back_and_fused_refuse_with_the_reason() {
        let x = Tensor::rand([4, 3, 8, 8], (Kind::Float, Device::Cpu));
        let y = Tensor::from_slice(&[0i64, 1, 2, 3]);
        let reason = "kernels failed to load: CUDA_ERROR_NO_BINARY_FOR_GPU (Tesla T4, compute capability 7.5)";
        with_fused_unavailable(reason, || {
            let mut auto = Mixer::new(MixConfig::vit(10), 1).unwrap();
            let (mixed, targets) = auto.apply(&x, &y).unwrap();
            assert_eq!(auto.last_executor(), Some(ExecutorKind::Reference));
            assert_eq!((mixed.size(), targets.size()), (vec![4, 3, 8, 8], vec![4, 10]));
            let mut fused = Mixer::new(MixConfig::vit(10), 1).unwrap().with_executor(Executor::Fused);
            let mut inplace = x.copy();
            let err = fused.apply_(&mut inplace, &y).unwrap_err();
            assert!(
                matches!(&err, Error::FusedUnavailable { device: Device::Cpu, reason: r } if r == reason),
                "{err:?}"
            );
            assert!(err.to_string().contains("compute capability 7.5"), "{err}");
            assert!(inplace.equal(&x), "a refused call leaves the images untouched");
            assert_eq!(fused.last_executor(), None);
        });
        let mut fused = Mixer::new(MixConfig::vit(10), 1).unwrap().with_executor(Executor::Fused);
        let _ = fused.apply(&x, &y).unwrap();
        assert_eq!(fused.last_executor(), Some(ExecutorKind::FusedCpu));
    }

    #[test]
    fn a_mixer_moves_and_is_shared_across_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Mixer>();
    }

    #[test]
    fn auto_does_not_fall_back_on_other_errors() {
        with_fused_unavailable("forced", || {
            let mut auto = Mixer::new(MixConfig::mixup(1.0, 3), 1).unwrap();
            let err = auto
                .apply(&Tensor::rand([2, 3], (Kind::Float, Device::Cpu)), &Tensor::from_slice(&[0i64, 5]))
                .unwrap_err();
            assert!(matches!(err, Error::LabelsOutOfRange { found: Some((0, 5)), .. }), "{err:?}");
        });
    }
}
