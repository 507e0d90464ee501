//! Registration and liveness — RFC 2812 §3.1, IRCv3 Capability Negotiation 3.2.

use chatd_proto::numeric::*;
use chatd_tests::TestServer;

#[test]
fn nick_user_gives_the_welcome_burst() {
    let server = TestServer::start();
    let mut c = server.connect_raw();
    c.send("NICK alice");
    c.send("USER alice 0 * :Alice Liddell");
    let welcome = c.expect_numeric(RPL_WELCOME);
    assert_eq!(welcome.param(0), "alice");
    assert!(
        welcome.param(1).contains("alice!~alice@127.0.0.1"),
        "{welcome}"
    );
    for code in [RPL_YOURHOST, RPL_CREATED, RPL_MYINFO] {
        c.expect_numeric(code);
    }
    let isupport = c.expect_numeric(RPL_ISUPPORT);
    assert!(
        isupport.params.iter().any(|p| p == "CASEMAPPING=ascii"),
        "{isupport}"
    );
    c.expect_numeric(RPL_LUSERCLIENT);
    c.expect_numeric(RPL_MOTDSTART);
    c.expect_numeric(RPL_ENDOFMOTD);
}
