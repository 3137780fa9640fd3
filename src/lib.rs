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
//! ## In a tch training loop
//!
//! ```no_run
//! use tch::{data::Iter2, nn, nn::ModuleT, nn::OptimizerConfig, Device, Kind, Tensor};
//! use tch_mixcut::{soft_cross_entropy, MixConfig, Mixer, RngState};
//!
//! # fn main() -> anyhow::Result<()> {
//! // Loads libtorch's CUDA backend first, which tch's `Device::cuda_if_available()` does not.
//! let device = tch_mixcut::cuda_if_available();
//! # let (train_images, train_labels) = (Tensor::rand([512, 784], (Kind::Float, Device::Cpu)), Tensor::randint(10, [512], (Kind::Int64, Device::Cpu)));
//! // tch's MNIST loader gives [N, 784]; CutMix boxes need [N, C, H, W].
//! let train_images = train_images.view([-1, 1, 28, 28]);
//! let vs = nn::VarStore::new(device);
//! let net = nn::seq_t().add_fn(|x| x.flatten(1, -1)).add(nn::linear(vs.root(), 784, 10, Default::default()));
//! let mut opt = nn::AdamW::default().build(&vs, 1e-3)?;
//! let mut mixer = Mixer::new(MixConfig::vit(10), 42)?; // Mixup α 0.2 or CutMix α 1.0
//! for epoch in 0..10 {
//!     mixer.set_epoch(epoch);
//!     // `.shuffle()` iterates over a shuffled copy of the data set, so `apply_` mixes that copy in place.
//!     // Without it Iter2 yields views of the data set, and `apply_` would write into the data set itself.
//!     for (mut images, labels) in Iter2::new(&train_images, &train_labels, 128).shuffle().to_device(device) {
//!         let targets = mixer.apply_(&mut images, &labels)?; // soft targets [128, 10], float32
//!         let loss = soft_cross_entropy(&net.forward_t(&images, true), &targets);
//!         opt.backward_step(&loss);
//!     }
//!     // A checkpoint: the model's variables, and the mixer's random state beside them as bytes.
//!     vs.save("model.ot")?;
//!     std::fs::write("model.mixer", mixer.rng_state().to_bytes())?;
//! }
//! // Resuming draws the plans the interrupted run would have drawn next.
//! mixer.set_rng_state(&RngState::from_bytes(&std::fs::read("model.mixer")?)?);
//! // Which executor ran: the fused kernels (CPU or CUDA) or the reference tch ops.
//! println!("{:?}", mixer.last_executor());
//! # Ok(()) }
//! ```
//!
//! `apply` returns a mixed copy and leaves its inputs alone; `apply_t(images, labels, train)` follows
//! tch's `forward_t`: with `train == false` it passes the images through with plain one-hot targets.
//! [`Mixer`] lists the rest: given plans, the fused uint8 → normalised pass, segmentation masks.
//!
//! ## Pairing, odd batches, labels
//!
//! Sample `i` mixes with `N − 1 − i` (timm's flip). Odd batches work: the middle sample pairs with
//! itself, stays unchanged and gets a plain target. Labels are int64 class indices `[N]` (one-hot with
//! timm's label smoothing) or soft targets `[N, num_classes]` of any float dtype (used as given, without
//! further smoothing). Targets come back float32 `[N, num_classes]` on the images' device.

