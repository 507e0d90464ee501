//! Channel operations, RFC 2812 §3.2.1 JOIN, §3.2.2 PART, §3.2.4 TOPIC, §3.2.5 NAMES,
//! §3.2.6 LIST, §3.2.7 INVITE and §3.2.8 KICK, as modern.ircdocs.horse describes them.
//! Channel `MODE` is in `mode.rs`.

use chatd_proto::numeric::*;
use chatd_proto::Message;
use chatd_tests::*;

/// The nicks (with prefixes) of every 353 in `got` for `chan`, sorted.
fn names_in(got: &[Message], chan: &str) -> Vec<String> {
    let mut names: Vec<String> = all(got, RPL_NAMREPLY)
        .into_iter()
        .filter(|m| m.param(2) == chan)
        .flat_map(|m| m.param(3).split(' ').map(str::to_string))
        .filter(|n| !n.is_empty())
        .collect();
    names.sort();
    names
}

// ---- JOIN ----

#[test]
fn join_creates_channel_with_creator_as_operator() {
    let server = TestServer::start();
    let mut alice = server.connect("alice");
    alice.send("JOIN #lobby");
    let got = alice.sync();
    let join = one(&got, "JOIN");
    assert_eq!(join.source_nick(), Some("alice"));
    assert_eq!(join.param(0), "#lobby");
    assert_eq!(names_in(&got, "#lobby"), vec!["@alice"]);
    let end = one(&got, RPL_ENDOFNAMES);
    assert_eq!(end.param(0), "alice");
    assert_eq!(end.param(1), "#lobby");
    assert!(!has(&got, RPL_TOPIC), "no topic yet: {got:#?}");
    assert_eq!(
        commands(&got),
        vec!["JOIN", RPL_NAMREPLY, RPL_ENDOFNAMES],
        "JOIN then NAMES"
    );
}

#[test]
fn join_is_sent_to_every_member_and_joiner_gets_names() {
    let server = TestServer::start();
    let mut c = channel_with(&server, "#lobby", &["alice", "bob"]);
    let mut carol = server.connect("carol");
    carol.send("JOIN #lobby");
    let got = carol.sync();
    assert_eq!(one(&got, "JOIN").source_nick(), Some("carol"));
    assert_eq!(names_in(&got, "#lobby"), vec!["@alice", "bob", "carol"]);
    assert!(has(&got, RPL_ENDOFNAMES));
    for member in &mut c {
        let got = member.sync();
        let join = one(&got, "JOIN");
        assert_eq!(join.source_nick(), Some("carol"));
        assert_eq!(join.param(0), "#lobby");
        assert!(
            join.source.as_deref().unwrap_or("").contains('!'),
            "full source"
        );
        assert!(!has(&got, RPL_NAMREPLY), "members get no NAMES: {got:#?}");
    }
}

#[test]
fn join_sends_topic_332_333_before_names() {
    let server = TestServer::start();
    let mut c = channel_with(&server, "#lobby", &["alice"]);
    c[0].send("TOPIC #lobby :welcome all");
    c[0].expect_command("TOPIC");
    let mut bob = server.connect("bob");
    bob.send("JOIN #lobby");
    let got = bob.sync();
    assert_eq!(
        commands(&got),
        vec![
            "JOIN",
            RPL_TOPIC,
            RPL_TOPICWHOTIME,
            RPL_NAMREPLY,
            RPL_ENDOFNAMES
        ]
    );
    let topic = one(&got, RPL_TOPIC);
    assert_eq!(topic.params, vec!["bob", "#lobby", "welcome all"]);
    let who = one(&got, RPL_TOPICWHOTIME);
    assert_eq!(who.param(1), "#lobby");
    assert!(who.param(2).starts_with("alice"), "setter: {who:?}");
    assert!(who.param(3).parse::<i64>().unwrap() > 0, "time: {who:?}");
}

#[test]
fn join_several_channels_at_once() {
    let server = TestServer::start();
    let mut alice = server.connect("alice");
    alice.send("JOIN #one,#two,#three");
    let got = alice.sync();
    let joined: Vec<&str> = all(&got, "JOIN").iter().map(|m| m.param(0)).collect();
    assert_eq!(joined, vec!["#one", "#two", "#three"]);
    assert_eq!(all(&got, RPL_ENDOFNAMES).len(), 3);
    assert_eq!(names_in(&got, "#two"), vec!["@alice"]);
}

