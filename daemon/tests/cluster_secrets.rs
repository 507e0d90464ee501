//! The `chatd` process with a `[cluster]` section whose PostgreSQL and Redis URLs hold
//! passwords (docs/cluster.md: "never written to the log"): a node that cannot reach
//! either refuses to start with its exit code (4 for the database, 6 for Redis) and
//! says why, even at `trace`, without repeating the password. Nothing listens on the
//! ports named, so no server is needed.

use chatd_tests::process::{free_port, run_bounded, Run};
use std::process::Command;

const CHATD: &str = env!("CARGO_BIN_EXE_chatd");

/// Runs chatd with `cluster` as its `[cluster]` section, logging at trace.
fn start_with(cluster: &str) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("chatd.toml");
    std::fs::write(
        &conf,
        format!("[log]\nlevel = \"trace\"\n\n[cluster]\n{cluster}\n"),
    )
    .unwrap();
    let mut cmd = Command::new(CHATD);
    cmd.arg("--config")
        .arg(&conf)
        .args([
            "--listen",
            &format!("127.0.0.1:{}", free_port()),
            "--data-dir",
        ])
        .arg(dir.path().join("data"));
    run_bounded(cmd)
}

#[test]
fn an_unreachable_database_is_reported_without_its_password() {
    let port = free_port();
    let run = start_with(&format!(
        "node_id = 1\ndatabase = \"postgresql://chatd:s3cretPgWord@127.0.0.1:{port}/chatd?connect_timeout=2\""
    ));
    assert_eq!(run.code, Some(4), "{run}");
    assert!(
        run.stderr.to_lowercase().contains("postgresql"),
        "says why: {run}"
    );
    assert!(
        !run.stderr.contains("s3cretPgWord"),
        "the password leaked:\n{run}"
    );
    assert!(
        !run.stdout.contains("s3cretPgWord"),
        "the password leaked:\n{run}"
    );
}

#[test]
fn an_unreachable_redis_is_reported_without_its_password() {
    let port = free_port();
    let run = start_with(&format!(
        "node_id = 1\nredis = \"redis://:s3cretRedisWord@127.0.0.1:{port}/\""
    ));
    assert_eq!(run.code, Some(6), "{run}");
    assert!(
        run.stderr.to_lowercase().contains("redis"),
        "says why: {run}"
    );
    assert!(
        !run.stderr.contains("s3cretRedisWord"),
        "the password leaked:\n{run}"
    );
    assert!(
        !run.stdout.contains("s3cretRedisWord"),
        "the password leaked:\n{run}"
    );
}
