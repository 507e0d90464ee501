//! The project's own checking scripts, run as tests so that `cargo test --workspace`
//! is the whole check:
//! - `conf/check-install.sh`: `conf/install.sh` into temporary roots, the systemd unit
//!   under `systemd-analyze verify`, the installed config started with the installed
//!   chatd, and `conf/cloud-init.yaml` (needs systemd-analyze, shellcheck and
//!   python3 with PyYAML, which `.ci/run` installs).
//! - `fuzz/run-all.sh`: every cargo-fuzz target for `FUZZ_SECONDS` (60 under CI) from
//!   the committed seeds (needs `cargo fuzz`, which `.ci/run` installs).
//!
//! Outside CI (`CI` unset) a missing tool skips its test with a message; fuzzing runs
//! only under CI or when `FUZZ_SECONDS` is set, since it takes minutes.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn under_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "0" && v != "false")
}

fn have(cmd: &str, args: &[&str]) -> bool {
    Command::new(cmd)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
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
fn deployment_files_install_and_verify() {
    let bins = bin_dir();
    for b in ["chatd", "chatctl"] {
        assert!(
            bins.join(b).exists(),
            "{} is missing: build the workspace (cargo test --workspace builds it)",
            bins.join(b).display()
        );
    }
    let yaml = have("python3", &["-c", "import yaml"]);
    let missing: Vec<&str> = [
        ("systemd-analyze", have("systemd-analyze", &["--version"])),
        ("shellcheck", have("shellcheck", &["--version"])),
        ("python3 with PyYAML", yaml),
    ]
    .into_iter()
    .filter_map(|(name, ok)| (!ok).then_some(name))
    .collect();
    if !missing.is_empty() {
        assert!(
            !under_ci(),
            "missing under CI: {missing:?} (.ci/run installs them)"
        );
        eprintln!("skipped: conf/check-install.sh needs {missing:?}");
        return;
    }
    run(
        "conf/check-install.sh",
        &[bins.to_str().expect("UTF-8 path")],
        &[],
    );
}

#[test]
fn fuzz_targets_run_clean_from_the_seeds() {
    let seconds = std::env::var("FUZZ_SECONDS").ok();
    if seconds.is_none() && !under_ci() {
        eprintln!("skipped: fuzzing runs under CI, or with FUZZ_SECONDS=N");
        return;
    }
    if !have("cargo", &["fuzz", "--version"]) {
        assert!(
            !under_ci(),
            "cargo fuzz is missing under CI (.ci/run installs it)"
        );
        eprintln!("skipped: cargo fuzz is not installed (cargo install cargo-fuzz)");
        return;
    }
    let seconds = seconds.unwrap_or_else(|| "60".into());
    run("fuzz/run-all.sh", &[&seconds], &[]);
}
