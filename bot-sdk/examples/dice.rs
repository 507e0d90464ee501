//! dice: rolls dice. `!roll 2d6` answers the rolls and their sum: `2d6: 3 + 5 = 8`.
//!
//! ```text
//! cargo run -p chatd-bot --example dice -- HOST:PORT [--channel #c] [--nick N]
//! ```
//!
//! It joins `#bots` (or each `--channel`) as `dicebot` (or `--nick`). `!roll` alone
//! rolls one six-sided die; `!roll d20` one twenty-sided one; up to 100 dice of up
//! to 1000 sides. Each person may roll once every two seconds.

use chatd_bot::{Bot, Config};
use rand::Rng;
use std::time::Duration;

fn main() -> Result<(), chatd_bot::Error> {
    chatd_bot::log_to_stderr(); // connecting, retries, errors: on stderr
    let mut bot = Bot::new(Config::from_args("dicebot"))?;
    bot.quit_on_signals()?; // Ctrl-C sends QUIT
    bot.command(
        "roll",
        "[N]d<M>: rolls N dice of M sides (2d6, d20)",
        |ctx, cmd| {
            let reply = match Dice::parse(&cmd.args) {
                Ok(dice) => dice.roll(&mut rand::thread_rng()),
                Err(e) => e,
            };
            ctx.reply(reply);
        },
    )
    .cooldown(Duration::from_secs(2));
    bot.run()
}

/// `NdM`: `count` dice of `sides` sides.
#[derive(Debug, PartialEq, Eq)]
struct Dice {
    count: u32,
    sides: u32,
}

impl Dice {
    fn parse(spec: &str) -> Result<Dice, String> {
        let spec = spec.trim();
        if spec.is_empty() {
            return Ok(Dice { count: 1, sides: 6 });
        }
        let bad = || format!("{spec:?} is not a roll: try 2d6 or d20");
        let (count, sides) = spec
            .to_ascii_lowercase()
            .split_once('d')
            .map(|(c, s)| (c.to_string(), s.to_string()))
            .ok_or_else(bad)?;
        let count = if count.is_empty() {
            1
        } else {
            count.parse().map_err(|_| bad())?
        };
        let sides: u32 = sides.parse().map_err(|_| bad())?;
        if !(1..=100).contains(&count) || !(2..=1000).contains(&sides) {
            return Err("Up to 100 dice of 2 to 1000 sides.".into());
        }
        Ok(Dice { count, sides })
    }

    fn roll(&self, rng: &mut impl Rng) -> String {
        let rolls: Vec<u32> = (0..self.count)
            .map(|_| rng.gen_range(1..=self.sides))
            .collect();
        let sum: u32 = rolls.iter().sum();
        let shown: Vec<String> = rolls.iter().map(u32::to_string).collect();
        if rolls.len() == 1 {
            format!("{}d{}: {sum}", self.count, self.sides)
        } else {
            format!(
                "{}d{}: {} = {sum}",
                self.count,
                self.sides,
                shown.join(" + ")
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rolls() {
        assert_eq!(Dice::parse("2d6"), Ok(Dice { count: 2, sides: 6 }));
        assert_eq!(
            Dice::parse(" D20 "),
            Ok(Dice {
                count: 1,
                sides: 20
            })
        );
        assert_eq!(Dice::parse(""), Ok(Dice { count: 1, sides: 6 }));
        for bad in ["2x6", "d", "0d6", "101d6", "2d1", "-1d6", "2d6d6"] {
            assert!(Dice::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rolls_add_up() {
        let mut rng = rand::thread_rng();
        for _ in 0..50 {
            let text = Dice { count: 3, sides: 6 }.roll(&mut rng);
            let (rolls, sum) = text["3d6: ".len()..].split_once(" = ").unwrap();
            let rolls: Vec<u32> = rolls.split(" + ").map(|r| r.parse().unwrap()).collect();
            assert_eq!(rolls.len(), 3);
            assert!(rolls.iter().all(|r| (1..=6).contains(r)));
            assert_eq!(rolls.iter().sum::<u32>(), sum.parse::<u32>().unwrap());
        }
    }
}
