//! The fused normalising pass's options: a decoder's uint8 batch in, the model's input out (mixed,
//! converted to float, normalised per channel, in the memory format the model wants), in one pass.

use tch::{Kind, Tensor};

use crate::dtype::Dtype;
use crate::error::{ensure, number, Error, Result};

/// Per-channel scale and shift of the normalising pass, as f32.
pub(crate) type Affine = (Vec<f32>, Vec<f32>);

/// How the uint8 input batch is laid out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum InputLayout {
    /// `[N, C, H, W]`, contiguous or channels-last (torchvision's `ToTensor` / `PILToTensor` batches).
    #[default]
    Nchw,
    /// `[N, H, W, C]` contiguous, as JPEG decoders produce it.
    Nhwc,
}

/// Options of [`Mixer::apply_normalized`](crate::Mixer::apply_normalized): per-channel `mean` and `std`
/// **in the 0–1 scale** (torchvision's and timm's constants, e.g. ImageNet's `0.485, 0.456, 0.406` and
/// `0.229, 0.224, 0.225`), the output dtype and memory format, and the input's layout.
///
/// The output is defined exactly: for each element the two partners' uint8 values `a`, `b` are mixed in
/// f32 as everywhere else in this crate (`m = fl(fl(a·λ) + fl(b·(1−λ)))` for Mixup, `a` or `b` for CutMix,
/// **no rounding to uint8**), then `out = fl(fl(m · s_c) + t_c)` with `s_c = 1 / (255·std_c)` and
/// `t_c = −mean_c / std_c` each rounded once from f64 to f32, then rounded to nearest even into `kind`.
/// This is within an ulp or two of the textbook `(m / 255 − mean) / std`. timm's `FastCollateMixup`
/// instead rounds the mixed image to uint8 (`np.rint`) and normalises afterwards, on the GPU, with
/// `(x − 255·mean) / (255·std)`: its results differ from these by up to half a grey level of the mix.
///
/// ```
/// use tch::{Device, Kind, Tensor};
/// use tch_mixcut::{InputLayout, MixConfig, Mixer, Normalize};
/// let mut mixer = Mixer::new(MixConfig::deit(1000), 0)?;
/// let decoded = Tensor::randint(256, [8, 224, 224, 3], (Kind::Uint8, Device::Cpu));   // from a JPEG decoder
/// let labels = Tensor::randint(1000, [8], (Kind::Int64, Device::Cpu));
/// let norm = Normalize { input: InputLayout::Nhwc, channels_last: true, ..Normalize::imagenet(Kind::BFloat16) };
/// let (input, targets) = mixer.apply_normalized_t(&decoded, &labels, &norm, true)?;
/// assert_eq!((input.size(), input.kind()), (vec![8, 3, 224, 224], Kind::BFloat16));
/// assert_eq!(targets.size(), [8, 1000]);
/// # Ok::<(), tch_mixcut::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Normalize {
    /// Per-channel mean, 0–1 scale: every value in [0, 1] (a mean on the 0–255 scale is refused).
    pub mean: Vec<f64>,
    /// Per-channel standard deviation, 0–1 scale: every value in (0, 1] (a pixel's std on that scale is at
    /// most 0.5, so a std on the 0–255 scale is refused).
    pub std: Vec<f64>,
    /// Output dtype: `Float`, `BFloat16` or `Half`.
    pub kind: Kind,
    /// Output stored channels-last (NHWC memory, NCHW shape), which conv nets in bf16 prefer.
    pub channels_last: bool,
    /// The input's layout.
    pub input: InputLayout,
}

impl Normalize {
    /// ImageNet's mean and std (0–1 scale), output `kind`, contiguous, from `[N, C, H, W]` input.
    pub fn imagenet(kind: Kind) -> Self {
        Normalize {
            mean: vec![0.485, 0.456, 0.406],
            std: vec![0.229, 0.224, 0.225],
            kind,
            channels_last: false,
            input: InputLayout::Nchw,
        }
    }

