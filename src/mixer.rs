//! [`Mixer`]: options → sampled plan → executor, behind tensors-in, tensors-out calls.

use anyhow::{ensure, Result};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tch::Tensor;

use crate::check::{self, BatchSpec, Labels};
use crate::config::MixConfig;
use crate::exec::{self, kernel_args, params, Executor, ExecutorKind, Job};
use crate::plan::{MixPlan, PlanSampler};

/// Applies Mixup / CutMix to batches: samples a [`MixPlan`] per call and runs it through an executor.
///
/// Seeded and reproducible: the same seed, rank and sequence of calls give the same plans, and every
/// executor applies a plan identically. For data-parallel training give each rank the same seed and its
/// own rank ([`Mixer::for_rank`]): ranks draw from independent ChaCha8 streams.
#[derive(Debug)]
pub struct Mixer {
    config: MixConfig,
    sampler: PlanSampler,
    rng: ChaCha8Rng,
    executor: Executor,
    enabled: bool,
    strict_labels: bool,
    last: Option<ExecutorKind>,
}

/// Where the mixed images go.
enum Dest<'a> {
    New,
    InPlace(&'a mut Tensor),
}

impl Mixer {
    /// A mixer for rank 0 with the given seed; the configuration is validated first.
    pub fn new(config: MixConfig, seed: u64) -> Result<Mixer> {
        Self::for_rank(config, seed, 0)
    }