#[test]
fn join_with_keys_matches_keys_to_channels_in_order() {
    let server = TestServer::start();
    let mut alice = server.connect("alice");
    alice.send("JOIN #a,#b,#open");
    alice.send("MODE #a +k akey");
    alice.send("MODE #b +k bkey");
    alice.sync();
    let mut bob = server.connect("bob");
    bob.send("JOIN #a,#b,#open akey,bkey");
    let got = bob.sync();
    let joined: Vec<&str> = all(&got, "JOIN").iter().map(|m| m.param(0)).collect();
    assert_eq!(joined, vec!["#a", "#b", "#open"]);
    assert!(!has(&got, ERR_BADCHANNELKEY), "{got:#?}");
}

#[test]
fn join_with_wrong_or_missing_key_gets_475() {
    let server = TestServer::start();
    let mut c = channel_with(&server, "#vault", &["alice"]);
    c[0].send("MODE #vault +k sesame");
    c[0].sync();
    let mut bob = server.connect("bob");
    for line in ["JOIN #vault", "JOIN #vault wrong"] {
        bob.send(line);
        let got = bob.sync();
        let e = one(&got, ERR_BADCHANNELKEY);
        assert_eq!(e.param(1), "#vault");
        assert!(!has(&got, "JOIN"), "{line}: {got:#?}");
    }
    bob.send("JOIN #vault sesame");
    let got = bob.sync();
    assert_eq!(one(&got, "JOIN").param(0), "#vault");
    assert!(has(&c[0].sync(), "JOIN"));
}

#[test]
fn join_zero_parts_every_channel() {
    let server = TestServer::start();
    let mut alice = server.connect("alice");
    alice.send("JOIN #a,#b");
    alice.sync();
    let mut bob = server.connect("bob");
    bob.send("JOIN #a,#b");
    bob.sync();
    alice.sync();
    bob.send("JOIN 0");
    let got = bob.sync();
    let mut parted: Vec<&str> = all(&got, "PART").iter().map(|m| m.param(0)).collect();
    parted.sort();
    assert_eq!(parted, vec!["#a", "#b"]);
    let got = alice.sync();
    let parts = all(&got, "PART");
    assert_eq!(parts.len(), 2, "{got:#?}");
    assert!(parts.iter().all(|m| m.source_nick() == Some("bob")));
    alice.send("NAMES #a,#b");
    let got = alice.sync();
    assert_eq!(names_in(&got, "#a"), vec!["@alice"]);
    assert_eq!(names_in(&got, "#b"), vec!["@alice"]);
}

#[test]
fn join_twice_is_a_no_op() {
    let server = TestServer::start();
    let mut c = channel_with(&server, "#lobby", &["alice", "bob"]);
    c[1].send("JOIN #lobby");
    let got = c[1].sync();
    assert!(!has(&got, "JOIN"), "{got:#?}");
    let got = c[0].sync();
    assert!(!has(&got, "JOIN"), "{got:#?}");
}

#[test]
fn channel_names_are_case_insensitive_and_keep_the_creators_spelling() {
    let server = TestServer::start();
    let mut c = channel_with(&server, "#Lobby", &["alice"]);
    let mut bob = server.connect("bob");
    bob.send("JOIN #LOBBY");
    let got = bob.sync();
    assert_eq!(one(&got, "JOIN").param(0), "#Lobby");
    assert_eq!(names_in(&got, "#Lobby"), vec!["@alice", "bob"]);
    assert_eq!(one(&c[0].sync(), "JOIN").param(0), "#Lobby");
}

#[test]
fn join_bad_channel_name_gets_476() {
    let server = TestServer::start();
    let mut alice = server.connect("alice");
    let long = format!("#{}", "x".repeat(server.config.limits.channel_len));
    for name in ["lobby", "#", "&local", long.as_str()] {
        alice.send(&format!("JOIN {name}"));
        let got = alice.sync();
        let e = one(&got, ERR_BADCHANMASK);
        assert_eq!(e.param(1), name);
        assert!(!has(&got, "JOIN"), "{name}: {got:#?}");
    }
}

#[test]
fn join_past_channels_per_user_gets_405() {
    let server = TestServer::start_with(|config| config.limits.channels_per_user = 2);
    let mut alice = server.connect("alice");
    alice.send("JOIN #one,#two,#three");
    let got = alice.sync();
    assert_eq!(all(&got, "JOIN").len(), 2, "{got:#?}");
    assert_eq!(one(&got, ERR_TOOMANYCHANNELS).param(1), "#three");
    // Leaving one makes room again.
    alice.send("PART #one");
    alice.send("JOIN #three");
    let got = alice.sync();
    assert_eq!(one(&got, "JOIN").param(0), "#three");
    assert!(!has(&got, ERR_TOOMANYCHANNELS));
}

