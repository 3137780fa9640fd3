//! Build script: links libtorch so binaries start without LD_LIBRARY_PATH, and (see kernels/) builds
//! the mixing kernels.

use std::path::PathBuf;

fn main() {
    link_libtorch();
}

/// torch-sys gives the final binaries no rpath: add one for this package's binaries, tests, examples and
/// benches. libtorch_cuda is not linked here (its CUDA libraries are absent on CPU-only machines); the
/// crate loads it at run time where it can (`tch_mixcut::load_cuda_backend`).
fn link_libtorch() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let lib_dir = std::env::var_os("DEP_TCH_LIBTORCH_LIB")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("LIBTORCH").map(|p| PathBuf::from(p).join("lib")));
    let Some(lib_dir) = lib_dir else { return };
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib_dir.display());
}
