//! Stand-in for the fused CUDA executor when the crate was built without nvcc (see build.rs's warning).

use anyhow::{bail, Result};

use super::kernel_args::Buffers;
use super::Job;

/// Never: the kernels were not built.
pub(crate) fn available(_ordinal: usize) -> bool {
    false
}

/// Nothing to report.
pub(crate) fn take_label_error(_ordinal: usize, _num_classes: i64) -> Result<()> {
    Ok(())
}

/// Refused: the kernels were not built.
pub(crate) fn error_flag(_ordinal: usize) -> Result<*mut i32> {
    bail!("executor: the fused CUDA kernels were not built (no nvcc at build time; run scripts/setup.sh or set NVCC, then rebuild)")
}

/// Refused: the kernels were not built.
pub(crate) fn run(_job: &Job, _bufs: &Buffers, _in_place: bool, _ordinal: usize) -> Result<()> {
    error_flag(0).map(|_| ())
}
