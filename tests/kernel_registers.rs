//! The CUDA kernels' register budget, from ptxas's report of this very build (build.rs keeps it): the
//! registers a thread takes decide how many threads an SM holds, and these streaming kernels need many
//! loads in flight to reach the memory's bandwidth. Runs wherever nvcc built the kernels, GPU or not.

/// Registers a thread may take: 64 keeps four blocks of 256 threads on an SM (64K registers), for the
/// mix and the normalising pass alike (each thread moves one 16-byte vector of output, or a few pixels
/// of each channel plane).
const BUDGET: u32 = 64;

/// The number in front of `words` in `line` ("8 bytes spill stores": 8 for ["bytes", "spill", "stores"]).
fn number_before(line: &str, words: &[&str]) -> Option<u32> {
    let all: Vec<&str> = line.split([' ', ',']).filter(|w| !w.is_empty()).collect();
    all.windows(words.len() + 1).find(|w| w[1..] == *words).and_then(|w| w[0].parse().ok())
}

/// (kernel, architecture, registers) for every entry point ptxas compiled.
fn entries(report: &str) -> Vec<(String, String, u32)> {
    let quoted = |line: &str, n: usize| line.split('\'').nth(n).unwrap_or_default().to_string();
    let mut out = Vec::new();
    let mut current = None;
    for line in report.lines() {
        if line.contains("Compiling entry function") {
            current = Some((quoted(line, 1), quoted(line, 3)));
        } else if let Some(registers) = number_before(line, &["registers"]) {
            if let Some((kernel, arch)) = current.take() {
                out.push((kernel, arch, registers));
            }
        }
    }
    out
}

/// The report's lines that give a function (entry point or callee) a stack frame or spills: local
/// memory, which these kernels never need.
fn local_memory(report: &str) -> Vec<&str> {
    report
        .lines()
        .filter(|line| {
            [&["bytes", "stack", "frame"][..], &["bytes", "spill", "stores"], &["bytes", "spill", "loads"]]
                .iter()
                .any(|words| number_before(line, words).is_some_and(|n| n > 0))
        })
        .map(str::trim)
        .collect()
}

#[test]
fn every_kernel_is_built_and_stays_within_its_register_budget_without_local_memory() {
    let Some(path) = option_env!("MIXCUT_PTXAS_REPORT") else {
        println!("skipped: the CUDA kernels were not built, so there is no ptxas report");
        return;
    };
    let report = std::fs::read_to_string(path).expect("build.rs wrote the ptxas report");
    let found = entries(&report);
    // The entry points src/exec/cuda.rs loads, built for every architecture.
    let mut expected: Vec<String> = ["f32", "f16", "bf16", "u8"]
        .iter()
        .flat_map(|d| ["", "_scalar", "_masks", "_scalar_masks", "_ext", "_scalar_ext"].map(|s| format!("mix_{d}{s}")))
        .chain(["f32", "f16", "bf16"].iter().flat_map(|d| {
            ["", "_cl", "_pixels", "_pixels_cl", "_scalar", "_scalar_ext"].map(|s| format!("mixnorm_{d}{s}"))
        }))
        .collect();
    expected.sort();
    let mut archs: Vec<&str> = found.iter().map(|e| e.1.as_str()).collect();
    archs.sort();
    archs.dedup();
    assert!(!archs.is_empty(), "no entry points in the ptxas report {path}:\n{report}");
    for arch in archs {
        let mut names: Vec<String> = found.iter().filter(|e| e.1 == arch).map(|e| e.0.clone()).collect();
        names.sort();
        assert_eq!(names, expected, "entry points built for {arch}");
    }
    let over: Vec<String> = found
        .iter()
        .filter(|(_, _, registers)| *registers > BUDGET)
        .map(|(kernel, arch, registers)| format!("{kernel} on {arch}: {registers} registers, budget {BUDGET}"))
        .collect();
    assert!(over.is_empty(), "kernels over their register budget:\n{}", over.join("\n"));
    let local = local_memory(&report);
    assert!(local.is_empty(), "functions with local memory (stack or spills):\n{}", local.join("\n"));
    println!("{} kernel builds within budget, none with local memory", found.len());
}

#[test]
fn the_report_reader_reads_ptxas_lines() {
    let report = "ptxas info    : Compiling entry function 'mix_f32' for 'sm_90'\n\
                  ptxas info    : Function properties for mix_f32\n    \
                  0 bytes stack frame, 8 bytes spill stores, 8 bytes spill loads\n\
                  ptxas info    : Used 102 registers, used 0 barriers, 30016 bytes cmem[0]\n\
                  ptxas info    : Function properties for run_mask\n    \
                  16 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads\n\
                  ptxas info    : Compiling entry function 'mixnorm_bf16' for 'sm_75'\n\
                  ptxas info    : Function properties for mixnorm_bf16\n    \
                  0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads\n\
                  ptxas info    : Used 76 registers, used 1 barriers, 640 bytes smem\n";
    assert_eq!(
        entries(report),
        vec![("mix_f32".to_string(), "sm_90".to_string(), 102), ("mixnorm_bf16".to_string(), "sm_75".to_string(), 76)]
    );
    assert_eq!(
        local_memory(report),
        vec![
            "0 bytes stack frame, 8 bytes spill stores, 8 bytes spill loads",
            "16 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads"
        ]
    );
}
