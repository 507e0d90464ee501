//! Outgoing flood control under a burst: the bot's token bucket runs on a
//! `ManualClock`, so the test counts the lines released for each step of time.

use crate::support::{bot_config, RunningBot, TestServer};
use chatd_bot::{Flood, ManualClock, Stats};
use std::time::Duration;

#[test]
fn a_burst_is_paced_by_the_token_bucket() {
    // The bot's clock is the test's, so lines that the bot spaces out over
    // minutes of its time leave within milliseconds of real time. The server's
    // own flood control (which counts real time) must not slow them down.
    let server = TestServer::start_with(|c| {
        c.limits.flood_burst = 1000;
        c.limits.flood_rate = 1000;
    });
    let clock = ManualClock::new();
    let config = bot_config(server.addr, "floodbot")
        .channel("#flood")
        .flood(Flood::new(5, Duration::from_secs(1)))
        .clock(clock.clone());
    let mut bot = RunningBot::start(config, |bot| {
        bot.command("burst", "<n>", |ctx, cmd| {
            let n: usize = cmd.args.parse().unwrap_or(1);
            for i in 0..n {
                ctx.reply(format!("line {i}"));
            }
        });
    });
    bot.expect_connected();
    bot.expect_joined("#flood");
    let mut alice = server.connect("alice");
    alice.join("#flood");
    let stats = |bot: &RunningBot| bot.handle.query(|ctx| ctx.stats()).expect("bot runs");
    // The JOIN spent a token; a few seconds refill the bucket (to 5, no more).
    clock.advance(Duration::from_secs(10));
    let before = stats(&bot);

    let mut next = 0;
    let mut receive = |alice: &mut crate::support::Peer, count: usize| {
        for _ in 0..count {
            assert_eq!(
                alice.expect_privmsg("floodbot", "#flood"),
                format!("line {next}")
            );
            next += 1;
        }
    };
    let released = |s: Stats| (s.sent - before.sent, s.queued);

    alice.send("PRIVMSG #flood :!burst 20");
    receive(&mut alice, 5);
    // Time stands still: 5 lines went, 15 wait.
    assert_eq!(released(stats(&bot)), (5, 15));

    clock.advance(Duration::from_secs(3));
    bot.handle.wake();
    receive(&mut alice, 3);
    assert_eq!(released(stats(&bot)), (8, 12));

    // A long pause refills the bucket only up to its burst size.
    clock.advance(Duration::from_secs(100));
    bot.handle.wake();
    receive(&mut alice, 5);
    assert_eq!(released(stats(&bot)), (13, 7));

    clock.advance(Duration::from_millis(2500));
    bot.handle.wake();
    receive(&mut alice, 2);
    assert_eq!(released(stats(&bot)), (15, 5));

    clock.advance(Duration::from_secs(5));
    bot.handle.wake();
    receive(&mut alice, 5);
    assert_eq!(released(stats(&bot)), (20, 0));

    // QUIT waits for a token like any other line.
    clock.advance(Duration::from_secs(1));
    bot.quit("done").unwrap();
    alice.expect(
        |m| m.command == "QUIT" && m.source_nick() == Some("floodbot"),
        "floodbot's QUIT",
    );
}
