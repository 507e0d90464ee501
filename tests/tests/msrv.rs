//! The minimum Rust version is said in three places that must agree: the README
//! ("Rust 1.NN or newer"), the workspace's `rust-version` in `Cargo.toml`, and the
//! highest `rust-version` among the locked dependencies (`cargo metadata`), which is
//! what really sets the minimum.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// "1.88" or "1.88.0" as (major, minor, patch).
fn version(text: &str) -> (u64, u64, u64) {
    let mut parts = text.trim().split('.').map(|p| {
        p.parse::<u64>()
            .unwrap_or_else(|_| panic!("bad version {text:?}"))
    });
    let major = parts.next().expect("major");
    let minor = parts.next().unwrap_or(0);
    let patch = parts.next().unwrap_or(0);
    (major, minor, patch)
}

/// The highest `rust-version` of any package in the locked dependency graph, with
/// the package that asks for it.
fn dependencies_need() -> ((u64, u64, u64), String) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // The packages built on this machine: the lock also lists other platforms'
    // (macOS's security framework, Windows' API crates), which a build never
    // downloads, and which `--offline` could then not read.
    let rustc = Command::new("rustc")
        .arg("-vV")
        .output()
        .expect("run rustc -vV");
    let host = String::from_utf8_lossy(&rustc.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        .expect("rustc -vV names the host");
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked", "--offline"])
        .args(["--filter-platform", &host])
        .current_dir(root())
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata JSON");
    meta["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .filter_map(|p| {
            let v = p["rust_version"].as_str()?;
            Some((version(v), format!("{} {}", p["name"], p["version"])))
        })
        .max()
        .expect("some package states a rust-version")
}

fn workspace_says() -> (u64, u64, u64) {
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let line = manifest
        .lines()
        .find(|l| l.starts_with("rust-version"))
        .expect("workspace rust-version in Cargo.toml");
    version(line.split('"').nth(1).expect("quoted version"))
}

fn readme_says() -> (u64, u64, u64) {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let flat = readme.split_whitespace().collect::<Vec<_>>().join(" ");
    let at = flat
        .find(" or newer")
        .expect("the README says \"Rust 1.NN or newer\"");
    let before = &flat[..at];
    let number = before
        .rsplit(' ')
        .next()
        .expect("a version before \"or newer\"");
    assert!(
        before[..before.len() - number.len()].ends_with("Rust "),
        "the README says \"Rust {number} or newer\""
    );
    version(number)
}

#[test]
fn readme_workspace_and_dependencies_agree_on_the_minimum_rust() {
    let (needed, by) = dependencies_need();
    let workspace = workspace_says();
    let readme = readme_says();
    assert_eq!(
        workspace, needed,
        "Cargo.toml's rust-version is {workspace:?}, but {by} needs {needed:?}"
    );
    assert_eq!(
        readme, needed,
        "the README says Rust {readme:?}, but {by} needs {needed:?}"
    );
}