#[test]
fn join_full_channel_gets_471() {
    let server = TestServer::start();
    let mut c = channel_with(&server, "#small", &["alice", "bob"]);
    c[0].send("MODE #small +l 2");
    c[0].sync();
    let mut carol = server.connect("carol");
    carol.send("JOIN #small");
    let got = carol.sync();
    assert_eq!(one(&got, ERR_CHANNELISFULL).param(1), "#small");
    assert!(!has(&got, "JOIN"));
    c[1].send("PART #small");
    c[1].sync();
    carol.send("JOIN #small");
    assert_eq!(one(&carol.sync(), "JOIN").param(0), "#small");
}

#[test]
fn join_invite_only_channel_gets_473() {
    let server = TestServer::start();
    let mut c = channel_with(&server, "#club", &["alice"]);
    c[0].send("MODE #club +i");
    c[0].sync();
    let mut bob = server.connect("bob");
    bob.send("JOIN #club");
    let got = bob.sync();
    assert_eq!(one(&got, ERR_INVITEONLYCHAN).param(1), "#club");
    assert!(!has(&got, "JOIN"));
    assert!(!has(&c[0].sync(), "JOIN"));
}

#[test]
fn join_when_banned_gets_474() {
    let server = TestServer::start();
    let mut c = channel_with(&server, "#club", &["alice"]);
    c[0].send("MODE #club +b bob!*@*");
    c[0].sync();
    let mut bob = server.connect("bob");
    bob.send("JOIN #club");
    let got = bob.sync();
    assert_eq!(one(&got, ERR_BANNEDFROMCHAN).param(1), "#club");
    assert!(!has(&got, "JOIN"));
    let mut carol = server.connect("carol");
    carol.send("JOIN #club");
    assert!(has(&carol.sync(), "JOIN"), "the ban is for bob only");
}

// ---- PART ----

#[test]
fn part_with_reason_is_seen_by_members() {
    let server = TestServer::start();
    let mut c = channel_with(&server, "#lobby", &["alice", "bob"]);
    c[1].send("PART #lobby :off to lunch");
    let got = c[1].sync();
    let part = one(&got, "PART");
    assert_eq!(part.source_nick(), Some("bob"));
    assert_eq!(part.params, vec!["#lobby", "off to lunch"]);
    let got = c[0].sync();
    let part = one(&got, "PART");
    assert_eq!(part.source_nick(), Some("bob"));
    assert_eq!(part.params, vec!["#lobby", "off to lunch"]);
    c[0].send("NAMES #lobby");
    assert_eq!(names_in(&c[0].sync(), "#lobby"), vec!["@alice"]);
    // Bob no longer gets the channel's messages.
    c[0].send("PRIVMSG #lobby :still here?");
    c[0].sync();
    let got = c[1].sync();
    assert!(!has(&got, "PRIVMSG"), "{got:#?}");
}

#[test]
fn part_without_reason_and_several_channels() {
    let server = TestServer::start();
    let mut alice = server.connect("alice");
    alice.send("JOIN #a,#b");
    alice.sync();
    alice.send("PART #a,#b");
    let got = alice.sync();
    let parts = all(&got, "PART");
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0].params, vec!["#a"]);
    assert_eq!(parts[1].params, vec!["#b"]);
}

#[test]
fn part_errors_403_and_442() {
    let server = TestServer::start();
    let _c = channel_with(&server, "#lobby", &["alice"]);
    let mut bob = server.connect("bob");
    bob.send("PART #nowhere");
    assert_eq!(one(&bob.sync(), ERR_NOSUCHCHANNEL).param(1), "#nowhere");
    bob.send("PART #lobby");
    let got = bob.sync();
    assert_eq!(one(&got, ERR_NOTONCHANNEL).param(1), "#lobby");
    assert!(!has(&got, "PART"));
}

