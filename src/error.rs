//! The crate's error type: one enum a caller can match on, every message naming the argument, the value
//! and what was expected.

use tch::Device;

/// What can go wrong in a tch-mixcut call.
///
/// Every variant's message starts with the argument at fault (`images: got …, expected …`). A refused
/// call (every variant but [`Error::Torch`] and [`Error::Cuda`] raised by a running executor) left the
/// caller's tensors untouched and consumed no randomness. It is `Send + Sync + 'static`, so `?` turns it
/// into an `anyhow::Error` or a `Box<dyn std::error::Error>`.
///
/// ```
/// use tch_mixcut::{Error, MixConfig, Mixer};
/// let err = Mixer::new(MixConfig { prob: 1.5, ..MixConfig::deit(10) }, 0).unwrap_err();
/// assert!(matches!(err, Error::InvalidConfig { field: "prob", .. }));
/// assert_eq!(err.to_string(), "prob: got 1.5, expected a probability in [0, 1]");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A [`MixConfig`](crate::MixConfig) option (`field`) out of its range.
    #[error("{field}: {message}")]
    InvalidConfig {
        /// The option, as spelled in `MixConfig` (`"prob"`, `"cutmix_minmax"`, …).
        field: &'static str,
        /// The value given and what was expected.
        message: String,
    },
    /// The `images` argument cannot be mixed (undefined, rank, dtype, empty, shape for CutMix, memory).
    #[error("images: {0}")]
    InvalidImages(String),
    /// The `labels` argument does not fit the images or the configuration (shape, dtype, device).
    #[error("labels: {0}")]
    InvalidLabels(String),
    /// A hand-made [`MixPlan`](crate::MixPlan) that is inconsistent or does not fit the batch.
    #[error("{0}")]
    InvalidPlan(String),
    /// Another argument (`argument`) of a call: a shape, a loss input, an option of a call.
    #[error("{argument}: {message}")]
    InvalidArgument {
        /// The argument's name.
        argument: &'static str,
        /// The value given and what was expected.
        message: String,
    },
    /// Class indices outside `[0, num_classes)`.
    ///
    /// `found: Some((min, max))`: seen before anything was written. `found: None`: reported by the fused
    /// CUDA kernels for an **earlier** batch of this mixer on `device`, which had already been written
    /// (the check runs on the device without a sync).
    #[error("{}", out_of_range_message(*.num_classes, *.found, *.device))]
    LabelsOutOfRange {
        /// The configuration's class count.
        num_classes: i64,
        /// The smallest and largest index of this call's labels, or `None` for a deferred report.
        found: Option<(i64, i64)>,
        /// The labels' device.
        device: Device,
    },
    /// No fused executor can run here for this device: the kernels were not built, there is no CUDA
    /// driver or device, or the kernels failed to load (the reason says which, with the driver version,
    /// the device's compute capability and the architectures the kernels were built for).
    /// [`Executor::Auto`](crate::Executor::Auto) falls back to the reference executor.
    #[error("executor: no fused executor for {device:?}: {reason}")]
    FusedUnavailable {
        /// The images' device.
        device: Device,
        /// Why.
        reason: String,
    },
    /// The fused executor exists but does not take this batch (autograd, strides, sizes);
    /// [`Executor::Auto`](crate::Executor::Auto) falls back to the reference executor.
    #[error("{argument}: {reason}")]
    FusedUnsupported {
        /// The argument at fault (`"images"`, `"num_classes"`).
        argument: &'static str,
        /// What it is and what the fused executor expects.
        reason: String,
    },
    /// libtorch reported an error.
    #[error("torch: {0}")]
    Torch(#[from] tch::TchError),
    /// The CUDA driver reported an error (`context`: the call that failed).
    #[error("CUDA driver: {context}: {source}")]
    Cuda {
        /// The driver call and its arguments.
        context: String,
        /// The driver's error code.
        source: cudarc::driver::DriverError,
    },
}

/// For `?` in a function returning tch's `Result<_, TchError>`: an [`Error::Torch`] gives back libtorch's
/// own error; any other becomes `TchError::Io` of kind `Other` wrapping this error (tch has no variant for a
/// foreign error; that one prints the message unchanged, and `get_ref()` downcasts back to [`Error`]).
///
/// ```
/// use tch::{Device, Kind, TchError, Tensor};
/// use tch_mixcut::{MixConfig, Mixer};
/// fn mixed(images: &Tensor, labels: &Tensor) -> Result<Tensor, TchError> {
///     let (images, _targets) = Mixer::new(MixConfig::mixup(0.2, 10), 0)?.apply(images, labels)?;
///     Ok(images)
/// }
/// let err = mixed(&Tensor::zeros([4], (Kind::Float, Device::Cpu)), &Tensor::zeros([4], (Kind::Int64, Device::Cpu)));
/// assert!(err.unwrap_err().to_string().starts_with("images: got shape [4]"));
/// ```
impl From<Error> for tch::TchError {
    fn from(error: Error) -> Self {
        match error {
            Error::Torch(torch) => torch,
            other => tch::TchError::Io(std::io::Error::other(other)),
        }
    }
}

/// `std::result::Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

