//! Who may use the admin socket (`docs/admin.md` "who may use it"): a uid that is not
//! chatd's own, not root and not in `[admin] allow_uids` is refused. Running a client
//! under another uid needs root; elsewhere these tests are ignored (`chatctl/build.rs`).

use crate::harness::{run_bounded, Daemon, CHATCTL};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The uid (and gid) of `nobody` on Debian-like systems.
const NOBODY: u32 = 65534;

/// A uid and gid with no user or group of their own.
const STRANGER: u32 = 65533;

/// Lets anyone enter the socket's directory and run a copy of chatctl; the socket
/// file keeps the permissions chatd gave it.
fn open_dir(d: &Daemon) -> PathBuf {
    let dir = d.dir();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let copy = dir.join("chatctl");
    std::fs::copy(CHATCTL, &copy).unwrap();
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
    copy
}

/// As `open_dir`, and lets anyone open the socket file, so that only chatd's own
/// check (SO_PEERCRED) stands in the way.
fn open_up(d: &Daemon) -> PathBuf {
    let copy = open_dir(d);
    std::fs::set_permissions(&d.socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    copy
}

/// Runs `chatctl` as `nobody`.
fn chatctl_as_nobody(binary: &Path, socket: &Path, args: &[&str]) -> crate::harness::Run {
    chatctl_as(NOBODY, NOBODY, binary, socket, args)
}

/// Runs `chatctl` as `uid`, with `gid` its only group (std drops root's
/// supplementary groups when it sets the uid).
fn chatctl_as(
    uid: u32,
    gid: u32,
    binary: &Path,
    socket: &Path,
    args: &[&str],
) -> crate::harness::Run {
    let mut cmd = Command::new(binary);
    cmd.arg("--socket")
        .arg(socket)
        .args(args)
        .env("HOME", "/nonexistent")
        .current_dir("/")
        .uid(uid)
        .gid(gid);
    run_bounded(cmd)
}

#[test]
#[cfg_attr(not(as_root), ignore = "running a client under another uid needs root")]
fn a_uid_not_allowed_is_refused_as_forbidden() {
    let d = Daemon::start();
    let binary = open_up(&d);
    let run = chatctl_as_nobody(&binary, &d.socket, &["stats"]).fails_with(&format!(
        "permission denied: your uid {NOBODY} is not allowed"
    ));
    assert_eq!(run.code, Some(1));
    // The daemon is unharmed and still serves its own uid.
    d.chatctl(&["stats"]).success();
}

#[test]
#[cfg_attr(not(as_root), ignore = "running a client under another uid needs root")]
fn a_uid_in_allow_uids_is_served_through_the_socket_file_as_chatd_sets_it() {
    let d = Daemon::start_with(|c| c.admin.allow_uids = vec![NOBODY]);
    // Only the directory is opened up: the socket file is as chatd made it.
    let binary = open_dir(&d);
    chatctl_as_nobody(&binary, &d.socket, &["stats"]).success();
    // Another uid is kept out by the file itself...
    chatctl_as(STRANGER, STRANGER, &binary, &d.socket, &["stats"]).fails_with(&format!(
        "permission denied: your uid {STRANGER} may not open {}",
        d.socket.display()
    ));
    // ...and, when the file lets it in, by chatd's SO_PEERCRED check.
    std::fs::set_permissions(&d.socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    chatctl_as(STRANGER, STRANGER, &binary, &d.socket, &["stats"]).fails_with(&format!(
        "permission denied: your uid {STRANGER} is not allowed"
    ));
}

#[test]
#[cfg_attr(not(as_root), ignore = "running a client under another uid needs root")]
fn members_of_the_admin_group_are_served_and_others_are_not() {
    // `nogroup` (gid 65534) on Debian-like systems.
    let d = Daemon::start_with(|c| c.admin.group = Some("nogroup".into()));
    let mode = std::fs::metadata(&d.socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o660, "the admin socket is group-writable");
    let binary = open_dir(&d);
    chatctl_as(STRANGER, NOBODY, &binary, &d.socket, &["stats"]).success();
    chatctl_as(STRANGER, STRANGER, &binary, &d.socket, &["stats"]).fails_with(&format!(
        "permission denied: your uid {STRANGER} may not open {}",
        d.socket.display()
    ));
}

#[test]
#[cfg_attr(not(as_root), ignore = "running a client under another uid needs root")]
fn the_socket_file_is_private_by_default() {
    let d = Daemon::start();
    let mode = std::fs::metadata(&d.socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the admin socket is created 0600");
    let binary = open_up(&d);
    std::fs::set_permissions(&d.socket, std::fs::Permissions::from_mode(0o600)).unwrap();
    chatctl_as_nobody(&binary, &d.socket, &["stats"]).fails_with(&format!(
        "permission denied: your uid {NOBODY} may not open {}",
        d.socket.display()
    ));
}
