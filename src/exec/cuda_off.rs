//! Stand-in for the fused CUDA executor when the crate was built without it (no working nvcc at build
//! time, or `TCH_MIXCUT_CUDA=off`; see build.rs's warning).

use tch::Device;

use super::label_flag::LabelFlag;
use crate::error::{Error, Result};
use crate::job::{Buffers, Job};

/// Never available: the kernels were not built.
pub(crate) fn check(ordinal: usize) -> Result<()> {
    Err(Error::unavailable(
        Device::Cuda(ordinal),
        "this build has no CUDA kernels (nvcc was missing, too old or failed at build time, or TCH_MIXCUT_CUDA=off; \
         the build's cargo warning says which): run scripts/setup.sh or set NVCC, then rebuild",
    ))
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
