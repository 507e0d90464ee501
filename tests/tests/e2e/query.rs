//! Queries — RFC 2812 §3.6.1 (WHO), §3.6.2 (WHOIS), §4.9 (ISON), §4.8 (USERHOST),
//! §3.4 (LUSERS, MOTD, VERSION, TIME), §3.7.2 (PING); unknown commands and commands
//! before registration (modern.ircdocs.horse 421, 451).

use chatd_proto::numeric::*;
use chatd_proto::Message;
use chatd_tests::{Client, TestServer};

/// Sends `JOIN chan` and waits for the end of its NAMES reply.
fn join(c: &mut Client, chan: &str) {
    c.send(&format!("JOIN {chan}"));
    c.expect_numeric(RPL_ENDOFNAMES);
}

/// Sends `line` and returns what came back before the sync PONG.
fn ask(c: &mut Client, line: &str) -> Vec<Message> {
    c.send(line);
    c.sync()
}

/// The commands of `msgs`, in order.
fn commands(msgs: &[Message]) -> Vec<&str> {
    msgs.iter().map(|m| m.command.as_str()).collect()
}

/// The only message with `command` in `msgs`.
fn one<'a>(msgs: &'a [Message], command: &str) -> &'a Message {
    let found: Vec<&Message> = msgs.iter().filter(|m| m.command == command).collect();
    assert_eq!(found.len(), 1, "exactly one {command} in {msgs:?}");
    found[0]
}

/// The 352 rows of a WHO reply by nick (param 5), checking it ends with one 315.
fn who_rows(got: &[Message], mask: &str) -> Vec<Message> {
    let end = one(got, RPL_ENDOFWHO);
    assert_eq!(end.param(1), mask, "{end}");
    assert_eq!(
        got.last().map(|m| m.command.as_str()),
        Some(RPL_ENDOFWHO),
        "315 comes last: {got:?}"
    );
    let mut rows: Vec<Message> = got
        .iter()
        .filter(|m| m.command == RPL_WHOREPLY)
        .cloned()
        .collect();
    rows.sort_by(|a, b| a.param(5).cmp(b.param(5)));
    rows
}

fn row_nicks(rows: &[Message]) -> Vec<&str> {
    rows.iter().map(|r| r.param(5)).collect()
}

#[test]
fn who_channel_lists_members_with_away_and_prefix_flags() {
    let server = TestServer::start();
    let mut alice = server.connect("alice");
    let mut bob = server.connect("bob");
    let mut carol = server.connect("carol");
    let mut dave = server.connect("dave");
    for c in [&mut alice, &mut bob, &mut carol] {
        join(c, "#c");
    }
    alice.send("MODE #c +v carol");
    alice.sync();
    bob.send("AWAY :not here");
    bob.expect_numeric(RPL_NOWAWAY);

    let got = ask(&mut dave, "WHO #c");
    let rows = who_rows(&got, "#c");
    assert_eq!(row_nicks(&rows), ["alice", "bob", "carol"], "{got:?}");
    let name = server.config.server.name.as_str();
    assert_eq!(
        rows[0].params,
        [
            "dave",
            "#c",
            "~alice",
            "127.0.0.1",
            name,
            "alice",
            "H@",
            "0 Test user alice"
        ],
        "{}",
        rows[0]
    );
    assert_eq!(rows[1].param(6), "G", "away and no prefix: {}", rows[1]);
    assert_eq!(rows[2].param(6), "H+", "here and voiced: {}", rows[2]);

    // The channel name is matched case-insensitively.
    let got = ask(&mut dave, "WHO #C");
    assert_eq!(who_rows(&got, "#C").len(), 3, "{got:?}");
}

#[test]
fn who_unknown_channel_is_an_empty_list() {
    let server = TestServer::start();
    let mut alice = server.connect("alice");
    let got = ask(&mut alice, "WHO #nowhere");
    assert!(who_rows(&got, "#nowhere").is_empty(), "{got:?}");
    assert_eq!(commands(&got), [RPL_ENDOFWHO]);
}

#[test]
fn who_nick_gives_that_user_only() {
    let server = TestServer::start();
    let mut alice = server.connect("alice");
    let _bob = server.connect("bob");
    let got = ask(&mut alice, "WHO bob");
    let rows = who_rows(&got, "bob");
    assert_eq!(row_nicks(&rows), ["bob"], "{got:?}");
    let r = &rows[0];
    assert_eq!(
        (r.param(0), r.param(2), r.param(3), r.param(6), r.param(7)),
        ("alice", "~bob", "127.0.0.1", "H", "0 Test user bob"),
        "{r}"
    );
    let got = ask(&mut alice, "WHO nobody");
    assert_eq!(commands(&got), [RPL_ENDOFWHO], "{got:?}");
}

