//! [`Outgoing`]: one message on its way to many recipients. It is serialized at most
//! once per distinct set of tags the recipients can see (plain, with `time`, with all
//! tags...), and every recipient's queue shares those bytes.

use crate::state::{Cap, Caps};
use chatd_proto::Message;
use std::sync::Arc;

/// Shared, immutable wire bytes of one line (with its `\r\n`).
pub type Bytes = Arc<[u8]>;

/// The capability a client needs to be sent a tag.
fn cap_for_tag(key: &str) -> Cap {
    match key {
        "time" => Cap::ServerTime,
        "batch" => Cap::Batch,
        "account" => Cap::AccountTag,
        "draft/multiline-concat" => Cap::Multiline,
        _ => Cap::MessageTags,
    }
}

#[derive(Debug)]
pub struct Outgoing {
    msg: Message,
    /// Union of the capability bits that decide which tags a recipient sees.
    mask: u32,
    /// (visible-cap bits, bytes) for each variant serialized so far.
    variants: Vec<(u32, Bytes)>,
}

impl Outgoing {
    pub fn new(msg: Message) -> Outgoing {
        let mask = msg
            .tags
            .iter()
            .fold(0, |m, t| m | cap_for_tag(&t.key) as u32);
        Outgoing {
            msg,
            mask,
            variants: Vec::with_capacity(2),
        }
    }

    /// The same message addressed to `target` (its first parameter).
    pub fn retarget(&self, target: &str) -> Outgoing {
        let mut msg = self.msg.clone();
        if let Some(p) = msg.params.first_mut() {
            *p = target.to_string();
        }
        Outgoing::new(msg)
    }

    /// The bytes for a recipient with `caps`, serialized on first use.
    pub fn bytes_for(&mut self, caps: Caps) -> Bytes {
        let key = caps.0 & self.mask;
        if let Some((_, b)) = self.variants.iter().find(|(k, _)| *k == key) {
            return b.clone();
        }
        let bytes: Bytes = self
            .msg
            .to_line_with(|t| key & cap_for_tag(&t.key) as u32 != 0)
            .into();
        self.variants.push((key, bytes.clone()));
        bytes
    }
}

/// The `time` tag value for now: `2026-11-22T10:00:00.000Z`.
pub fn server_time_now() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_serialization_per_variant() {
        let msg = Message::new("PRIVMSG", ["#c", "hi"])
            .with_source("a!b@c")
            .with_tag("time", "2026-01-01T00:00:00.000Z")
            .with_tag("+typing", "active");
        let mut out = Outgoing::new(msg);
        let mut plain = Caps::default();
        plain.set(Cap::EchoMessage, true);
        let mut st = Caps::default();
        st.set(Cap::ServerTime, true);
        let mut all = st;
        all.set(Cap::MessageTags, true);
        let a = out.bytes_for(plain);
        let b = out.bytes_for(Caps::default());
        assert!(Arc::ptr_eq(&a, &b), "same variant shares bytes");
        assert_eq!(&*a, b":a!b@c PRIVMSG #c hi\r\n");
        assert_eq!(
            &*out.bytes_for(st),
            b"@time=2026-01-01T00:00:00.000Z :a!b@c PRIVMSG #c hi\r\n"
        );
        assert_eq!(
            &*out.bytes_for(all),
            b"@time=2026-01-01T00:00:00.000Z;+typing=active :a!b@c PRIVMSG #c hi\r\n"
        );
        assert_eq!(out.variants.len(), 3);
    }
}
