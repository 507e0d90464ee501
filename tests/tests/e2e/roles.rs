//! Registered channels and roles, walked through by a team (issue 17): register
//! `#team`, give a moderator role, restart, and the founder's topic and modes and the
//! moderator's role are back; nobody takes the empty channel; a moderator kicks but
//! does not op; a muted member is refused; an operator of class moderator cannot
//! KILL. Member prefixes follow https://modern.ircdocs.horse/#prefix-parameter and
//! https://modern.ircdocs.horse/#channel-modes (founder `~` +q, operator `@` +o,
//! halfop `%` +h, voice `+` +v); multi-prefix is https://ircv3.net/specs/extensions/multi-prefix.

use chatd::config::OperConfig;
use chatd_proto::numeric::*;
use chatd_tests::*;

const PW: &str = "hunter22";

/// The NAMES entry (with its prefixes) of `nick` in `chan`.
fn names_entry(c: &mut Client, chan: &str, nick: &str) -> String {
    c.send(&format!("NAMES {chan}"));
    let got = c.sync();
    all(&got, RPL_NAMREPLY)
        .iter()
        .flat_map(|m| {
            m.param(3)
                .split(' ')
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .find(|e| e.trim_start_matches(['~', '@', '%', '+']) == nick)
        .unwrap_or_else(|| panic!("{nick} in NAMES {chan}: {got:?}"))
}

fn chanserv_says(c: &mut Client, command: &str) -> Vec<String> {
    c.send(&format!("PRIVMSG ChanServ :{command}"));
    c.sync()
        .into_iter()
        .filter(|m| m.command == "NOTICE" && m.source_nick() == Some("ChanServ"))
        .map(|m| m.param(1).to_string())
        .collect()
}

/// The walkthrough of issue 17's "Done means", end to end across a restart.
/// https://modern.ircdocs.horse/#prefix-parameter, #kick-message, #mode-message,
/// https://modern.ircdocs.horse/#errcannotsendtochan-404 (the ~m mute),
/// https://modern.ircdocs.horse/#errnoprivileges-481 (KILL).
#[test]
fn a_team_registers_its_channel_and_keeps_it_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let with_mod_oper = |c: &mut chatd::config::Config| {
        c.oper.push(OperConfig {
            name: "teammods".into(),
            password: String::new(),
            class: "moderator".into(),
            account: Some("bob".into()),
        });
    };
    let server = TestServer::start_in(&data, with_mod_oper);
    for a in ["alice", "bob", "carol"] {
        server.create_account(a, PW);
    }
    let mut alice = server.connect_sasl("alice", "multi-prefix", "alice", PW);
    alice.join("#team");
    alice.send("TOPIC #team :Team chat, be kind");
    alice.send("MODE #team +Cl 50");
    alice.send("MODE #team +b *!*@spam.example");
    alice.sync();
    let said = chanserv_says(&mut alice, "REGISTER #team");
    assert!(
        said.iter().any(|l| l.contains("is registered to alice")),
        "{said:?}"
    );
    assert_eq!(names_entry(&mut alice, "#team", "alice"), "~@alice");
    let said = chanserv_says(&mut alice, "ACCESS #team ADD bob moderator");
    assert!(
        said.iter().any(|l| l.contains("bob is now moderator")),
        "{said:?}"
    );
    alice.quit();
    server.stop();

    let server = TestServer::start_in(&data, with_mod_oper);
    // Someone with no role reaches the empty channel first: it is not theirs.
    let mut eve = server.connect_with_caps("eve", "multi-prefix");
    eve.send("JOIN #team");
    let got = eve.expect_numeric(RPL_TOPIC);
    assert_eq!(got.param(2), "Team chat, be kind");
    eve.expect_numeric(RPL_ENDOFNAMES);
    assert_eq!(names_entry(&mut eve, "#team", "eve"), "eve");
    eve.send("MODE #team");
    let modes = eve.expect_numeric(RPL_CHANNELMODEIS);
    assert_eq!(modes.param(2), "+Cntl", "{modes}");
    assert_eq!(modes.param(3), "50");
    eve.send("MODE #team +o eve");
    eve.expect_numeric(ERR_CHANOPRIVSNEEDED);
    eve.send("MODE #team b");
    let got = eve.sync();
    assert_eq!(one(&got, RPL_BANLIST).param(2), "*!*@spam.example");

    // The moderator's role is back, by account.
    let mut bob = server.connect_sasl("bob", "multi-prefix", "bob", PW);
    bob.join("#team");
    assert_eq!(names_entry(&mut bob, "#team", "bob"), "%bob");
    // A moderator kicks, but neither ops nor changes the channel's settings.
    bob.send("MODE #team +o bob");
    bob.expect_numeric(ERR_CHANOPRIVSNEEDED);
    bob.send("MODE #team +m");
    bob.expect_numeric(ERR_CHANOPRIVSNEEDED);
    bob.send("KICK #team eve :off topic");
    let kick = eve.expect_command("KICK");
    assert_eq!((kick.param(1), kick.param(2)), ("eve", "off topic"));

    // A muted member may join but not speak, and is told why.
    let mut carol = server.connect_sasl("carol", "", "carol", PW);
    bob.send("MODE #team +b ~m:carol!*@*");
    bob.sync();
    carol.join("#team");
    carol.send("PRIVMSG #team :can anyone hear me?");
    let refused = carol.expect_numeric(ERR_CANNOTSENDTOCHAN);
    assert_eq!(refused.param(1), "#team");
    bob.sync();
    assert!(
        !bob.received()
            .iter()
            .any(|l| l.contains("can anyone hear me")),
        "a muted message reached the channel"
    );

    // The founder's role is back too (the account remembers the channel: its login
    // joins it again).
    let mut alice = server.connect_sasl("alice", "multi-prefix", "alice", PW);
    alice.store_sync();
    assert_eq!(names_entry(&mut alice, "#team", "alice"), "~@alice");

    // bob is an operator of class moderator by his login: no KILL.
    bob.send("WHOIS bob");
    let whois = bob.expect_numeric(RPL_WHOISOPERATOR);
    assert!(whois.param(2).contains("moderator"), "{whois}");
    bob.send("KILL carol :bye");
    bob.expect_numeric(ERR_NOPRIVILEGES);
    carol.sync();
    server.stop();
}

/// A founder who is not logged in is nobody: roles go by account, not by nick.
/// https://modern.ircdocs.horse/#prefix-parameter
#[test]
fn roles_follow_the_account_not_the_nick() {
    let server = TestServer::start();
    server.create_account("alice", PW);
    let mut alice = server.connect_sasl("alice", "", "alice", PW);
    alice.join("#c");
    chanserv_says(&mut alice, "REGISTER #c");
    alice.send("PART #c");
    alice.quit();
    // An impostor with the founder's nick but no login gets no status.
    let mut fake = server.connect_with_caps("alice", "multi-prefix");
    fake.join("#c");
    assert_eq!(names_entry(&mut fake, "#c", "alice"), "alice");
    fake.quit();
    // The founder under another nick gets it.
    let mut real = server.connect_sasl("someone", "multi-prefix", "alice", PW);
    real.join("#c");
    assert_eq!(names_entry(&mut real, "#c", "someone"), "~@someone");
}

/// Only a higher role changes roles: an operator cannot de-op the founder, a
/// moderator voices but cannot give moderator.
/// https://modern.ircdocs.horse/#errchanoprivsneeded-482
#[test]
fn only_a_higher_role_changes_roles() {
    let server = TestServer::start();
    for a in ["alice", "bob", "dan"] {
        server.create_account(a, PW);
    }
    let mut alice = server.connect_sasl("alice", "", "alice", PW);
    alice.join("#c");
    chanserv_says(&mut alice, "REGISTER #c");
    chanserv_says(&mut alice, "ACCESS #c ADD bob op");
    chanserv_says(&mut alice, "ACCESS #c ADD dan moderator");
    let mut bob = server.connect_sasl("bob", "multi-prefix", "bob", PW);
    bob.join("#c");
    let mut dan = server.connect_sasl("dan", "multi-prefix", "dan", PW);
    dan.join("#c");
    let mut guest = server.connect("guest");
    guest.join("#c");
    bob.send("MODE #c -o alice");
    bob.expect_numeric(ERR_CHANOPRIVSNEEDED);
    bob.send("KICK #c alice");
    bob.expect_numeric(ERR_CHANOPRIVSNEEDED);
    dan.send("MODE #c +v guest");
    dan.sync();
    assert_eq!(names_entry(&mut dan, "#c", "guest"), "+guest");
    dan.send("MODE #c +h guest");
    dan.expect_numeric(ERR_CHANOPRIVSNEEDED);
    dan.send("KICK #c bob");
    dan.expect_numeric(ERR_CHANOPRIVSNEEDED);
    // An op may not give the access list a role at its own level.
    let said = chanserv_says(&mut bob, "ACCESS #c ADD dan op");
    assert!(
        said.iter().any(|l| l.contains("below your own")),
        "{said:?}"
    );
    let said = chanserv_says(&mut bob, "ACCESS #c ADD guest voice");
    assert!(
        said.iter().any(|l| l.contains("No account guest")),
        "{said:?}"
    );
    // The founder voiced and moderated members see them with multi-prefix.
    assert_eq!(names_entry(&mut bob, "#c", "alice"), "~@alice");
    assert_eq!(names_entry(&mut bob, "#c", "dan"), "%dan");
}
