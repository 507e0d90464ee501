//! Channel and user `MODE`, RFC 2812 §3.2.3 (channel modes) and §3.1.5 (user modes),
//! with the numerics and `CHANMODES=beI,k,l,Cimnt PREFIX=(ov)@+` of modern.ircdocs.horse
//! (the `+e`/`+I` lists, extbans and `+C` are in `extbans.rs`).
//! The effects of modes on JOIN and PRIVMSG are checked here too.

use chatd_proto::numeric::*;
use chatd_tests::*;

/// `MODE chan` as the client sees it: the 324 params after the client nick.
fn modes_of(c: &mut Client, chan: &str) -> Vec<String> {
    c.send(&format!("MODE {chan}"));
    let got = c.sync();
    one(&got, RPL_CHANNELMODEIS).params[1..].to_vec()
}

/// Sends `line` as `clients[0]` (an op) and checks that every client, the sender
/// included, gets one MODE from it with exactly `want` as its parameters.
fn set_and_see(clients: &mut [Client], line: &str, want: &[&str]) {
    clients[0].send(line);
    let op = clients[0].nick.clone();
    for c in clients.iter_mut() {
        let got = c.sync();
        let m = one(&got, "MODE");
        assert_eq!(m.source_nick(), Some(op.as_str()), "{line}");
        assert_eq!(m.params, want, "{line} as seen by {}", c.nick);
    }
}

/// The nicks with prefixes in `NAMES chan`, sorted.
fn names(c: &mut Client, chan: &str) -> Vec<String> {
    c.send(&format!("NAMES {chan}"));
    let got = c.sync();
    let mut n: Vec<String> = all(&got, RPL_NAMREPLY)
        .iter()
        .flat_map(|m| m.param(3).split(' ').map(str::to_string))
        .collect();
    n.sort();
    n
}

// ---- channel modes: query ----

#[test]
fn channel_mode_query_gets_324_and_329() {
    let server = TestServer::start();
    let mut c = channel_with(&server, "#lobby", &["alice"]);
    c[0].send("MODE #lobby");
    let got = c[0].sync();
    let is = one(&got, RPL_CHANNELMODEIS);
    assert_eq!(is.params, vec!["alice", "#lobby", "+nt"]);
    let created = one(&got, RPL_CREATIONTIME);
    assert_eq!(created.param(1), "#lobby");
    let t: i64 = created.param(2).parse().unwrap();
    assert!(t > 1_600_000_000, "a Unix time: {t}");
}

#[test]
fn channel_mode_query_shows_key_to_members_only() {
    let server = TestServer::start();
    let mut c = channel_with(&server, "#lobby", &["alice"]);
    c[0].send("MODE #lobby +kl sesame 5");
    c[0].sync();
    assert_eq!(
        modes_of(&mut c[0], "#lobby"),
        vec!["#lobby", "+ntkl", "sesame", "5"]
    );
    let mut bob = server.connect("bob");
    assert_eq!(
        modes_of(&mut bob, "#lobby"),
        vec!["#lobby", "+ntkl", "*", "5"]
    );
}

#[test]
fn mode_on_unknown_channel_gets_403() {
    let server = TestServer::start();
    let mut alice = server.connect("alice");
    alice.send("MODE #nowhere");
    assert_eq!(one(&alice.sync(), ERR_NOSUCHCHANNEL).param(1), "#nowhere");
    alice.send("MODE #nowhere +m");
    assert_eq!(one(&alice.sync(), ERR_NOSUCHCHANNEL).param(1), "#nowhere");
}

// ---- channel modes: setting and removing ----

#[test]
fn op_is_given_and_taken_and_seen_by_members() {
    let server = TestServer::start();
    let mut c = channel_with(&server, "#lobby", &["alice", "bob", "carol"]);
    set_and_see(&mut c, "MODE #lobby +o bob", &["#lobby", "+o", "bob"]);
    assert_eq!(names(&mut c[2], "#lobby"), vec!["@alice", "@bob", "carol"]);
    // Bob can now use op powers.
    c[1].send("TOPIC #lobby :bob rules");
    let got = c[1].sync();
    assert!(!has(&got, ERR_CHANOPRIVSNEEDED), "{got:#?}");
    assert!(has(&got, "TOPIC"));
    for member in c.iter_mut() {
        member.sync();
    }
    set_and_see(&mut c, "MODE #lobby -o bob", &["#lobby", "-o", "bob"]);
    assert_eq!(names(&mut c[2], "#lobby"), vec!["@alice", "bob", "carol"]);
    c[1].send("TOPIC #lobby :bob rules again");
    assert!(has(&c[1].sync(), ERR_CHANOPRIVSNEEDED));
}

