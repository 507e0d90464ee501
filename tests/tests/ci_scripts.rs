//! The project's own checking scripts, run as tests so that `cargo test --workspace`
//! is the whole check:
//! - `conf/check-install.sh`: `conf/install.sh` into temporary roots, the systemd unit
//!   under `systemd-analyze verify`, the installed config started with the installed
//!   chatd, and `conf/cloud-init.yaml` (needs systemd-analyze, shellcheck and
//!   python3 with PyYAML, which `.ci/run` installs).
//! - `fuzz/run-all.sh`: every cargo-fuzz target for `FUZZ_SECONDS` (60 under CI) from
//!   the committed seeds (needs `cargo fuzz`, which `.ci/run` installs).
//!
//! Outside CI (`CI` unset) a missing tool marks its test ignored, with the reason,
//! and the test runner counts it (`tests/build.rs` probes for the tools); fuzzing runs
//! only under CI or when `FUZZ_SECONDS` is set, since it takes minutes. Under CI
//! every test runs, and a missing tool fails it.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// The directory cargo put this build's binaries in (`target/debug`).
fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // target/debug/deps/ci_scripts-HASH → target/debug
    exe.parent()
        .and_then(Path::parent)
        .expect("target dir")
        .to_path_buf()
}

/// Runs `script args` from the workspace root and fails with its output.
fn run(script: &str, args: &[&str], env: &[(&str, &str)]) {
    let out = Command::new(root().join(script))
        .args(args)
        .envs(env.iter().copied())
        .current_dir(root())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {script}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{script} failed ({}):\n{text}",
        out.status
    );
    println!("{text}");
}

#[test]
#[cfg_attr(
    not(all(has_systemd_analyze, has_shellcheck, has_pyyaml)),
    ignore = "conf/check-install.sh needs systemd-analyze, shellcheck and python3 with PyYAML"
)]
fn deployment_files_install_and_verify() {
    let bins = bin_dir();
    for b in ["chatd", "chatctl"] {
        assert!(
            bins.join(b).exists(),
            "{} is missing: build the workspace (cargo test --workspace builds it)",
            bins.join(b).display()
        );
    }
    run(
        "conf/check-install.sh",
        &[bins.to_str().expect("UTF-8 path")],
        &[],
    );
}

#[test]
#[cfg_attr(
    not(run_fuzz),
    ignore = "fuzzing runs under CI, or with FUZZ_SECONDS=N"
)]
#[cfg_attr(
    all(run_fuzz, not(has_cargo_fuzz)),
    ignore = "cargo fuzz is not installed (cargo install cargo-fuzz)"
)]
fn fuzz_targets_run_clean_from_the_seeds() {
    let seconds = std::env::var("FUZZ_SECONDS").ok();
    let seconds = seconds.unwrap_or_else(|| "60".into());
    run("fuzz/run-all.sh", &[&seconds], &[]);
}