    /// A mixer for one data-parallel rank: same `seed` on every rank, independent random streams.
    pub fn for_rank(config: MixConfig, seed: u64, rank: u64) -> Result<Mixer> {
        config.validate()?;
        crate::backend::load_cuda_backend();
        let sampler = PlanSampler::new(&config)?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(rank);
        Ok(Mixer { config, sampler, rng, executor: Executor::Auto, enabled: true, strict_labels: false, last: None })
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
    /// on the device without a host–device sync, and the next call on that device returns the `Err`
    /// (the offending target rows were zeros). On, every call checks before launching (a sync per call).
    /// CPU calls and the reference executor always check first.
    pub fn set_strict_labels(&mut self, strict: bool) {
        self.strict_labels = strict;
    }

    /// The validated configuration.
    pub fn config(&self) -> &MixConfig {
        &self.config
    }

    /// The executor that ran the last successful call, if any.
    pub fn last_executor(&self) -> Option<ExecutorKind> {
        self.last
    }

    /// Turns mixing on or off (timm's `mixup_enabled`). Off, calls pass images through and return the
    /// (label-smoothed) targets, like timm after `mixup_off_epoch`.
    pub fn set_enabled(&mut self, enabled: bool) {
        self.enabled = enabled;
    }

    /// Whether mixing is on.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Tells the mixer the current epoch: mixing turns off from `config.off_epoch` on.
    pub fn set_epoch(&mut self, epoch: usize) {
        self.enabled = self.config.off_epoch.is_none_or(|off| epoch < off);
    }

    /// Samples the plan for a batch of this shape (`[N, ...]`), advancing the random stream.
    ///
    /// When mixing is off the plan is the identity and no randomness is used.
    pub fn sample_plan(&mut self, shape: &[i64]) -> Result<MixPlan> {
        ensure!(!shape.is_empty() && shape[0] >= 1, "shape: got {shape:?}, expected [N, ...] with N >= 1");
        let (n, extent) = (shape[0] as usize, check::extent(shape));
        if !self.enabled {
            return Ok(MixPlan::identity(n, extent));
        }
        self.sampler.sample(&mut self.rng, n, extent)
    }

    /// Mixes a batch out of place: returns `(mixed images, soft targets [N, num_classes] float32)`.
    ///
    /// `labels` are int64 class indices `[N]` or soft targets `[N, num_classes]`. The caller's tensors
    /// are never modified.
    pub fn apply(&mut self, images: &Tensor, labels: &Tensor) -> Result<(Tensor, Tensor)> {
        self.run(None, images, Dest::New, labels)
    }

    /// Mixes a batch in place (no copy of the images) and returns the soft targets.
    ///
    /// On `Err` the images are unchanged. Refused for tensors that require grad.
    pub fn apply_(&mut self, images: &mut Tensor, labels: &Tensor) -> Result<Tensor> {
        let view = images.shallow_clone();
        Ok(self.run(None, &view, Dest::InPlace(images), labels)?.1)
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
        let job = Job::new(&plan, &batch, encoding == Labels::Soft, self.config.num_classes, (1.0, 0.0));
        let targets = exec::reference::targets(&job, labels)?;
        self.last = Some(ExecutorKind::Reference);
        Ok((images.shallow_clone(), targets))
    }

    /// Applies a given plan out of place (e.g. one sampled with [`Mixer::sample_plan`] and inspected).
    pub fn apply_plan(&mut self, plan: &MixPlan, images: &Tensor, labels: &Tensor) -> Result<(Tensor, Tensor)> {
        self.run(Some(plan), images, Dest::New, labels)
    }

    /// Applies a given plan in place; returns the soft targets.
    pub fn apply_plan_(&mut self, plan: &MixPlan, images: &mut Tensor, labels: &Tensor) -> Result<Tensor> {
        let view = images.shallow_clone();
        Ok(self.run(Some(plan), &view, Dest::InPlace(images), labels)?.1)
    }

    /// Validates everything, samples (unless given) a plan, runs the chosen executor.
    fn run(&mut self, plan: Option<&MixPlan>, images: &Tensor, dest: Dest, labels: &Tensor) -> Result<(Tensor, Tensor)> {
        let cutmix = match plan {
            Some(p) => p.has_cutmix(),
            None => self.enabled && self.config.cutmix_enabled(),
        };
        let batch = check::images(images, cutmix)?;
        let encoding = check::labels(labels, &batch, self.config.num_classes)?;
        let in_place = matches!(dest, Dest::InPlace(_));
        if in_place {
            check::in_place(images)?;
        }
        let kind = self.choose(&batch, images)?;
        if let (ExecutorKind::FusedCuda, tch::Device::Cuda(ordinal)) = (kind, batch.device) {
            exec::cuda::take_label_error(ordinal, self.config.num_classes)?;
        }
        if encoding == Labels::Indices && (kind != ExecutorKind::FusedCuda || self.strict_labels) {
            check::label_range(labels, self.config.num_classes)?;
        }
        let sampled;
        let plan = match plan {
            Some(p) => {
                p.validate()?;
                ensure!(p.len() == batch.n, "plan: drawn for {} samples, expected {} as in images", p.len(), batch.n);
                ensure!(
                    !p.has_cutmix() || p.extent == batch.extent,
                    "plan: boxes drawn for extent {:?}, expected {:?} as in images",
                    p.extent,
                    batch.extent
                );
                p
            }
            None => {
                sampled = self.sample_plan(&images.size())?;
                &sampled
            }
        };
        let smoothing = params::smoothing_values(self.config.label_smoothing, self.config.num_classes);
        let job = Job::new(plan, &batch, encoding == Labels::Soft, self.config.num_classes, smoothing);
        let (out, targets) = match kind {
            ExecutorKind::Reference => {
                let targets = exec::reference::targets(&job, labels)?;
                let mixed = exec::reference::images(&job, images)?;
                match dest {
                    Dest::New => (mixed, targets),
                    Dest::InPlace(dst) => {
                        dst.f_copy_(&mixed)?;
                        (dst.shallow_clone(), targets)
                    }
                }
            }
            ExecutorKind::FusedCpu | ExecutorKind::FusedCuda => exec::run_fused(&job, images, labels, in_place)?,
        };
        self.last = Some(kind);
        Ok((out, targets))
    }

    /// The executor for this batch under the mixer's choice: `Auto` takes the fused path where it exists
    /// and applies (no autograd, dense samples), `Fused` insists on it with an `Err` that says why not.
    fn choose(&self, batch: &BatchSpec, images: &Tensor) -> Result<ExecutorKind> {
        let fused_kind = match batch.device {
            tch::Device::Cuda(_) => ExecutorKind::FusedCuda,
            _ => ExecutorKind::FusedCpu,
        };
        let fused = || -> Result<ExecutorKind> {
            ensure!(
                exec::fused_available(batch.device),
                "executor: no fused executor for {:?} here ({}), expected Executor::Reference or Auto",
                batch.device,
                if exec::cuda_kernels_built() { "no CUDA driver or device" } else { "the CUDA kernels were not built: no nvcc at build time" }
            );
            ensure!(
                !images.requires_grad(),
                "images: a tensor that requires grad, expected none for the fused executor (it records no autograd graph); \
                 use Executor::Reference or Auto"
            );
            kernel_args::supported(batch, self.config.num_classes)?;
            Ok(fused_kind)
        };
        match self.executor {
            Executor::Reference => Ok(ExecutorKind::Reference),
            Executor::Fused => fused(),
            Executor::Auto => Ok(fused().unwrap_or(ExecutorKind::Reference)),
        }
    }
}
