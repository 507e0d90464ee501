//! `LIST` with the ELIST conditions of ISUPPORT `ELIST=CMNTU` (modern.ircdocs.horse
//! LIST and "ELIST parameter"): member counts, creation and topic age, masks and
//! negated masks. `+s`/`+p` channels are listed only to members and IRC operators.

use super::super::{CmdError, Cx};
use crate::config::Privilege;
use crate::state::Channel;
use chatd_proto::mask::glob_match;
use chatd_proto::numeric::*;
use chatd_proto::Message;

/// What a LIST asks for: every condition must hold, and with names or masks given,
/// the channel must match one of them.
#[derive(Debug, Default, PartialEq, Eq)]
struct Filter {
    /// Exact names and masks (`M`), any of which may match.
    masks: Vec<String>,
    /// Negated masks (`N`, `!mask`), none of which may match.
    not_masks: Vec<String>,
    /// `U`: more than / fewer than this many members.
    more_than: Option<usize>,
    fewer_than: Option<usize>,
    /// `C`: created more / less than this many minutes ago.
    created_before_min: Option<i64>,
    created_within_min: Option<i64>,
    /// `T`: topic set more / less than this many minutes ago.
    topic_before_min: Option<i64>,
    topic_within_min: Option<i64>,
}

impl Filter {
    /// The comma-separated first parameter of LIST. A condition that does not
    /// parse (`>abc`) is ignored, as no condition.
    fn parse(param: &str) -> Filter {
        let mut f = Filter::default();
        for item in param.split(',').filter(|i| !i.is_empty()) {
            let num = |s: &str| s.parse::<i64>().ok().filter(|n| *n >= 0);
            if let Some(n) = item.strip_prefix('>') {
                f.more_than = num(n).map(|n| n as usize).or(f.more_than);
            } else if let Some(n) = item.strip_prefix('<') {
                f.fewer_than = num(n).map(|n| n as usize).or(f.fewer_than);
            } else if let Some(rest) = item
                .strip_prefix("C")
                .or_else(|| item.strip_prefix("c"))
                .filter(|r| r.starts_with(['<', '>']))
            {
                let (op, n) = rest.split_at(1);
                match op {
                    ">" => f.created_before_min = num(n).or(f.created_before_min),
                    _ => f.created_within_min = num(n).or(f.created_within_min),
                }
            } else if let Some(rest) = item
                .strip_prefix("T")
                .or_else(|| item.strip_prefix("t"))
                .filter(|r| r.starts_with(['<', '>']))
            {
                let (op, n) = rest.split_at(1);
                match op {
                    ">" => f.topic_before_min = num(n).or(f.topic_before_min),
                    _ => f.topic_within_min = num(n).or(f.topic_within_min),
                }
            } else if let Some(mask) = item.strip_prefix('!') {
                f.not_masks.push(mask.to_string());
            } else {
                f.masks.push(item.to_string());
            }
        }
        f
    }

    /// Whether `chan` passes, at Unix time `now`.
    fn matches(&self, chan: &Channel, now: i64) -> bool {
        let age_min = |t: i64| (now - t) / 60;
        let count = chan.members.len();
        let topic_age = chan.topic.as_ref().map(|t| age_min(t.time));
        (self.masks.is_empty() || self.masks.iter().any(|m| glob_match(m, &chan.name)))
            && !self.not_masks.iter().any(|m| glob_match(m, &chan.name))
            && self.more_than.is_none_or(|n| count > n)
            && self.fewer_than.is_none_or(|n| count < n)
            && self
                .created_before_min
                .is_none_or(|m| age_min(chan.created) > m)
            && self
                .created_within_min
                .is_none_or(|m| age_min(chan.created) < m)
            && self
                .topic_before_min
                .is_none_or(|m| topic_age.is_some_and(|a| a > m))
            && self
                .topic_within_min
                .is_none_or(|m| topic_age.is_some_and(|a| a < m))
    }
}

/// `LIST [<channel>|<elistcond>{,...}]` — RFC 2812 §3.2.6 and modern.ircdocs.horse
/// LIST: 321, one 322 per channel that passes, 323.
pub fn list(cx: &mut Cx, msg: &Message) -> Result<(), CmdError> {
    let filter = Filter::parse(msg.param(0));
    let (me, oper) = (cx.me, super::super::oper::can(cx, Privilege::SeeHidden));
    let now = chrono::Utc::now().timestamp();
    let mut rows: Vec<(String, usize, String)> = cx
        .state
        .channels
        .values()
        .filter(|c| !c.is_hidden_from(me, oper) && filter.matches(c, now))
        .map(|c| {
            let topic = c.topic.as_ref().map(|t| t.text.clone()).unwrap_or_default();
            (c.name.clone(), c.members.len(), topic)
        })
        .collect();
    rows.sort();
    cx.reply(RPL_LISTSTART, &["Channel", "Users  Name"]);
    for (name, count, topic) in rows {
        cx.reply(RPL_LIST, &[name, count.to_string(), topic]);
    }
    cx.reply(RPL_LISTEND, &["End of /LIST"]);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::channel::Topic;
    use crate::state::Member;

    #[test]
    fn conditions_parse_and_match() {
        let f = Filter::parse(">1,<5,C>10,T<3,*chat*,!*off*,>bad");
        assert_eq!(f.more_than, Some(1));
        assert_eq!(f.fewer_than, Some(5));
        assert_eq!(f.created_before_min, Some(10));
        assert_eq!(f.topic_within_min, Some(3));
        assert_eq!(f.masks, vec!["*chat*"]);
        assert_eq!(f.not_masks, vec!["*off*"]);

        let now = 100_000;
        let mut c = Channel::new("#chatroom", now - 20 * 60, 1);
        for slot in 0..3 {
            c.members.insert(slot, Member::default());
        }
        c.topic = Some(Topic {
            text: "t".into(),
            setter: "s".into(),
            time: now - 60,
        });
        // (conditions, passes)
        let cases = [
            ("", true),
            (">2", true),
            (">3", false),
            ("<3", false),
            ("<4", true),
            ("C>10", true),
            ("C<10", false),
            ("T<3", true),
            ("T>3", false),
            ("#CHATROOM", true),
            ("#other,*room", true),
            ("!*chat*", false),
            ("#other", false),
        ];
        for (param, want) in cases {
            assert_eq!(Filter::parse(param).matches(&c, now), want, "{param}");
        }
        c.topic = None;
        assert!(
            !Filter::parse("T<3").matches(&c, now),
            "no topic, no topic age"
        );
    }
}
