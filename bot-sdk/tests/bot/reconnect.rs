//! Staying connected: a restarted chatd (reconnect with backoff, rejoin), a
//! server that stops answering (the bot's own ping timeout; RFC 2812 §3.7.2 PING),
//! and QUIT on a clean shutdown.

use crate::support::{bot_config, RunningBot, TestServer, TIMEOUT};
use chatd_bot::Event;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

#[test]
fn reconnects_after_a_restart_and_rejoins_its_channels() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = TestServer::start_in(&data, |_| {});
    let addr = server.addr;
    let mut bot = RunningBot::start(bot_config(addr, "phoenix").channel("#conf"), |bot| {
        bot.command("echo", "", |ctx, cmd| ctx.reply(&cmd.args));
    });
    bot.expect_connected();
    bot.expect_joined("#conf");
    // A channel joined at run time is rejoined too.
    bot.handle.join("#later");
    bot.expect_joined("#later");

    server.stop();
    match bot.expect(|e| matches!(e, Event::Disconnected { .. }), "Disconnected") {
        Event::Disconnected { reconnect_in, .. } => assert!(reconnect_in.is_some()),
        _ => unreachable!(),
    }
    let server = TestServer::start_in(&data, |c| c.server.listen = vec![addr]);
    bot.expect_connected();
    let mut rejoined = Vec::new();
    while rejoined.len() < 2 {
        if let Event::Join {
            channel, own: true, ..
        } = bot.expect(|e| matches!(e, Event::Join { own: true, .. }), "own JOINs")
        {
            rejoined.push(channel);
        }
    }
    rejoined.sort();
    assert_eq!(rejoined, ["#conf", "#later"]);

    let mut alice = server.connect("alice");
    assert!(alice.names("#later").contains(&"phoenix".to_string()));
    alice.join("#conf");
    alice.send("PRIVMSG #conf :!echo welcome back");
    assert_eq!(alice.expect_privmsg("phoenix", "#conf"), "welcome back");

    // A clean shutdown says goodbye.
    bot.quit("see you").unwrap();
    let quit = alice.expect(
        |m| m.command == "QUIT" && m.source_nick() == Some("phoenix"),
        "QUIT from phoenix",
    );
    assert!(quit.param(0).contains("see you"), "{quit}");
}

/// A fake server: reads the bot's registration, welcomes it, and returns the
/// connection for the test to script.
fn welcome(listener: &TcpListener) -> (BufReader<TcpStream>, TcpStream) {
    let (sock, _) = listener.accept().unwrap();
    sock.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut reader = BufReader::new(sock.try_clone().unwrap());
    let mut line = String::new();
    while !line.starts_with("USER ") {
        line.clear();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "the bot registers"
        );
    }
    let mut writer = sock;
    writer.write_all(b":fake 001 pinger :Welcome\r\n").unwrap();
    (reader, writer)
}

fn read_until(reader: &mut BufReader<TcpStream>, prefix: &str) -> String {
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "connection closed before {prefix}"
        );
        if line.starts_with(prefix) {
            return line.trim_end().to_string();
        }
    }
}

#[test]
fn answers_pings_and_leaves_a_silent_server() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut config = bot_config(listener.local_addr().unwrap(), "pinger");
    config.ping_interval = Duration::from_millis(300);
    config.ping_timeout = Duration::from_millis(300);
    let mut bot = RunningBot::start(config, |_| {});

    let (mut reader, mut writer) = welcome(&listener);
    bot.expect_connected();
    writer.write_all(b"PING :are-you-there\r\n").unwrap();
    assert_eq!(read_until(&mut reader, "PONG"), "PONG are-you-there");

    // Now the server says nothing: the bot pings, waits, and gives up.
    read_until(&mut reader, "PING");
    match bot.expect(|e| matches!(e, Event::Disconnected { .. }), "Disconnected") {
        Event::Disconnected { reason, .. } => assert!(reason.contains("ping timeout"), "{reason}"),
        _ => unreachable!(),
    }
    // ...and comes back.
    let (_reader, _writer) = welcome(&listener);
    bot.expect_connected();
}
