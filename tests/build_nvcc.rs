//! build.rs's nvcc search and CUDA compile step, on fake toolchains in temporary folders: whatever nvcc
//! does, the step returns a reason instead of failing the build (build.rs then warns and builds without
//! the CUDA path; CI also runs whole builds with these fakes).

#[path = "../build/cuda.rs"]
#[allow(dead_code)]
mod cuda;
#[path = "../build/nvcc.rs"]
#[allow(dead_code)]
mod nvcc;

use std::collections::HashMap;
use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use nvcc::{find, Found};

/// A temporary folder removed on drop. It holds a lock meanwhile, so the tests that write fake nvccs and
/// run them take turns: a script still open for writing in one thread is inherited by a child forked in
/// another, and running it then fails with "Text file busy".
struct TempDir(PathBuf, #[allow(dead_code)] MutexGuard<'static, ()>); // the guard is held for its drop

impl TempDir {
    fn new(name: &str) -> TempDir {
        static TURN: Mutex<()> = Mutex::new(());
        let turn = TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let dir = std::env::temp_dir().join(format!("mixcut-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir, turn)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An executable `root/bin/nvcc` running `script` (a POSIX shell body).
fn fake_nvcc(root: &Path, script: &str) -> PathBuf {
    let bin = root.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let path = bin.join("nvcc");
    std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn env_of(vars: &[(&str, &Path)]) -> impl Fn(&str) -> Option<OsString> {
    let map: HashMap<String, OsString> = vars.iter().map(|(k, v)| (k.to_string(), v.as_os_str().to_owned())).collect();
    move |k| map.get(k).cloned()
}

const VERSION_13: &str = "echo 'Cuda compilation tools, release 13.0, V13.0.88'";

#[test]
fn search_order_is_nvcc_alone_else_path_cuda_home_then_checkout() {
    let tmp = TempDir::new("search");
    let (a, b, c, own) = (tmp.0.join("a"), tmp.0.join("b"), tmp.0.join("c"), tmp.0.join("own"));
    let (na, nb, nc) = (fake_nvcc(&a, ""), fake_nvcc(&b, ""), fake_nvcc(&c, ""));
    let empty = tmp.0.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let path_b = b.join("bin");
    // An explicit NVCC is the only candidate.
    assert_eq!(
        find(&empty, env_of(&[("NVCC", &na), ("PATH", &path_b), ("CUDA_HOME", &c)])),
        Found::Candidates(vec![na.clone()])
    );
    assert_eq!(
        find(&empty, env_of(&[("PATH", &path_b), ("CUDA_HOME", &c)])),
        Found::Candidates(vec![nb.clone(), nc.clone()])
    );
    assert_eq!(find(&empty, env_of(&[("CUDA_PATH", &c)])), Found::Candidates(vec![nc.clone()]));
    assert_eq!(find(&empty, env_of(&[("NVCC", &tmp.0.join("missing"))])), Found::Missing);
    // The checkout's own cuda/ (scripts/setup.sh) comes last, so a usable system nvcc is preferred but a
    // too old one on PATH no longer hides it (build.rs takes the first candidate that compiles).
    let own_nvcc = fake_nvcc(&own.join("cuda"), "");
    assert_eq!(find(&own, env_of(&[("PATH", &path_b)])), Found::Candidates(vec![nb, own_nvcc]));
    assert_eq!(find(&own, env_of(&[("TCH_MIXCUT_CUDA", Path::new("off")), ("NVCC", &na)])), Found::Disabled);
}

#[test]
fn an_nvcc_that_fails_is_a_reason_not_a_panic() {
    let tmp = TempDir::new("nvcc-exit1");
    let nvcc = fake_nvcc(&tmp.0, "echo 'nvcc: broken install' >&2\nexit 1");
    let e = cuda::compile(&nvcc, Path::new("kernels/mix.cu"), &tmp.0).unwrap_err();
    assert!(e.contains("--version") && e.contains("exit status: 1") && e.contains("broken install"), "{e}");
}

#[test]
fn an_nvcc_older_than_12_1_is_refused_with_its_release() {
    let tmp = TempDir::new("nvcc-11-8");
    let nvcc = fake_nvcc(&tmp.0, "echo 'Cuda compilation tools, release 11.8, V11.8.89'");
    let e = cuda::compile(&nvcc, Path::new("kernels/mix.cu"), &tmp.0).unwrap_err();
    assert!(e.contains("CUDA 11.8") && e.contains("older than 12.1") && e.contains("__grid_constant__"), "{e}");
    assert_eq!(cuda::parse_release("Cuda compilation tools, release 12.1, V12.1.105"), Some((12, 1)));
    assert_eq!(cuda::parse_release("no version here"), None);
}

#[test]
fn a_compile_failure_is_a_reason_with_nvccs_message() {
    let tmp = TempDir::new("nvcc-compile-fails");
    let script = format!("case \"$1\" in --version) {VERSION_13};; --list-gpu-code) echo sm_80;; *) echo 'mix.cu(3): error: boom' >&2; exit 2;; esac");
    let nvcc = fake_nvcc(&tmp.0, &script);
    let e = cuda::compile(&nvcc, Path::new("kernels/mix.cu"), &tmp.0).unwrap_err();
    assert!(e.contains("failed to compile") && e.contains("error: boom"), "{e}");
}

#[test]
fn a_chosen_list_of_architectures_is_built_or_refused_with_the_reason() {
    assert_eq!(cuda::selected(None).unwrap(), cuda::CUBINS);
    assert_eq!(cuda::selected(Some(" ")).unwrap(), cuda::CUBINS, "empty means unset");
    assert_eq!(cuda::selected(Some("sm_90, 80")).unwrap(), ["80", "90"]);
    let (codes, dropped) = cuda::gencodes(None, &cuda::selected(Some("90")).unwrap());
    assert_eq!(codes, ["arch=compute_90,code=sm_90", "arch=compute_90,code=compute_90"]);
    assert!(dropped.is_empty());
    for bad in ["91", "90,sm_35", ","] {
        let e = cuda::selected(Some(bad)).unwrap_err();
        assert!(e.contains(cuda::ARCHS_VAR) && e.contains(&format!("{bad:?}")) && e.contains("75, 80"), "{e}");
    }
}

#[test]
fn architectures_nvcc_does_not_know_are_dropped_and_said() {
    let (all, dropped) = cuda::gencodes(None, &cuda::CUBINS);
    assert_eq!(all.len(), cuda::CUBINS.len() + 1);
    assert!(dropped.is_empty());
    assert_eq!(all.last().unwrap(), "arch=compute_75,code=compute_75", "PTX for the lowest architecture");
    let (codes, dropped) = cuda::gencodes(Some("sm_75 sm_80 sm_86 sm_90"), &cuda::CUBINS);
    assert_eq!(dropped, ["100", "120"]);
    assert_eq!(codes.len(), 5);
    // A fake 12.4 that knows no Blackwell: the note says what was dropped.
    let tmp = TempDir::new("nvcc-12-4");
    let script =
        "case \"$1\" in --version) echo 'release 12.4, V12.4.1';; --list-gpu-code) echo 'sm_75 sm_80 sm_86 sm_90';; \
                  *) while [ \"$1\" != -o ]; do shift; done; touch \"$2\";; esac";
    let nvcc = fake_nvcc(&tmp.0, script);
    let kernels = cuda::compile(&nvcc, Path::new("kernels/mix.cu"), &tmp.0).unwrap();
    assert_eq!(kernels.notes.len(), 1);
    assert!(kernels.notes[0].contains("12.4 cannot build sm_100, sm_120"), "{:?}", kernels.notes);
    assert_eq!(kernels.contents, "cubins sm_75, sm_80, sm_86, sm_90 and PTX compute_75 (nvcc 12.4)");
}
