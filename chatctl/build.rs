//! Sets `cfg(as_root)` when the tests are built by root: the tests that run a
//! client under another uid need it, and are marked ignored (counted by libtest,
//! with their reason) otherwise. Unlike a missing tool, CI cannot install root, so
//! `CI` does not force it.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rustc-check-cfg=cfg(as_root)");
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    if root {
        println!("cargo:rustc-cfg=as_root");
    }
}