#[test]
fn voice_is_given_and_taken_and_seen_by_members() {
    let server = TestServer::start();
    let mut c = channel_with(&server, "#lobby", &["alice", "bob"]);
    set_and_see(&mut c, "MODE #lobby +v bob", &["#lobby", "+v", "bob"]);
    assert_eq!(names(&mut c[1], "#lobby"), vec!["+bob", "@alice"]);
    set_and_see(&mut c, "MODE #lobby -v bob", &["#lobby", "-v", "bob"]);
    assert_eq!(names(&mut c[1], "#lobby"), vec!["@alice", "bob"]);
}

#[test]
fn several_changes_in_one_command_are_one_mode_line() {
    let server = TestServer::start();
    let mut c = channel_with(&server, "#lobby", &["alice", "bob"]);
    set_and_see(
        &mut c,
        "MODE #lobby +ov-t bob bob",
        &["#lobby", "+ov-t", "bob", "bob"],
    );
    assert_eq!(modes_of(&mut c[1], "#lobby"), vec!["#lobby", "+n"]);
}

#[test]
fn setting_a_mode_already_set_broadcasts_nothing() {
    let server = TestServer::start();
    let mut c = channel_with(&server, "#lobby", &["alice", "bob"]);
    c[0].send("MODE #lobby +nt");
    let got = c[0].sync();
    assert!(!has(&got, "MODE"), "{got:#?}");
    assert!(!has(&c[1].sync(), "MODE"));
}

#[test]
fn flag_modes_t_n_m_i_are_set_and_removed() {
    let server = TestServer::start();
    let mut c = channel_with(&server, "#lobby", &["alice", "bob"]);
    set_and_see(&mut c, "MODE #lobby -tn", &["#lobby", "-tn"]);
    assert_eq!(modes_of(&mut c[0], "#lobby"), vec!["#lobby", "+"]);
    for flag in ["t", "n", "m", "i"] {
        set_and_see(
            &mut c,
            &format!("MODE #lobby +{flag}"),
            &["#lobby", &format!("+{flag}")],
        );
        assert_eq!(
            modes_of(&mut c[1], "#lobby"),
            vec!["#lobby".to_string(), format!("+{flag}")]
        );
        set_and_see(
            &mut c,
            &format!("MODE #lobby -{flag}"),
            &["#lobby", &format!("-{flag}")],
        );
        assert_eq!(modes_of(&mut c[1], "#lobby"), vec!["#lobby", "+"]);
    }
    set_and_see(&mut c, "MODE #lobby +imnt", &["#lobby", "+imnt"]);
    assert_eq!(modes_of(&mut c[1], "#lobby"), vec!["#lobby", "+imnt"]);
}

#[test]
fn key_is_set_and_removed() {
    let server = TestServer::start();
    let mut c = channel_with(&server, "#lobby", &["alice", "bob"]);
    set_and_see(&mut c, "MODE #lobby +k sesame", &["#lobby", "+k", "sesame"]);
    let mut carol = server.connect("carol");
    carol.send("JOIN #lobby");
    assert!(has(&carol.sync(), ERR_BADCHANNELKEY));
    // -k takes a parameter too (CHANMODES type B); the broadcast hides it.
    set_and_see(&mut c, "MODE #lobby -k sesame", &["#lobby", "-k", "*"]);
    assert_eq!(modes_of(&mut c[0], "#lobby"), vec!["#lobby", "+nt"]);
    carol.send("JOIN #lobby");
    assert!(has(&carol.sync(), "JOIN"));
}

#[test]
fn limit_is_set_and_removed() {
    let server = TestServer::start();
    let mut c = channel_with(&server, "#lobby", &["alice", "bob"]);
    set_and_see(&mut c, "MODE #lobby +l 2", &["#lobby", "+l", "2"]);
    assert_eq!(modes_of(&mut c[1], "#lobby"), vec!["#lobby", "+ntl", "2"]);
    let mut carol = server.connect("carol");
    carol.send("JOIN #lobby");
    assert!(has(&carol.sync(), ERR_CHANNELISFULL));
    // -l takes no parameter (CHANMODES type C).
    set_and_see(&mut c, "MODE #lobby -l", &["#lobby", "-l"]);
    assert_eq!(modes_of(&mut c[1], "#lobby"), vec!["#lobby", "+nt"]);
    carol.send("JOIN #lobby");
    assert!(has(&carol.sync(), "JOIN"));
}

