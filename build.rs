//! Build script:
//! 1. compiles the kernel source for the host (kernels/host.cpp + mix.cuh, the fused CPU executor) and
//!    the shim that reads libtorch's current CUDA stream (shim/torch_stream.cpp);
//! 2. compiles the CUDA entry points (kernels/mix.cu) with nvcc into a fatbin embedded in the crate, or,
//!    when nvcc is missing, too old or fails, builds without the CUDA path and says why in a warning;
//! 3. gives this package's binaries an rpath to libtorch.
//!
//! On docs.rs (`DOCS_RS` set) it does none of this: no C++ compiler, nvcc or libtorch is needed to
//! document the crate (with tch's `doc-only` feature, see Cargo.toml), and rustdoc links nothing.

use std::path::{Path, PathBuf};

#[path = "build/cuda.rs"]
mod cuda;
#[path = "build/nvcc.rs"]
mod nvcc;

const WATCHED: [&str; 10] = [
    "kernels/mix.cuh",
    "kernels/mix.cu",
    "kernels/host.cpp",
    "kernels/host_shim.h",
    "kernels/host_simd.h",
    "kernels/host_resize.h",
    "shim/torch_stream.cpp",
    "shim/c10_layout_check.cpp",
    "build/cuda.rs",
    "build/nvcc.rs",
];

fn main() {
    for f in WATCHED {
        println!("cargo:rerun-if-changed={f}");
    }
    println!("cargo:rustc-check-cfg=cfg(mixcut_cuda)");
    println!("cargo:rerun-if-env-changed=DOCS_RS");
    if std::env::var_os("DOCS_RS").is_some() {
        // What the crate's source reads at compile time, without compiling anything: no host kernel
        // levels, and no CUDA path (`mixcut_cuda` unset, so the fatbin is not embedded).
        println!("cargo:rustc-env=MIXCUT_HOST_ISAS=");
        return;
    }
    build_host_kernels();
    build_cuda_kernels();
    link_libtorch();
}

/// The fused CPU executor: the same kernel source, built by the C++ compiler once per instruction-set
/// level (`MIX_ISA` names the level: it prefixes the entry points and the C++ namespace, so the copies
/// never share a symbol), always optimised (it is the hot loop even in debug builds), with FMA contraction
/// off so every level rounds as the reference does. x86_64 gets baseline x86-64, x86-64-v3 (AVX2, F16C,
/// FMA) and x86-64-v4 (AVX-512 F/BW/DQ/VL/CD), chosen at run time (src/exec/cpu.rs); other targets get
/// their baseline (NEON on aarch64). `MIXCUT_HOST_ISAS` tells the crate which levels carry their flags: a
/// compiler that refuses a level's flags builds it without them (correct, never chosen).
fn build_host_kernels() {
    let x86_64 = std::env::var("CARGO_CFG_TARGET_ARCH").is_ok_and(|a| a == "x86_64");
    let levels: &[(&str, &[&str])] = if x86_64 {
        &[
            ("baseline", &[]),
            ("v3", &["-march=x86-64-v3"]),
            ("avx512", &["-march=x86-64-v4", "-mprefer-vector-width=512"]),
        ]
    } else {
        &[("baseline", &[])]
    };
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let mut built = Vec::new();
    for &(isa, flags) in levels {
        let mut build = cc::Build::new();
        build
            .out_dir(out_dir.join(format!("host-{isa}")))
            .cpp(true)
            .file("kernels/host.cpp")
            .include("kernels")
            .std("c++17")
            .opt_level(3)
            .debug(false)
            .define("MIX_ISA", isa)
            .flag("-ffp-contract=off")
            .flag("-fno-trapping-math") // lets selects (u8 clamp, bf16 NaN) vectorise; results unchanged
            // A switch over an operation that misses one is an error: a new operation must be handled.
            .flag("-Werror=switch")
            .flag_if_supported("-fno-math-errno")
            .warnings(true)
            .extra_warnings(true);
        if flags.iter().all(|f| build.is_flag_supported(f).unwrap_or(false)) {
            for f in flags {
                build.flag(f);
            }
            built.push(isa);
        } else {
            warn(&format!("the C++ compiler refuses {flags:?}: the fused CPU path runs without the {isa} kernels"));
        }
        build.compile(&format!("mixcut_host_{isa}"));
    }
    println!("cargo:rustc-env=MIXCUT_HOST_ISAS={}", built.join(","));
}

fn warn(message: &str) {
    println!("cargo:warning=tch-mixcut: {message}");
}

