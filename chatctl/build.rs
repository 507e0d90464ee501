//! Sets `cfg(as_root)` when the tests are built by root: the tests that run a
//! client under another uid need it, and are marked ignored (counted by libtest,
//! with their reason) otherwise. Under CI (`CI` set) the cfg is always set, so
//! those tests run and fail when they cannot.

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
}
