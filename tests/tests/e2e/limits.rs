//! Limits and abuse: max clients, connections and connect rate per address, flood
//! control (fakelag, then "Excess Flood"), members per channel, a JOIN of thousands
//! of channels, thousands of targets, REGISTER per address, HTTP on the IRC port.
//! Each offender gets its numeric or a clean disconnect; everyone else is served.
//! The harness empties `limits.exempt` (loopback by default), so these clients on
//! 127.0.0.1 meet the per-address limits like any other address.

use chatd_proto::numeric::*;
use chatd_tests::*;
use std::time::Instant;

/// The ERROR line a refused connection gets before the close.
fn refused(server: &TestServer) -> String {
    let mut c = server.connect_raw();
    let lines = c.expect_closed();
    lines.join("\n")
}

#[test]
fn max_clients_refuses_the_next_connection_and_serves_the_others() {
    let server = TestServer::start_with(|c| c.limits.max_clients = 2);
    let mut a = server.connect("a");
    let _b = server.connect("b");
    let text = refused(&server);
    assert!(
        text.contains("ERROR") && text.contains("Server is full"),
        "{text}"
    );
    a.sync();
}

#[test]
fn connections_per_address_are_limited() {
    let server = TestServer::start_with(|c| c.limits.conns_per_ip = 2);
    let mut a = server.connect("a");
    let b = server.connect("b");
    let text = refused(&server);
    assert!(
        text.contains("Too many connections from your address"),
        "{text}"
    );
    // A slot frees up when someone leaves.
    b.quit();
    let mut c = server.connect("c");
    c.sync();
    a.sync();
}

#[test]
fn connecting_too_fast_is_refused() {
    let server = TestServer::start_with(|c| c.limits.connects_per_ip_per_minute = 3);
    let clients: Vec<Client> = (0..3).map(|i| server.connect(&format!("c{i}"))).collect();
    let text = refused(&server);
    assert!(text.contains("Connecting too fast"), "{text}");
    assert_eq!(clients.len(), 3);
}

#[test]
fn lines_beyond_the_flood_budget_wait_their_turn_in_order() {
    let server = TestServer::start_with(|c| {
        c.limits.flood_burst = 5;
        c.limits.flood_rate = 2;
    });
    let mut fast = server.connect("fast");
    let mut calm = server.connect("calm");
    // Registration used part of the burst; let it refill (5 tokens at 2 a second).
    server.advance_clock(std::time::Duration::from_millis(2600));
    let started = Instant::now();
    for i in 0..9 {
        fast.send(&format!("PING n{i}"));
    }
    // Someone else is answered at once while the flooder waits.
    calm.sync();
    for i in 0..9 {
        let pong = fast.expect_command("PONG");
        assert_eq!(pong.param(1), format!("n{i}"), "in order, none lost");
    }
    // 5 at once, then 4 more at 2 per second: at least ~2 s (a lower bound only).
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(1500),
        "the lines past the burst were delayed: {:?}",
        started.elapsed()
    );
}

/// The test clock (`TestServer::advance_clock`) is the server's: lines held back by
/// fakelag are released when it moves, not when real time catches up.
#[test]
fn advancing_the_clock_releases_lines_held_by_the_flood_budget() {
    let server = TestServer::start_with(|c| {
        c.limits.flood_burst = 3;
        c.limits.flood_rate = 1;
    });
    let mut fast = server.connect("fast");
    server.advance_clock(std::time::Duration::from_secs(10));
    let started = Instant::now();
    for i in 0..6 {
        fast.send(&format!("PING n{i}"));
    }
    for i in 0..3 {
        assert_eq!(fast.expect_command("PONG").param(1), format!("n{i}"));
    }
    // 3 more tokens take 3 s of real time at 1 a second; the clock gives them now.
    server.advance_clock(std::time::Duration::from_secs(60));
    for i in 3..6 {
        assert_eq!(fast.expect_command("PONG").param(1), format!("n{i}"));
    }
    assert!(
        started.elapsed() < std::time::Duration::from_millis(2500),
        "released by the clock, not by waiting: {:?}",
        started.elapsed()
    );
}