/// The CUDA kernels and the stream shim, when a usable nvcc is found (see build/nvcc.rs for where it
/// looks and build/cuda.rs for what "usable" means). Never fails the build.
fn build_cuda_kernels() {
    for var in nvcc::ENV_VARS.iter().chain([&cuda::ARCHS_VAR]) {
        println!("cargo:rerun-if-env-changed={var}");
    }
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let checkout = manifest_dir.join("scripts/setup.sh").is_file();
    // A crate from the registry has no scripts/: its users set NVCC or CUDA_HOME.
    let fix = match checkout {
        true => {
            "CUDA tensors use the reference executor. To build the fused CUDA path, run scripts/setup.sh \
                 (CUDA 13.0's nvcc from PyPI into ./cuda) or set NVCC to a CUDA >= 12.1 nvcc, then rebuild"
        }
        false => {
            "CUDA tensors use the reference executor. To build the fused CUDA path, set NVCC to a CUDA >= \
                  12.1 nvcc (or CUDA_HOME to its toolkit), then rebuild (cargo clean -p tch-mixcut)"
        }
    };
    if std::env::var_os("CARGO_CFG_UNIX").is_none() {
        return not_built(&format!("the fused CUDA path is built on Linux only; {fix}"));
    }
    if checkout {
        // A build made before scripts/setup.sh installed ./cuda reruns once it is there (until then cargo
        // reruns this script on every build, as the path does not exist).
        println!("cargo:rerun-if-changed=cuda/bin/nvcc");
    }
    let candidates = match nvcc::find(&manifest_dir, |v| std::env::var_os(v)) {
        nvcc::Found::Candidates(c) => c,
        nvcc::Found::Disabled => {
            return not_built(
                "fused CUDA kernels disabled by TCH_MIXCUT_CUDA=off; CUDA tensors use the reference executor",
            )
        }
        nvcc::Found::Missing => {
            return not_built(&format!("nvcc not found (NVCC, PATH, CUDA_HOME/CUDA_PATH, ./cuda/bin): {fix}"))
        }
    };
    let mut refused = Vec::new();
    for nvcc in &candidates {
        match check_stream_shim(nvcc).and_then(|()| cuda::compile(nvcc, Path::new("kernels/mix.cu"), &out_dir)) {
            Ok(kernels) => {
                for reason in &refused {
                    warn(&format!("skipped an nvcc: {reason}"));
                }
                for note in &kernels.notes {
                    warn(note);
                }
                // ptxas's register / spill report, for CI's log (.ci/run prints it) and the register
                // budget test (tests/kernel_registers.rs).
                let report = out_dir.join("ptxas-report.txt");
                std::fs::write(&report, format!("nvcc: {}\n{}", nvcc.display(), kernels.report)).unwrap();
                println!("cargo:rustc-env=MIXCUT_PTXAS_REPORT={}", report.display());
                build_stream_shim();
                println!("cargo:rustc-cfg=mixcut_cuda");
                println!("cargo:rustc-env=MIXCUT_FATBIN={}", kernels.fatbin.display());
                println!("cargo:rustc-env=MIXCUT_FATBIN_CONTENTS={}", kernels.contents);
                return;
            }
            Err(reason) => refused.push(reason),
        }
    }
    not_built(&format!("the fused CUDA kernels were not built: {}. {fix}", refused.join("; ")));
}

/// Says why the CUDA kernels were not built: as a cargo warning, which cargo hides for registry
/// dependencies, and to the crate, whose `check_fused_cuda` then gives the same reason at run time.
fn not_built(reason: &str) {
    warn(reason);
    println!("cargo:rustc-env=MIXCUT_CUDA_NOT_BUILT={}", reason.replace('\n', " "));
}

/// The C++ shim that calls libtorch's c10 stream functions (it needs no CUDA or libtorch header).
fn build_stream_shim() {
    cc::Build::new()
        .cpp(true)
        .file("shim/torch_stream.cpp")
        .std("c++17")
        .opt_level(2)
        .warnings(true)
        .compile("mixcut_torch_stream");
}

/// Where libtorch's and CUDA's headers are at hand, checks (compile only) that the stream shim's mirror of
/// c10's stream class matches the real one: `Err` on a mismatch, which would break the calls.
fn check_stream_shim(nvcc: &Path) -> Result<(), String> {
    let torch = libtorch_lib().map(|lib| lib.join("..").join("include"));
    let cuda = nvcc.parent().and_then(Path::parent).map(|d| d.join("include"));
    let (Some(torch), Some(cuda)) = (torch, cuda) else { return Ok(()) };
    if !torch.join("c10/cuda/CUDAStream.h").is_file() || !cuda.join("cuda_runtime_api.h").is_file() {
        return Ok(());
    }
    let compiler =
        cc::Build::new().cpp(true).std("c++17").include(&torch).include(&cuda).cargo_metadata(false).get_compiler();
    let output = match compiler.to_command().args(["-fsyntax-only", "shim/c10_layout_check.cpp"]).output() {
        Ok(output) => output,
        Err(e) => {
            warn(&format!("could not check the stream shim against libtorch's headers: {e}"));
            return Ok(());
        }
    };
    let stderr = String::from_utf8_lossy(&output.stderr);
    if output.status.success() {
        Ok(())
    } else if stderr.contains("static assert") || stderr.contains("static_assert") {
        Err(format!(
            "libtorch's c10::cuda::CUDAStream no longer matches shim/torch_stream.cpp: {}",
            stderr.lines().find(|l| l.contains("static")).unwrap_or("")
        ))
    } else {
        warn(&format!("could not check the stream shim against libtorch's headers in {}", torch.display()));
        Ok(())
    }
}

/// libtorch's library folder (`DEP_TCH_LIBTORCH_LIB`, else `$LIBTORCH/lib`).
fn libtorch_lib() -> Option<PathBuf> {
    std::env::var_os("DEP_TCH_LIBTORCH_LIB")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("LIBTORCH").map(|p| Path::new(&p).join("lib")))
}

/// torch-sys gives the final binaries no rpath: add one for this package's binaries, tests, examples and
/// benches. libtorch_cuda is not linked here (its CUDA libraries are absent on CPU-only machines); the
/// crate loads it at run time where it can (`tch_mixcut::load_cuda_backend`).
fn link_libtorch() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    if let Some(lib) = libtorch_lib() {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    }
}