#[test]
fn ban_is_set_listed_and_removed() {
    let server = TestServer::start();
    let mut c = channel_with(&server, "#lobby", &["alice", "bob"]);
    // A bare nick is widened to a full mask.
    set_and_see(
        &mut c,
        "MODE #lobby +b troll",
        &["#lobby", "+b", "troll!*@*"],
    );
    set_and_see(
        &mut c,
        "MODE #lobby +b *!*@bad.example",
        &["#lobby", "+b", "*!*@bad.example"],
    );
    // Any member (not only ops) may read the list.
    for query in ["MODE #lobby +b", "MODE #lobby b"] {
        c[1].send(query);
        let got = c[1].sync();
        let list = all(&got, RPL_BANLIST);
        let masks: Vec<&str> = list.iter().map(|m| m.param(2)).collect();
        assert_eq!(masks, vec!["troll!*@*", "*!*@bad.example"], "{query}");
        assert!(list.iter().all(|m| m.param(1) == "#lobby"));
        assert!(
            list[0].param(3).starts_with("alice"),
            "setter: {:?}",
            list[0]
        );
        assert!(
            list[0].param(4).parse::<i64>().is_ok(),
            "time: {:?}",
            list[0]
        );
        let end = one(&got, RPL_ENDOFBANLIST);
        assert_eq!(end.param(1), "#lobby");
        assert!(!has(&got, "MODE"), "a query changes nothing: {got:#?}");
    }
    set_and_see(
        &mut c,
        "MODE #lobby -b troll",
        &["#lobby", "-b", "troll!*@*"],
    );
    c[0].send("MODE #lobby +b");
    let got = c[0].sync();
    let masks: Vec<&str> = all(&got, RPL_BANLIST).iter().map(|m| m.param(2)).collect();
    assert_eq!(masks, vec!["*!*@bad.example"]);
}

#[test]
fn empty_ban_list_is_just_368() {
    let server = TestServer::start();
    let mut c = channel_with(&server, "#lobby", &["alice"]);
    c[0].send("MODE #lobby +b");
    let got = c[0].sync();
    assert!(!has(&got, RPL_BANLIST));
    assert_eq!(one(&got, RPL_ENDOFBANLIST).param(1), "#lobby");
}

// ---- channel modes: errors ----

#[test]
fn non_operator_gets_482_and_nothing_changes() {
    let server = TestServer::start();
    let mut c = channel_with(&server, "#lobby", &["alice", "bob"]);
    for line in [
        "MODE #lobby +m",
        "MODE #lobby -t",
        "MODE #lobby +o bob",
        "MODE #lobby -o alice",
        "MODE #lobby +v bob",
        "MODE #lobby +k key",
        "MODE #lobby +l 5",
        "MODE #lobby +b someone",
        "MODE #lobby +i",
    ] {
        c[1].send(line);
        let got = c[1].sync();
        assert_eq!(one(&got, ERR_CHANOPRIVSNEEDED).param(1), "#lobby", "{line}");
        assert!(!has(&got, "MODE"), "{line}: {got:#?}");
        assert!(!has(&c[0].sync(), "MODE"), "{line}");
    }
    assert_eq!(modes_of(&mut c[0], "#lobby"), vec!["#lobby", "+nt"]);
    assert_eq!(names(&mut c[0], "#lobby"), vec!["@alice", "bob"]);
}

#[test]
fn non_member_gets_482_too() {
    let server = TestServer::start();
    let mut c = channel_with(&server, "#lobby", &["alice"]);
    let mut bob = server.connect("bob");
    bob.send("MODE #lobby +m");
    assert!(has(&bob.sync(), ERR_CHANOPRIVSNEEDED));
    assert!(!has(&c[0].sync(), "MODE"));
}

#[test]
fn unknown_mode_gets_472_and_known_ones_still_apply() {
    let server = TestServer::start();
    let mut c = channel_with(&server, "#lobby", &["alice", "bob"]);
    c[0].send("MODE #lobby +Zm");
    let got = c[0].sync();
    let e = one(&got, ERR_UNKNOWNMODE);
    assert_eq!(e.param(1), "Z");
    assert_eq!(one(&got, "MODE").params, vec!["#lobby", "+m"]);
    assert_eq!(one(&c[1].sync(), "MODE").params, vec!["#lobby", "+m"]);
}