#[test]
fn a_flood_past_the_recvq_is_disconnected_with_excess_flood() {
    let server = TestServer::start_with(|c| {
        c.limits.flood_burst = 5;
        c.limits.flood_rate = 1;
        c.limits.recvq_bytes = 2048;
    });
    let mut flooder = server.connect("flooder");
    let mut calm = server.connect("calm");
    calm.send("JOIN #room");
    calm.expect_numeric(RPL_ENDOFNAMES);
    flooder.send("JOIN #room");
    calm.expect_command("JOIN");
    let line = "PRIVMSG #room :".to_string() + &"x".repeat(400);
    for _ in 0..40 {
        flooder.send(&line);
    }
    let lines = flooder.expect_closed();
    assert!(
        lines.iter().any(|l| l.contains("Excess Flood")),
        "{lines:?}"
    );
    let quit = calm.expect_command("QUIT");
    assert!(quit.param(0).contains("Excess Flood"), "{quit:?}");
    calm.sync();
}

#[test]
fn opers_and_trusted_accounts_get_a_larger_budget() {
    let server = TestServer::start_with(|c| {
        c.limits.flood_burst = 3;
        c.limits.flood_rate = 1;
        c.limits.trusted_accounts = vec!["bot".into()];
        c.limits.trusted_flood_burst = 1000;
        c.limits.trusted_flood_rate = 1000;
    });
    server.create_account("bot", "botpassword");
    let mut bot = server.connect("bot");
    bot.send("LOGIN bot botpassword");
    bot.expect_numeric(RPL_LOGGEDIN);
    let started = Instant::now();
    for i in 0..50 {
        bot.send(&format!("PING b{i}"));
    }
    for i in 0..50 {
        assert_eq!(bot.expect_command("PONG").param(1), format!("b{i}"));
    }
    // At 1 line per second the last would take 47 s; the trusted budget is larger.
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
}

#[test]
fn a_full_channel_answers_471() {
    let server = TestServer::start_with(|c| c.limits.members_per_channel = 2);
    let mut a = server.connect("a");
    let mut b = server.connect("b");
    let mut c = server.connect("c");
    a.send("JOIN #small");
    a.expect_numeric(RPL_ENDOFNAMES);
    b.send("JOIN #small");
    b.expect_numeric(RPL_ENDOFNAMES);
    c.send("JOIN #small");
    let full = c.expect_numeric(ERR_CHANNELISFULL);
    assert_eq!(full.param(1), "#small");
}

#[test]
fn joining_ten_thousand_channels_stops_at_the_limit_with_one_405() {
    let server = TestServer::start_with(|c| c.limits.channels_per_user = 100);
    let mut greedy = server.connect("greedy");
    // Sent in lines under 512 bytes, 10,000 names in all.
    let mut n = 0;
    while n < 10_000 {
        let names: Vec<String> = (n..n + 60).map(|i| format!("#c{i}")).collect();
        greedy.send(&format!("JOIN {}", names.join(",")));
        n += 60;
    }
    let got = greedy.sync();
    let joins = got.iter().filter(|m| m.command == "JOIN").count();
    assert_eq!(joins, 100);
    let errors = got
        .iter()
        .filter(|m| m.command == ERR_TOOMANYCHANNELS)
        .count();
    // One per JOIN line after the limit, not one per channel name.
    assert!(errors <= 10_000 / 60 + 1, "{errors} 405s");
    let mut other = server.connect("other");
    other.send("LIST #c5");
    other.expect_numeric(RPL_LISTEND);
}

