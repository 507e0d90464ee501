//! IRCv3 userhost-in-names (<https://ircv3.net/specs/extensions/userhost-in-names>):
//! 353 RPL_NAMREPLY lists `nick!user@host` to clients that negotiated it.

use chatd_proto::numeric::*;
use chatd_tests::*;

const SPEC: &str = "https://ircv3.net/specs/extensions/userhost-in-names";

fn names_line(c: &mut Client, chan: &str) -> String {
    c.send(&format!("NAMES {chan}"));
    let got = c.sync();
    one(&got, RPL_NAMREPLY).param(3).to_string()
}

#[test]
fn names_show_full_masks_only_with_the_capability() {
    // userhost-in-names §"Description": "the server MUST send ... the full
    // nick!user@host" in RPL_NAMREPLY.
    let server = TestServer::start();
    let mut with = server.connect_with_caps("with", "userhost-in-names multi-prefix");
    with.join("#c");
    let mut without = server.connect("without");
    without.join("#c");
    let mut entries: Vec<String> = names_line(&mut with, "#c")
        .split(' ')
        .map(str::to_string)
        .collect();
    entries.sort();
    assert_eq!(
        entries,
        vec!["@with!~with@127.0.0.1", "without!~without@127.0.0.1"],
        "{SPEC}"
    );
    let mut plain: Vec<String> = names_line(&mut without, "#c")
        .split(' ')
        .map(str::to_string)
        .collect();
    plain.sort();
    assert_eq!(plain, vec!["@with", "without"], "only with the capability");
}

#[test]
fn the_names_after_join_too() {
    let server = TestServer::start();
    let mut c = server.connect_with_caps("c", "userhost-in-names");
    c.send("JOIN #x");
    let got = c.recv_until(|m| m.command == RPL_ENDOFNAMES, "366");
    assert_eq!(
        one(&got, RPL_NAMREPLY).param(3),
        "@c!~c@127.0.0.1",
        "{SPEC}"
    );
}
