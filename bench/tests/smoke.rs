//! Smoke test of the whole delivery path under load: chatd-bench spawns the debug
//! `chatd` built next to it, runs a short fan-out (one channel of 100, 10 senders at
//! full speed with a small window) and a short run of private pairs, and every
//! delivery must arrive, once and in order. Only counts are checked, never times, so
//! a slow or busy machine cannot fail it.

use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

/// The `chatd` binary of the same build as this test's `chatd-bench`. `cargo test
/// --workspace` has built it already; under `cargo test -p chatd-bench` it is built
/// here, with the same profile.
fn chatd() -> PathBuf {
    let bench = PathBuf::from(env!("CARGO_BIN_EXE_chatd-bench"));
    let chatd = bench.with_file_name(format!("chatd{}", std::env::consts::EXE_SUFFIX));
    if !chatd.is_file() {
        static BUILD: std::sync::Once = std::sync::Once::new();
        BUILD.call_once(|| {
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            let mut build = Command::new(cargo);
            build.args(["build", "-p", "chatd", "--bin", "chatd"]);
            if bench.parent().and_then(|d| d.file_name()) == Some("release".as_ref()) {
                build.arg("--release");
            }
            let status = build.status().expect("cargo runs");
            assert!(status.success(), "building chatd failed: {status}");
        });
    }
    assert!(
        chatd.is_file(),
        "{} does not exist after building it",
        chatd.display()
    );
    chatd
}

/// Runs chatd-bench with `args` against a freshly spawned chatd; its JSON report.
fn bench(args: &[&str]) -> Value {
    let chatd = chatd();
    let out = Command::new(env!("CARGO_BIN_EXE_chatd-bench"))
        .args(args)
        .arg("--spawn")
        .arg(&chatd)
        .arg("--json")
        .output()
        .expect("chatd-bench runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "chatd-bench {args:?} exited with {}\nstdout: {stdout}\nstderr: {stderr}",
        out.status
    );
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("chatd-bench printed no JSON report ({e}): {stdout}"))
}

fn count(report: &Value, key: &str) -> u64 {
    report[key]
        .as_u64()
        .unwrap_or_else(|| panic!("report has no count `{key}`: {report}"))
}

/// Everything sent arrived exactly as often as expected, in order, without errors.
fn assert_complete(report: &Value, clients: u64, fanout: u64) {
    assert_eq!(count(report, "connected"), clients, "{report}");
    let sent = count(report, "messages_sent");
    assert!(sent > 0, "nothing was sent: {report}");
    assert_eq!(
        count(report, "deliveries_expected"),
        sent * fanout,
        "{report}"
    );
    assert_eq!(
        count(report, "deliveries_received"),
        count(report, "deliveries_expected"),
        "{report}"
    );
    for zero in [
        "lost",
        "duplicates",
        "reordered",
        "failures",
        "connections_closed",
    ] {
        assert_eq!(count(report, zero), 0, "`{zero}` should be 0: {report}");
    }
}

#[test]
fn channel_fanout_delivers_everything_in_order() {
    let report = bench(&[
        "fanout",
        "--clients",
        "100",
        "--senders",
        "10",
        "--channel-size",
        "100",
        "--rate",
        "max",
        "--window",
        "8",
        "--duration",
        "2",
        "--drain",
        "10",
    ]);
    assert_complete(&report, 100, 99);
}

#[test]
fn private_pairs_with_receiver_acks_deliver_everything_in_order() {
    let report = bench(&[
        "pairs",
        "--pairs",
        "20",
        "--ack",
        "receiver",
        "--rate",
        "max",
        "--window",
        "8",
        "--duration",
        "1",
        "--drain",
        "10",
    ]);
    assert_complete(&report, 40, 1);
}
