//! IRCv3 bot-mode, https://ircv3.net/specs/extensions/bot-mode: user mode `+B`
//! (ISUPPORT `BOT=B`), the `bot` tag on a bot's messages, 335 RPL_WHOISBOT and `B`
//! in the WHO flags.

use chatd_proto::numeric::*;
use chatd_tests::*;

/// https://ircv3.net/specs/extensions/bot-mode ("BOT" ISUPPORT token with the mode
/// character; the client sets it with MODE).
#[test]
fn bot_mode_is_advertised_and_set_with_mode() {
    let server = TestServer::start();
    let mut bot = server.connect("bot");
    assert_eq!(isupport(&mut bot, "BOT").as_deref(), Some("B"));
    bot.send("MODE bot +B");
    let m = bot.expect_command("MODE");
    assert_eq!(m.params, vec!["bot", "+B"]);
    bot.send("MODE bot");
    assert!(bot.expect_numeric(RPL_UMODEIS).param(1).contains('B'));
}

/// https://ircv3.net/specs/extensions/bot-mode ("bot" message tag on messages from
/// the bot to clients with message-tags; 335 in WHOIS; WHO flag).
#[test]
fn a_bots_messages_carry_the_bot_tag_and_whois_says_so() {
    let server = TestServer::start();
    let mut human = server.connect_with_caps("human", "message-tags");
    human.join("#c");
    let mut plain = server.connect("plain");
    plain.join("#c");
    let mut bot = server.connect("bot");
    bot.send("MODE bot +B");
    bot.join("#c");
    human.sync();
    plain.sync();
    bot.send("PRIVMSG #c :beep");
    bot.send("NOTICE human :boop");
    let m = human.expect_command("PRIVMSG");
    assert_eq!(m.tag("bot"), Some(""), "{m}");
    let m = human.expect_command("NOTICE");
    assert_eq!(m.tag("bot"), Some(""), "{m}");
    let got = plain.sync();
    assert!(
        one(&got, "PRIVMSG").tags.is_empty(),
        "no tags without message-tags"
    );
    human.send("WHOIS bot");
    let got = human.sync();
    assert_eq!(one(&got, RPL_WHOISBOT).param(1), "bot");
    human.send("WHO #c");
    let got = human.sync();
    let row = all(&got, RPL_WHOREPLY)
        .into_iter()
        .find(|m| m.param(5) == "bot")
        .expect("a WHO row for bot");
    assert!(row.param(6).contains('B'), "{row}");
    bot.send("MODE bot -B");
    bot.sync();
    bot.send("PRIVMSG #c :human now");
    let m = human.expect_command("PRIVMSG");
    assert_eq!(m.tag("bot"), None, "{m}");
    human.send("WHOIS bot");
    assert!(!has(&human.sync(), RPL_WHOISBOT));
}