#[test]
fn last_part_destroys_channel_and_next_joiner_is_op() {
    let server = TestServer::start();
    let mut c = channel_with(&server, "#lobby", &["alice", "bob"]);
    c[0].send("TOPIC #lobby :old topic");
    c[0].sync();
    c[0].send("PART #lobby");
    c[1].sync();
    c[1].send("PART #lobby");
    c[1].sync();
    c[0].send("LIST");
    let got = c[0].sync();
    assert!(!has(&got, RPL_LIST), "channel gone: {got:#?}");
    c[1].send("JOIN #lobby");
    let got = c[1].sync();
    assert_eq!(names_in(&got, "#lobby"), vec!["@bob"]);
    assert!(
        !has(&got, RPL_TOPIC),
        "a new channel has no topic: {got:#?}"
    );
}

// ---- TOPIC ----

#[test]
fn topic_query_without_topic_gets_331() {
    let server = TestServer::start();
    let mut c = channel_with(&server, "#lobby", &["alice"]);
    c[0].send("TOPIC #lobby");
    let got = c[0].sync();
    let e = one(&got, RPL_NOTOPIC);
    assert_eq!(e.param(1), "#lobby");
    assert!(!has(&got, RPL_TOPIC));
}

#[test]
fn topic_set_is_broadcast_and_queried_with_332_333() {
    let server = TestServer::start();
    let mut c = channel_with(&server, "#lobby", &["alice", "bob"]);
    c[0].send("TOPIC #lobby :Release on Friday");
    for member in &mut c {
        let got = member.sync();
        let t = one(&got, "TOPIC");
        assert_eq!(t.source_nick(), Some("alice"));
        assert_eq!(t.params, vec!["#lobby", "Release on Friday"]);
    }
    // Members and outsiders may both read the topic.
    let mut carol = server.connect("carol");
    for client in [&mut c[1], &mut carol] {
        client.send("TOPIC #lobby");
        let got = client.sync();
        assert_eq!(one(&got, RPL_TOPIC).param(2), "Release on Friday");
        let who = one(&got, RPL_TOPICWHOTIME);
        assert_eq!(who.param(1), "#lobby");
        assert!(who.param(2).starts_with("alice"), "{who:?}");
        assert!(who.param(3).parse::<i64>().is_ok(), "{who:?}");
    }
}

#[test]
fn topic_can_be_cleared() {
    let server = TestServer::start();
    let mut c = channel_with(&server, "#lobby", &["alice", "bob"]);
    c[0].send("TOPIC #lobby :something");
    c[0].sync();
    c[0].send("TOPIC #lobby :");
    let got = c[1].sync();
    assert_eq!(
        all(&got, "TOPIC").last().unwrap().params,
        vec!["#lobby", ""]
    );
    c[0].sync();
    c[0].send("TOPIC #lobby");
    assert!(has(&c[0].sync(), RPL_NOTOPIC));
}

#[test]
fn topic_is_cut_to_topiclen() {
    let server = TestServer::start_with(|config| config.limits.topic_len = 10);
    let mut c = channel_with(&server, "#lobby", &["alice"]);
    c[0].send("TOPIC #lobby :0123456789abcdef");
    assert_eq!(one(&c[0].sync(), "TOPIC").param(1), "0123456789");
}

#[test]
fn topic_on_plus_t_channel_needs_op() {
    let server = TestServer::start();
    let mut c = channel_with(&server, "#lobby", &["alice", "bob"]);
    // New channels are +t.
    c[1].send("TOPIC #lobby :bob was here");
    let got = c[1].sync();
    assert_eq!(one(&got, ERR_CHANOPRIVSNEEDED).param(1), "#lobby");
    assert!(!has(&got, "TOPIC"));
    assert!(!has(&c[0].sync(), "TOPIC"));
    c[0].send("MODE #lobby -t");
    c[0].sync();
    c[1].sync();
    c[1].send("TOPIC #lobby :bob was here");
    let got = c[1].sync();
    assert!(!has(&got, ERR_CHANOPRIVSNEEDED), "{got:#?}");
    assert_eq!(one(&got, "TOPIC").param(1), "bob was here");
    assert_eq!(one(&c[0].sync(), "TOPIC").param(1), "bob was here");
}

#[test]
fn topic_errors_442_and_403() {
    let server = TestServer::start();
    let mut c = channel_with(&server, "#lobby", &["alice"]);
    c[0].send("MODE #lobby -t");
    c[0].sync();
    let mut bob = server.connect("bob");
    bob.send("TOPIC #lobby :drive-by");
    let got = bob.sync();
    assert_eq!(one(&got, ERR_NOTONCHANNEL).param(1), "#lobby");
    assert!(!has(&c[0].sync(), "TOPIC"));
    bob.send("TOPIC #nowhere");
    assert_eq!(one(&bob.sync(), ERR_NOSUCHCHANNEL).param(1), "#nowhere");
    bob.send("TOPIC #nowhere :hi");
    assert_eq!(one(&bob.sync(), ERR_NOSUCHCHANNEL).param(1), "#nowhere");
}

