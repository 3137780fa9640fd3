//! Tensors built with tch ops that return their error: tch panics (in `Scalar`'s drop, which reads the
//! pending libtorch error) whenever an op that takes a Scalar fails, out of memory or after a CUDA error
//! included, so the crate passes its numbers to libtorch as tensors instead.

use tch::{Device, Kind, Tensor};

use crate::error::Result;

/// `v` as a 0-dim float64 CPU tensor. Ops that take a tensor where a number goes accept it beside tensors
/// of any device for one operand (comparisons, `fill_`), converted to the other operand's dtype when that
/// is a float; an op that takes two such operands on CUDA (`clamp`) wants [`scalar_on`].
pub(crate) fn host_scalar(v: f64) -> Result<Tensor> {
    Ok(Tensor::f_from_slice(&[v])?.f_view([0i64; 0])?)
}

/// `v` as a 0-dim tensor of `options` (on its device, without a copy from the host: `fill_` reads the
/// host value).
pub(crate) fn scalar_on(v: f64, options: (Kind, Device)) -> Result<Tensor> {
    filled(&[], v, options)
}

/// A new `shape` tensor of `options` holding `v` everywhere.
pub(crate) fn filled(shape: &[i64], v: f64, options: (Kind, Device)) -> Result<Tensor> {
    let mut t = Tensor::f_empty(shape, options)?;
    let _ = t.f_fill_tensor_(&host_scalar(v)?)?;
    Ok(t)
}

/// `values` as a 1-d tensor on `device`, by a non-blocking copy: tch's `to_device` copies from the host
/// and then waits for all the work queued on the stream, which would make a call wait for the GPU. From
/// ordinary (pageable) host memory the copy is safe (the driver has read the host buffer when it
/// returns, so the buffer may go at once), but CUDA may still wait for the stream while it stages the
/// bytes; pinned memory would rule that out at the cost of a pinned buffer a call.
pub(crate) fn upload<T: tch::kind::Element>(values: &[T], device: Device) -> Result<Tensor> {
    let host = Tensor::f_from_slice(values)?;
    if device == Device::Cpu {
        return Ok(host);
    }
    Ok(host.f_to_device_(device, host.f_kind()?, true, false)?)
}

/// `0, 1, …, len − 1` as int32 on `device`.
pub(crate) fn arange(len: usize, device: Device) -> Result<Tensor> {
    upload(&(0..len as i32).collect::<Vec<_>>(), device)
}

/// `[N, classes]` rows of `off` with `on` at each row's class index, in `options` (`indices`: int64 `[N]`,
/// checked to lie in `[0, classes)` by the caller).
pub(crate) fn one_hot(
    indices: &Tensor,
    classes: i64,
    (off, on): (f64, f64),
    options: (Kind, Device),
) -> Result<Tensor> {
    let n = indices.size().first().copied().unwrap_or(0);
    let mut rows = filled(&[n, classes], off, options)?;
    let on = scalar_on(on, options)?.f_expand([n, 1], false)?;
    let _ = rows.f_scatter_(1, &indices.f_to_device(options.1)?.f_reshape([n, 1])?, &on)?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_hot_rows_equal_tchs_full_and_scatter_bit_for_bit() {
        let indices = Tensor::from_slice(&[2i64, 0, 3, 3]);
        for kind in [Kind::Float, Kind::Half, Kind::BFloat16] {
            let (off, on) = (0.1 / 4.0, 1.0 - 0.1 + 0.1 / 4.0);
            let got = one_hot(&indices, 4, (off, on), (kind, Device::Cpu)).unwrap();
            let want = Tensor::full([4, 4], off, (kind, Device::Cpu)).scatter_value(1, &indices.view([4, 1]), on);
            assert_eq!(got.kind(), kind);
            assert!(got
                .view_dtype(if kind == Kind::Float { Kind::Int } else { Kind::Int16 })
                .equal(&want.view_dtype(if kind == Kind::Float { Kind::Int } else { Kind::Int16 })));
        }
        assert_eq!(Vec::<i32>::try_from(arange(4, Device::Cpu).unwrap()).unwrap(), [0, 1, 2, 3]);
        let up = upload(&[3i64, -1], Device::Cpu).unwrap();
        assert_eq!((up.kind(), Vec::<i64>::try_from(&up).unwrap()), (Kind::Int64, vec![3, -1]));
    }

    #[test]
    fn scalars_hold_their_value_in_their_dtype() {
        let s = scalar_on(0.1, (Kind::BFloat16, Device::Cpu)).unwrap();
        assert_eq!((s.size(), s.kind()), (vec![], Kind::BFloat16));
        assert_eq!(s.double_value(&[]), host_scalar(0.1).unwrap().to_kind(Kind::BFloat16).double_value(&[]));
        assert_eq!((host_scalar(-2.5).unwrap().size(), host_scalar(-2.5).unwrap().double_value(&[])), (vec![], -2.5));
        let e = filled(&[2, i64::MAX], 0.5, (Kind::Float, Device::Cpu)).unwrap_err();
        assert!(e.to_string().contains("overflow"), "{e}");
    }
}
