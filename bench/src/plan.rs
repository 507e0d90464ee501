//! [`Plan`]: who is in which channel, who sends to what, and how receipts are checked,
//! built once from the scenario's arguments and shared read-only by every worker.
//! No I/O lives here.

use serde::Serialize;

/// How a sender learns that a message went through, which frees a slot in its window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Ack {
    /// The sender's own copy (IRCv3 `echo-message`, requested on every client). The
    /// server writes it after the deliveries it queued for the same message.
    Echo,
    /// Receipt by one designated receiver of the same channel (or the partner of a
    /// pair), for servers without `echo-message`.
    Receiver,
}

/// How fast each sender sends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rate {
    /// As fast as the window of unacknowledged messages allows.
    Max,
    /// This many messages per second per sender (still bounded by the window).
    PerSec(f64),
}

impl Rate {
    pub fn parse(s: &str) -> Result<Rate, String> {
        if s.eq_ignore_ascii_case("max") {
            return Ok(Rate::Max);
        }
        match s.parse::<f64>() {
            Ok(r) if r > 0.0 && r.is_finite() => Ok(Rate::PerSec(r)),
            _ => Err(format!(
                "`{s}` is not a rate: give messages per second per sender, or `max`"
            )),
        }
    }
}

/// What each client sends to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Channel(u32),
    Client(u32),
}

#[derive(Debug, Clone)]
pub struct Channel {
    pub name: String,
    pub members: Vec<u32>,
    pub senders: Vec<u32>,
}

/// Which scenario a plan was built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Fanout,
    Pairs,
    Idle,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Fanout => "fanout",
            Kind::Pairs => "pairs",
            Kind::Idle => "idle",
        }
    }
}

/// Everything about the clients that does not change during a run. Client `i` is
/// nick `{prefix}{i}`; per-client vectors are indexed by that number.
#[derive(Debug, Clone)]
pub struct Plan {
    pub kind: Kind,
    pub clients: usize,
    pub nick_prefix: String,
    pub channels: Vec<Channel>,
    pub channel_of: Vec<Option<u32>>,
    /// For a sender, what it sends to.
    pub target: Vec<Option<Target>>,
    /// For a sender, its index among the senders its receivers track.
    pub slot: Vec<u32>,
    /// For every client, how many senders it receives from.
    pub tracked: Vec<u32>,
    /// For a sender, deliveries expected per message it sends.
    pub fanout: Vec<u32>,
    /// For a sender, the client whose receipt acknowledges it under [`Ack::Receiver`].
    pub acker: Vec<u32>,
    pub rate: Rate,
    pub window: u64,
    pub ack: Ack,
}

impl Plan {
    fn empty(
        kind: Kind,
        clients: usize,
        nick_prefix: &str,
        rate: Rate,
        window: u64,
        ack: Ack,
    ) -> Plan {
        Plan {
            kind,
            clients,
            nick_prefix: nick_prefix.to_string(),
            channels: Vec::new(),
            channel_of: vec![None; clients],
            target: vec![None; clients],
            slot: vec![0; clients],
            tracked: vec![0; clients],
            fanout: vec![0; clients],
            acker: vec![u32::MAX; clients],
            rate,
            window,
            ack,
        }
    }

    /// `clients` clients in channels of `channel_size` (`#bench0`, `#bench1`, ... the
    /// last one may be smaller), `senders` of them sending, spread over the channels
    /// round-robin.
    pub fn fanout(
        clients: usize,
        senders: usize,
        channel_size: usize,
        nick_prefix: &str,
        rate: Rate,
        window: u64,
        ack: Ack,
    ) -> Result<Plan, String> {
        if clients == 0 || channel_size < 2 {
            return Err("fanout needs at least one client and a channel size of at least 2".into());
        }
        if senders == 0 || senders > clients {
            return Err(format!(
                "--senders must be between 1 and --clients ({clients})"
            ));
        }
        if window == 0 {
            return Err("--window must be at least 1".into());
        }
        let mut plan = Plan::empty(Kind::Fanout, clients, nick_prefix, rate, window, ack);
        let count = clients.div_ceil(channel_size);
        for c in 0..count {
            let members: Vec<u32> = (c * channel_size..clients.min((c + 1) * channel_size))
                .map(|i| i as u32)
                .collect();
            for &m in &members {
                plan.channel_of[m as usize] = Some(c as u32);
            }
            plan.channels.push(Channel {
                name: format!("#bench{c}"),
                members,
                senders: Vec::new(),
            });
        }
        // Round-robin over channels; a channel that is full of senders is skipped.
        let mut next = 0;
        for _ in 0..senders {
            while plan.channels[next % count].senders.len()
                == plan.channels[next % count].members.len()
            {
                next += 1;
            }
            let chan = &mut plan.channels[next % count];
            let sender = chan.members[chan.senders.len()];
            chan.senders.push(sender);
            next += 1;
        }
        for (c, chan) in plan.channels.iter().enumerate() {
            if chan.members.len() < 2 && !chan.senders.is_empty() {
                return Err(format!(
                    "{} would have a sender and no one to receive; pick --clients as a multiple of --channel-size",
                    chan.name
                ));
            }
            for &m in &chan.members {
                plan.tracked[m as usize] = chan.senders.len() as u32;
            }
            for (k, &s) in chan.senders.iter().enumerate() {
                let s = s as usize;
                plan.target[s] = Some(Target::Channel(c as u32));
                plan.slot[s] = k as u32;
                plan.fanout[s] = chan.members.len() as u32 - 1;
                // Prefer a member that does not send; if all do, the next one along.
                let pos = chan
                    .members
                    .iter()
                    .position(|&m| m as usize == s)
                    .expect("a sender is a member");
                plan.acker[s] = chan
                    .members
                    .iter()
                    .copied()
                    .find(|&m| !chan.senders.contains(&m))
                    .unwrap_or(chan.members[(pos + 1) % chan.members.len()]);
            }
        }
        Ok(plan)
    }

