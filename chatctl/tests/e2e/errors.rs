//! Failures an operator meets: exit codes and the one line on stderr that explains
//! them, and where chatctl looks for the socket (`--socket`, `--config`,
//! `CHATD_ADMIN_SOCKET`).

use crate::harness::{chatctl, run_bounded, Daemon, CHATCTL};
use std::process::Command;

#[test]
fn missing_socket_says_chatd_is_not_running() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("admin.sock");
    let run = chatctl(&socket, &["stats"])
        .fails_with(&format!("chatd is not running at {}", socket.display()));
    assert_eq!(run.code, Some(1));
    assert_eq!(run.stdout, "");
}

#[test]
fn stale_socket_file_says_chatd_is_not_running() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("admin.sock");
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    chatctl(&socket, &["users"])
        .fails_with(&format!("chatd is not running at {}", socket.display()));
}

#[test]
fn daemon_errors_are_one_line_and_non_zero() {
    let d = Daemon::start();
    d.chatctl(&["kick", "nobody"])
        .fails_with("no such nick: nobody");
    let run = d.chatctl(&["ban", "justanick"]);
    assert_eq!(run.code, Some(1), "{run}");
    assert_eq!(run.stderr.lines().count(), 1, "{run}");
    let run = d.chatctl(&["users", "--channel", "#nowhere"]);
    assert_eq!(run.code, Some(1), "{run}");
    assert_eq!(run.stderr.lines().count(), 1, "{run}");
}

#[test]
fn usage_errors_exit_2_without_touching_the_socket() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("admin.sock");
    for args in [
        &["ban", "x!*@*", "--duration", "soon"][..],
        &["frobnicate"],
        &["kick"],
        &["tail-log", "--level", "loud"],
    ] {
        let run = chatctl(&socket, args);
        assert_eq!(run.code, Some(2), "{args:?}: {run}");
        assert!(!run.stderr.contains("not running"), "{args:?}: {run}");
    }
}

#[test]
fn socket_path_from_a_config_file() {
    let d = Daemon::start();
    let config = d.dir().join("chatd.toml");
    // Keys chatctl does not know are the daemon's business.
    std::fs::write(
        &config,
        format!(
            "[server]\nname = \"irc.example\"\nlisten = [\"127.0.0.1:6667\"]\n\n\
             [limits]\nnick_len = 20\n\n[admin]\nsocket = {:?}\nallow_uids = [1001]\n",
            d.socket.display().to_string()
        ),
    )
    .unwrap();
    let mut cmd = Command::new(CHATCTL);
    cmd.arg("--config")
        .arg(&config)
        .arg("stats")
        .env("CHATD_ADMIN_SOCKET", "/nowhere");
    run_bounded(cmd).success();

    // Without [admin] socket: admin.sock in the data dir.
    std::fs::write(
        &config,
        format!("[server]\ndata_dir = {:?}\n", d.dir().display().to_string()),
    )
    .unwrap();
    let mut cmd = Command::new(CHATCTL);
    cmd.arg("--config")
        .arg(&config)
        .arg("stats")
        .env("CHATD_ADMIN_SOCKET", "/nowhere");
    run_bounded(cmd).success();

    let missing = d.dir().join("missing.toml");
    let mut cmd = Command::new(CHATCTL);
    cmd.arg("--config").arg(&missing).arg("stats");
    let run = run_bounded(cmd);
    assert_eq!(run.code, Some(1), "{run}");
    assert!(run.stderr.starts_with("cannot read "), "{run}");
}

/// `chatctl --config` finds a relative `data_dir` where chatd puts it: relative to
/// the config file's directory (`Config::load`), not to the working directory.
#[test]
fn a_relative_data_dir_in_the_config_is_relative_to_the_config_file() {
    let root = tempfile::tempdir().unwrap();
    let (conf_dir, work) = (root.path().join("conf"), root.path().join("work"));
    std::fs::create_dir_all(&conf_dir).unwrap();
    std::fs::create_dir_all(&work).unwrap();
    let config = conf_dir.join("chatd.toml");
    std::fs::write(&config, "[server]\ndata_dir = \"state\"\n").unwrap();
    let loaded = chatd::Config::load(&config).unwrap();
    assert_eq!(loaded.server.data_dir, conf_dir.join("state"));
    let _d = Daemon::start_with(|c| {
        c.server.data_dir = loaded.server.data_dir.clone();
        c.admin.socket = None;
    });
    let mut cmd = Command::new(CHATCTL);
    cmd.current_dir(&work)
        .args(["--config", "../conf/chatd.toml", "stats"])
        .env_remove("CHATD_ADMIN_SOCKET");
    run_bounded(cmd).success();
}

#[test]
fn socket_path_from_the_environment_and_the_default() {
    let d = Daemon::start();
    let mut cmd = Command::new(CHATCTL);
    cmd.arg("stats").env("CHATD_ADMIN_SOCKET", &d.socket);
    run_bounded(cmd).success();

    // No flag, no variable: ./data/admin.sock, where chatd with no config puts it.
    let mut cmd = Command::new(CHATCTL);
    cmd.arg("stats")
        .current_dir(d.dir())
        .env_remove("CHATD_ADMIN_SOCKET");
    run_bounded(cmd).fails_with("chatd is not running at data/admin.sock");
}
