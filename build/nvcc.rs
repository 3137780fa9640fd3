//! Where the build script looks for nvcc, in order: `NVCC`, `PATH`, `CUDA_HOME` / `CUDA_PATH`, then the
//! checkout's own `cuda/` (CUDA 13.0 from PyPI, installed by scripts/setup.sh). `TCH_MIXCUT_CUDA=off`
//! turns the CUDA build off. Shared by build.rs and its tests (tests/build_nvcc.rs).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The environment variables that decide the outcome.
pub const ENV_VARS: [&str; 5] = ["NVCC", "PATH", "CUDA_HOME", "CUDA_PATH", "TCH_MIXCUT_CUDA"];

/// What the search found.
#[derive(Debug, PartialEq, Eq)]
pub enum Found {
    /// An nvcc to build with.
    Nvcc(PathBuf),
    /// `TCH_MIXCUT_CUDA=off`.
    Disabled,
    /// No nvcc anywhere.
    Missing,
}

/// Searches with `env` as the environment and `manifest_dir` as the checkout.
pub fn find(manifest_dir: &Path, env: impl Fn(&str) -> Option<OsString>) -> Found {
    if env("TCH_MIXCUT_CUDA").is_some_and(|v| v == "off" || v == "0") {
        return Found::Disabled;
    }
    let is_file = |p: &Path| p.is_file();
    let explicit = env("NVCC").map(PathBuf::from);
    let on_path = env("PATH").into_iter().flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>()).map(|d| d.join("nvcc"));
    let homes = ["CUDA_HOME", "CUDA_PATH"].into_iter().filter_map(&env).map(|h| Path::new(&h).join("bin").join("nvcc"));
    let own = std::iter::once(manifest_dir.join("cuda").join("bin").join("nvcc"));
    explicit.into_iter().chain(on_path).chain(homes).chain(own).find(|p| is_file(p)).map_or(Found::Missing, Found::Nvcc)
}
