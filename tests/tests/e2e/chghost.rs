//! IRCv3 chghost, https://ircv3.net/specs/extensions/chghost: chatd never changes a
//! client's user or host after registration (no cloaks, no virtual hosts), so there
//! is no event to send and the capability is not offered, as ircv3.net's
//! capability negotiation asks of capabilities a server does not implement.

use chatd_tests::*;

/// https://ircv3.net/specs/core/capability-negotiation ("CAP LS" lists what the
/// server supports): not chghost.
#[test]
fn chghost_is_not_advertised_while_hosts_never_change() {
    let server = TestServer::start();
    let mut c = server.connect_raw();
    c.send("CAP LS 302");
    let ls = c.expect_command("CAP");
    assert!(!ls.param(2).split(' ').any(|c| c == "chghost"), "{ls}");
    c.send("CAP REQ chghost");
    assert_eq!(c.expect_command("CAP").param(1), "NAK");
}
