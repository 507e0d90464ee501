//! IRCv3 draft/read-marker (<https://ircv3.net/specs/extensions/read-marker>):
//! `MARKREAD` set and get, kept per account and target, only moving forward, sent
//! after a JOIN and to every connection of the account, and kept across a restart.

use chatd_proto::numeric::*;
use chatd_proto::Message;
use chatd_tests::*;

const PW: &str = "correct-horse-battery";
const CAPS: &str = "draft/read-marker server-time message-tags";

fn markread(c: &mut Client, target: &str) -> Message {
    c.expect(
        |m| m.command == "MARKREAD" && m.param(0).eq_ignore_ascii_case(target),
        &format!("MARKREAD {target}"),
    )
}

fn fail(c: &mut Client) -> Message {
    c.expect_command("FAIL")
}

// Spec "MARKREAD client set command" and "Command flows": the set is answered, and
// every other client of the user with the capability learns the new marker.
#[test]
fn a_set_marker_is_answered_and_sent_to_every_connection_of_the_account() {
    let server = TestServer::start();
    server.create_account("alice", PW);
    let mut phone = server.connect_sasl("alice", CAPS, "alice", PW);
    let mut laptop = server.connect_sasl("alice2", CAPS, "alice", PW);
    let mut plain = server.connect_sasl("alice3", "", "alice", PW);
    let mut eve = server.connect_with_caps("eve", CAPS);
    phone.send("MARKREAD #Chan timestamp=2026-01-04T14:33:26.123Z");
    let m = markread(&mut phone, "#Chan");
    assert_eq!(m.param(1), "timestamp=2026-01-04T14:33:26.123Z", "{m}");
    let m = markread(&mut laptop, "#chan");
    assert_eq!(m.param(1), "timestamp=2026-01-04T14:33:26.123Z", "{m}");
    // Without the capability, no unsolicited MARKREAD; nobody else learns anything.
    for c in [&mut plain, &mut eve] {
        let got = c.sync();
        assert!(got.iter().all(|m| m.command != "MARKREAD"), "{got:?}");
    }
    // "MARKREAD client get command", case-insensitive target.
    laptop.send("MARKREAD #CHAN");
    let m = markread(&mut laptop, "#CHAN");
    assert_eq!(m.param(1), "timestamp=2026-01-04T14:33:26.123Z", "{m}");
    // Another account's marker is not Alice's: eve has none.
    eve.send("MARKREAD #chan");
    assert_eq!(markread(&mut eve, "#chan").param(1), "*");
}

// Spec "Read timestamp notes": the marker only moves forward; an older set is
// answered with the stored value and changes nothing.
#[test]
fn a_marker_never_moves_back() {
    let server = TestServer::start();
    server.create_account("alice", PW);
    let mut a = server.connect_sasl("alice", CAPS, "alice", PW);
    let mut b = server.connect_sasl("alice2", CAPS, "alice", PW);
    a.send("MARKREAD bob timestamp=2026-01-04T14:33:26.123Z");
    markread(&mut a, "bob");
    markread(&mut b, "bob");
    a.send("MARKREAD bob timestamp=2025-01-01T00:00:00.000Z");
    let m = markread(&mut a, "bob");
    assert_eq!(m.param(1), "timestamp=2026-01-04T14:33:26.123Z", "{m}");
    let got = b.sync();
    assert!(got.iter().all(|m| m.command != "MARKREAD"), "{got:?}");
    // A time in the future is clamped to now ("Implementation Considerations").
    a.send("MARKREAD bob timestamp=2999-01-01T00:00:00.000Z");
    let m = markread(&mut a, "bob");
    assert!(m.param(1).starts_with("timestamp=20"), "{m}");
    assert!(!m.param(1).starts_with("timestamp=2999"), "{m}");
}

