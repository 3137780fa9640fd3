//! ImageNet-style input pipeline (the `data` cargo feature): folders in torchvision's `ImageFolder`
//! layout, decoded, cropped and batched by worker threads into uint8 NHWC batches that go straight into
//! [`Mixer::apply_normalized`](crate::Mixer::apply_normalized) with
//! [`InputLayout::Nhwc`](crate::InputLayout::Nhwc).
//!
//! - [`ImageFolder`]: `ROOT/<class>/**/<image>`, classes in sorted folder-name order; `.jpg`, `.jpeg` and
//!   `.png` files in any case (ImageNet's `.JPEG`), decoded by their content (a PNG named `.JPEG` works;
//!   grayscale and CMYK JPEGs become RGB), other files ignored. An evaluation split takes the training
//!   split's classes ([`ImageFolder::with_classes`]); a class folder training lacks is an error naming it.
//! - [`Loader`]: worker threads and a bounded queue (at most [`LoaderConfig::prefetch`] batches held, so
//!   memory is bounded by the queue, never by the data set); batches the same for a given (seed, epoch)
//!   whatever the thread timing; shuffling per epoch, `drop_last`, sharding across data-parallel ranks
//!   as PyTorch's `DistributedSampler` does; pinned memory for CUDA; an epoch resumed at a batch
//!   ([`Loader::epoch_from`], with the mixer's [`RngState`](crate::RngState): the same batches and plans
//!   as the uninterrupted run).
//! - [`Transform`]: torchvision's `RandomResizedCrop` + `RandomHorizontalFlip` for training,
//!   `Resize(size / 0.875)` + `CenterCrop` for evaluation, resized with a bilinear filter that
//!   antialiases when shrinking, as PIL's does.
//! - [`Decoding`]: JPEG and PNG files are decoded at full size (zune-jpeg, through the `image` crate).
//!   [`Decoding::Scaled`] decodes JPEGs at 1/2, 1/4 or 1/8 of their size in the DCT domain when the crop
//!   still spans the output size at that scale; it was slower on the benchmark's ImageNet-sized files (a
//!   little faster on much larger photographs), and its result is not bit-identical to a full decode
//!   resized afterwards (a different low-pass filter: on the tests' smooth pictures, within 1.5 grey
//!   levels per image on average). Either way each (seed, epoch, sample) gives the same pixels on every
//!   run. A truncated JPEG is an error, as in PIL.
//!
//! ```no_run
//! use tch::Kind;
//! use tch_mixcut::data::{ImageFolder, Loader, LoaderConfig};
//! use tch_mixcut::{InputLayout, MixConfig, Mixer, Normalize};
//!
//! # fn main() -> anyhow::Result<()> {
//! let device = tch_mixcut::cuda_if_available(); // loads libtorch's CUDA backend first
//! let train = ImageFolder::new("imagenet/train")?;
//! let val = ImageFolder::with_classes("imagenet/val", train.classes())?; // same labels as train
//! let config = LoaderConfig { workers: 8, pin_memory: device.is_cuda(), ..LoaderConfig::train(224, 256) };
//! let loader = Loader::new(&train, config)?;
//! let mut mixer = Mixer::new(MixConfig::deit(train.classes().len() as i64), 0)?;
//! let norm = Normalize { input: InputLayout::Nhwc, channels_last: true, ..Normalize::imagenet(Kind::BFloat16) };
//! for epoch in 0..90 {
//!     mixer.set_epoch(epoch);
//!     for batch in loader.epoch(epoch) {
//!         let (images, labels) = batch?.to_device(device); // uint8 [256, 224, 224, 3], int64 [256]
//!         let (input, targets) = mixer.apply_normalized(&images, &labels, &norm)?; // bf16 [256, 3, 224, 224]
//!         // let loss = soft_cross_entropy(&model.forward_t(&input, true), &targets); ...
//!         # let _ = (input, targets);
//!     }
//! }
//! let eval = Loader::new(&val, LoaderConfig::eval(224, 256))?;
//! # let _ = eval;
//! # Ok(()) }
//! ```

mod batch;
mod config;
mod decode;
mod error;
mod folder;
mod loader;
mod queue;
pub mod transforms;

pub use batch::Batch;
pub use config::LoaderConfig;
pub use decode::Decoding;
pub use error::{DataError, DataResult};
pub use folder::{ImageFolder, Sample, EXTENSIONS};
pub use loader::Loader;
pub use queue::Batches;
pub use transforms::Transform;
