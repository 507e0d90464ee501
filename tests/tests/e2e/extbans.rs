//! Channel lists and extended bans: `+e` ban exceptions (ISUPPORT `EXCEPTS`, 348/349),
//! `+I` invite exceptions (`INVEX`, 346/347), the `~a:<account>` and `~m:<mask>`
//! extbans (`EXTBAN=~,am`) and `+C` (no CTCP but ACTION), as described by
//! modern.ircdocs.horse (https://modern.ircdocs.horse/#excepts-parameter,
//! #invex-parameter, #extban-parameter, "Channel Modes").

use chatd_proto::numeric::*;
use chatd_tests::*;

/// https://modern.ircdocs.horse/#excepts-parameter and #invex-parameter, #extban-parameter.
#[test]
fn lists_and_extbans_are_advertised() {
    let server = TestServer::start();
    let mut c = server.connect("c");
    assert_eq!(isupport(&mut c, "EXCEPTS").as_deref(), Some("e"));
    assert_eq!(isupport(&mut c, "INVEX").as_deref(), Some("I"));
    assert_eq!(isupport(&mut c, "EXTBAN").as_deref(), Some("~,am"));
    let chanmodes = isupport(&mut c, "CHANMODES").unwrap();
    let types: Vec<&str> = chanmodes.split(',').collect();
    for (letter, t) in [('e', 0), ('I', 0), ('b', 0), ('C', 3)] {
        assert!(
            types[t].contains(letter),
            "{letter} in type {t}: {chanmodes}"
        );
    }
}

/// https://modern.ircdocs.horse/#ban-exception-channel-mode (+e lets a banned client
/// in) and #exception-list (348/349).
#[test]
fn an_exception_beats_a_ban_and_is_listed() {
    let server = TestServer::start();
    let mut op = server.connect("op");
    op.join("#c");
    op.send("MODE #c +b *!*@127.0.0.1");
    op.send("MODE #c +e guest!*@*");
    op.sync();
    let mut other = server.connect("other");
    other.send("JOIN #c");
    other.expect_numeric(ERR_BANNEDFROMCHAN);
    let mut guest = server.connect("guest");
    guest.join("#c");
    op.send("MODE #c e");
    let got = op.sync();
    let entries = all(&got, RPL_EXCEPTLIST);
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].param(2), "guest!*@*");
    one(&got, RPL_ENDOFEXCEPTLIST);
}

/// https://modern.ircdocs.horse/#invite-exception-channel-mode (+I lets a client
/// past +i without an INVITE) and #invite-exception-list (346/347).
#[test]
fn an_invite_exception_opens_an_invite_only_channel() {
    let server = TestServer::start();
    server.create_account("friend", "hunter22");
    let mut op = server.connect("op");
    op.join("#c");
    op.send("MODE #c +i");
    op.send("MODE #c +I ~a:friend");
    op.sync();
    let mut stranger = server.connect("stranger");
    stranger.send("JOIN #c");
    stranger.expect_numeric(ERR_INVITEONLYCHAN);
    let mut friend = server.connect_sasl("friend", "", "friend", "hunter22");
    friend.join("#c");
    op.send("MODE #c I");
    let got = op.sync();
    assert_eq!(one(&got, RPL_INVITELIST).param(2), "~a:friend");
    one(&got, RPL_ENDOFINVITELIST);
}

/// https://modern.ircdocs.horse/#extban-parameter: `~a:<account>` matches clients
/// logged in to the account, whatever their nick or host.
#[test]
fn account_extban_keeps_the_account_out() {
    let server = TestServer::start();
    server.create_account("troll", "hunter22");
    let mut op = server.connect("op");
    op.join("#c");
    op.send("MODE #c +b ~a:troll");
    let got = op.sync();
    assert_eq!(one(&got, "MODE").params, vec!["#c", "+b", "~a:troll"]);
    let mut troll = server.connect_sasl("innocent", "", "troll", "hunter22");
    troll.send("JOIN #c");
    troll.expect_numeric(ERR_BANNEDFROMCHAN);
    let mut guest = server.connect("guest");
    guest.join("#c");
}

/// https://modern.ircdocs.horse/#extban-parameter: `~m:<mask>` (mute) lets a client
/// join but not speak; a voiced one still may.
#[test]
fn mute_extban_silences_without_keeping_out() {
    let server = TestServer::start();
    let mut op = server.connect("op");
    op.join("#c");
    op.send("MODE #c +b ~m:quiet");
    let got = op.sync();
    assert_eq!(one(&got, "MODE").params, vec!["#c", "+b", "~m:quiet!*@*"]);
    let mut quiet = server.connect("quiet");
    quiet.join("#c");
    op.sync();
    quiet.send("PRIVMSG #c :can you hear me");
    let got = quiet.sync();
    assert_eq!(one(&got, ERR_CANNOTSENDTOCHAN).param(1), "#c");
    assert!(!has(&op.sync(), "PRIVMSG"), "muted");
    op.send("MODE #c +v quiet");
    op.sync();
    quiet.send("PRIVMSG #c :now?");
    op.expect_privmsg_from("quiet", "now?");
}

/// https://modern.ircdocs.horse/#extban-parameter: an extban type the server does not
/// list is refused (696), as is a mute outside the ban list; nothing is added.
#[test]
fn unknown_extbans_are_refused() {
    let server = TestServer::start();
    let mut op = server.connect("op");
    op.join("#c");
    for (line, letter) in [
        ("MODE #c +b ~z:thing", "b"),
        ("MODE #c +e ~m:someone", "e"),
        ("MODE #c +I ~a:", "I"),
    ] {
        op.send(line);
        let got = op.sync();
        let e = one(&got, ERR_INVALIDMODEPARAM);
        assert_eq!(e.params[1..3], ["#c", letter], "{line}");
        assert!(!has(&got, "MODE"), "{line}");
    }
}

/// https://modern.ircdocs.horse/#maxlist-parameter: each list is bounded (478 past it).
#[test]
fn each_list_is_bounded() {
    let server = TestServer::start_with(|c| c.limits.bans_per_channel = 2);
    let mut op = server.connect("op");
    op.join("#c");
    op.send("MODE #c +eee a b c");
    let got = op.sync();
    assert_eq!(
        one(&got, "MODE").params,
        vec!["#c", "+ee", "a!*@*", "b!*@*"]
    );
    one(&got, ERR_BANLISTFULL);
    op.send("MODE #c +I x");
    assert!(has(&op.sync(), "MODE"), "the lists are bounded separately");
}

/// +C (no CTCP): modern.ircdocs.horse lists no letter for it; chatd follows the common
/// `C` (https://modern.ircdocs.horse/#channel-modes): CTCP refused with 404, ACTION
/// allowed.
#[test]
fn no_ctcp_mode_refuses_ctcp_but_not_action() {
    let server = TestServer::start();
    let mut c = channel_with(&server, "#c", &["op", "user"]);
    c[0].send("MODE #c +C");
    c[0].sync();
    c[1].sync();
    c[1].send("PRIVMSG #c :\u{1}VERSION\u{1}");
    let got = c[1].sync();
    one(&got, ERR_CANNOTSENDTOCHAN);
    c[1].send("PRIVMSG #c :\u{1}ACTION waves\u{1}");
    c[0].expect_privmsg_from("user", "\u{1}ACTION waves\u{1}");
    assert!(!has(&c[1].sync(), ERR_CANNOTSENDTOCHAN));
}
