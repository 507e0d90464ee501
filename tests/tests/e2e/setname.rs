//! IRCv3 setname, https://ircv3.net/specs/extensions/setname: `SETNAME :<realname>`
//! changes the realname; the client and its channel peers with the capability see
//! it; an invalid one gets `FAIL SETNAME INVALID_REALNAME`; ISUPPORT `NAMELEN`.

use chatd_proto::numeric::*;
use chatd_tests::*;

/// https://ircv3.net/specs/extensions/setname ("SETNAME" sent to the client and to
/// other clients with the capability sharing a channel; WHOIS shows the new name).
#[test]
fn setname_changes_the_realname_and_tells_peers_with_the_cap() {
    let server = TestServer::start();
    let mut alice = server.connect_with_caps("alice", "setname");
    let mut bob = server.connect_with_caps("bob", "setname");
    let mut carol = server.connect("carol");
    let mut dave = server.connect_with_caps("dave", "setname");
    for c in [&mut alice, &mut bob, &mut carol] {
        c.join("#c");
    }
    alice.sync();
    alice.send("SETNAME :Alice Liddell");
    let echo = alice.expect_command("SETNAME");
    assert_eq!(echo.params, vec!["Alice Liddell"]);
    let got = bob.sync();
    let m = one(&got, "SETNAME");
    assert_eq!(m.source_nick(), Some("alice"));
    assert_eq!(m.params, vec!["Alice Liddell"]);
    assert!(!has(&carol.sync(), "SETNAME"), "no cap, no SETNAME");
    assert!(!has(&dave.sync(), "SETNAME"), "no shared channel");
    carol.send("WHOIS alice");
    let got = carol.sync();
    assert_eq!(one(&got, RPL_WHOISUSER).param(5), "Alice Liddell");
}

/// https://ircv3.net/specs/extensions/setname ("FAIL SETNAME INVALID_REALNAME"):
/// too long for NAMELEN, or empty; the realname stays as it was.
#[test]
fn invalid_realnames_fail() {
    let server = TestServer::start();
    let mut alice = server.connect_with_caps("alice", "setname");
    let namelen: usize = isupport(&mut alice, "NAMELEN").unwrap().parse().unwrap();
    for bad in [
        "SETNAME :".to_string(),
        format!("SETNAME :{}", "x".repeat(namelen + 1)),
    ] {
        alice.send(&bad);
        let got = alice.sync();
        let fail = one(&got, "FAIL");
        assert_eq!(fail.params[..2], ["SETNAME", "INVALID_REALNAME"], "{bad}");
        assert!(!has(&got, "SETNAME"));
    }
    alice.send(&format!("SETNAME :{}", "y".repeat(namelen)));
    assert!(has(&alice.sync(), "SETNAME"), "NAMELEN bytes are allowed");
    alice.send("WHOIS alice");
    let got = alice.sync();
    assert_eq!(one(&got, RPL_WHOISUSER).param(5), "y".repeat(namelen));
}