#[test]
fn op_for_non_member_gets_441_and_unknown_nick_401() {
    let server = TestServer::start();
    let mut c = channel_with(&server, "#lobby", &["alice"]);
    let _bob = server.connect("bob");
    c[0].send("MODE #lobby +o bob");
    let got = c[0].sync();
    let e = one(&got, ERR_USERNOTINCHANNEL);
    assert_eq!((e.param(1), e.param(2)), ("bob", "#lobby"));
    assert!(!has(&got, "MODE"));
    c[0].send("MODE #lobby +v ghost");
    let got = c[0].sync();
    assert_eq!(one(&got, ERR_NOSUCHNICK).param(1), "ghost");
    assert!(!has(&got, "MODE"));
}

#[test]
fn op_without_nick_gets_461() {
    let server = TestServer::start();
    let mut c = channel_with(&server, "#lobby", &["alice"]);
    c[0].send("MODE #lobby +o");
    let got = c[0].sync();
    assert_eq!(one(&got, ERR_NEEDMOREPARAMS).param(1), "MODE");
    assert!(!has(&got, "MODE"));
}

#[test]
fn invalid_limit_gets_696() {
    let server = TestServer::start();
    let mut c = channel_with(&server, "#lobby", &["alice", "bob"]);
    for (line, shown) in [
        ("MODE #lobby +l", "*"),
        ("MODE #lobby +l 0", "0"),
        ("MODE #lobby +l -3", "-3"),
        ("MODE #lobby +l lots", "lots"),
    ] {
        c[0].send(line);
        let got = c[0].sync();
        let e = one(&got, ERR_INVALIDMODEPARAM);
        assert_eq!(e.params[1..4], ["#lobby", "l", shown][..], "{line}");
        assert!(!has(&got, "MODE"), "{line}: {got:#?}");
    }
    assert!(!has(&c[1].sync(), "MODE"));
    assert_eq!(modes_of(&mut c[0], "#lobby"), vec!["#lobby", "+nt"]);
}

#[test]
fn invalid_key_gets_696() {
    let server = TestServer::start();
    let mut c = channel_with(&server, "#lobby", &["alice", "bob"]);
    let long = "k".repeat(40);
    for (line, shown) in [
        ("MODE #lobby +k".to_string(), "*"),
        ("MODE #lobby +k a,b".to_string(), "a,b"),
        (format!("MODE #lobby +k {long}"), long.as_str()),
    ] {
        c[0].send(&line);
        let got = c[0].sync();
        let e = one(&got, ERR_INVALIDMODEPARAM);
        assert_eq!(e.params[1..4], ["#lobby", "k", shown][..], "{line}");
        assert!(!has(&got, "MODE"), "{line}: {got:#?}");
    }
    assert!(!has(&c[1].sync(), "MODE"));
    assert_eq!(modes_of(&mut c[0], "#lobby"), vec!["#lobby", "+nt"]);
}

// ---- effects of channel modes ----

#[test]
fn moderated_blocks_unvoiced_members_with_404() {
    let server = TestServer::start();
    let mut c = channel_with(&server, "#lobby", &["alice", "bob", "carol"]);
    c[0].send("MODE #lobby +mv carol");
    for member in c.iter_mut() {
        member.sync();
    }
    c[1].send("PRIVMSG #lobby :can anyone hear me?");
    let got = c[1].sync();
    assert_eq!(one(&got, ERR_CANNOTSENDTOCHAN).param(1), "#lobby");
    assert!(!has(&c[0].sync(), "PRIVMSG"));
    // Voiced members and ops may speak.
    c[2].send("PRIVMSG #lobby :voiced here");
    assert!(!has(&c[2].sync(), ERR_CANNOTSENDTOCHAN));
    c[0].send("PRIVMSG #lobby :op here");
    assert!(!has(&c[0].sync(), ERR_CANNOTSENDTOCHAN));
    let got = c[1].sync();
    let texts: Vec<&str> = all(&got, "PRIVMSG").iter().map(|m| m.param(1)).collect();
    assert_eq!(texts, vec!["voiced here", "op here"]);
    // -m lets everyone speak again.
    c[0].send("MODE #lobby -m");
    c[0].sync();
    c[1].send("PRIVMSG #lobby :finally");
    assert!(!has(&c[1].sync(), ERR_CANNOTSENDTOCHAN));
    c[0].expect_privmsg_from("bob", "finally");
}

