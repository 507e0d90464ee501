//! The store on the real binary (issue 14, items 6 and 10): files chatd creates are
//! private whatever the umask it was started with, an existing data dir or database
//! open to other users is warned about, and a database that is empty or damaged is
//! refused at start with exit 4 and a message that says what to do.

use chatd_tests::process::{chatd_command, connect_retry, free_port, Running};
use chatd_tests::{admin_line, Client, RELAXED_TOML};
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

const CHATD: &str = env!("CARGO_BIN_EXE_chatd");

/// chatd on `dir/data` with `dir/chatd.toml` (a log file in `dir`), started with
/// umask 022 as from a usual login shell.
fn command(dir: &Path, port: u16) -> Command {
    let conf = dir.join("chatd.toml");
    std::fs::write(
        &conf,
        format!(
            "[server]\nauto_join = []\n\n[log]\nfile = {:?}\n\n{RELAXED_TOML}",
            dir.join("chatd.log")
        ),
    )
    .unwrap();
    let mut cmd = chatd_command(CHATD, &conf, port, &dir.join("data"));
    // SAFETY: umask(2) is async-signal-safe and touches nothing but this child.
    unsafe {
        cmd.pre_exec(|| {
            libc::umask(0o022);
            Ok(())
        });
    }
    cmd
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// Registers `nick` and waits for the end of the welcome (the store is open then).
fn client(port: u16, nick: &str) -> Client {
    let mut c = Client::from_stream(connect_retry(port));
    c.register(nick);
    c
}

/// One admin request; its answer line.
fn admin(data: &Path, request: &str) -> String {
    admin_line(&data.join("admin.sock"), request)
}

/// Issue 14 item 6: under umask 022, the data dir is 0700 and the database, its WAL
/// and shared-memory files, a backup and the log file are 0600.
#[test]
fn files_chatd_creates_are_private_under_umask_022() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let chatd = Running::spawn(command(dir.path(), port).stderr(Stdio::null()));
    let mut alice = client(port, "alice");
    alice.send_bytes(b"JOIN #c\r\nPRIVMSG #c :hello\r\nHISTORY #c 5\r\n");
    alice.expect_line("End of HISTORY", |l| l.contains("End of HISTORY"));
    let data = dir.path().join("data");
    let backup = dir.path().join("backup.db");
    let answer = admin(
        &data,
        &format!(r#"{{"id":1,"cmd":"backup","path":{:?}}}"#, backup),
    );
    assert!(answer.contains("\"bytes\""), "{answer}");
    assert_eq!(mode(&data), 0o700, "data dir");
    for file in ["chatd.db", "chatd.db-wal", "chatd.db-shm"] {
        assert_eq!(mode(&data.join(file)), 0o600, "{file}");
    }
    assert_eq!(mode(&backup), 0o600, "backup");
    assert_eq!(mode(&dir.path().join("chatd.log")), 0o600, "log file");
    chatd.signal(libc::SIGTERM);
    assert_eq!(chatd.wait(), 0);
}

/// Issue 14 item 6: an existing data dir or database that other users can read is
/// named in a warning at start, with the chmod that fixes it.
#[test]
fn a_data_dir_open_to_others_is_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let first = Running::spawn(command(dir.path(), port).stderr(Stdio::null()));
    drop(client(port, "alice"));
    first.signal(libc::SIGTERM);
    assert_eq!(first.wait(), 0);
    let data = dir.path().join("data");
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(
        data.join("chatd.db"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();

    let port = free_port();
    let mut second = Running::spawn(command(dir.path(), port).stderr(Stdio::piped()));
    drop(client(port, "bob"));
    second.signal(libc::SIGTERM);
    let mut err = String::new();
    second
        .child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(second.wait(), 0);
    assert!(
        err.contains("has mode 755") && err.contains(&format!("chmod 700 {}", data.display())),
        "{err}"
    );
    assert!(
        err.contains("has mode 644") && err.contains("chmod 600"),
        "{err}"
    );
}

/// Starts chatd on `dir/data` and expects it to refuse with exit 4 (within 10 s: a
/// chatd that starts anyway is killed and the test fails); its stderr.
fn refused(dir: &Path) -> String {
    let mut chatd = Running::spawn(command(dir, free_port()).stderr(Stdio::piped()));
    let stderr = chatd.child.stderr.take().unwrap();
    let code = chatd.wait();
    let mut err = String::new();
    std::io::BufReader::new(stderr)
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(code, 4, "{err}");
    err
}

/// Issue 14 item 10: a 0-byte chatd.db (a failed copy, a truncation) is not taken
/// for a new database with every account gone.
#[test]
fn an_empty_database_is_refused_with_exit_4() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::File::create(data.join("chatd.db")).unwrap();
    let err = refused(dir.path());
    assert!(err.contains("is empty (0 bytes)"), "{err}");
    assert_eq!(std::fs::metadata(data.join("chatd.db")).unwrap().len(), 0);
}

/// Issue 14 item 10: a page overwritten in the middle of the file fails SQLite's
/// quick_check, and chatd refuses to start rather than serve part of its data.
#[test]
fn a_database_with_a_damaged_page_is_refused_with_exit_4() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let first = Running::spawn(command(dir.path(), port).stderr(Stdio::null()));
    drop(client(port, "alice"));
    first.signal(libc::SIGTERM);
    assert_eq!(first.wait(), 0);
    let db = dir.path().join("data/chatd.db");
    // Some pages of data after chatd's own, then one of them overwritten.
    let leaves: Vec<i64> = {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch(
            "CREATE TABLE filler (x TEXT); \
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) \
             INSERT INTO filler SELECT printf('%0500d', i) FROM n; \
             PRAGMA wal_checkpoint(TRUNCATE);",
        )
        .unwrap();
        let mut stmt = conn
            .prepare("SELECT pageno FROM dbstat WHERE name = 'filler' AND pagetype = 'leaf'")
            .unwrap();
        let pages = stmt.query_map([], |r| r.get(0)).unwrap();
        pages.collect::<Result<_, _>>().unwrap()
    };
    let page = leaves[leaves.len() / 2];
    {
        use std::io::{Seek, SeekFrom};
        let mut f = std::fs::OpenOptions::new().write(true).open(&db).unwrap();
        f.seek(SeekFrom::Start((page as u64 - 1) * 4096)).unwrap();
        f.write_all(&[0xAB; 4096]).unwrap();
    }
    let err = refused(dir.path());
    assert!(
        err.contains("is damaged") && err.contains("Restore it from a backup"),
        "{err}"
    );
}

