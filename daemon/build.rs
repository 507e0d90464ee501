//! Sets `cfg(as_root)` when the daemon's tests are built by root: the real-full-disk
//! test mounts a small tmpfs, which needs root, and is marked ignored (counted by
//! libtest, with its reason) otherwise. Under CI (`CI` set, as `.ci/run` does, and
//! CI runs as root) it is always set, so a CI that cannot mount fails the test
//! instead of skipping it. Likewise `cfg(has_redis)` when `redis-server` runs, for
//! the cluster test (`tests/cluster_node.rs`).

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=CI");
    println!("cargo:rustc-check-cfg=cfg(as_root)");
    let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "0" && v != "false");
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    if ci || root {
        println!("cargo:rustc-cfg=as_root");
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
