//! Compiling kernels/mix.cu with nvcc into the fatbin embedded in the crate, without ever failing the
//! build: a missing, too old or failing nvcc is an `Err` with the reason, and build.rs then builds the
//! crate without the CUDA path and says why in a cargo warning. Shared by build.rs and its tests.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The oldest nvcc that compiles the kernels: their 9 KB `__grid_constant__` argument block (past the 4 KB
/// of older toolkits) needs 12.1.
pub const MIN_RELEASE: (u32, u32) = (12, 1);

/// Cubins for the architectures libtorch 2.11's CUDA build ships (Turing to Blackwell), PTX for the lowest.
pub const CUBINS: [&str; 6] = ["75", "80", "86", "90", "100", "120"];

/// Restricts the cubins to some of [`CUBINS`] ("90" or "80,90"; PTX is then for the lowest of them): a
/// build for one machine's GPUs is smaller and faster to compile.
pub const ARCHS_VAR: &str = "TCH_MIXCUT_CUDA_ARCHS";

/// The [`CUBINS`] that `wanted` (the value of [`ARCHS_VAR`]; unset or empty: all) names, or why not.
pub fn selected(wanted: Option<&str>) -> Result<Vec<&'static str>, String> {
    let Some(wanted) = wanted.filter(|w| !w.trim().is_empty()) else { return Ok(CUBINS.to_vec()) };
    let names: Vec<&str> =
        wanted.split([',', ' ']).map(|s| s.trim().trim_start_matches("sm_")).filter(|s| !s.is_empty()).collect();
    let unknown: Vec<&str> = names.iter().copied().filter(|n| !CUBINS.contains(n)).collect();
    if names.is_empty() || !unknown.is_empty() {
        return Err(format!("{ARCHS_VAR}: got {wanted:?}, expected a comma-separated list of {}", CUBINS.join(", ")));
    }
    Ok(CUBINS.iter().copied().filter(|sm| names.contains(sm)).collect())
}

/// A compiled fatbin.
#[derive(Debug)]
pub struct Kernels {
    /// The fatbin file.
    pub fatbin: PathBuf,
    /// What it holds, e.g. "cubins sm_75, sm_80 and PTX compute_75 (nvcc 13.0)".
    pub contents: String,
    /// nvcc's stderr (ptxas's register and spill report).
    pub report: String,
    /// Things the build should say (architectures this nvcc cannot build, dropped).
    pub notes: Vec<String>,
}

/// The release in `nvcc --version`'s output ("Cuda compilation tools, release 13.0, V13.0.88").
pub fn parse_release(version_output: &str) -> Option<(u32, u32)> {
    let rest = version_output.split("release ").nth(1)?;
    let number: String = rest.chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
    let mut parts = number.split('.');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// Runs `nvcc` with `args`; its stdout, or why it failed.
fn run(nvcc: &Path, args: &[&str]) -> Result<String, String> {
    let output = Command::new(nvcc)
        .args(args)
        .output()
        .map_err(|e| format!("running `{} {}`: {e}", nvcc.display(), args.join(" ")))?;
    if !output.status.success() {
        return Err(format!(
            "`{} {}` failed ({}): {}",
            nvcc.display(),
            args.join(" "),
            output.status,
            first_lines(&String::from_utf8_lossy(&output.stderr), 10)
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn first_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let shown = lines.iter().take(n).copied().collect::<Vec<_>>().join(" | ");
    if lines.len() > n {
        format!("{shown} | … ({} more lines)", lines.len() - n)
    } else {
        shown
    }
}

/// nvcc's release, if it runs and is at least [`MIN_RELEASE`].
pub fn probe(nvcc: &Path) -> Result<(u32, u32), String> {
    let version = run(nvcc, &["--version"])?;
    let release = parse_release(&version).ok_or_else(|| {
        format!("`{} --version` printed no \"release X.Y\": {}", nvcc.display(), first_lines(&version, 3))
    })?;
    if release < MIN_RELEASE {
        return Err(format!(
            "{} is CUDA {}.{}, older than {}.{} (the kernels' 9 KB __grid_constant__ argument block needs {}.{})",
            nvcc.display(),
            release.0,
            release.1,
            MIN_RELEASE.0,
            MIN_RELEASE.1,
            MIN_RELEASE.0,
            MIN_RELEASE.1
        ));
    }
    Ok(release)
}

/// The `-gencode` pairs for the architectures `wanted` (of [`CUBINS`]) that `known` (nvcc's
/// `--list-gpu-code`, when it answered) contains, plus PTX for the lowest kept; and the architectures dropped.
pub fn gencodes(known: Option<&str>, wanted: &[&'static str]) -> (Vec<String>, Vec<&'static str>) {
    let knows = |sm: &str| known.is_none_or(|k| k.split_whitespace().any(|code| code == format!("sm_{sm}")));
    let (kept, dropped): (Vec<&str>, Vec<&str>) = wanted.iter().partition(|sm| knows(sm));
    let mut args: Vec<String> = kept.iter().map(|sm| format!("arch=compute_{sm},code=sm_{sm}")).collect();
    if let Some(lowest) = kept.first() {
        args.push(format!("arch=compute_{lowest},code=compute_{lowest}"));
    }
    (args, dropped)
}

/// Compiles `source` into `out_dir/mix.fatbin` with `nvcc`.
pub fn compile(nvcc: &Path, source: &Path, out_dir: &Path) -> Result<Kernels, String> {
    let release = probe(nvcc)?;
    let known = run(nvcc, &["--list-gpu-code"]).ok();
    let wanted = selected(std::env::var(ARCHS_VAR).ok().as_deref())?;
    let (codes, dropped) = gencodes(known.as_deref(), &wanted);
    if codes.is_empty() {
        return Err(format!("{} can build none of sm_{}", nvcc.display(), wanted.join(", sm_")));
    }
    let mut notes = Vec::new();
    if !dropped.is_empty() {
        notes.push(format!(
            "nvcc {}.{} cannot build sm_{}: the CUDA kernels are built without them (those GPUs JIT-compile the PTX)",
            release.0,
            release.1,
            dropped.join(", sm_")
        ));
    }
    let fatbin = out_dir.join("mix.fatbin");
    let mut command = Command::new(nvcc);
    command.args(["-fatbin", "-O3", "-std=c++17", "-Xptxas", "-v", "-lineinfo"]);
    for code in &codes {
        command.args(["-gencode", code]);
    }
    let output =
        command.arg("-o").arg(&fatbin).arg(source).output().map_err(|e| format!("running {}: {e}", nvcc.display()))?;
    let report = String::from_utf8_lossy(&output.stderr).into_owned();
    if !output.status.success() {
        return Err(format!(
            "{} failed to compile {} ({}): {}",
            nvcc.display(),
            source.display(),
            output.status,
            first_lines(&report, 10)
        ));
    }
    let cubins: Vec<String> = codes
        .iter()
        .filter_map(|c| c.split("code=").nth(1))
        .filter(|c| c.starts_with("sm_"))
        .map(String::from)
        .collect();
    let ptx = codes.last().and_then(|c| c.split("code=").nth(1)).unwrap_or_default();
    let contents = format!("cubins {} and PTX {ptx} (nvcc {}.{})", cubins.join(", "), release.0, release.1);
    Ok(Kernels { fatbin, contents, report, notes })
}
