//! IRCv3 bot-mode (https://ircv3.net/specs/extensions/bot-mode): a bot marks itself
//! with the mode ISUPPORT `BOT` names, unless told not to.

use crate::support::{bot_config, RunningBot, TestServer};
use chatd_bot::Event;

/// https://ircv3.net/specs/extensions/bot-mode ("bots SHOULD set the mode"): on by
/// default; WHOIS then shows 335 RPL_WHOISBOT.
#[test]
fn a_bot_sets_bot_mode_by_default() {
    let server = TestServer::start();
    let mut bot = RunningBot::start(bot_config(server.addr, "modebot"), |_| {});
    bot.expect_connected();
    bot.expect(
        |e| matches!(e, Event::Raw(m) if m.command == "MODE" && m.param(1) == "+B"),
        "MODE modebot +B",
    );
    let mut peer = server.connect("alice");
    peer.send("WHOIS modebot");
    let got = peer.sync();
    assert!(got.iter().any(|m| m.command == "335"), "{got:?}");
    bot.quit("bye").unwrap();
}

/// `Config::bot_mode(false)` leaves the mode off (the `chat` client does this).
#[test]
fn bot_mode_can_be_turned_off() {
    let server = TestServer::start();
    let mut bot = RunningBot::start(bot_config(server.addr, "person").bot_mode(false), |_| {});
    bot.expect_connected();
    let mut peer = server.connect("alice");
    peer.send("WHOIS person");
    let got = peer.sync();
    assert!(got.iter().any(|m| m.command == "311"), "{got:?}");
    assert!(!got.iter().any(|m| m.command == "335"), "{got:?}");
    bot.quit("bye").unwrap();
}
