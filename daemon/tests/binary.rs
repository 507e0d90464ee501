//! The `chatd` binary as a process: arguments, defaults, start-up errors and their
//! exit codes (0 ok, 2 usage/config, 3 cannot listen, 4 data dir unusable).

use chatd_tests::process::{connect_retry, free_port, run_bounded, Run, Running};
use chatd_tests::{Client, RELAXED_TOML};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};

/// The binary under test.
fn chatd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_chatd"))
}

/// Starts chatd on `port` with `data` as its data dir and, if given, a config file.
fn start(config: Option<&Path>, port: u16, data: &Path) -> Running {
    let mut cmd = chatd();
    if let Some(conf) = config {
        cmd.arg("--config").arg(conf);
    }
    cmd.args(["--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(data)
        .stderr(Stdio::null());
    Running::spawn(&mut cmd)
}

/// Connects (retrying while the daemon starts), registers, returns the lines up to 001.
fn register(port: u16, nick: &str) -> Vec<String> {
    let mut c = Client::from_stream(connect_retry(port));
    c.send(&format!("NICK {nick}"));
    c.send(&format!("USER {nick} 0 * :{nick}"));
    c.expect_line("001", |l| l.contains(" 001 "));
    c.received().into_iter().map(String::from).collect()
}

#[test]
fn version_and_help() {
    let out = run_bounded(chatd().arg("--version"));
    assert_eq!(out.code, Some(0));
    assert!(out.stdout.starts_with("chatd "), "{out:?}");
    let out = run_bounded(chatd().arg("--help"));
    assert_eq!(out.code, Some(0));
    let help = &out.stdout;
    for flag in ["--config", "--listen", "--data-dir", "--log-level"] {
        assert!(help.contains(flag), "{flag} missing from --help:\n{help}");
    }
}

#[test]
fn starts_with_listen_and_data_dir_flags_and_serves_clients() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("state");
    let port = free_port();
    let _chatd = start(None, port, &data);
    let lines = register(port, "procuser");
    assert!(lines.last().unwrap().contains("Welcome"), "{lines:?}");
    assert!(data.is_dir(), "data dir created");
}

#[test]
fn no_arguments_means_127_0_0_1_6667_and_data_in_the_working_dir() {
    let dir = tempfile::tempdir().unwrap();
    if TcpListener::bind("127.0.0.1:6667").is_err() {
        eprintln!("SKIPPED: 127.0.0.1:6667 is busy on this machine");
        return;
    }
    let _chatd = Running::spawn(chatd().current_dir(dir.path()).stderr(Stdio::null()));
    register(6667, "defaultuser");
    assert!(dir.path().join("data").is_dir());
}

#[test]
fn config_file_is_used_and_flags_override_it() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let conf = dir.path().join("chatd.toml");
    std::fs::write(
        &conf,
        "[server]\nname = \"irc.example.org\"\nlisten = [\"127.0.0.1:1\"]\nauto_join = []\n",
    )
    .unwrap();
    let _chatd = start(Some(&conf), port, &dir.path().join("data"));
    let lines = register(port, "confuser");
    assert!(
        lines.last().unwrap().starts_with(":irc.example.org 001"),
        "{lines:?}"
    );
}

#[test]
fn the_shipped_config_file_is_valid_and_shows_the_defaults() {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../conf/chatd.toml");
    let text = std::fs::read_to_string(&shipped).expect("conf/chatd.toml exists");
    let parsed = chatd::Config::parse(&text).expect("conf/chatd.toml is valid");
    let defaults = chatd::Config::default();
    assert_eq!(
        format!("{parsed:?}"),
        format!("{defaults:?}"),
        "conf/chatd.toml drifted from the defaults"
    );
}

/// A relative `data_dir` in a config file is relative to the file's directory, not
/// to the working directory (conf/chatd.toml says so; chatctl resolves it the same).
#[test]
fn a_relative_data_dir_in_a_config_file_is_relative_to_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (conf_dir, work) = (dir.path().join("conf"), dir.path().join("work"));
    std::fs::create_dir_all(&conf_dir).unwrap();
    std::fs::create_dir_all(&work).unwrap();
    let port = free_port();
    std::fs::write(
        conf_dir.join("chatd.toml"),
        format!("[server]\nlisten = [\"127.0.0.1:{port}\"]\ndata_dir = \"state\"\n{RELAXED_TOML}"),
    )
    .unwrap();
    let _chatd = Running::spawn(
        chatd()
            .current_dir(&work)
            .args(["--config", "../conf/chatd.toml"])
            .stderr(Stdio::null()),
    );
    register(port, "reldir");
    assert!(
        conf_dir.join("state/chatd.db").is_file(),
        "the DB is beside the config"
    );
    assert!(
        conf_dir.join("state/admin.sock").exists(),
        "and so is the socket"
    );
    assert!(
        !work.join("state").exists(),
        "nothing in the working directory"
    );
}

