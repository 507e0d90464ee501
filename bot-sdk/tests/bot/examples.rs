//! The example bots as processes: they say on stderr what they do (connecting,
//! registering), and keep their files in their data dir (`--data-dir`), not in the
//! working directory. The examples are built by `cargo test` (as it builds every
//! example) into `target/<profile>/examples/`.

use crate::support::TestServer;
use chatd_tests::process::Running;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// `target/debug/examples/<name>`, beside this test binary's `deps/`.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir")
        .join("examples")
        .join(name);
    assert!(
        path.is_file(),
        "{} is missing: `cargo test -p chatd-bot` builds the examples",
        path.display()
    );
    path
}

#[test]
fn seen_says_what_it_does_on_stderr_and_keeps_its_notes_in_its_data_dir() {
    let server = TestServer::start();
    let (work, data) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // Killed when the test ends, however it ends.
    let mut child = Running::reading_stderr(
        Command::new(example("seen"))
            .current_dir(work.path())
            .arg(server.addr.to_string())
            .args(["--nick", "seenex", "--data-dir"])
            .arg(data.path())
            .env_remove("BOT_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null()),
    );
    child.expect_line("registered");
    let notes = data.path().join("seenex.seen");
    let text = child.printed().join("\n");
    for words in [
        format!("notes in {}", notes.display()),
        "connected".to_string(),
        "nick=seenex".to_string(),
    ] {
        assert!(text.contains(&words), "{words:?} not in stderr:\n{text}");
    }
    assert!(notes.is_file(), "the notes file is in the data dir");
    assert_eq!(
        std::fs::read_dir(work.path()).unwrap().count(),
        0,
        "nothing in the working directory"
    );
}
