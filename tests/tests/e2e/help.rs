//! HELP/HELPOP (<https://modern.ircdocs.horse/#help-message>: 704 RPL_HELPSTART,
//! 705 RPL_HELPTXT, 706 RPL_ENDOFHELP, 524 ERR_HELPNOTFOUND) and INFO
//! (<https://modern.ircdocs.horse/#info-message>: 371 RPL_INFO, 374 RPL_ENDOFINFO).

use chatd_proto::numeric::*;
use chatd_tests::*;

const HELP: &str = "https://modern.ircdocs.horse/#help-message";

#[test]
fn help_on_every_command_in_the_table() {
    // HELP "<subject>": 704 first, 706 last, each line naming the subject.
    let server = TestServer::start();
    let mut c = server.connect("c");
    for spec in chatd::cmd::COMMANDS {
        c.send(&format!("HELP {}", spec.name.to_ascii_lowercase()));
        let got = c.sync();
        let codes = commands(&got);
        assert_eq!(
            codes.first(),
            Some(&RPL_HELPSTART),
            "{HELP}: {}: {got:?}",
            spec.name
        );
        assert_eq!(codes.last(), Some(&RPL_ENDOFHELP), "{HELP}: {}", spec.name);
        assert!(codes[1..codes.len() - 1].iter().all(|c| *c == RPL_HELPTXT));
        assert!(got.iter().all(|m| m.param(1) == spec.name), "{got:?}");
        assert!(
            got[0].param(2).contains(spec.name),
            "the syntax comes first"
        );
    }
}

#[test]
fn help_alone_lists_the_commands_and_helpop_is_the_same() {
    let server = TestServer::start();
    let mut c = server.connect("c");
    c.send("HELP");
    let got = c.sync();
    assert_eq!(got[0].command, RPL_HELPSTART, "{HELP}");
    assert_eq!(got[0].param(1), "*");
    let text: Vec<&str> = got.iter().map(|m| m.param(2)).collect();
    assert!(
        text.join(" ").split(' ').any(|w| w == "MONITOR"),
        "{text:?}"
    );
    c.send("HELPOP privmsg");
    let got = c.sync();
    assert_eq!(got[0].command, RPL_HELPSTART);
    assert_eq!(got[0].param(1), "PRIVMSG");
}

#[test]
fn an_unknown_subject_is_524() {
    let server = TestServer::start();
    let mut c = server.connect("c");
    c.send("HELP frobnicate");
    let got = c.sync();
    assert_eq!(commands(&got), vec![ERR_HELPNOTFOUND], "{HELP}");
    assert_eq!(got[0].param(1), "FROBNICATE");
}

#[test]
fn info_is_371_lines_then_374() {
    let server = TestServer::start();
    let mut c = server.connect("c");
    c.send("INFO");
    let got = c.sync();
    let codes = commands(&got);
    assert!(codes.len() >= 2);
    assert!(
        codes[..codes.len() - 1].iter().all(|c| *c == RPL_INFO),
        "{got:?}"
    );
    assert_eq!(codes.last(), Some(&RPL_ENDOFINFO));
    assert!(got[0].param(1).contains("chatd"));
}
