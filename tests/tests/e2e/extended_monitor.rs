//! IRCv3 extended-monitor (<https://ircv3.net/specs/extensions/extended-monitor>):
//! a client that MONITORs a nick gets the notifications about it that channel peers
//! get (away-notify, account-notify), when it negotiated those capabilities too.

use chatd_tests::*;

const SPEC: &str = "https://ircv3.net/specs/extensions/extended-monitor";

#[test]
fn the_capability_is_offered() {
    let server = TestServer::start();
    let mut c = server.connect_raw();
    c.send("CAP LS 302");
    let ls = c.expect_command("CAP");
    assert!(
        ls.params
            .last()
            .unwrap()
            .split(' ')
            .any(|c| c == "extended-monitor"),
        "{SPEC}: {ls}"
    );
}

#[test]
fn a_watcher_sharing_no_channel_gets_away_and_account() {
    // extended-monitor §"Description": notifications "as if the client shared a
    // channel" with the monitored nick, for the capabilities it negotiated.
    let server = TestServer::start();
    let mut watcher =
        server.connect_with_caps("watcher", "extended-monitor away-notify account-notify");
    let mut plain = server.connect_with_caps("plain", "away-notify account-notify");
    let mut bob = server.connect("bob");
    for c in [&mut watcher, &mut plain] {
        c.send("MONITOR + bob");
        c.sync();
    }
    bob.send("AWAY :lunch");
    bob.sync();
    let away = watcher.expect_command("AWAY");
    assert_eq!(away.param(0), "lunch", "{SPEC}");
    assert!(away.source.as_deref().unwrap().starts_with("bob!"));
    bob.register_account("bob", "hunter2hunter2");
    let account = watcher.expect_command("ACCOUNT");
    assert_eq!(account.param(0), "bob", "{SPEC}");
    // Without extended-monitor, MONITOR alone brings no AWAY or ACCOUNT.
    let got = plain.sync();
    assert!(!has(&got, "AWAY") && !has(&got, "ACCOUNT"), "{got:?}");
}

#[test]
fn only_for_the_capabilities_negotiated_and_never_twice() {
    let server = TestServer::start();
    // extended-monitor without away-notify: no AWAY.
    let mut no_away = server.connect_with_caps("noaway", "extended-monitor");
    // A watcher that also shares a channel gets the AWAY once, not twice.
    let mut peer = server.connect_with_caps("peer", "extended-monitor away-notify");
    let mut bob = server.connect("bob");
    bob.join("#c");
    peer.join("#c");
    for c in [&mut no_away, &mut peer] {
        c.send("MONITOR + bob");
        c.sync();
    }
    bob.send("AWAY :gone");
    bob.sync();
    assert!(
        !has(&no_away.sync(), "AWAY"),
        "{SPEC}: needs away-notify too"
    );
    let got = peer.sync();
    assert_eq!(all(&got, "AWAY").len(), 1, "{SPEC}: one AWAY: {got:?}");
}
