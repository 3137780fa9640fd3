//! # tch-mixcut
//!
//! Mixup and CutMix for [tch](https://docs.rs/tch) training batches, with timm's options and semantics,
//! applied in one fused pass over the batch (CUDA kernels launched on libtorch's stream, or the same
//! kernel source on CPU threads), with the soft targets (one-hot, label smoothing, λ-mixing) written by
//! the same pass.
//!
//! Data flows one way: [`MixConfig`] → a sampled, inspectable [`MixPlan`] (per sample: op, λ, box;
//! partner `N − 1 − i`) → an executor ([`Executor`]): the reference made of tch ops, or the fused kernels.
//!
//! ## In a training step
//!
//! ```no_run
//! use tch::{nn, nn::ModuleT, nn::OptimizerConfig, Device, Kind, Tensor};
//! use tch_mixcut::{soft_cross_entropy, MixConfig, Mixer};
//!
//! # fn main() -> anyhow::Result<()> {
//! let vs = nn::VarStore::new(Device::Cpu);
//! let net = nn::seq_t().add_fn(|x| x.flatten(1, -1)).add(nn::linear(vs.root(), 3 * 32 * 32, 10, Default::default()));
//! let mut opt = nn::Sgd::default().build(&vs, 0.1)?;
//! let mut mixer = Mixer::new(MixConfig::deit(10), 42)?;
//! let (images, labels) = (Tensor::rand([8, 3, 32, 32], (Kind::Float, Device::Cpu)), Tensor::randint(10, [8], (Kind::Int64, Device::Cpu)));
//! let (mixed, targets) = mixer.apply_t(&images, &labels, true)?;   // train = true: mix
//! let loss = soft_cross_entropy(&net.forward_t(&mixed, true), &targets);
//! opt.backward_step(&loss);
//! let (clean, _) = mixer.apply_t(&images, &labels, false)?;          // evaluation: untouched
//! # let _ = clean; Ok(()) }
//! ```
//!
//! ## Pairing, odd batches, labels
//!
//! Sample `i` mixes with `N − 1 − i` (timm's flip). Odd batches work: the middle sample pairs with
//! itself, stays unchanged and gets a plain target. Labels are int64 class indices `[N]` (one-hot with
//! timm's label smoothing) or soft targets `[N, num_classes]` of any float dtype (used as given, without
//! further smoothing). Targets come back float32 `[N, num_classes]` on the images' device.

#![warn(missing_docs)]

mod check;
mod config;
mod dtype;
mod error;
mod exec;
mod loss;
mod mixer;
mod normalize;
mod plan;
mod rng_state;
mod torch_cuda;

pub use config::{MixConfig, MixMode};
pub use error::{Error, Result};
pub use exec::cpu::{fused_cpu_isa, CpuIsa};
pub use exec::{check_fused_cuda, cuda_kernels_built, fused_cuda_available, Executor, ExecutorKind};
pub use loss::{binary_cross_entropy, f_soft_cross_entropy, soft_cross_entropy, BceOptions};
pub use mixer::Mixer;
pub use normalize::{InputLayout, Normalize};
pub use plan::{CutBox, MixOp, MixPlan};
pub use rng_state::RngState;
pub use torch_cuda::{cuda_backend_error, load_cuda_backend};

/// Hooks for this crate's own tests; not part of the API.
#[doc(hidden)]
pub mod testing {
    /// Runs `f` with the fused CPU executor forced to `isa` for calls made on this thread; `None` (and `f`
    /// not run) where this build or CPU lacks the level.
    pub fn with_cpu_isa<R>(isa: crate::CpuIsa, f: impl FnOnce() -> R) -> Option<R> {
        crate::exec::cpu::with_isa(isa, f)
    }

    /// Makes a stream from libtorch's pool (`pool`) or the default stream libtorch's current CUDA stream
    /// on `cuda:ordinal` for the calling thread, as `torch.cuda.set_stream` would.
    pub fn set_torch_stream(ordinal: usize, pool: bool) -> crate::Result<()> {
        crate::exec::cuda::set_torch_stream(ordinal, pool)
    }
}

/// The README's examples, compiled as doc tests so they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// docs/usage.md's examples, likewise.
#[cfg(doctest)]
#[doc = include_str!("../docs/usage.md")]
pub struct UsageDoctests;
