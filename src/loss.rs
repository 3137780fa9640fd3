//! Cross-entropy against soft targets (what mixed targets need).

use tch::{Kind, Tensor};

use crate::error::{ensure, Error, Result};

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