// ---- NAMES ----

#[test]
fn names_lists_members_with_highest_prefix() {
    let server = TestServer::start();
    let mut c = channel_with(&server, "#lobby", &["alice", "bob", "carol"]);
    c[0].send("MODE #lobby +v bob");
    c[0].send("MODE #lobby +v alice");
    c[0].sync();
    c[2].send("NAMES #lobby");
    let got = c[2].sync();
    let reply = one(&got, RPL_NAMREPLY);
    assert_eq!(reply.param(0), "carol");
    assert_eq!(reply.param(1), "=");
    assert_eq!(reply.param(2), "#lobby");
    assert_eq!(names_in(&got, "#lobby"), vec!["+bob", "@alice", "carol"]);
    let end = one(&got, RPL_ENDOFNAMES);
    assert_eq!(end.param(1), "#lobby");
}

#[test]
fn names_with_multi_prefix_shows_every_prefix() {
    let server = TestServer::start();
    let mut c = channel_with(&server, "#lobby", &["alice"]);
    c[0].send("MODE #lobby +v alice");
    c[0].sync();
    let mut bob = server.connect_with_caps("bob", "multi-prefix");
    join(&mut bob, "#lobby");
    bob.send("NAMES #lobby");
    assert_eq!(names_in(&bob.sync(), "#lobby"), vec!["@+alice", "bob"]);
    c[0].send("NAMES #lobby");
    assert_eq!(names_in(&c[0].sync(), "#lobby"), vec!["@alice", "bob"]);
    // The multi-prefix form is also used in the NAMES sent on JOIN.
    let mut carol = server.connect_with_caps("carol", "multi-prefix");
    carol.send("JOIN #lobby");
    assert_eq!(
        names_in(&carol.sync(), "#lobby"),
        vec!["@+alice", "bob", "carol"]
    );
}

#[test]
fn names_of_several_and_unknown_channels() {
    let server = TestServer::start();
    let mut alice = server.connect("alice");
    alice.send("JOIN #a,#b");
    alice.sync();
    let mut bob = server.connect("bob");
    join(&mut bob, "#b");
    bob.send("NAMES #a,#b,#nowhere");
    let got = bob.sync();
    assert_eq!(names_in(&got, "#a"), vec!["@alice"]);
    assert_eq!(names_in(&got, "#b"), vec!["@alice", "bob"]);
    let ends: Vec<&str> = all(&got, RPL_ENDOFNAMES)
        .iter()
        .map(|m| m.param(1))
        .collect();
    assert_eq!(ends, vec!["#a", "#b", "#nowhere"]);
    assert!(names_in(&got, "#nowhere").is_empty());
}

// ---- LIST ----

#[test]
fn list_shows_channels_with_user_counts_and_topics() {
    let server = TestServer::start();
    let mut c = channel_with(&server, "#busy", &["alice", "bob"]);
    c[0].send("TOPIC #busy :lots going on");
    c[0].send("JOIN #quiet");
    c[0].sync();
    let mut carol = server.connect("carol");
    carol.send("LIST");
    let got = carol.sync();
    let cmds = commands(&got);
    assert_eq!(cmds.first(), Some(&RPL_LISTSTART), "{got:#?}");
    assert_eq!(cmds.last(), Some(&RPL_LISTEND), "{got:#?}");
    let rows = all(&got, RPL_LIST);
    assert_eq!(rows.len(), 2, "{got:#?}");
    let busy = rows.iter().find(|m| m.param(1) == "#busy").unwrap();
    assert_eq!(busy.params, vec!["carol", "#busy", "2", "lots going on"]);
    let quiet = rows.iter().find(|m| m.param(1) == "#quiet").unwrap();
    assert_eq!(quiet.param(2), "1");
    assert_eq!(quiet.param(3), "");
}

#[test]
fn list_with_channel_argument_shows_only_those() {
    let server = TestServer::start();
    let mut alice = server.connect("alice");
    alice.send("JOIN #a,#b,#c");
    alice.sync();
    alice.send("LIST #a,#C");
    let got = alice.sync();
    let mut listed: Vec<&str> = all(&got, RPL_LIST).iter().map(|m| m.param(1)).collect();
    listed.sort();
    assert_eq!(listed, vec!["#a", "#c"]);
    assert!(has(&got, RPL_LISTSTART) && has(&got, RPL_LISTEND));
}