#[test]
fn who_nick_names_a_channel_with_the_users_prefix_there() {
    let server = TestServer::start();
    let mut alice = server.connect("alice");
    let mut bob = server.connect("bob");
    let mut carol = server.connect("carol");
    join(&mut bob, "#mine");
    join(&mut alice, "#shared");
    join(&mut bob, "#shared");
    // A mask matches case-insensitively; the 315 echoes the mask as sent.
    let got = ask(&mut carol, "WHO BO*");
    let rows = who_rows(&got, "BO*");
    assert_eq!(row_nicks(&rows), ["bob"], "{got:?}");
    assert_eq!(
        (rows[0].param(1), rows[0].param(6)),
        ("#mine", "H@"),
        "bob is op of the channel shown: {}",
        rows[0]
    );
    // To alice, the channel they share is the one shown.
    let got = ask(&mut alice, "WHO bob");
    let rows = who_rows(&got, "bob");
    assert_eq!(
        (rows[0].param(1), rows[0].param(6)),
        ("#shared", "H"),
        "{}",
        rows[0]
    );
    // In no channel: `*`.
    let got = ask(&mut alice, "WHO carol");
    let rows = who_rows(&got, "carol");
    assert_eq!(
        (rows[0].param(1), rows[0].param(6)),
        ("*", "H"),
        "{}",
        rows[0]
    );
}

#[test]
fn invisible_users_are_hidden_from_who_unless_a_channel_is_shared() {
    let server = TestServer::start();
    let mut alice = server.connect("alice");
    let mut ghost = server.connect("ghost");
    let mut carol = server.connect("carol");
    join(&mut alice, "#c");
    join(&mut ghost, "#c");
    ghost.send("MODE ghost +i");
    ghost.expect(|m| m.command == "MODE" && m.param(1) == "+i", "MODE +i");

    // carol shares no channel with ghost: masks and the channel hide it...
    let got = ask(&mut carol, "WHO #c");
    assert_eq!(row_nicks(&who_rows(&got, "#c")), ["alice"], "{got:?}");
    let got = ask(&mut carol, "WHO gho*");
    assert!(who_rows(&got, "gho*").is_empty(), "{got:?}");
    let got = ask(&mut carol, "WHO *");
    assert_eq!(
        row_nicks(&who_rows(&got, "*")),
        ["alice", "carol"],
        "{got:?}"
    );

    // ...but the exact nick is a lookup, not a search (modern.ircdocs.horse).
    let got = ask(&mut carol, "WHO ghost");
    let rows = who_rows(&got, "ghost");
    assert_eq!(row_nicks(&rows), ["ghost"], "{got:?}");
    assert_eq!(rows[0].param(1), "*", "ghost's channel leaked: {}", rows[0]);

    // alice does share one.
    let got = ask(&mut alice, "WHO #c");
    assert_eq!(row_nicks(&who_rows(&got, "#c")), ["alice", "ghost"]);
    let got = ask(&mut alice, "WHO gh?st");
    assert_eq!(row_nicks(&who_rows(&got, "gh?st")), ["ghost"]);

    // ghost always sees itself.
    let got = ask(&mut ghost, "WHO ghost");
    assert_eq!(row_nicks(&who_rows(&got, "ghost")), ["ghost"]);

    // Once carol joins she sees ghost.
    join(&mut carol, "#c");
    let got = ask(&mut carol, "WHO #c");
    assert_eq!(
        row_nicks(&who_rows(&got, "#c")),
        ["alice", "carol", "ghost"]
    );
}