    /// `pairs` pairs: clients `2k` and `2k+1` send private messages to each other.
    pub fn pairs(
        pairs: usize,
        nick_prefix: &str,
        rate: Rate,
        window: u64,
        ack: Ack,
    ) -> Result<Plan, String> {
        if pairs == 0 {
            return Err("--pairs must be at least 1".into());
        }
        if window == 0 {
            return Err("--window must be at least 1".into());
        }
        let clients = pairs * 2;
        let mut plan = Plan::empty(Kind::Pairs, clients, nick_prefix, rate, window, ack);
        for i in 0..clients {
            let partner = (i ^ 1) as u32;
            plan.target[i] = Some(Target::Client(partner));
            plan.tracked[i] = 1;
            plan.fanout[i] = 1;
            plan.acker[i] = partner;
        }
        Ok(plan)
    }

    /// `clients` registered connections that only answer PING.
    pub fn idle(clients: usize, nick_prefix: &str) -> Result<Plan, String> {
        if clients == 0 {
            return Err("--clients must be at least 1".into());
        }
        Ok(Plan::empty(
            Kind::Idle,
            clients,
            nick_prefix,
            Rate::Max,
            1,
            Ack::Echo,
        ))
    }

    pub fn nick(&self, client: usize) -> String {
        format!("{}{client}", self.nick_prefix)
    }

    pub fn senders(&self) -> usize {
        self.target.iter().filter(|t| t.is_some()).count()
    }

    /// Whether clients must request `echo-message`.
    pub fn wants_echo(&self) -> bool {
        self.ack == Ack::Echo && self.senders() > 0
    }

    /// Clients that join a channel.
    pub fn joining(&self) -> usize {
        self.channel_of.iter().filter(|c| c.is_some()).count()
    }

    /// The text after `PRIVMSG ` up to the sequence number, for sender `client`:
    /// `#bench0 :b 12 `.
    pub fn message_prefix(&self, client: usize) -> Option<String> {
        let to = match self.target[client]? {
            Target::Channel(c) => self.channels[c as usize].name.clone(),
            Target::Client(j) => self.nick(j as usize),
        };
        Some(format!("PRIVMSG {to} :b {client} "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_channel_all_senders_ack_by_the_next_member() {
        let p = Plan::fanout(100, 100, 100, "b", Rate::Max, 64, Ack::Receiver).unwrap();
        assert_eq!(p.channels.len(), 1);
        assert_eq!(p.senders(), 100);
        assert_eq!(p.fanout[7], 99);
        assert_eq!(p.acker[7], 8);
        assert_eq!(p.acker[99], 0);
        assert_eq!(p.tracked[3], 100);
        assert_eq!(p.slot[42], 42);
    }

    #[test]
    fn senders_spread_over_channels_and_ack_by_a_listener() {
        let p = Plan::fanout(300, 4, 100, "b", Rate::Max, 64, Ack::Receiver).unwrap();
        assert_eq!(p.channels.len(), 3);
        let per: Vec<usize> = p.channels.iter().map(|c| c.senders.len()).collect();
        assert_eq!(per, vec![2, 1, 1]);
        assert_eq!(p.channels[0].senders, vec![0, 1]);
        assert_eq!(p.acker[0], 2);
        assert_eq!(p.tracked[150], 1);
        assert_eq!(p.message_prefix(100).unwrap(), "PRIVMSG #bench1 :b 100 ");
    }

    #[test]
    fn pairs_send_to_each_other() {
        let p = Plan::pairs(3, "x", Rate::PerSec(10.0), 8, Ack::Echo).unwrap();
        assert_eq!(p.clients, 6);
        assert_eq!(p.target[4], Some(Target::Client(5)));
        assert_eq!(p.target[5], Some(Target::Client(4)));
        assert_eq!(p.message_prefix(5).unwrap(), "PRIVMSG x4 :b 5 ");
    }

    #[test]
    fn bad_shapes_are_refused() {
        assert!(Plan::fanout(101, 101, 100, "b", Rate::Max, 64, Ack::Echo).is_err());
        assert!(Plan::fanout(10, 11, 10, "b", Rate::Max, 64, Ack::Echo).is_err());
        assert!(Plan::fanout(10, 1, 1, "b", Rate::Max, 64, Ack::Echo).is_err());
        assert!(Rate::parse("0").is_err());
        assert_eq!(Rate::parse("MAX").unwrap(), Rate::Max);
    }
}