//!
//! ## Limits
//!
//! What a call refuses, or does not promise, by design:
//!
//! - **Sizes.** A batch holds at most [`MixPlan::MAX_LEN`] (2^31 − 1) samples, and CutMix boxes live in at
//!   most [`MixPlan::MAX_EXTENT`] (2^31 − 1) rows and columns; [`Mixer::sample_plan`] also refuses shapes
//!   with a dim below 1 or more than `i64::MAX` elements. The fused executors take samples of fewer than
//!   2^31 elements, fewer than 2^31 classes and, in the normalising pass, at most 16 channels: beyond,
//!   [`Executor::Auto`] runs the reference and [`Executor::Fused`] refuses.
//! - **Memory shared with the images, in place.** `labels` (and segmentation `masks`) may not share memory
//!   with images mixed in place, since the executors would read them at different times: such a call is
//!   refused. The check compares the byte ranges the tensors span, so two views that interleave without
//!   sharing an element are refused too. Out of place, inputs may alias freely.
//! - **Speed at odd sizes on the GPU.** The fused CUDA executor moves 16-byte vectors only where every
//!   sample is a whole number of them and starts on a 16-byte boundary; other samples (3×299×299 in any
//!   dtype, 3×111×111 in uint8) go one element a thread, and so does the normalising pass of ResizeMix
//!   and FMix at every size. The fused CPU executor takes any sample of 16 bytes or more at any address
//!   in vectors, the part vector at its end in 16-byte vectors and single elements. On both, the
//!   normalising pass between NHWC and NCHW takes 3 channels by pixel vectors either way (on the GPU
//!   where each plane is whole vectors of 4 pixels and the input 4-byte aligned, on the CPU in planes of
//!   at least 16 pixels). Other channel counts, and 3 channels in smaller planes, go on the CPU by vectors
//!   of the output gathered from the input either way, in samples of at least 16 elements; on the GPU one
//!   element a thread, except from NHWC input into NCHW output whose rows are whole vectors
//!   (docs/performance.md, "The normalising pass").
//! - **Segments.** In an extent of height 1 (`[N, C, T]`), a hand-made box covers rows `0..1`, or is empty
//!   in its columns ([`MixPlan::validate`]).
//! - **NaN bits.** Every executor agrees bit for bit, NaNs included, on the CPU: a blend's NaN (images, and
//!   targets of soft labels) is the one quiet NaN (`0x7fc00000`; f16 `0x7e00`, bf16 `0x7fc0`). On CUDA a
//!   blend's NaN is the GPU's own, and its bits are not compared.
//! - **Helpers.** [`MixPlan::partner`] panics for a sample outside the plan, as slice indexing does
//!   ([`MixPlan::checked_partner`] returns `None`). An unknown `TCH_MIXCUT_CPU_ISA` value is ignored with a
//!   warning through the [`log`](https://docs.rs/log) crate.

#![warn(missing_docs)]

mod check;
mod config;
#[cfg(feature = "data")]
pub mod data;
mod dtype;
mod error;
mod exec;
mod fallible;
mod job;
mod loss;
mod mixer;
mod normalize;
mod plan;
mod rng_state;
mod torch_cuda;

pub use config::{MixConfig, MixMode, Paste};
pub use error::{Error, Result};
pub use exec::cpu::{fused_cpu_isa, CpuIsa};
pub use exec::{check_fused_cuda, cuda_kernels_built, fused_cuda_available, Executor, ExecutorKind};
pub use loss::{binary_cross_entropy, f_soft_cross_entropy, soft_cross_entropy, BceOptions};
pub use mixer::planned::Planned;
pub use mixer::Mixer;
pub use normalize::{InputLayout, Normalize};
pub use plan::{CutBox, FMixMask, MixOp, MixPlan};
pub use rng_state::RngState;
pub use torch_cuda::{cuda_backend_error, cuda_if_available, load_cuda_backend};

/// Hooks for this crate's own tests and benches (the `testing` feature, which they turn on); not part of
/// the API.
#[cfg(feature = "testing")]
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

    /// Runs `f` with this thread's fused calls on CPU tensors taking the fused CUDA executor's host side,
    /// up to its driver calls, and writing nothing (outputs come back unwritten, the executor reported as
    /// `FusedCuda`): the host's cost of a CUDA call, measured where there is no GPU.
    pub fn with_cuda_host_side<R>(f: impl FnOnce() -> R) -> R {
        crate::exec::host_side::with_cuda(f)
    }

    /// The FMix paste masks a call with `plan` computes, uint8 `[N, H, W]` on `device` (1: the partner's
    /// pixel), alone: what the benches time apart from the pass that reads them.
    pub fn fmix_masks(plan: &crate::MixPlan, device: tch::Device) -> crate::Result<tch::Tensor> {
        let extent = plan.extent.unwrap_or((1, 1));
        crate::exec::fmix::masks(&crate::job::fmix_samples(plan), plan.len(), extent, device)
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
