//! The moderation log of the real binary (docs/roles.md, "The moderation log"): a
//! mute and a KICK reach `tail-log -f` on the admin socket as `info` log
//! events beginning `moderation:`, naming who did what to whom and why.

use chatd_tests::process::{chatd_command, connect_retry, free_port, Running};
use chatd_tests::{Client, RELAXED_TOML};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// Reads admin socket lines until one holds every part of `want`; panics with what
/// came after a bounded number of lines or on the socket timeout.
fn expect_event(admin: &mut BufReader<UnixStream>, want: &[&str]) -> String {
    let mut seen = Vec::new();
    for _ in 0..200 {
        let mut line = String::new();
        admin.read_line(&mut line).expect("an admin line in time");
        if want.iter().all(|w| line.contains(w)) {
            return line;
        }
        seen.push(line);
    }
    panic!("no log event with {want:?} in:\n{}", seen.concat());
}

#[test]
fn kicks_and_mutes_are_in_the_moderation_log() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("admin.sock");
    let conf = dir.path().join("chatd.toml");
    std::fs::write(
        &conf,
        format!(
            "[server]\nauto_join = []\n\n[admin]\nsocket = {:?}\n\n{RELAXED_TOML}",
            socket.display().to_string()
        ),
    )
    .unwrap();
    let port = free_port();
    let _chatd = Running::spawn(&mut chatd_command(
        env!("CARGO_BIN_EXE_chatd"),
        &conf,
        port,
        &dir.path().join("data"),
    ));
    let mut op = Client::from_stream(connect_retry(port));
    op.register("op");
    let mut pest = Client::from_stream(connect_retry(port));
    pest.register("pest");
    op.join("#c");
    pest.join("#c");

    let stream = UnixStream::connect(&socket).expect("the admin socket is up");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut admin = BufReader::new(stream);
    writeln!(writer, r#"{{"id":1,"cmd":"tail-log","n":0,"follow":true}}"#).unwrap();
    expect_event(&mut admin, &[r#""id":1,"ok":true"#]);

    op.send("MODE #c +b ~m:pest!*@*");
    op.send("KICK #c pest :enough spam");
    op.sync();
    let muted = expect_event(&mut admin, &["moderation: op set +b ~m:pest!*@* on #c"]);
    assert!(muted.contains(r#""event":"log""#), "{muted}");
    let kicked = expect_event(
        &mut admin,
        &["moderation: op kicked pest from #c: enough spam"],
    );
    assert!(kicked.contains(r#""level":"INFO""#), "{kicked}");
}