#[test]
fn no_external_blocks_outsiders_with_404() {
    let server = TestServer::start();
    let mut c = channel_with(&server, "#lobby", &["alice"]);
    let mut bob = server.connect("bob");
    // New channels are +n.
    bob.send("PRIVMSG #lobby :let me in");
    assert_eq!(one(&bob.sync(), ERR_CANNOTSENDTOCHAN).param(1), "#lobby");
    assert!(!has(&c[0].sync(), "PRIVMSG"));
    c[0].send("MODE #lobby -n");
    c[0].sync();
    bob.send("PRIVMSG #lobby :hello from outside");
    assert!(!has(&bob.sync(), ERR_CANNOTSENDTOCHAN));
    c[0].expect_privmsg_from("bob", "hello from outside");
}

#[test]
fn ban_blocks_join_with_474_until_removed() {
    let server = TestServer::start();
    let mut c = channel_with(&server, "#lobby", &["alice"]);
    c[0].send("MODE #lobby +b BOB");
    c[0].sync();
    let mut bob = server.connect("bob");
    bob.send("JOIN #lobby");
    let got = bob.sync();
    assert_eq!(one(&got, ERR_BANNEDFROMCHAN).param(1), "#lobby");
    assert!(!has(&got, "JOIN"));
    assert!(!has(&c[0].sync(), "JOIN"));
    // A host mask matches too.
    c[0].send("MODE #lobby -b+b bob *!*@127.0.0.1");
    c[0].sync();
    let mut carol = server.connect("carol");
    carol.send("JOIN #lobby");
    assert!(has(&carol.sync(), ERR_BANNEDFROMCHAN));
    c[0].send("MODE #lobby -b *!*@127.0.0.1");
    c[0].sync();
    bob.send("JOIN #lobby");
    assert!(has(&bob.sync(), "JOIN"));
}

#[test]
fn banned_member_cannot_speak() {
    let server = TestServer::start();
    let mut c = channel_with(&server, "#lobby", &["alice", "bob"]);
    c[0].send("MODE #lobby +b bob!*@*");
    c[0].sync();
    c[1].sync();
    c[1].send("PRIVMSG #lobby :am I muted?");
    let got = c[1].sync();
    assert_eq!(one(&got, ERR_CANNOTSENDTOCHAN).param(1), "#lobby");
    assert!(!has(&c[0].sync(), "PRIVMSG"));
    c[0].send("MODE #lobby -b bob!*@*");
    c[0].sync();
    c[1].send("PRIVMSG #lobby :back");
    assert!(!has(&c[1].sync(), ERR_CANNOTSENDTOCHAN));
    c[0].expect_privmsg_from("bob", "back");
}

#[test]
fn invite_only_blocks_join_until_removed() {
    let server = TestServer::start();
    let mut c = channel_with(&server, "#lobby", &["alice"]);
    c[0].send("MODE #lobby +i");
    c[0].sync();
    let mut bob = server.connect("bob");
    bob.send("JOIN #lobby");
    assert!(has(&bob.sync(), ERR_INVITEONLYCHAN));
    c[0].send("MODE #lobby -i");
    c[0].sync();
    bob.send("JOIN #lobby");
    assert!(has(&bob.sync(), "JOIN"));
}

// ---- user modes ----

#[test]
fn user_mode_query_gets_221() {
    let server = TestServer::start();
    let mut alice = server.connect("alice");
    alice.send("MODE alice");
    let got = alice.sync();
    assert_eq!(one(&got, RPL_UMODEIS).params, vec!["alice", "+"]);
}

#[test]
fn user_mode_invisible_is_set_and_removed() {
    let server = TestServer::start();
    let mut alice = server.connect("alice");
    let mut bob = server.connect("bob");
    for c in [&mut alice, &mut bob] {
        c.send("JOIN #lobby");
        c.sync();
    }
    alice.send("MODE alice +i");
    let got = alice.sync();
    let m = one(&got, "MODE");
    assert_eq!(m.params, vec!["alice", "+i"]);
    assert_eq!(m.source_nick(), Some("alice"));
    assert!(!has(&bob.sync(), "MODE"), "user modes are private");
    alice.send("MODE ALICE");
    assert_eq!(one(&alice.sync(), RPL_UMODEIS).param(1), "+i");
    // Setting it again changes nothing, so nothing is sent.
    alice.send("MODE alice +i");
    assert!(!has(&alice.sync(), "MODE"));
    alice.send("MODE alice -i");
    assert_eq!(one(&alice.sync(), "MODE").params, vec!["alice", "-i"]);
    alice.send("MODE alice");
    assert_eq!(one(&alice.sync(), RPL_UMODEIS).param(1), "+");
}