#[test]
fn thousands_of_targets_get_one_407_and_deliver_nothing() {
    let server = TestServer::start();
    let mut a = server.connect("a");
    let mut b = server.connect("b");
    let targets: Vec<String> = (0..100).map(|i| format!("n{i}")).collect();
    a.send(&format!("PRIVMSG b,{} :spam", targets.join(",")));
    let e = a.expect_numeric(ERR_TOOMANYTARGETS);
    assert!(e.param(2).contains("No message delivered"), "{e:?}");
    let got = b.sync();
    assert!(!has(&got, "PRIVMSG"), "{got:?}");
}

#[test]
fn register_is_limited_per_address() {
    let server = TestServer::start_with(|c| c.limits.registrations_per_ip_per_hour = 1);
    let mut a = server.connect("first");
    a.send("REGISTER first * longenoughpassword");
    a.expect(
        |m| m.command == "REGISTER" && m.param(0) == "SUCCESS",
        "SUCCESS",
    );
    let mut b = server.connect("second");
    b.send("REGISTER second * longenoughpassword");
    let fail = b.expect_command("FAIL");
    assert_eq!(fail.param(1), "TEMPORARILY_UNAVAILABLE");
    assert!(
        fail.params.last().unwrap().contains("this hour"),
        "{fail:?}"
    );
}

#[test]
fn an_http_request_gets_one_error_line_and_a_close() {
    let server = TestServer::start();
    let mut web = server.connect_raw();
    web.send_bytes(b"GET / HTTP/1.1\r\nHost: chat.example.com\r\n\r\n");
    let lines = web.expect_closed();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with("ERROR") && lines[0].contains("HTTP"),
        "{lines:?}"
    );
    let mut ok = server.connect("ok");
    ok.sync();
}

#[test]
fn hostile_names_get_their_numerics() {
    let server = TestServer::start();
    let mut a = server.connect("Alice");
    let mut b = server.connect("bob");
    // A nick that collides with another under the ascii casemapping.
    b.send("NICK ALICE");
    b.expect_numeric(ERR_NICKNAMEINUSE);
    // A channel name with a control character.
    b.send_bytes(b"JOIN #bad\x07name\r\n");
    b.expect_numeric(ERR_BADCHANMASK);
    // A nick with a control character.
    b.send_bytes(b"NICK bo\x01b\r\n");
    b.expect_numeric(ERR_ERRONEUSNICKNAME);
    a.sync();
}

/// `stats` over the admin socket.
fn admin_stats(server: &TestServer) -> serde_json::Value {
    server.admin(r#"{"cmd":"stats","id":1}"#)["result"].clone()
}

#[test]
fn a_store_that_falls_behind_pauses_reading_and_loses_nothing() {
    // The smallest backlog allowed: one read of the burst below logs more than that.
    let server = TestServer::start_with(|c| c.history.log_backlog_max = 100);
    let mut alice = server.connect("alice");
    let mut bob = server.connect("bob");
    let n = 3000;
    let burst: String = (0..n).map(|i| format!("PRIVMSG bob :m{i}\r\n")).collect();
    alice.send_bytes(burst.as_bytes());
    for i in 0..n {
        let m = bob.expect(|m| m.command == "PRIVMSG", "the next message of the burst");
        assert_eq!(m.param(1), format!("m{i}"), "out of order or lost");
    }
    alice.sync();
    let stats = admin_stats(&server);
    assert!(
        stats["store_pauses"].as_u64().unwrap_or(0) >= 1,
        "reading was never paused: {stats}"
    );
    // Everything reached the database: the newest page of the conversation ends
    // with the last message of the burst.
    bob.send("HISTORY alice 5");
    let last = bob.expect(
        // Replays without server-time carry a readable time in front.
        |m| m.command == "PRIVMSG" && m.param(1).ends_with(&format!(" m{}", n - 1)),
        "the last message of the burst in HISTORY",
    );
    assert_eq!(last.source_nick(), Some("alice"));
    assert_eq!(admin_stats(&server)["store_backlog"].as_u64(), Some(0));
}
