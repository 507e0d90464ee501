//! Sets `cfg(as_root)` when the daemon's tests are built by root: the real-full-disk
//! test mounts a small tmpfs, which needs root, and is marked ignored (counted by
//! libtest, with its reason) otherwise. Sets `cfg(has_postgres)` when PostgreSQL's
//! programs are installed (Debian keeps them in `/usr/lib/postgresql/<version>/bin`,
//! the probe of `tests/build.rs`), for the process tests of the PostgreSQL store
//! (`tests/cluster_store.rs`). Under CI (`CI` set, as `.ci/run` does, and CI runs
//! as root) both are always set, so a CI that cannot mount or has no PostgreSQL
//! fails those tests instead of skipping them.
//! Likewise `cfg(has_redis)` when `redis-server` runs, for the cluster test
//! (`tests/cluster_node.rs`).

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=CI");
    println!("cargo:rustc-check-cfg=cfg(as_root)");
    println!("cargo:rustc-check-cfg=cfg(has_postgres)");
    let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "0" && v != "false");
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    if ci || root {
        println!("cargo:rustc-cfg=as_root");
    }
    let postgres = std::fs::read_dir("/usr/lib/postgresql").is_ok_and(|dirs| {
        dirs.filter_map(Result::ok).any(|e| {
            let bin = e.path().join("bin");
            bin.join("initdb").is_file() && bin.join("postgres").is_file()
        })
    });
    if ci || postgres {
        println!("cargo:rustc-cfg=has_postgres");
    }
    // The cluster tests need a redis-server to start; without one they are ignored
    // (under CI they run, and fail if it is missing).
    println!("cargo:rustc-check-cfg=cfg(has_redis)");
    let redis = Command::new("redis-server")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if ci || redis {
        println!("cargo:rustc-cfg=has_redis");
    }
}