#[test]
fn whois_gives_user_channels_server_idle_and_end() {
    let server = TestServer::start();
    let mut alice = server.connect("alice");
    let mut bob = server.connect("bob");
    join(&mut alice, "#ops");
    join(&mut alice, "#talk");
    join(&mut bob, "#talk");
    bob.sync();

    let got = ask(&mut bob, "WHOIS alice");
    assert_eq!(
        commands(&got),
        [
            RPL_WHOISUSER,
            RPL_WHOISCHANNELS,
            RPL_WHOISSERVER,
            RPL_WHOISIDLE,
            RPL_ENDOFWHOIS
        ],
        "{got:?}"
    );
    let user = one(&got, RPL_WHOISUSER);
    assert_eq!(
        user.params,
        [
            "bob",
            "alice",
            "~alice",
            "127.0.0.1",
            "*",
            "Test user alice"
        ],
        "{user}"
    );
    let chans = one(&got, RPL_WHOISCHANNELS);
    assert_eq!(chans.param(1), "alice");
    let mut listed: Vec<&str> = chans.param(2).split(' ').collect();
    listed.sort();
    assert_eq!(listed, ["@#ops", "@#talk"], "{chans}");
    let srv = one(&got, RPL_WHOISSERVER);
    assert_eq!(
        (srv.param(1), srv.param(2)),
        ("alice", server.config.server.name.as_str()),
        "{srv}"
    );
    let idle = one(&got, RPL_WHOISIDLE);
    assert_eq!(idle.param(1), "alice");
    let secs: u64 = idle.param(2).parse().expect("idle seconds");
    assert!(secs < 60, "idle {secs}s for a fresh client: {idle}");
    let signon: i64 = idle.param(3).parse().expect("signon time");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((now - 60..=now + 1).contains(&signon), "signon {signon}");
    let end = one(&got, RPL_ENDOFWHOIS);
    assert_eq!(end.param(1), "alice");

    // Case-insensitive, and the `WHOIS <server> <nick>` form.
    let got = ask(&mut bob, "WHOIS ALICE");
    assert_eq!(one(&got, RPL_WHOISUSER).param(1), "alice");
    let got = ask(
        &mut bob,
        &format!("WHOIS {} alice", server.config.server.name),
    );
    assert_eq!(one(&got, RPL_WHOISUSER).param(1), "alice");
}

#[test]
fn whois_hides_an_invisible_users_channels_unless_shared() {
    let server = TestServer::start();
    let mut ghost = server.connect("ghost");
    let mut carol = server.connect("carol");
    join(&mut ghost, "#haunt");
    join(&mut ghost, "#crypt");
    ghost.send("MODE ghost +i");
    ghost.expect(|m| m.command == "MODE" && m.param(1) == "+i", "MODE +i");
    let got = ask(&mut carol, "WHOIS ghost");
    assert!(!commands(&got).contains(&RPL_WHOISCHANNELS), "{got:?}");
    one(&got, RPL_WHOISUSER);
    // Sharing one channel shows that one only.
    join(&mut carol, "#haunt");
    let got = ask(&mut carol, "WHOIS ghost");
    assert_eq!(one(&got, RPL_WHOISCHANNELS).param(2), "@#haunt", "{got:?}");
    // Its own WHOIS shows all.
    let got = ask(&mut ghost, "WHOIS ghost");
    let mut listed: Vec<&str> = one(&got, RPL_WHOISCHANNELS).param(2).split(' ').collect();
    listed.sort();
    assert_eq!(listed, ["@#crypt", "@#haunt"]);
}

#[test]
fn whois_shows_away_with_301() {
    let server = TestServer::start();
    let mut alice = server.connect("alice");
    let mut bob = server.connect("bob");
    alice.send("AWAY :on holiday");
    alice.expect_numeric(RPL_NOWAWAY);
    let got = ask(&mut bob, "WHOIS alice");
    let away = one(&got, RPL_AWAY);
    assert_eq!(
        (away.param(1), away.param(2)),
        ("alice", "on holiday"),
        "{away}"
    );
    alice.send("AWAY");
    alice.expect_numeric(RPL_UNAWAY);
    let got = ask(&mut bob, "WHOIS alice");
    assert!(!commands(&got).contains(&RPL_AWAY), "{got:?}");
}

#[test]
fn whois_unknown_nick_is_401_then_318() {
    let server = TestServer::start();
    let mut alice = server.connect("alice");
    let got = ask(&mut alice, "WHOIS nobody");
    assert_eq!(commands(&got), [ERR_NOSUCHNICK, RPL_ENDOFWHOIS], "{got:?}");
    assert_eq!(got[0].param(1), "nobody");
    assert_eq!(got[1].param(1), "nobody");
}

#[test]
fn whois_without_a_nick_is_431() {
    let server = TestServer::start();
    let mut alice = server.connect("alice");
    let got = ask(&mut alice, "WHOIS");
    assert_eq!(commands(&got), [ERR_NONICKNAMEGIVEN], "{got:?}");
}