// Spec "Command flows": after the JOIN and before RPL_ENDOFNAMES, the marker of the
// channel, `*` without one.
#[test]
fn join_sends_the_marker_before_end_of_names() {
    let server = TestServer::start();
    server.create_account("alice", PW);
    let mut a = server.connect_sasl("alice", CAPS, "alice", PW);
    a.send("JOIN #fresh");
    let got = a.recv_until(|m| m.command == RPL_ENDOFNAMES, "366");
    let m = got
        .iter()
        .find(|m| m.command == "MARKREAD")
        .unwrap_or_else(|| panic!("MARKREAD before 366: {got:?}"));
    assert_eq!((m.param(0), m.param(1)), ("#fresh", "*"), "{m}");
    let join_at = got.iter().position(|m| m.command == "JOIN").unwrap();
    let mark_at = got.iter().position(|m| m.command == "MARKREAD").unwrap();
    assert!(join_at < mark_at, "{got:?}");

    a.send("MARKREAD #known timestamp=2026-01-04T14:33:26.123Z");
    markread(&mut a, "#known");
    a.send("JOIN #Known");
    let got = a.recv_until(|m| m.command == RPL_ENDOFNAMES, "366");
    let m = got.iter().find(|m| m.command == "MARKREAD").unwrap();
    assert_eq!(m.param(1), "timestamp=2026-01-04T14:33:26.123Z", "{m}");

    // A client without the capability gets no MARKREAD on JOIN.
    let mut plain = server.connect_sasl("alice2", "", "alice", PW);
    plain.send("JOIN #known");
    let got = plain.recv_until(|m| m.command == RPL_ENDOFNAMES, "366");
    assert!(got.iter().all(|m| m.command != "MARKREAD"), "{got:?}");
}

// Spec "Errors and Warnings": missing parameters, invalid ones; and a client that is
// not logged in has no marker to set (read markers are per user).
#[test]
fn bad_markread_lines_get_fail() {
    let server = TestServer::start();
    server.create_account("alice", PW);
    let mut a = server.connect_sasl("alice", CAPS, "alice", PW);
    a.send("MARKREAD");
    let f = fail(&mut a);
    assert_eq!(
        (f.param(0), f.param(1)),
        ("MARKREAD", "NEED_MORE_PARAMS"),
        "{f}"
    );
    for bad in [
        "MARKREAD #c *",
        "MARKREAD #c 2026-01-04T14:33:26.123Z",
        "MARKREAD #c timestamp=yesterday",
        "MARKREAD #c timestamp=1900-01-01T00:00:00.000Z",
        "MARKREAD bad,target timestamp=2026-01-04T14:33:26.123Z",
    ] {
        a.send(bad);
        let f = fail(&mut a);
        assert_eq!(
            (f.param(0), f.param(1)),
            ("MARKREAD", "INVALID_PARAMS"),
            "{bad}: {f}"
        );
    }
    a.send("MARKREAD #c");
    assert_eq!(markread(&mut a, "#c").param(1), "*", "nothing was stored");

    let mut guest = server.connect_with_caps("guest", CAPS);
    guest.send("MARKREAD #c timestamp=2026-01-04T14:33:26.123Z");
    let f = fail(&mut guest);
    assert_eq!(
        (f.param(0), f.param(1)),
        ("MARKREAD", "ACCOUNT_REQUIRED"),
        "{f}"
    );
    guest.send("MARKREAD #c");
    assert_eq!(markread(&mut guest, "#c").param(1), "*");
}

// The marker is durable: it is in the database, and a restart serves it again.
#[test]
fn a_marker_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = TestServer::start_in(&data, |_| {});
    server.create_account("alice", PW);
    let mut a = server.connect_sasl("alice", CAPS, "alice", PW);
    a.send("MARKREAD #c timestamp=2026-01-04T14:33:26.123Z");
    markread(&mut a, "#c");
    a.store_sync();
    server.stop();

    let server = TestServer::start_in(&data, |_| {});
    let mut a = server.connect_sasl("alice", CAPS, "alice", PW);
    a.send("MARKREAD #C");
    let m = markread(&mut a, "#C");
    assert_eq!(m.param(1), "timestamp=2026-01-04T14:33:26.123Z", "{m}");
}

#[test]
fn the_capability_is_advertised() {
    let server = TestServer::start();
    let mut c = server.connect_raw();
    c.send("CAP LS 302");
    let ls = c.expect(|m| m.command == "CAP" && m.param(1) == "LS", "CAP LS");
    assert!(
        ls.params
            .last()
            .unwrap()
            .split(' ')
            .any(|c| c == "draft/read-marker"),
        "{ls}"
    );
}
