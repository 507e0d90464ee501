//! The command router over chatd: `!name`, `nick: name` and private commands,
//! generated help, cooldowns, replies split at the line limit (RFC 1459 §2.3:
//! 512 bytes with CRLF), and messages replayed by the server.

use crate::support::{bot_config, RunningBot, TestServer};
use chatd_bot::Event;
use std::time::Duration;

fn echo_bot(server: &TestServer, nick: &str, channel: &str) -> RunningBot {
    let mut bot = RunningBot::start(bot_config(server.addr, nick).channel(channel), |bot| {
        bot.command("echo", "<text>: says the text back", |ctx, cmd| {
            ctx.reply(&cmd.args)
        });
        bot.command("slow", "", |ctx, _| ctx.reply("slow ok"))
            .cooldown(Duration::from_secs(3600));
        bot.command("long", "", |ctx, cmd| ctx.reply(cmd.args.repeat(200)));
    });
    bot.expect_connected();
    bot.expect_joined(channel);
    bot
}

#[test]
fn answers_in_the_channel_and_in_private() {
    let server = TestServer::start();
    let _bot = echo_bot(&server, "echobot", "#room");
    let mut alice = server.connect("alice");
    alice.join("#room");

    alice.send("PRIVMSG #room :!echo hello channel");
    assert_eq!(alice.expect_privmsg("echobot", "#room"), "hello channel");
    alice.send("PRIVMSG #room :EchoBot: echo addressed by nick");
    assert_eq!(
        alice.expect_privmsg("echobot", "#room"),
        "addressed by nick"
    );

    alice.send("PRIVMSG echobot :echo hello private");
    assert_eq!(alice.expect_privmsg("echobot", "alice"), "hello private");
    alice.send("PRIVMSG echobot :!echo prefixed in private");
    assert_eq!(
        alice.expect_privmsg("echobot", "alice"),
        "prefixed in private"
    );

    // Neither of these is a command for the bot; the marker shows it said nothing.
    alice.send("PRIVMSG #room :echo not addressed");
    alice.send("PRIVMSG #room :!nosuch command");
    alice.send("PRIVMSG #room :otherbot: echo not me");
    alice.send("PRIVMSG #room :!echo marker");
    assert_eq!(alice.expect_privmsg("echobot", "#room"), "marker");
}

#[test]
fn help_is_generated_from_the_commands() {
    let server = TestServer::start();
    let _bot = echo_bot(&server, "helpbot", "#help");
    let mut alice = server.connect("alice");
    alice.join("#help");
    alice.send("PRIVMSG #help :!help");
    assert_eq!(
        alice.expect_privmsg("helpbot", "#help"),
        "Commands: !echo, !slow, !long, !help. !help <command> tells more."
    );
    alice.send("PRIVMSG helpbot :help echo");
    assert_eq!(
        alice.expect_privmsg("helpbot", "alice"),
        "!echo <text>: says the text back"
    );
    // Help for a command this bot does not have is left to the bots that have it:
    // with several bots in a channel, each one answering "No command" is noise.
    // The marker shows it said nothing.
    alice.send("PRIVMSG #help :!help seen");
    alice.send("PRIVMSG #help :!echo marker");
    assert_eq!(alice.expect_privmsg("helpbot", "#help"), "marker");
}

#[test]
fn cooldowns_are_per_user() {
    let server = TestServer::start();
    let _bot = echo_bot(&server, "coolbot", "#cool");
    let mut alice = server.connect("alice");
    let mut bob = server.connect("bob");
    alice.join("#cool");
    bob.join("#cool");
    alice.send("PRIVMSG #cool :!slow");
    alice.send("PRIVMSG #cool :!slow");
    alice.send("PRIVMSG #cool :!echo after two");
    assert_eq!(alice.expect_privmsg("coolbot", "#cool"), "slow ok");
    assert_eq!(alice.expect_privmsg("coolbot", "#cool"), "after two");
    // Bob has his own cooldown (asked in private, answered there).
    bob.send("PRIVMSG coolbot :slow");
    bob.send("PRIVMSG coolbot :slow");
    bob.send("PRIVMSG coolbot :echo bob's marker");
    assert_eq!(bob.expect_privmsg("coolbot", "bob"), "slow ok");
    assert_eq!(bob.expect_privmsg("coolbot", "bob"), "bob's marker");
}