fn assert_fails(out: &Run, code: i32, needle: &str) {
    let stderr = &out.stderr;
    assert_eq!(out.code, Some(code), "stderr: {stderr}");
    assert!(
        stderr.contains(needle),
        "{needle:?} not in stderr: {stderr}"
    );
}

#[test]
fn unknown_config_key_exits_2_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("bad.toml");
    std::fs::write(&conf, "[limits]\nnick_length = 12\n").unwrap();
    let out = run_bounded(chatd().arg("--config").arg(&conf));
    assert_fails(&out, 2, "nick_length");
    std::fs::write(&conf, "[limits]\nsendq_bytes = 1\n").unwrap();
    let out = run_bounded(chatd().arg("--config").arg(&conf));
    assert_fails(&out, 2, "limits.sendq_bytes");
    let out = run_bounded(chatd().arg("--config").arg(dir.path().join("missing.toml")));
    assert_fails(&out, 2, "missing.toml");
}

#[test]
fn port_in_use_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let out = run_bounded(
        chatd()
            .args(["--listen", &addr.to_string(), "--data-dir"])
            .arg(dir.path().join("d")),
    );
    assert_fails(&out, 3, "already in use");
}

#[test]
fn unusable_data_dir_exits_4() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"").unwrap();
    let out = run_bounded(
        chatd()
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(file.join("below-a-file")),
    );
    assert_fails(&out, 4, "data directory");
}

#[test]
fn bad_listen_flag_is_a_usage_error() {
    let out = run_bounded(chatd().args(["--listen", "not-an-address"]));
    assert_eq!(out.code, Some(2));
}

/// Config and flag errors say what was expected in words, with the key or the flag,
/// never a Rust type name (`usize`, `a sequence`, `invalid socket address syntax`).
#[test]
fn config_and_flag_errors_say_what_was_expected_in_words() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("bad.toml");
    let cases = [
        (
            "[limits]\nsendq_bytes = \"big\"\n",
            "`limits.sendq_bytes` must be a whole number (0 or more), not the text \"big\"",
        ),
        (
            "[server]\nlisten = [\"localhost:6667\"]\n",
            "`server.listen` must be an IP address and port such as 0.0.0.0:6667",
        ),
        (
            "[server]\nlisten = \"0.0.0.0:6667\"\n",
            "`server.listen` must be a list in brackets",
        ),
        (
            "[limits]\nconns_per_ip = 1.5\n",
            "`limits.conns_per_ip` must be a whole number (0 or more), not 1.5",
        ),
        (
            "[log]\nlevel = 3\n",
            "`log.level` must be text in double quotes, not 3",
        ),
    ];
    let rust_words = ["usize", "u64", "a sequence", "invalid type", "syntax"];
    for (text, words) in cases {
        std::fs::write(&conf, text).unwrap();
        let out = run_bounded(chatd().arg("--config").arg(&conf));
        assert_fails(&out, 2, words);
        let stderr = &out.stderr;
        for rust in rust_words {
            assert!(!stderr.contains(rust), "{text:?}: {stderr}");
        }
    }
    let out = run_bounded(chatd().args(["--listen", "localhost"]));
    assert_fails(
        &out,
        2,
        "'--listen <ADDR>': expected an IP address and port such as 0.0.0.0:6667",
    );
    let out = run_bounded(chatd().args(["--log-level", "loud", "--listen", "127.0.0.1:0"]));
    assert_fails(&out, 2, "'--log-level': expected one of error, warn");
}

#[test]
fn log_file_and_level_from_config() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let log = dir.path().join("chatd.log");
    let conf = dir.path().join("chatd.toml");
    std::fs::write(
        &conf,
        format!(
            "[log]\nlevel = \"debug\"\nfile = {:?}\n",
            log.to_str().unwrap()
        ),
    )
    .unwrap();
    let _chatd = start(Some(&conf), port, &dir.path().join("data"));
    register(port, "logged");
    // The registration is logged before 001 is queued, so it is in the file by now.
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("nick=logged"), "{text}");
    assert!(
        text.contains("cmd=USER"),
        "debug level logs commands: {text}"
    );
}