// ---- KICK ----

#[test]
fn kick_removes_member_and_is_seen_by_every_member() {
    let server = TestServer::start();
    let mut c = channel_with(&server, "#lobby", &["alice", "bob", "carol"]);
    c[0].send("KICK #lobby bob :be nice");
    for member in &mut c {
        let got = member.sync();
        let kick = one(&got, "KICK");
        assert_eq!(kick.source_nick(), Some("alice"));
        assert_eq!(kick.params, vec!["#lobby", "bob", "be nice"]);
    }
    c[0].send("NAMES #lobby");
    assert_eq!(names_in(&c[0].sync(), "#lobby"), vec!["@alice", "carol"]);
    // Bob is out: channel messages no longer reach him.
    c[2].send("PRIVMSG #lobby :bye bob");
    c[2].sync();
    assert!(!has(&c[1].sync(), "PRIVMSG"));
    // And he may come back.
    c[1].send("JOIN #lobby");
    assert!(has(&c[1].sync(), "JOIN"));
}

#[test]
fn kick_without_reason_uses_kicker_nick_and_takes_several_nicks() {
    let server = TestServer::start();
    let mut c = channel_with(&server, "#lobby", &["alice", "bob", "carol"]);
    c[0].send("KICK #lobby bob,carol");
    let got = c[0].sync();
    let kicks = all(&got, "KICK");
    assert_eq!(kicks.len(), 2, "{got:#?}");
    assert_eq!(kicks[0].params, vec!["#lobby", "bob", "alice"]);
    assert_eq!(kicks[1].params, vec!["#lobby", "carol", "alice"]);
    c[0].send("NAMES #lobby");
    assert_eq!(names_in(&c[0].sync(), "#lobby"), vec!["@alice"]);
}

/// RFC 2812 §3.2.8: "KICK #a,#b x,y" kicks x from #a and y from #b (issue 16: it
/// answered 403 for "#a,#b").
#[test]
fn kick_pairs_several_channels_with_as_many_nicks() {
    let server = TestServer::start();
    let mut a = channel_with(&server, "#a", &["alice", "bob"]);
    let mut carol = server.connect("carol");
    carol.join("#b");
    a[0].join("#b");
    carol.send("MODE #b +o alice");
    carol.sync();
    a[0].sync();
    a[0].send("KICK #a,#b bob,carol :out");
    let got = a[0].sync();
    let kicks: Vec<Vec<String>> = all(&got, "KICK").iter().map(|m| m.params.clone()).collect();
    assert_eq!(
        kicks,
        vec![
            vec!["#a".to_string(), "bob".into(), "out".into()],
            vec!["#b".to_string(), "carol".into(), "out".into()],
        ],
        "{got:#?}"
    );
    assert!(!has(&got, ERR_NOSUCHCHANNEL), "{got:#?}");
    a[0].send("NAMES #a,#b");
    let got = a[0].sync();
    assert_eq!(names_in(&got, "#a"), vec!["@alice"]);
    assert_eq!(names_in(&got, "#b"), vec!["@alice"]);
}

/// RFC 2812 §3.2.8: with several channels, the nicks must be as many (461 otherwise,
/// and nobody is kicked).
#[test]
fn kick_with_unmatched_channels_and_nicks_gets_461() {
    let server = TestServer::start();
    let mut c = channel_with(&server, "#a", &["alice", "bob", "carol"]);
    c[0].send("KICK #a,#a bob,carol,alice");
    let got = c[0].sync();
    assert_eq!(one(&got, ERR_NEEDMOREPARAMS).param(1), "KICK");
    assert!(!has(&got, "KICK"));
    assert!(!has(&c[1].sync(), "KICK"));
}

#[test]
fn kick_reason_is_cut_to_kicklen() {
    let server = TestServer::start_with(|config| config.limits.kick_len = 5);
    let mut c = channel_with(&server, "#lobby", &["alice", "bob"]);
    c[0].send("KICK #lobby bob :goodbye forever");
    assert_eq!(one(&c[1].sync(), "KICK").param(2), "goodb");
}

