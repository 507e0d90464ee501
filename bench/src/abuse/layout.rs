//! Who is who and who is where in the abuse test: each client's [`Role`], the
//! channels it joins, the senders of each channel and how each abrupt client
//! leaves, worked out from the arguments (which are checked here); no I/O.

use super::AbuseArgs;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Sender,
    Listener,
    Flooder,
    SlowReader,
    Abrupt,
}

impl Role {
    pub fn well_behaved(self) -> bool {
        matches!(self, Role::Sender | Role::Listener)
    }
}

/// Who is who and who is where; no I/O.
#[derive(Debug)]
pub struct Layout {
    pub channels: usize,
    /// Channels each slow reader joins.
    pub slow_channels: usize,
    pub roles: Vec<Role>,
    /// The channels each client joins, its home channel first.
    pub joins: Vec<Vec<u32>>,
    /// Per channel: its senders, in slot order.
    pub senders: Vec<Vec<usize>>,
    /// Per channel: its well-behaved members.
    pub well_behaved: Vec<usize>,
    /// For an abrupt client: which way it leaves.
    pub abrupt_way: Vec<Option<Abrupt>>,
    /// For a flooder or an abrupt client: its rank among its kind (for its start time).
    pub rank: Vec<(usize, usize)>,
}

/// How an abrupt client leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Abrupt {
    /// Two complete lines and half of a third, then a close with SO_LINGER 0 (RST).
    Reset,
    /// Half a line, then a plain close.
    Close,
    /// Stops reading for a while (the server queues for it), then half a line and RST.
    Stall,
}

impl Layout {
    pub fn new(a: &AbuseArgs) -> Result<Layout, String> {
        if a.channel_size < 2 || a.clients < a.channel_size {
            return Err(
                "--clients must be at least --channel-size, which must be at least 2".into(),
            );
        }
        let channels = a.clients.div_ceil(a.channel_size);
        let senders = a.senders_per_channel * channels;
        let abusers = a.flooders + a.slow_readers + a.abrupt;
        if a.senders_per_channel == 0 {
            return Err("--senders-per-channel must be at least 1".into());
        }
        if senders + abusers + channels > a.clients {
            return Err(format!(
                "{senders} senders and {abusers} abusers leave fewer than one listener per channel ({channels} channels) in {} clients",
                a.clients
            ));
        }
        let slow_channels = a.slow_channels;
        if a.slow_readers > 0 && (slow_channels == 0 || slow_channels > channels) {
            return Err(format!(
                "--slow-channels must be between 1 and the number of channels ({channels})"
            ));
        }
        if !(a.rate.is_finite() && a.rate > 0.0) {
            return Err("--rate must be a positive number".into());
        }
        if !(16..=400).contains(&a.message_bytes) {
            return Err("--message-bytes must be between 16 and 400".into());
        }
        for (name, v) in [
            ("--duration", a.duration),
            ("--connect-rate", a.connect_rate),
            ("--setup-timeout", a.setup_timeout),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(format!("{name} must be a positive number"));
            }
        }
        for (name, v) in [
            ("--cutoff-timeout", a.cutoff_timeout),
            ("--drain", a.drain),
            ("--settle", a.settle),
            ("--rss-tolerance-pct", a.rss_tolerance_pct),
            ("--rss-tolerance-mib", a.rss_tolerance_mib),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(format!("{name} must be a number of at least 0"));
            }
        }
        let n = a.clients;
        let mut l = Layout {
            channels,
            slow_channels,
            roles: Vec::with_capacity(n),
            joins: Vec::with_capacity(n),
            senders: vec![Vec::new(); channels],
            well_behaved: vec![0; channels],
            abrupt_way: vec![None; n],
            rank: vec![(0, 0); n],
        };
        let bounds = [
            (senders, Role::Sender),
            (senders + a.flooders, Role::Flooder),
            (senders + a.flooders + a.slow_readers, Role::SlowReader),
            (senders + abusers, Role::Abrupt),
            (n, Role::Listener),
        ];
        let mut start = 0;
        for (end, role) in bounds {
            for i in start..end {
                let home = i % channels;
                let k = i - start;
                l.roles.push(role);
                let joins = match role {
                    Role::SlowReader => (0..slow_channels)
                        .map(|d| ((home + d) % channels) as u32)
                        .collect(),
                    _ => vec![home as u32],
                };
                l.joins.push(joins);
                match role {
                    Role::Sender => l.senders[home].push(i),
                    Role::Flooder => l.rank[i] = (k, a.flooders),
                    Role::Abrupt => {
                        l.rank[i] = (k, a.abrupt);
                        l.abrupt_way[i] = Some(match k % 3 {
                            0 => Abrupt::Reset,
                            1 => Abrupt::Close,
                            _ => Abrupt::Stall,
                        });
                    }
                    _ => {}
                }
                if role.well_behaved() {
                    l.well_behaved[home] += 1;
                }
            }
            start = end;
        }
        Ok(l)
    }

    pub fn home(&self, i: usize) -> usize {
        self.joins[i][0] as usize
    }

    pub fn count(&self, role: Role) -> usize {
        self.roles.iter().filter(|&&r| r == role).count()
    }
}

pub fn channel_name(c: usize) -> String {
    format!("#abuse{c}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        a: AbuseArgs,
    }

    fn args(extra: &[&str]) -> AbuseArgs {
        let mut v = vec!["abuse", "--spawn", "chatd"];
        v.extend_from_slice(extra);
        Cli::try_parse_from(v).unwrap().a
    }

    #[test]
    fn roles_are_spread_over_the_channels() {
        let l = Layout::new(&args(&[])).unwrap();
        assert_eq!(l.channels, 50);
        assert_eq!(l.count(Role::Sender), 200);
        assert_eq!(l.count(Role::Flooder), 300);
        assert_eq!(l.count(Role::SlowReader), 300);
        assert_eq!(l.count(Role::Abrupt), 300);
        assert_eq!(l.count(Role::Listener), 8900);
        assert!(l.senders.iter().all(|s| s.len() == 4));
        assert!(l.well_behaved.iter().all(|&n| n == 182));
        let slow = l.roles.iter().position(|&r| r == Role::SlowReader).unwrap();
        assert_eq!(l.joins[slow].len(), 16);
        assert_eq!(l.joins[slow][0] as usize, slow % 50);
        let ways: Vec<_> = (0..l.roles.len()).filter_map(|i| l.abrupt_way[i]).collect();
        assert_eq!(ways.iter().filter(|&&w| w == Abrupt::Stall).count(), 100);
    }

    #[test]
    fn refuses_layouts_without_listeners() {
        // Two channels of 200; the flags of `extra` replace these.
        let small = |extra: &[&str]| {
            let mut v = vec![];
            for (flag, value) in [
                ("--clients", "400"),
                ("--flooders", "10"),
                ("--slow-readers", "10"),
                ("--abrupt", "10"),
                ("--slow-channels", "2"),
            ] {
                if !extra.contains(&flag) {
                    v.extend([flag, value]);
                }
            }
            v.extend_from_slice(extra);
            Layout::new(&args(&v))
        };
        assert!(small(&[]).is_ok());
        // 8 senders, 380 flooders and 20 other abusers leave no room for a
        // listener in each of the two channels.
        assert!(small(&["--flooders", "370"]).is_ok());
        assert!(small(&["--flooders", "380"]).is_err());
        // There are only two channels.
        assert!(small(&["--slow-channels", "3"]).is_err());
        assert!(small(&["--message-bytes", "401"]).is_err());
    }
}