#[test]
fn ison_lists_the_nicks_that_are_online() {
    let server = TestServer::start();
    let mut alice = server.connect("alice");
    let _bob = server.connect("bob");
    let got = ask(&mut alice, "ISON nobody BOB alice");
    let ison = one(&got, RPL_ISON);
    let mut online: Vec<&str> = ison.param(1).split_whitespace().collect();
    online.sort();
    assert_eq!(online, ["alice", "bob"], "{ison}");
    // The trailing form some clients use.
    let got = ask(&mut alice, "ISON :bob nobody");
    assert_eq!(one(&got, RPL_ISON).param(1), "bob");
    let got = ask(&mut alice, "ISON nobody");
    let ison = one(&got, RPL_ISON);
    assert_eq!(ison.params, ["alice", ""], "{ison}");
}

#[test]
fn userhost_replies_nick_equals_away_flag_user_at_host() {
    let server = TestServer::start();
    let mut alice = server.connect("alice");
    let mut bob = server.connect("bob");
    bob.send("AWAY :busy");
    bob.expect_numeric(RPL_NOWAWAY);
    let got = ask(&mut alice, "USERHOST alice bob nobody");
    let reply = one(&got, RPL_USERHOST);
    assert_eq!(reply.param(0), "alice");
    let mut entries: Vec<&str> = reply.param(1).split_whitespace().collect();
    entries.sort();
    assert_eq!(
        entries,
        ["alice=+~alice@127.0.0.1", "bob=-~bob@127.0.0.1"],
        "{reply}"
    );
}

#[test]
fn lusers_counts_users_invisible_unknown_and_channels() {
    let server = TestServer::start();
    let mut alice = server.connect("alice");
    let mut bob = server.connect("bob");
    let mut ghost = server.connect("ghost");
    ghost.send("MODE ghost +i");
    ghost.expect(|m| m.command == "MODE", "MODE +i");
    join(&mut alice, "#one");
    join(&mut bob, "#two");
    // A connection that has not registered yet; PING proves it was accepted.
    let mut raw = server.connect_raw();
    raw.send("PING hello");
    raw.expect_command("PONG");

    let got = ask(&mut alice, "LUSERS");
    assert_eq!(
        commands(&got),
        [
            RPL_LUSERCLIENT,
            RPL_LUSEROP,
            RPL_LUSERUNKNOWN,
            RPL_LUSERCHANNELS,
            RPL_LUSERME,
            RPL_LOCALUSERS,
            RPL_GLOBALUSERS
        ],
        "{got:?}"
    );
    assert_eq!(
        one(&got, RPL_LUSERCLIENT).param(1),
        "There are 2 users and 1 invisible on 1 servers"
    );
    assert_eq!(one(&got, RPL_LUSEROP).param(1), "0");
    assert_eq!(one(&got, RPL_LUSERUNKNOWN).param(1), "1");
    assert_eq!(one(&got, RPL_LUSERCHANNELS).param(1), "2");
    assert_eq!(
        one(&got, RPL_LUSERME).param(1),
        "I have 3 clients and 0 servers"
    );
    let local = one(&got, RPL_LOCALUSERS);
    assert_eq!((local.param(1), local.param(2)), ("3", "3"), "{local}");
    let global = one(&got, RPL_GLOBALUSERS);
    assert_eq!((global.param(1), global.param(2)), ("3", "3"), "{global}");

    // Counts follow the server: one leaves, the unknown registers.
    bob.quit();
    raw.register("late");
    let got = ask(&mut alice, "LUSERS");
    assert_eq!(
        one(&got, RPL_LUSERCLIENT).param(1),
        "There are 2 users and 1 invisible on 1 servers"
    );
    assert!(!commands(&got).contains(&RPL_LUSERUNKNOWN), "{got:?}");
    assert_eq!(one(&got, RPL_LUSERCHANNELS).param(1), "1", "#two is gone");
}

#[test]
fn motd_sends_start_lines_and_end() {
    let server = TestServer::start_with(|c| c.server.motd = "first line\nsecond line".into());
    let mut alice = server.connect("alice");
    let got = ask(&mut alice, "MOTD");
    assert_eq!(
        commands(&got),
        [RPL_MOTDSTART, RPL_MOTD, RPL_MOTD, RPL_ENDOFMOTD],
        "{got:?}"
    );
    assert!(
        got[0].param(1).contains(&server.config.server.name),
        "{}",
        got[0]
    );
    assert_eq!(got[1].param(1), "- first line");
    assert_eq!(got[2].param(1), "- second line");
}

