//! What the training loop reads: uint8 batches from a data source (Fashion-MNIST in memory, or an
//! ImageNet-layout image folder), through one trait.

use anyhow::Result;
use tch::Tensor;

use crate::input::PixelStats;

/// One batch on the training device: uint8 images `[N, C, H, W]` (an image folder's are the NCHW view
/// of NHWC storage, i.e. channels-last strides) and int64 labels `[N]`.
pub struct Batch {
    /// uint8 `[N, C, H, W]`.
    pub images: Tensor,
    /// int64 class indices `[N]`.
    pub labels: Tensor,
    /// Samples left out of this batch because their files could not be decoded (`--skip-bad-images`).
    pub skipped: usize,
}

/// A stream of batches (each may fail, e.g. on a corrupt file).
pub type Batches<'a> = Box<dyn Iterator<Item = Result<Batch>> + 'a>;

/// Which evaluation split to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EvalSplit {
    /// The test (Fashion-MNIST) or `val` (image folder) split.
    Test,
    /// Training images held out of training, for fitting the temperature.
    Holdout,
}

/// What a model needs to know about its input.
#[derive(Clone, Debug)]
pub struct InputShape {
    /// Image channels (1 grey, 3 RGB).
    pub channels: i64,
    /// Side of the square images the model receives.
    pub size: i64,
    /// Number of classes.
    pub classes: i64,
}

/// A data set the training loop can read.
pub trait Source {
    /// Class names in label order.
    fn classes(&self) -> &[String];
    /// The model's input: channels, image side, classes.
    fn input(&self) -> InputShape;
    /// The pixel statistics that `input::normalise` uses for this data.
    fn stats(&self) -> &'static PixelStats;
    /// Training samples per epoch.
    fn train_len(&self) -> usize;
    /// Samples in an evaluation split (0 when there is none).
    fn eval_len(&self, split: EvalSplit) -> usize;
    /// The training batches of `epoch` (0-based): shuffled and augmented, reproducibly from `seed`.
    fn train_batches(&self, epoch: usize, seed: u64) -> Result<Batches<'_>>;
    /// An evaluation split's batches, in order, without random augmentation.
    fn eval_batches(&self, split: EvalSplit) -> Result<Batches<'_>>;
    /// One line saying what was loaded, for the log and the report.
    fn describe(&self) -> String;
}