    /// Checks the options against the images' channel count; the output dtype and the affine map
    /// ([`Normalize::affine`]) the checks computed.
    pub(crate) fn validate(&self, channels: usize) -> Result<(Dtype, Affine)> {
        let out = Dtype::of(self.kind).filter(|d| *d != Dtype::U8);
        let Some(out) = out else {
            return Err(Error::argument(
                "kind",
                format!("got {:?}, expected a float output dtype: Float, BFloat16 or Half", self.kind),
            ));
        };
        for (name, values) in [("mean", &self.mean), ("std", &self.std)] {
            ensure!(
                values.len() == channels,
                Error::argument(
                    name,
                    format!(
                        "got {} values {values:?}, expected one per channel of the images ({channels})",
                        values.len()
                    )
                )
            );
        }
        if let Some(m) = self.mean.iter().find(|m| !m.is_finite()) {
            return Err(Error::argument(
                "mean",
                format!("got {} in {:?}, expected finite values", number(*m), self.mean),
            ));
        }
        // A mean of 0–255 values (a common habit) would pass every range check below and give an input
        // of nearly one value.
        if let Some(m) = self.mean.iter().find(|m| !(0.0..=1.0).contains(*m)) {
            return Err(Error::argument(
                "mean",
                format!(
                    "got {} in {:?}, expected values on the 0–1 scale, in [0, 1] (divide means of 0–255 pixel values \
                     by 255, and their std too)",
                    number(*m),
                    self.mean
                ),
            ));
        }
        if let Some(s) = self.std.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
            return Err(Error::argument(
                "std",
                format!("got {} in {:?}, expected finite values > 0", number(*s), self.std),
            ));
        }
        // A std of 0–255 pixel values beside a mean converted to 0–1 (half the conversion) would pass the
        // range checks below and give an input squeezed to a 255th of its spread.
        if let Some(s) = self.std.iter().find(|s| **s > 1.0) {
            return Err(Error::argument(
                "std",
                format!(
                    "got {} in {:?}, expected values on the 0–1 scale, in (0, 1] (a pixel's std on that scale is at \
                     most 0.5; divide stds of 0–255 pixel values by 255)",
                    number(*s),
                    self.std
                ),
            ));
        }
        let affine = self.affine();
        self.fits(out, &affine)?;
        Ok((out, affine))
    }

    /// Checks that each channel's affine map, rounded to f32 as the passes apply it, is finite and not
    /// constant, and that it maps `[0, 255]` into `out`'s finite range: finite options whose scale or shift
    /// overflows would otherwise give infinities or one value everywhere.
    fn fits(&self, out: Dtype, (scale, shift): &Affine) -> Result<()> {
        let most = out.max_finite().min(f32::MAX as f64);
        for (c, (&s, &t)) in scale.iter().zip(shift).enumerate() {
            let (mean, std) = (number(self.mean[c]), number(self.std[c]));
            ensure!(
                s.is_finite() && s > 0.0,
                Error::argument(
                    "std",
                    format!(
                        "got {std} for channel {c}, whose scale 1/(255·std) is {} in f32, expected a positive finite f32",
                        number(s as f64)
                    )
                )
            );
            let range = || format!("{:?}'s finite range (±{})", out.kind(), number(most));
            let spread = 255.0 * s as f64;
            ensure!(
                spread <= most,
                Error::argument(
                    "std",
                    format!(
                        "got {std} for channel {c}, whose outputs span 1/std = {}, expected a span within {}",
                        number(spread),
                        range()
                    )
                )
            );
            let ends = [t as f64 + 0.0, spread + t as f64]; // + 0.0: no "-0"
            ensure!(
                t.is_finite() && ends.iter().all(|e| e.abs() <= most),
                Error::argument(
                    "mean",
                    format!(
                        "got {mean} with std {std} for channel {c}, which map [0, 255] to [{}, {}], expected values within \
                         {}",
                        number(ends[0]),
                        number(ends[1]),
                        range()
                    )
                )
            );
        }
        Ok(())
    }

    /// `(s_c, t_c)`: `1 / (255·std_c)` and `−mean_c / std_c`, each rounded once to f32.
    pub(crate) fn affine(&self) -> Affine {
        let scale = self.std.iter().map(|s| (1.0 / (255.0 * s)) as f32).collect();
        let shift = self.mean.iter().zip(&self.std).map(|(m, s)| (-m / s) as f32).collect();
        (scale, shift)
    }

    /// The input as an `[N, C, H, W]` view (NHWC input becomes a channels-last view, no copy).
    pub(crate) fn nchw_view(&self, images: &Tensor) -> Result<Tensor> {
        match self.input {
            InputLayout::Nchw => Ok(images.shallow_clone()),
            InputLayout::Nhwc => {
                let shape = images.size();
                ensure!(
                    shape.len() == 4,
                    Error::InvalidImages(format!("got shape {shape:?} with InputLayout::Nhwc, expected [N, H, W, C]"))
                );
                Ok(images.f_permute([0, 3, 1, 2])?)
            }
        }
    }
}