#[test]
fn kick_by_non_operator_gets_482() {
    let server = TestServer::start();
    let mut c = channel_with(&server, "#lobby", &["alice", "bob"]);
    c[1].send("KICK #lobby alice");
    let got = c[1].sync();
    assert_eq!(one(&got, ERR_CHANOPRIVSNEEDED).param(1), "#lobby");
    assert!(!has(&got, "KICK"));
    assert!(!has(&c[0].sync(), "KICK"));
    c[0].send("NAMES #lobby");
    assert_eq!(names_in(&c[0].sync(), "#lobby"), vec!["@alice", "bob"]);
}

#[test]
fn kick_errors_441_442_403_401() {
    let server = TestServer::start();
    let mut c = channel_with(&server, "#lobby", &["alice"]);
    let mut bob = server.connect("bob");
    c[0].send("KICK #lobby bob");
    let got = c[0].sync();
    let e = one(&got, ERR_USERNOTINCHANNEL);
    assert_eq!((e.param(1), e.param(2)), ("bob", "#lobby"));
    assert!(!has(&got, "KICK"));
    bob.send("KICK #lobby alice");
    assert_eq!(one(&bob.sync(), ERR_NOTONCHANNEL).param(1), "#lobby");
    bob.send("KICK #nowhere alice");
    assert_eq!(one(&bob.sync(), ERR_NOSUCHCHANNEL).param(1), "#nowhere");
    c[0].send("KICK #lobby ghost");
    assert_eq!(one(&c[0].sync(), ERR_NOSUCHNICK).param(1), "ghost");
}

// ---- INVITE ----

#[test]
fn invite_replies_341_and_only_the_target_sees_invite() {
    let server = TestServer::start();
    let mut c = channel_with(&server, "#lobby", &["alice", "carol"]);
    let mut bob = server.connect("bob");
    c[0].send("INVITE bob #lobby");
    let got = c[0].sync();
    let r = one(&got, RPL_INVITING);
    assert_eq!(r.params, vec!["alice", "bob", "#lobby"]);
    assert!(!has(&got, "INVITE"));
    let got = bob.sync();
    let inv = one(&got, "INVITE");
    assert_eq!(inv.source_nick(), Some("alice"));
    assert_eq!(inv.params, vec!["bob", "#lobby"]);
    assert!(!has(&c[1].sync(), "INVITE"), "other members are not told");
}

#[test]
fn invite_of_away_user_also_gets_301() {
    let server = TestServer::start();
    let mut c = channel_with(&server, "#lobby", &["alice"]);
    let mut bob = server.connect("bob");
    bob.send("AWAY :at lunch");
    bob.sync();
    c[0].send("INVITE bob #lobby");
    let got = c[0].sync();
    assert!(has(&got, RPL_INVITING));
    let away = one(&got, RPL_AWAY);
    assert_eq!((away.param(1), away.param(2)), ("bob", "at lunch"));
    assert!(has(&bob.sync(), "INVITE"));
}

#[test]
fn invite_lets_user_past_invite_only_once() {
    let server = TestServer::start();
    let mut c = channel_with(&server, "#club", &["alice"]);
    c[0].send("MODE #club +i");
    c[0].sync();
    let mut bob = server.connect("bob");
    c[0].send("INVITE bob #club");
    c[0].sync();
    bob.expect_command("INVITE");
    bob.send("JOIN #club");
    let got = bob.sync();
    assert_eq!(one(&got, "JOIN").param(0), "#club");
    assert!(!has(&got, ERR_INVITEONLYCHAN));
    // The invite was used up by that join.
    bob.send("PART #club");
    bob.send("JOIN #club");
    let got = bob.sync();
    assert!(has(&got, ERR_INVITEONLYCHAN), "{got:#?}");
    assert!(!has(&got, "JOIN"));
}

#[test]
fn invite_to_invite_only_channel_needs_op() {
    let server = TestServer::start();
    let mut c = channel_with(&server, "#club", &["alice", "bob"]);
    c[0].send("MODE #club +i");
    c[0].sync();
    let mut carol = server.connect("carol");
    c[1].send("INVITE carol #club");
    let got = c[1].sync();
    assert_eq!(one(&got, ERR_CHANOPRIVSNEEDED).param(1), "#club");
    assert!(!has(&got, RPL_INVITING));
    assert!(!has(&carol.sync(), "INVITE"));
}

