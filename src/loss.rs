//! Losses against mixed targets: soft cross-entropy, and binary cross-entropy as timm's.

use tch::{Kind, Tensor};

use crate::check;
use crate::error::{ensure, number, Error, Result};
use crate::fallible::{host_scalar, one_hot};

/// Batch-mean cross-entropy of `logits [N, C]` against soft `targets [N, C]`:
/// `mean_i( −Σ_c targets[i,c] · log_softmax(logits)[i,c] )`, computed in float32.
///
/// Panics on mismatched shapes, as tch's ops do; [`f_soft_cross_entropy`] returns an `Err` instead.
pub fn soft_cross_entropy(logits: &Tensor, targets: &Tensor) -> Tensor {
    match f_soft_cross_entropy(logits, targets) {
        Ok(loss) => loss,
        Err(e) => panic!("soft_cross_entropy: {e}"),
    }
}

/// The fallible form of [`soft_cross_entropy`] (tch's `f_` convention).
pub fn f_soft_cross_entropy(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    let (ls, ts) = (logits.size(), targets.size());
    ensure!(ls.len() == 2, Error::argument("logits", format!("got shape {ls:?}, expected [N, C]")));
    ensure!(ts == ls, Error::argument("targets", format!("got shape {ts:?}, expected {ls:?} as the logits")));
    let log_probs = logits.f_log_softmax(-1, Kind::Float)?;
    let per_sample = targets.f_to_kind(Kind::Float)?.f_mul(&log_probs)?.f_sum_dim_intlist(-1, false, Kind::Float)?;
    Ok(per_sample.f_mean(Kind::Float)?.f_neg()?)
}

/// The options of [`binary_cross_entropy`], as timm's `BinaryCrossEntropy` loss.
///
/// ```
/// use tch::{Device, Kind, Reduction, Tensor};
/// use tch_mixcut::{binary_cross_entropy, BceOptions};
/// let logits = Tensor::zeros([2, 3], (Kind::Float, Device::Cpu));
/// let labels = Tensor::from_slice(&[0i64, 2]);
/// let options = BceOptions { smoothing: 0.0, reduction: Reduction::Sum, ..BceOptions::default() };
/// let loss = binary_cross_entropy(&logits, &labels, &options)?;
/// assert!((loss.double_value(&[]) - 6.0 * 2f64.ln()).abs() < 1e-5);   // σ(0) = ½ for all six terms
/// # Ok::<(), tch_mixcut::Error>(())
/// ```
#[derive(Debug)]
pub struct BceOptions<'a> {
    /// Label smoothing of class-index targets (`off = s/C`, `on = 1 − s + s/C`); targets given as `[N, C]`
    /// are used as they are (smooth them upstream, e.g. with the mixer's `label_smoothing`). timm's
    /// default: 0.1.
    pub smoothing: f64,
    /// Targets become `1` where greater than this, else `0`, before the loss (timm's `target_threshold`).
    pub target_threshold: Option<f64>,
    /// Per-class (or per-element) weight, broadcast against the logits.
    pub weight: Option<&'a Tensor>,
    /// Weight of the positive term per class (`pos_weight` of `binary_cross_entropy_with_logits`).
    pub pos_weight: Option<&'a Tensor>,
    /// `Mean` (timm's default), `Sum` or `None` (per element).
    pub reduction: tch::Reduction,
    /// Sum over classes, then average over the batch, after the reduction (timm's `sum_classes`; it changes
    /// the result only with `Reduction::None`).
    pub sum_classes: bool,
}

impl Default for BceOptions<'_> {
    /// timm's defaults: smoothing 0.1, no threshold, no weights, mean, no class sum.
    fn default() -> Self {
        BceOptions {
            smoothing: 0.1,
            target_threshold: None,
            weight: None,
            pos_weight: None,
            reduction: tch::Reduction::Mean,
            sum_classes: false,
        }
    }
}

/// Binary cross-entropy with logits, as timm's `BinaryCrossEntropy`: `targets` are class indices (int64
/// `[N]`, one-hot with `options.smoothing`) or targets `[N, C]` of any float dtype used as given (mixed,
/// soft, or multi-hot as in audio tagging, with no sum-to-one requirement), optionally thresholded to
/// {0, 1}; then `binary_cross_entropy_with_logits` with the weights and the reduction. Class indices
/// outside `[0, C)` are an error naming `targets` (found by reading their least and greatest value back,
/// which on a GPU waits for them).
pub fn binary_cross_entropy(logits: &Tensor, targets: &Tensor, options: &BceOptions) -> Result<Tensor> {
    ensure!(logits.defined(), Error::argument("logits", "got an undefined tensor, expected [N, C]"));
    ensure!(
        targets.defined(),
        Error::argument("targets", "got an undefined tensor, expected int64 [N] or float [N, C]")
    );
    let shape = logits.size();
    ensure!(shape.len() == 2, Error::argument("logits", format!("got shape {shape:?}, expected [N, C]")));
    let (n, classes) = (shape[0], shape[1]);
    let ts = targets.size();
    ensure!(
        options.smoothing.is_finite() && (0.0..1.0).contains(&options.smoothing),
        Error::argument("smoothing", format!("got {}, expected a value in [0, 1)", number(options.smoothing)))
    );
    let kind = logits.f_kind()?;
    ensure!(
        check::is_float(kind),
        Error::argument("logits", format!("got dtype {kind:?}, expected Float, Half, BFloat16 or Double"))
    );
    let target_kind = targets.f_kind()?;
    let mut target = if ts == shape {
        targets.f_to_kind(kind)?
    } else {
        ensure!(
            ts == [n] && target_kind == Kind::Int64,
            Error::argument(
                "targets",
                format!("got shape {ts:?} dtype {target_kind:?}, expected int64 [{n}] or float {shape:?}")
            )
        );
        match check::label_range(targets, classes) {
            Err(Error::LabelsOutOfRange { found: Some((lo, hi)), .. }) => {
                return Err(Error::argument(
                    "targets",
                    format!("got class indices in [{lo}, {hi}], expected values in [0, {classes})"),
                ))
            }
            range => range?,
        }
        let off = options.smoothing / classes as f64;
        one_hot(targets, classes, (off, 1.0 - options.smoothing + off), (kind, logits.device()))?
    };
    if let Some(t) = options.target_threshold {
        ensure!(
            t.is_finite(),
            Error::argument("target_threshold", format!("got {}, expected a finite number", number(t)))
        );
        target = target.f_gt_tensor(&host_scalar(t)?)?.f_to_kind(kind)?;
    }
    let loss =
        logits.f_binary_cross_entropy_with_logits(&target, options.weight, options.pos_weight, options.reduction)?;
    if options.sum_classes {
        return Ok(loss.f_sum_dim_intlist(-1, false, None::<Kind>)?.f_mean(None::<Kind>)?);
    }
    Ok(loss)
}
