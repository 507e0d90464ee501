//! STATUSMSG, https://modern.ircdocs.horse/#statusmsg-parameter: `PRIVMSG @#chan`
//! reaches the channel's operators, `+#chan` its voiced members and operators;
//! ISUPPORT `STATUSMSG=~@%+`. Such messages are not kept in the channel's history.

use chatd_proto::numeric::*;
use chatd_tests::*;

/// https://modern.ircdocs.horse/#statusmsg-parameter ("only to those with that
/// status or higher").
#[test]
fn status_messages_reach_only_that_status_or_higher() {
    let server = TestServer::start();
    let mut c = channel_with(&server, "#c", &["op", "voiced", "plain"]);
    assert_eq!(isupport(&mut c[0], "STATUSMSG").as_deref(), Some("~@%+"));
    c[0].send("MODE #c +v voiced");
    for cl in c.iter_mut() {
        cl.sync();
    }
    c[2].send("PRIVMSG @#c :to the ops");
    let m = c[0].expect_command("PRIVMSG");
    assert_eq!(m.params, vec!["@#c", "to the ops"]);
    c[2].send("NOTICE +#c :to the voiced");
    let m = c[0].expect_command("NOTICE");
    assert_eq!(m.params, vec!["+#c", "to the voiced"]);
    let m = c[1].expect_command("NOTICE");
    assert_eq!(m.params, vec!["+#c", "to the voiced"]);
    let got = c[1].sync();
    assert!(
        !has(&got, "PRIVMSG"),
        "voiced members do not get @#c: {got:?}"
    );
    let got = c[2].sync();
    assert!(!has(&got, "PRIVMSG") && !has(&got, "NOTICE"), "{got:?}");
}

/// https://modern.ircdocs.horse/#statusmsg-parameter: the sender must be allowed to
/// speak in the channel (404 otherwise), and a missing channel is 403.
#[test]
fn status_messages_obey_the_channel_rules() {
    let server = TestServer::start();
    let mut c = channel_with(&server, "#c", &["op"]);
    let mut outsider = server.connect("outsider");
    outsider.send("PRIVMSG @#c :let me in");
    let got = outsider.sync();
    one(&got, ERR_CANNOTSENDTOCHAN);
    assert!(!has(&c[0].sync(), "PRIVMSG"));
    outsider.send("PRIVMSG @#nowhere :hello");
    let got = outsider.sync();
    assert_eq!(one(&got, ERR_NOSUCHCHANNEL).param(1), "@#nowhere");
}

/// A STATUSMSG is not public: it stays out of the channel's history
/// (https://ircv3.net/specs/extensions/chathistory: history is what members may read).
#[test]
fn status_messages_are_not_in_history() {
    let server = TestServer::start();
    let mut c = channel_with(&server, "#c", &["op", "member"]);
    c[0].send("PRIVMSG @#c :ops only");
    c[0].send("PRIVMSG #c :public");
    c[1].expect_privmsg_from("op", "public");
    c[1].store_sync();
    c[1].send("HISTORY #c 10");
    let got = c[1].recv_until(
        |m| is_server_notice(m) && m.param(1).starts_with("End of HISTORY for #c"),
        "the end of HISTORY #c",
    );
    let texts: Vec<String> = got
        .iter()
        .filter(|m| m.command == "PRIVMSG")
        .map(|m| m.param(1).to_string())
        .collect();
    assert!(texts.iter().any(|t| t.ends_with("public")), "{got:?}");
    assert!(!texts.iter().any(|t| t.contains("ops only")), "{got:?}");
}