fn out_of_range_message(num_classes: i64, found: Option<(i64, i64)>, device: Device) -> String {
    match found {
        Some((lo, hi)) => format!("labels: got class indices in [{lo}, {hi}], expected values in [0, {num_classes})"),
        None => format!(
            "labels: an earlier batch of this mixer on {device:?} had class indices outside [0, {num_classes}), expected \
             values in range; that batch was already mixed: the bad samples' target rows hold only their partners' \
             share, and their partners' rows are scaled by λ (they no longer sum to 1). Check the labels, or call \
             Mixer::set_strict_labels(true) to check before each launch (a sync per call)"
        ),
    }
}

impl Error {
    /// Whether [`Executor::Auto`](crate::Executor::Auto) may fall back to the reference executor: the fused
    /// executor is unavailable here or does not take this batch.
    pub fn is_fused_fallback(&self) -> bool {
        matches!(self, Error::FusedUnavailable { .. } | Error::FusedUnsupported { .. })
    }

    pub(crate) fn config(field: &'static str, message: impl Into<String>) -> Self {
        Error::InvalidConfig { field, message: message.into() }
    }

    pub(crate) fn argument(argument: &'static str, message: impl Into<String>) -> Self {
        Error::InvalidArgument { argument, message: message.into() }
    }

    pub(crate) fn unsupported(argument: &'static str, reason: impl Into<String>) -> Self {
        Error::FusedUnsupported { argument, reason: reason.into() }
    }

    pub(crate) fn unavailable(device: Device, reason: impl Into<String>) -> Self {
        Error::FusedUnavailable { device, reason: reason.into() }
    }
}

/// A number for a message: as Rust prints it (the shortest form that reads back the same value) where
/// that is short, in exponent form (`-1e-300`, `2.5e20`) where it would run to many digits.
pub(crate) fn number(v: f64) -> String {
    if v == 0.0 || !v.is_finite() || (1e-4..1e16).contains(&v.abs()) {
        format!("{v}")
    } else {
        format!("{v:e}")
    }
}

/// `ensure!(condition, error)`: returns `Err(error)` from the enclosing function when `condition` is false.
macro_rules! ensure {
    ($cond:expr, $err:expr $(,)?) => {
        let holds: bool = $cond;
        if !holds {
            return Err($err);
        }
    };
}
pub(crate) use ensure;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_cross_threads_and_convert_to_anyhow() {
        fn assert_traits<E: std::error::Error + Send + Sync + 'static>() {}
        assert_traits::<Error>();
        let e: anyhow::Error = Error::InvalidImages("got x, expected y".into()).into();
        assert_eq!(e.to_string(), "images: got x, expected y");
    }

    #[test]
    fn numbers_in_messages_stay_short_and_read_back_the_same() {
        for (v, want) in [
            (1.5, "1.5"),
            (-0.1, "-0.1"),
            (2.0, "2"),
            (0.0, "0"),
            (1e-4, "0.0001"),
            (-1e-300, "-1e-300"),
            (1.2345e-7, "1.2345e-7"),
            (2.5e20, "2.5e20"),
            (f64::NAN, "NaN"),
            (f64::NEG_INFINITY, "-inf"),
            (f64::MIN_POSITIVE, "2.2250738585072014e-308"),
        ] {
            assert_eq!(number(v), want);
            assert!(v.is_nan() || number(v).parse::<f64>().unwrap() == v, "{v}");
        }
    }

    #[test]
    fn question_mark_converts_into_tch_errors_and_back() {
        fn tch_style(e: Error) -> std::result::Result<(), tch::TchError> {
            Err(e)?;
            Ok(())
        }
        let err = tch_style(Error::argument("shape", "got [0], expected [N, ...] with N >= 1")).unwrap_err();
        assert_eq!(err.to_string(), "shape: got [0], expected [N, ...] with N >= 1");
        let tch::TchError::Io(io) = &err else { panic!("{err:?}") };
        let inner = io.get_ref().and_then(|e| e.downcast_ref::<Error>());
        assert!(matches!(inner, Some(Error::InvalidArgument { argument: "shape", .. })), "{err:?}");
        let torch = tch_style(Error::Torch(tch::TchError::Torch("shape mismatch".into()))).unwrap_err();
        assert!(matches!(&torch, tch::TchError::Torch(m) if m == "shape mismatch"), "{torch:?}");
    }

    #[test]
    fn fallback_only_on_unavailable_or_unsupported() {
        assert!(Error::unavailable(Device::Cpu, "x").is_fused_fallback());
        assert!(Error::unsupported("images", "x").is_fused_fallback());
        assert!(!Error::InvalidImages("x".into()).is_fused_fallback());
        assert!(!Error::LabelsOutOfRange { num_classes: 3, found: None, device: Device::Cuda(0) }.is_fused_fallback());
    }

    #[test]
    fn deferred_label_report_names_the_earlier_batch_and_the_partner_rows() {
        let e = Error::LabelsOutOfRange { num_classes: 10, found: None, device: Device::Cuda(1) }.to_string();
        assert!(e.starts_with("labels: an earlier batch") && e.contains("Cuda(1)") && e.contains("[0, 10)"), "{e}");
        assert!(e.contains("partners' rows are scaled by λ"), "{e}");
        let e = Error::LabelsOutOfRange { num_classes: 10, found: Some((-1, 3)), device: Device::Cpu }.to_string();
        assert_eq!(e, "labels: got class indices in [-1, 3], expected values in [0, 10)");
    }
}