#[test]
fn long_replies_are_split_on_character_boundaries() {
    let server = TestServer::start();
    let mut bot = echo_bot(&server, "longbot", "#long");
    let mut alice = server.connect("alice");
    alice.join("#long");
    // 200 × 9 bytes with two-byte characters and no spaces: only char cuts work.
    let unit = "Grüße-ok";
    let want = unit.repeat(200);
    alice.send(&format!("PRIVMSG #long :!long {unit}"));
    let mut got = String::new();
    let mut lines = 0;
    while got.len() < want.len() {
        let m = alice.expect(
            |m| m.command == "PRIVMSG" && m.source_nick() == Some("longbot"),
            "a piece of the long reply",
        );
        assert!(m.to_string().len() + 2 <= 512, "over the line limit: {m}");
        got.push_str(m.param(1));
        lines += 1;
    }
    assert_eq!(got, want);
    assert!(lines >= 4, "{lines} lines");
    // And the server never had to refuse a line as too long (417).
    alice.send("PRIVMSG #long :!echo sync");
    assert_eq!(alice.expect_privmsg("longbot", "#long"), "sync");
    assert!(!bot
        .seen()
        .iter()
        .any(|e| matches!(e, Event::Raw(m) if m.command == "417")));
}

#[test]
fn replayed_messages_keep_their_time_and_are_flagged() {
    let server = TestServer::start();
    server.create_account("replaybot", "replay-password");
    let mut config = bot_config(server.addr, "replaybot")
        .sasl("replaybot", "replay-password")
        .channel("#hist");
    // The test server shares this machine's clock: no slack needed.
    config.replay_slack = Duration::ZERO;
    let setup = |bot: &mut chatd_bot::Bot| {
        bot.command("echo", "", |ctx, cmd| ctx.reply(&cmd.args));
    };

    // First run: the account remembers #hist.
    let mut bot = RunningBot::start(config.clone(), setup);
    bot.expect_connected();
    bot.expect_joined("#hist");
    bot.quit("back soon").unwrap();

    // While it is away: a channel message (missed) and a private one (queued).
    let mut alice = server.connect("alice");
    alice.join("#hist");
    alice.send("PRIVMSG #hist :missed line");
    alice.send("PRIVMSG replaybot :echo asked while away");
    alice.expect(
        |m| m.command == "NOTICE" && m.param(1).contains("queued"),
        "queued notice",
    );

    let mut bot = RunningBot::start(config, setup);
    bot.expect_connected();
    let queued = message(&mut bot, "echo asked while away");
    assert!(queued.replayed && queued.is_private, "{queued:?}");
    assert_eq!(queued.from, "alice");
    let missed = message(&mut bot, "missed line");
    assert!(missed.replayed && !missed.is_private, "{missed:?}");
    assert_eq!(missed.target, "#hist");
    assert!(missed.time <= queued.time, "original times, in order");
    assert!(missed.msgid().is_some());

    // A live command is answered; the replayed one was not.
    alice.send("PRIVMSG replaybot :echo live now");
    let live = message(&mut bot, "echo live now");
    assert!(!live.replayed, "{live:?}");
    assert!(live.time > queued.time);
    assert_eq!(alice.expect_privmsg("replaybot", "alice"), "live now");
}

fn message(bot: &mut RunningBot, text: &str) -> chatd_bot::Message {
    match bot.expect(
        |e| matches!(e, Event::Message(m) if m.text == text),
        &format!("message {text:?}"),
    ) {
        Event::Message(m) => m,
        _ => unreachable!(),
    }
}