#[test]
fn user_mode_of_other_user_gets_502() {
    let server = TestServer::start();
    let mut alice = server.connect("alice");
    let mut bob = server.connect("bob");
    for line in ["MODE bob", "MODE bob +i"] {
        alice.send(line);
        let got = alice.sync();
        assert!(has(&got, ERR_USERSDONTMATCH), "{line}: {got:#?}");
        assert!(!has(&got, RPL_UMODEIS) && !has(&got, "MODE"));
    }
    bob.send("MODE bob");
    assert_eq!(one(&bob.sync(), RPL_UMODEIS).param(1), "+");
    alice.send("MODE ghost");
    assert_eq!(one(&alice.sync(), ERR_NOSUCHNICK).param(1), "ghost");
}

#[test]
fn unknown_user_mode_flag_gets_501() {
    let server = TestServer::start();
    let mut alice = server.connect("alice");
    alice.send("MODE alice +Q");
    let got = alice.sync();
    assert!(has(&got, ERR_UMODEUNKNOWNFLAG), "{got:#?}");
    assert!(!has(&got, "MODE"));
    // Known flags next to an unknown one still apply.
    alice.send("MODE alice +iQ");
    let got = alice.sync();
    assert!(has(&got, ERR_UMODEUNKNOWNFLAG));
    assert_eq!(one(&got, "MODE").params, vec!["alice", "+i"]);
}

#[test]
fn nick_arguments_are_case_insensitive_and_shown_as_spelled_by_their_owner() {
    let server = TestServer::start();
    let mut c = channel_with(&server, "#lobby", &["alice", "Bob"]);
    set_and_see(&mut c, "MODE #lobby +o BOB", &["#lobby", "+o", "Bob"]);
    // Already op: nothing to change, nothing sent.
    c[0].send("MODE #lobby +o bob");
    assert!(!has(&c[0].sync(), "MODE"));
    assert!(!has(&c[1].sync(), "MODE"));
}

#[test]
fn changes_with_a_parameter_past_modes_are_ignored() {
    // ISUPPORT MODES=3: +k, +l, +v and +b all take a parameter; the fourth is dropped,
    // while parameterless flags still apply.
    let server = TestServer::start_with(|config| config.limits.modes_per_command = 3);
    let mut c = channel_with(&server, "#lobby", &["alice", "bob"]);
    set_and_see(
        &mut c,
        "MODE #lobby +klvmb sesame 5 bob *!*@evil",
        &["#lobby", "+klvm", "sesame", "5", "bob"],
    );
    c[0].send("MODE #lobby +b");
    let got = c[0].sync();
    assert!(
        !has(&got, RPL_BANLIST),
        "the ban past the budget was applied: {got:?}"
    );
}

/// Issue 16: a rejected parameter that is empty or holds a space is never echoed as a
/// middle parameter (RFC 1459 §2.3.1: middles are non-empty and space-free), so the
/// 696 line (https://modern.ircdocs.horse/#errinvalidmodeparam-696) keeps its five
/// parameters with `*` in place of the bad value.
#[test]
fn invalid_mode_params_with_spaces_or_nothing_are_shown_as_a_star() {
    let server = TestServer::start();
    let mut c = channel_with(&server, "#lobby", &["alice", "bob"]);
    for (line, letter) in [
        ("MODE #lobby +k :", "k"),
        ("MODE #lobby +k :open sesame", "k"),
        ("MODE #lobby +k ::colon", "k"),
        ("MODE #lobby +l :", "l"),
        ("MODE #lobby +l :1 2", "l"),
    ] {
        c[0].send(line);
        let got = c[0].sync();
        let e = one(&got, ERR_INVALIDMODEPARAM);
        assert_eq!(e.params.len(), 5, "{line}: {e}");
        assert_eq!(e.params[1..4], ["#lobby", letter, "*"][..], "{line}");
        assert!(!has(&got, "MODE"), "{line}: {got:#?}");
    }
    assert!(!has(&c[1].sync(), "MODE"));
    assert_eq!(modes_of(&mut c[0], "#lobby"), vec!["#lobby", "+nt"]);
}