/// A tmpfs mounted for one test, unmounted when dropped.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    /// None when this machine does not let us mount (not root, no CAP_SYS_ADMIN).
    fn mount(at: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(at).unwrap();
        let ok = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(at)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(at.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazy: a killed chatd may still be letting go of its files.
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Issue 14 item 11 on a real full disk: the data dir is a small tmpfs, filled up
/// by a ballast file while chatd runs. Channel messages are still delivered, the
/// operator gets a WALLOPS and `stats` says so; once the ballast is removed, the
/// history holds every delivered message. Ignored unless built by root (or under CI,
/// where it must run): mounting needs root (`daemon/build.rs`).
#[test]
#[cfg_attr(not(as_root), ignore = "mounting a tmpfs needs root")]
fn a_real_full_disk_loses_no_delivered_message() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let _tmpfs = Tmpfs::mount(&data, "4m").expect("a 4 MiB tmpfs mounts (root is needed)");
    let hash = chatd::store::password::hash("opersecret", 1000);
    let conf = dir.path().join("chatd.toml");
    std::fs::write(
        &conf,
        format!(
            "[server]\nauto_join = []\n\n[history]\npage_size = 1000\n\n\
             [[oper]]\nname = \"admin\"\npassword = \"{hash}\"\n\n{RELAXED_TOML}"
        ),
    )
    .unwrap();
    let port = free_port();
    let chatd = Running::spawn(&mut chatd_command(CHATD, &conf, port, &data));
    let mut op = client(port, "op");
    op.send("OPER admin opersecret");
    op.expect_line("381", |l| l.contains(" 381 "));
    let mut alice = client(port, "alice");
    let mut bob = client(port, "bob");
    alice.send("JOIN #c");
    bob.send("JOIN #c");
    bob.expect_line("bob's JOIN", |l| {
        l.contains("JOIN") && l.starts_with(":bob!")
    });

    // Fill the file system.
    {
        let mut ballast = std::fs::File::create(data.join("ballast")).unwrap();
        let block = vec![0u8; 64 * 1024];
        while ballast.write_all(&block).is_ok() {}
        let _ = ballast.sync_all();
    }
    let n = 600;
    let text = "z".repeat(400);
    for i in 0..n {
        alice.send(&format!("PRIVMSG #c :{i} {text}"));
    }
    for i in 0..n {
        let line = bob.expect_line("the next channel message", |l| l.contains(" PRIVMSG #c :"));
        assert!(
            line.contains(&format!(" PRIVMSG #c :{i} ")),
            "in order: {line}"
        );
    }
    let alert = op.expect_line("WALLOPS (failing)", |l| l.contains(" WALLOPS "));
    assert!(alert.contains("cannot be written"), "{alert}");
    let stats = admin(&data, r#"{"id":1,"cmd":"stats"}"#);
    assert!(stats.contains(r#""failing":true"#), "{stats}");

    std::fs::remove_file(data.join("ballast")).unwrap();
    let back = op.expect_line("WALLOPS (recovered)", |l| l.contains(" WALLOPS "));
    assert!(back.contains("written again"), "{back}");
    bob.send("HISTORY #c 1000");
    let end = bob.expect_line("End of HISTORY", |l| l.contains("End of HISTORY for #c"));
    assert!(end.contains(&format!(": {n} messages")), "{end}");
    chatd.signal(libc::SIGTERM);
    assert_eq!(chatd.wait(), 0);
}
