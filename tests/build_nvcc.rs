//! build.rs's nvcc search, on fake toolchains in temporary folders.

#[path = "../build/nvcc.rs"]
#[allow(dead_code)]
mod nvcc;

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use nvcc::{find, Found};

fn fake_nvcc(root: &Path) -> PathBuf {
    let bin = root.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::write(bin.join("nvcc"), "#!/bin/sh\n").unwrap();
    bin.join("nvcc")
}

fn env_of(vars: &[(&str, &Path)]) -> impl Fn(&str) -> Option<OsString> {
    let map: HashMap<String, OsString> = vars.iter().map(|(k, v)| (k.to_string(), v.as_os_str().to_owned())).collect();
    move |k| map.get(k).cloned()
}

#[test]
fn search_order_is_nvcc_path_cuda_home_then_checkout() {
    let tmp = std::env::temp_dir().join(format!("mixcut-nvcc-{}", std::process::id()));
    let (a, b, c, own) = (tmp.join("a"), tmp.join("b"), tmp.join("c"), tmp.join("own"));
    let (na, nb, nc) = (fake_nvcc(&a), fake_nvcc(&b), fake_nvcc(&c));
    let empty = tmp.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let path_b = b.join("bin");
    assert_eq!(find(&empty, env_of(&[("NVCC", &na), ("PATH", &path_b), ("CUDA_HOME", &c)])), Found::Nvcc(na.clone()));
    assert_eq!(find(&empty, env_of(&[("PATH", &path_b), ("CUDA_HOME", &c)])), Found::Nvcc(nb));
    assert_eq!(find(&empty, env_of(&[("CUDA_PATH", &c)])), Found::Nvcc(nc));
    assert_eq!(find(&empty, env_of(&[("NVCC", &tmp.join("missing"))])), Found::Missing);
    // The checkout's own cuda/ (scripts/setup.sh) comes last.
    let own_nvcc = fake_nvcc(&own.join("cuda"));
    assert_eq!(find(&own, env_of(&[])), Found::Nvcc(own_nvcc));
    assert_eq!(find(&own, env_of(&[("TCH_MIXCUT_CUDA", Path::new("off")), ("NVCC", &na)])), Found::Disabled);
    std::fs::remove_dir_all(&tmp).unwrap();
}
