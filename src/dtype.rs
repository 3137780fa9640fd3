//! The element types the fused kernels are built for: one table from tch's `Kind` to the kernels' entry
//! points. Every match on [`Dtype`] is exhaustive, so a new dtype is a compile error wherever it is not
//! handled (the C++ entry points, the CUDA function table, the accepted dtypes in input checks).

use tch::Kind;

/// An image dtype the fused kernels take.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Dtype {
    F32,
    F16,
    Bf16,
    U8,
}

impl Dtype {
    /// Every dtype, in table order (`Dtype as usize` indexes the kernels' function tables).
    pub(crate) const ALL: [Dtype; 4] = [Dtype::F32, Dtype::F16, Dtype::Bf16, Dtype::U8];

    /// The dtype of a tch `Kind`, if the kernels take it.
    pub(crate) fn of(kind: Kind) -> Option<Dtype> {
        Dtype::ALL.into_iter().find(|d| d.kind() == kind)
    }

    /// The tch `Kind`.
    pub(crate) fn kind(self) -> Kind {
        match self {
            Dtype::F32 => Kind::Float,
            Dtype::F16 => Kind::Half,
            Dtype::Bf16 => Kind::BFloat16,
            Dtype::U8 => Kind::Uint8,
        }
    }

    /// Bytes of one element.
    pub(crate) fn size(self) -> usize {
        match self {
            Dtype::F32 => 4,
            Dtype::F16 | Dtype::Bf16 => 2,
            Dtype::U8 => 1,
        }
    }

    /// The suffix of the kernels' entry points (`mix_<suffix>` on the GPU, `mixcut_host_<suffix>` on the CPU).
    pub(crate) fn suffix(self) -> &'static str {
        match self {
            Dtype::F32 => "f32",
            Dtype::F16 => "f16",
            Dtype::Bf16 => "bf16",
            Dtype::U8 => "u8",
        }
    }

    /// Whether it is a floating-point type (an output of the normalising pass).
    pub(crate) fn is_float(self) -> bool {
        match self {
            Dtype::F32 | Dtype::F16 | Dtype::Bf16 => true,
            Dtype::U8 => false,
        }
    }

    /// The largest finite value it holds (f16 65504, bf16 about 3.39e38).
    pub(crate) fn max_finite(self) -> f64 {
        match self {
            Dtype::F32 => f32::MAX as f64,
            Dtype::F16 => 65504.0,
            Dtype::Bf16 => f32::from_bits(0x7f7f_0000) as f64,
            Dtype::U8 => 255.0,
        }
    }

    /// The accepted `Kind`s, for error messages: "Float, Half, BFloat16, Uint8".
    pub(crate) fn accepted() -> String {
        Dtype::ALL.map(|d| format!("{:?}", d.kind())).join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_round_trips_and_indexes_in_order() {
        for (i, d) in Dtype::ALL.into_iter().enumerate() {
            assert_eq!(Dtype::of(d.kind()), Some(d));
            assert_eq!(d as usize, i);
            assert_eq!(d.size(), d.kind().elt_size_in_bytes());
        }
        assert_eq!(Dtype::of(Kind::Double), None);
        assert_eq!(Dtype::accepted(), "Float, Half, BFloat16, Uint8");
    }
}
