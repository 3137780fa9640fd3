//! Where the build script looks for nvcc, in order: `NVCC` (alone, when set), `PATH`, `CUDA_HOME` /
//! `CUDA_PATH`, then the checkout's own `cuda/` (CUDA 13.0 from PyPI, installed by scripts/setup.sh). The
//! build takes the first candidate that is recent enough (build/cuda.rs). `TCH_MIXCUT_CUDA=off` turns the
//! CUDA build off. Shared by build.rs and its tests (tests/build_nvcc.rs).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The environment variables that decide the outcome.
pub const ENV_VARS: [&str; 5] = ["NVCC", "PATH", "CUDA_HOME", "CUDA_PATH", "TCH_MIXCUT_CUDA"];

/// What the search found.
#[derive(Debug, PartialEq, Eq)]
pub enum Found {
    /// nvcc executables to try, in order of preference.
    Candidates(Vec<PathBuf>),
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
    let candidates: Vec<PathBuf> = match env("NVCC") {
        // An explicit choice is the only candidate.
        Some(explicit) => vec![PathBuf::from(explicit)],
        None => {
            let on_path = env("PATH")
                .into_iter()
                .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
                .map(|d| d.join("nvcc"));
            let homes =
                ["CUDA_HOME", "CUDA_PATH"].into_iter().filter_map(&env).map(|h| Path::new(&h).join("bin").join("nvcc"));
            let own = std::iter::once(manifest_dir.join("cuda").join("bin").join("nvcc"));
            on_path.chain(homes).chain(own).collect()
        }
    };
    let mut existing: Vec<PathBuf> = Vec::new();
    for c in candidates.into_iter().filter(|p| p.is_file()) {
        if !existing.contains(&c) {
            existing.push(c);
        }
    }
    if existing.is_empty() {
        Found::Missing
    } else {
        Found::Candidates(existing)
    }
}
