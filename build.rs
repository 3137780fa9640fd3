//! Build script:
//! 1. compiles the kernel source for the host (kernels/host.cpp + mix.cuh, the fused CPU executor);
//! 2. compiles the CUDA entry points (kernels/mix.cu) with nvcc into a fatbin embedded in the crate
//!    (cubins for sm_80 and sm_90, PTX for compute_80), or says how to turn that on when nvcc is missing;
//! 3. gives this package's binaries an rpath to libtorch.

use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "build/nvcc.rs"]
mod nvcc;

const KERNEL_FILES: [&str; 4] = ["kernels/mix.cuh", "kernels/mix.cu", "kernels/host.cpp", "kernels/host_shim.h"];

fn main() {
    for f in KERNEL_FILES {
        println!("cargo:rerun-if-changed={f}");
    }
    println!("cargo:rustc-check-cfg=cfg(mixcut_cuda)");
    build_host_kernels();
    build_cuda_kernels();
    link_libtorch();
}

/// The fused CPU executor: the same kernel source, built by the C++ compiler, always optimised (it is the
/// hot loop even in debug builds), with FMA contraction off so it rounds as the reference does.
fn build_host_kernels() {
    cc::Build::new()
        .cpp(true)
        .file("kernels/host.cpp")
        .include("kernels")
        .std("c++17")
        .opt_level(3)
        .debug(false)
        .flag("-ffp-contract=off")
        .flag("-fno-trapping-math") // lets selects (u8 clamp, bf16 NaN) vectorise; results unchanged
        .flag_if_supported("-fno-math-errno")
        .warnings(true)
        .extra_warnings(true)
        .compile("mixcut_host");
}

/// The CUDA kernels, when an nvcc is found (see build/nvcc.rs for where it looks).
fn build_cuda_kernels() {
    for var in nvcc::ENV_VARS {
        println!("cargo:rerun-if-env-changed={var}");
    }
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let nvcc = match nvcc::find(&manifest_dir, |v| std::env::var_os(v)) {
        nvcc::Found::Nvcc(path) => path,
        nvcc::Found::Disabled => {
            println!("cargo:warning=tch-mixcut: fused CUDA kernels disabled by TCH_MIXCUT_CUDA=off; CUDA tensors use the reference executor");
            return;
        }
        nvcc::Found::Missing => {
            println!(
                "cargo:warning=tch-mixcut: nvcc not found (NVCC, PATH, CUDA_HOME/CUDA_PATH, ./cuda/bin): the fused CUDA \
                 path is off and CUDA tensors use the reference executor. Run scripts/setup.sh (CUDA 13.0 nvcc from \
                 PyPI) or set NVCC, then rebuild."
            );
            return;
        }
    };
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let fatbin = out_dir.join("mix.fatbin");
    let output = Command::new(&nvcc)
        .args(["-fatbin", "-O3", "-std=c++17", "-Xptxas", "-v", "-lineinfo"])
        .args(["-gencode", "arch=compute_80,code=sm_80"])
        .args(["-gencode", "arch=compute_90,code=sm_90"])
        .args(["-gencode", "arch=compute_80,code=compute_80"])
        .arg("-o")
        .arg(&fatbin)
        .arg("kernels/mix.cu")
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", nvcc.display()));
    // ptxas's register / spill report, kept for CI's log (.ci/run prints it).
    let report = String::from_utf8_lossy(&output.stderr).into_owned();
    std::fs::write(out_dir.join("ptxas-report.txt"), format!("nvcc: {}\n{report}", nvcc.display())).unwrap();
    if !output.status.success() {
        panic!("nvcc failed to compile kernels/mix.cu ({}):\n{report}", output.status);
    }
    println!("cargo:rustc-cfg=mixcut_cuda");
    println!("cargo:rustc-env=MIXCUT_FATBIN={}", fatbin.display());
}

/// torch-sys gives the final binaries no rpath: add one for this package's binaries, tests, examples and
/// benches. libtorch_cuda is not linked here (its CUDA libraries are absent on CPU-only machines); the
/// crate loads it at run time where it can (`tch_mixcut::load_cuda_backend`).
fn link_libtorch() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    let lib_dir = std::env::var_os("DEP_TCH_LIBTORCH_LIB")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("LIBTORCH").map(|p| Path::new(&p).join("lib")));
    if let Some(lib_dir) = lib_dir {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib_dir.display());
    }
}