#[test]
fn empty_motd_is_422() {
    let server = TestServer::start_with(|c| c.server.motd = String::new());
    let mut alice = server.connect_raw();
    alice.send("NICK alice");
    alice.send("USER alice 0 * :Alice");
    let burst = alice.sync();
    assert!(
        burst.iter().any(|m| m.command == ERR_NOMOTD),
        "422 in the welcome burst: {burst:?}"
    );
    assert!(
        !burst.iter().any(|m| m.command == RPL_MOTDSTART),
        "{burst:?}"
    );
    let got = ask(&mut alice, "MOTD");
    assert_eq!(commands(&got), [ERR_NOMOTD], "{got:?}");
}

#[test]
fn version_gives_351_and_isupport() {
    let server = TestServer::start();
    let mut alice = server.connect("alice");
    let got = ask(&mut alice, "VERSION");
    assert_eq!(got.first().map(|m| m.command.as_str()), Some(RPL_VERSION));
    let v = one(&got, RPL_VERSION);
    assert_eq!(
        (v.param(0), v.param(1), v.param(2)),
        ("alice", chatd::VERSION, server.config.server.name.as_str()),
        "{v}"
    );
    let isupport: Vec<&str> = got
        .iter()
        .filter(|m| m.command == RPL_ISUPPORT)
        .flat_map(|m| m.params.iter().map(String::as_str))
        .collect();
    for token in ["CASEMAPPING=ascii", "CHANTYPES=#", "PREFIX=(qohv)~@%+"] {
        assert!(isupport.contains(&token), "{token} missing: {got:?}");
    }
    assert!(
        got[1..].iter().all(|m| m.command == RPL_ISUPPORT),
        "only 005 after 351: {got:?}"
    );
}

#[test]
fn time_gives_391_with_the_server_name() {
    let server = TestServer::start();
    let mut alice = server.connect("alice");
    let got = ask(&mut alice, "TIME");
    let t = one(&got, RPL_TIME);
    assert_eq!(
        (t.param(0), t.param(1)),
        ("alice", server.config.server.name.as_str())
    );
    let text = t.params.last().unwrap();
    let year = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 31_556_952
        + 1970;
    // The average year length is a day off at worst: accept either neighbour.
    assert!(
        (year - 1..=year + 1).any(|y| text.contains(&y.to_string())),
        "no current year in {t}"
    );
}

#[test]
fn ping_without_origin_is_409_and_with_one_is_answered() {
    let server = TestServer::start();
    let mut alice = server.connect("alice");
    let got = ask(&mut alice, "PING");
    assert_eq!(commands(&got), [ERR_NOORIGIN], "{got:?}");
    let got = ask(&mut alice, "PING :");
    assert_eq!(commands(&got), [ERR_NOORIGIN], "{got:?}");
    let got = ask(&mut alice, "PING :are you alive");
    let pong = one(&got, "PONG");
    assert_eq!(pong.params.last().unwrap(), "are you alive", "{pong}");
}

#[test]
fn unknown_command_is_421() {
    let server = TestServer::start();
    let mut alice = server.connect("alice");
    let got = ask(&mut alice, "FROBNICATE now");
    let e = one(&got, ERR_UNKNOWNCOMMAND);
    assert_eq!((e.param(0), e.param(1)), ("alice", "FROBNICATE"), "{e}");
    assert_eq!(got.len(), 1, "{got:?}");
}

#[test]
fn commands_before_registration_get_451() {
    let server = TestServer::start();
    let mut bob = server.connect("bob");
    let mut c = server.connect_raw();
    for line in [
        "PRIVMSG bob :sneaky",
        "JOIN #c",
        "WHO bob",
        "WHOIS bob",
        "ISON bob",
        "LUSERS",
        "MOTD",
        "FROBNICATE",
    ] {
        let got = ask(&mut c, line);
        assert_eq!(commands(&got), [ERR_NOTREGISTERED], "{line}: {got:?}");
    }
    let got = bob.sync();
    assert!(!got.iter().any(|m| m.command == "PRIVMSG"), "{got:?}");
    // Registration still works afterwards.
    c.register("late");
    let got = ask(&mut c, "ISON bob");
    assert_eq!(one(&got, RPL_ISON).param(1), "bob");
}

#[test]
fn lusers_max_is_the_peak_not_the_current_count() {
    let server = TestServer::start();
    let mut a = server.connect("peak_a");
    let b = server.connect("peak_b");
    b.quit();
    a.send("LUSERS");
    let local = a.expect_numeric(RPL_LOCALUSERS);
    assert_eq!((local.param(1), local.param(2)), ("1", "2"), "{local}");
    let global = a.expect_numeric(RPL_GLOBALUSERS);
    assert_eq!((global.param(1), global.param(2)), ("1", "2"), "{global}");
}