#[test]
fn invite_errors_443_442_401_403() {
    let server = TestServer::start();
    let mut c = channel_with(&server, "#lobby", &["alice", "bob"]);
    c[0].send("INVITE bob #lobby");
    let got = c[0].sync();
    let e = one(&got, ERR_USERONCHANNEL);
    assert_eq!((e.param(1), e.param(2)), ("bob", "#lobby"));
    assert!(!has(&got, RPL_INVITING));
    assert!(!has(&c[1].sync(), "INVITE"));

    let mut carol = server.connect("carol");
    let mut dave = server.connect("dave");
    carol.send("INVITE dave #lobby");
    let got = carol.sync();
    assert_eq!(one(&got, ERR_NOTONCHANNEL).param(1), "#lobby");
    assert!(!has(&dave.sync(), "INVITE"));

    c[0].send("INVITE ghost #lobby");
    assert_eq!(one(&c[0].sync(), ERR_NOSUCHNICK).param(1), "ghost");
    c[0].send("INVITE dave #nowhere");
    assert_eq!(one(&c[0].sync(), ERR_NOSUCHCHANNEL).param(1), "#nowhere");
}

// ---- parameters ----

#[test]
fn channel_commands_without_parameters_get_461() {
    let server = TestServer::start();
    let mut alice = server.connect("alice");
    for line in ["JOIN", "PART", "TOPIC", "KICK #lobby", "INVITE bob"] {
        alice.send(line);
        let got = alice.sync();
        let e = one(&got, ERR_NEEDMOREPARAMS);
        let cmd = line.split(' ').next().unwrap();
        assert_eq!(e.param(1), cmd, "{line}");
    }
}

#[test]
fn invite_follows_the_client_across_a_nick_change() {
    let server = TestServer::start();
    let mut c = channel_with(&server, "#club", &["alice"]);
    c[0].send("MODE #club +i");
    c[0].sync();
    let mut bob = server.connect("bob");
    c[0].send("INVITE bob #club");
    c[0].sync();
    bob.expect_command("INVITE");
    bob.send("NICK robert");
    bob.expect_command("NICK");
    bob.send("JOIN #club");
    let got = bob.sync();
    assert!(!has(&got, ERR_INVITEONLYCHAN), "{got:#?}");
    assert_eq!(one(&got, "JOIN").source_nick(), Some("robert"));
}

#[test]
fn invite_is_not_inherited_by_a_new_client_with_the_same_nick() {
    let server = TestServer::start();
    let mut c = channel_with(&server, "#club", &["alice"]);
    c[0].send("MODE #club +i");
    c[0].sync();
    let mut bob = server.connect("bob");
    c[0].send("INVITE bob #club");
    c[0].sync();
    bob.expect_command("INVITE");
    bob.quit();
    c[0].sync();
    let mut impostor = server.connect("bob");
    impostor.send("JOIN #club");
    let got = impostor.sync();
    assert!(has(&got, ERR_INVITEONLYCHAN), "{got:#?}");
    assert!(!has(&got, "JOIN"));
}

#[test]
fn long_names_lists_are_split_into_lines_that_fit() {
    let server = TestServer::start();
    let mut clients = Vec::new();
    let mut want = Vec::new();
    for i in 0..40 {
        let nick = format!("member_with_a_long_nick_{i:02}");
        let mut c = server.connect(&nick);
        join(&mut c, "#crowd");
        want.push(if i == 0 { format!("@{nick}") } else { nick });
        clients.push(c);
    }
    let last = clients.last_mut().unwrap();
    last.send("NAMES #crowd");
    let got = last.sync();
    let replies = all(&got, RPL_NAMREPLY);
    assert!(replies.len() > 1, "split into several 353s");
    for r in &replies {
        assert!(r.to_line().len() <= 512, "353 too long: {r:?}");
    }
    want.sort();
    assert_eq!(names_in(&got, "#crowd"), want);
    assert_eq!(one(&got, RPL_ENDOFNAMES).param(1), "#crowd");
}

#[test]
fn names_hides_invisible_users_from_non_members() {
    let server = TestServer::start();
    let mut c = channel_with(&server, "#lobby", &["alice", "bob"]);
    c[1].send("MODE bob +i");
    c[1].sync();
    let mut carol = server.connect("carol");
    carol.send("NAMES #lobby");
    let got = carol.sync();
    assert_eq!(names_in(&got, "#lobby"), vec!["@alice"]);
    assert!(has(&got, RPL_ENDOFNAMES));
    // Members see everyone.
    c[0].send("NAMES #lobby");
    assert_eq!(names_in(&c[0].sync(), "#lobby"), vec!["@alice", "bob"]);
    carol.send("JOIN #lobby");
    assert_eq!(
        names_in(&carol.sync(), "#lobby"),
        vec!["@alice", "bob", "carol"]
    );
}
