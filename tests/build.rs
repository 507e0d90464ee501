//! Probes for the tools some tests drive (irssi, weechat, tmux, systemd-analyze,
//! shellcheck, PyYAML, cargo-fuzz, Chromium and chromedriver, PostgreSQL and Redis) and for an IPv6
//! loopback, and sets a `cfg` for each one found, so a test without its tool is
//! marked ignored (counted by libtest with its reason) instead of passing without
//! running. Under CI (`CI` set, as
//! `.ci/run` does) every tool's cfg is set: a missing tool then fails its test
//! (the IPv6 loopback, which CI cannot install, is only probed).

use std::process::{Command, Stdio};

/// cfg name → how to tell the tool is there.
const TOOLS: &[(&str, &[&str])] = &[
    ("has_irssi", &["irssi", "--version"]),
    ("has_weechat", &["weechat", "--version"]),
    ("has_tmux", &["tmux", "-V"]),
    ("has_systemd_analyze", &["systemd-analyze", "--version"]),
    ("has_shellcheck", &["shellcheck", "--version"]),
    ("has_pyyaml", &["python3", "-c", "import yaml"]),
    ("has_cargo_fuzz", &["cargo", "fuzz", "--version"]),
    ("has_chromium", &["chromium", "--version"]),
    ("has_chromedriver", &["chromedriver", "--version"]),
    ("has_redis", &["redis-server", "--version"]),
];

fn runs(argv: &[&str]) -> bool {
    Command::new(argv[0])
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The directory of PostgreSQL's `initdb` and `postgres` (Debian keeps them in
/// `/usr/lib/postgresql/<version>/bin`), the newest version first.
fn postgres_bin() -> Option<std::path::PathBuf> {
    let mut dirs: Vec<_> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("initdb").is_file() && bin.join("postgres").is_file())
        .collect();
    dirs.sort();
    dirs.pop()
}

fn under_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "0" && v != "false")
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    for var in ["PATH", "CI", "FUZZ_SECONDS"] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    let ci = under_ci();
    let set = |name: &str, found: bool| {
        println!("cargo:rustc-check-cfg=cfg({name})");
        if ci || found {
            println!("cargo:rustc-cfg={name}");
        }
    };
    for (name, argv) in TOOLS {
        set(name, runs(argv));
    }
    // PostgreSQL's server programs are not on PATH in Debian's packages.
    set("has_postgres", postgres_bin().is_some());
    // Not a tool CI can install: an IPv6 loopback is used when the machine has one.
    println!("cargo:rustc-check-cfg=cfg(has_ipv6_loopback)");
    if std::net::TcpListener::bind("[::1]:0").is_ok() {
        println!("cargo:rustc-cfg=has_ipv6_loopback");
    }
    // Fuzzing takes minutes: only under CI or when asked with FUZZ_SECONDS=N.
    set("run_fuzz", std::env::var_os("FUZZ_SECONDS").is_some());
}
