//! Stand-in for the fused CUDA executor when the crate was built without it (no working nvcc at build
//! time, or `TCH_MIXCUT_CUDA=off`; see build.rs's warning).

use tch::Device;

use super::label_flag::LabelFlag;
use crate::error::{Error, Result};
use crate::job::{Buffers, Job};

/// Never available: the kernels were not built, for the reason the build script gave (also a cargo
/// warning, which cargo shows for a checkout but hides for a dependency from a registry).
pub(crate) fn check(ordinal: usize) -> Result<()> {
    let why = option_env!("MIXCUT_CUDA_NOT_BUILT").unwrap_or("the build script compiled nothing (DOCS_RS)");
    Err(Error::unavailable(Device::Cuda(ordinal), format!("this build has no CUDA kernels: {why}")))
}

/// Nothing to report.
pub(crate) fn take_label_error(_flag: &LabelFlag) -> Option<usize> {
    None
}

/// Refused: the kernels were not built.
pub(crate) fn run(_job: &Job, _bufs: &Buffers, ordinal: usize, _flag: &LabelFlag) -> Result<()> {
    check(ordinal)
}

/// Refused: without the kernels there is no stream to test.
#[cfg(feature = "testing")]
pub(crate) fn set_torch_stream(ordinal: usize, _pool: bool) -> Result<()> {
    check(ordinal)
}
