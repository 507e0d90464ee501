//! [`Config::validate`]: the checks serde cannot make (ranges, names, keys that go
//! together), each error naming its key as `section.key`.

use super::{parse_level, Config, ConfigError};

impl Config {
    /// Checks values serde cannot; each error names its key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad =
            |key: &str, why: &str| Err(ConfigError(format!("invalid value for `{key}`: {why}")));
        if !chatd_proto::mask::is_valid_hostname(&self.server.name) {
            return bad(
                "server.name",
                "must be a hostname with a dot, like chat.example.com",
            );
        }
        if self.server.network.is_empty() || self.server.network.contains(' ') {
            return bad("server.network", "must be one word");
        }
        let cluster = &self.cluster;
        if cluster.node_id > 63 {
            return bad("cluster.node_id", "must be 0 (single node) or 1 to 63");
        }
        if !cluster.enabled() && (!cluster.database.is_empty() || !cluster.redis.is_empty()) {
            return bad(
                "cluster.node_id",
                "a cluster member needs a node id (1 to 63) with cluster.database or cluster.redis",
            );
        }
        if cluster
            .node_name
            .contains(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        {
            return bad("cluster.node_name", "letters, digits, '-' and '_' only");
        }
        if !cluster.redis_ca_file.is_empty() && !cluster.redis.starts_with("rediss://") {
            return bad(
                "cluster.redis_ca_file",
                "is for a TLS link: cluster.redis must be a rediss:// URL",
            );
        }
        if !(1..=3600).contains(&cluster.node_timeout_secs) {
            return bad("cluster.node_timeout_secs", "must be 1 to 3600");
        }
        if !(1..=3600).contains(&cluster.refresh_secs) {
            return bad("cluster.refresh_secs", "must be 1 to 3600");
        }
        if !(1000..=100_000_000).contains(&cluster.stream_length) {
            return bad("cluster.stream_length", "must be 1000 to 100000000");
        }
        if self.tls.cert.is_some() != self.tls.key.is_some() {
            return bad(
                "tls.cert",
                "tls.cert and tls.key go together: set both or neither",
            );
        }
        if self.tls.enabled() && self.tls.listen.is_empty() {
            return bad(
                "tls.listen",
                "at least one address is needed with a certificate",
            );
        }
        if self.server.listen.is_empty() && !self.tls.enabled() {
            return bad(
                "server.listen",
                "at least one address is needed (or a TLS listener with tls.cert and tls.key)",
            );
        }
        if self.tls.sts_duration_secs.is_some() && !self.tls.enabled() {
            return bad(
                "tls.sts_duration_secs",
                "an STS policy needs TLS: set tls.cert and tls.key",
            );
        }
        if self.tls.sts_port.is_some() && self.tls.sts_duration_secs.is_none() {
            return bad("tls.sts_port", "is used only with tls.sts_duration_secs");
        }
        if self.tls.sts_port == Some(0) {
            return bad("tls.sts_port", "must be a port number, 1 to 65535");
        }
        if !self.web.tls_listen.is_empty() && !self.tls.enabled() {
            return bad(
                "web.tls_listen",
                "HTTPS listeners use the IRC certificate: set tls.cert and tls.key",
            );
        }
        for origin in &self.web.allowed_origins {
            let scheme_ok = origin.starts_with("http://") || origin.starts_with("https://");
            if !scheme_ok || origin.ends_with('/') || origin.contains(char::is_whitespace) {
                return bad(
                    "web.allowed_origins",
                    "each must be an origin like https://chat.example.com (scheme and host, \
                     no path, no trailing slash)",
                );
            }
        }
        if self.tls.handshake_timeout_secs == 0 {
            return bad("tls.handshake_timeout_secs", "must be at least 1");
        }
        let l = &self.limits;
        for (key, value, min, max) in [
            ("limits.nick_len", l.nick_len, 1, 400),
            ("limits.user_len", l.user_len, 1, 400),
            ("limits.channel_len", l.channel_len, 2, 400),
            ("limits.topic_len", l.topic_len, 1, 400),
            ("limits.kick_len", l.kick_len, 1, 400),
            ("limits.away_len", l.away_len, 1, 400),
            ("limits.channels_per_user", l.channels_per_user, 1, 100_000),
            ("limits.targets_per_message", l.targets_per_message, 1, 1000),
            ("limits.modes_per_command", l.modes_per_command, 1, 100),
            ("limits.bans_per_channel", l.bans_per_channel, 0, 100_000),
            ("limits.monitor_max", l.monitor_max, 1, 10_000),
            ("limits.whowas_entries", l.whowas_entries, 0, 1_000_000),
            ("limits.sendq_bytes", l.sendq_bytes, 4096, 1 << 30),
            ("limits.max_clients", l.max_clients, 1, 10_000_000),
            ("limits.conns_per_ip", l.conns_per_ip, 1, 10_000_000),
            (
                "limits.connects_per_ip_per_minute",
                l.connects_per_ip_per_minute as usize,
                1,
                10_000_000,
            ),
            (
                "limits.members_per_channel",
                l.members_per_channel,
                1,
                10_000_000,
            ),
            ("limits.flood_burst", l.flood_burst as usize, 1, 10_000_000),
            ("limits.flood_rate", l.flood_rate as usize, 1, 10_000_000),
            ("limits.recvq_bytes", l.recvq_bytes, 1024, 1 << 30),
            (
                "limits.trusted_flood_burst",
                l.trusted_flood_burst as usize,
                1,
                10_000_000,
            ),
            (
                "limits.trusted_flood_rate",
                l.trusted_flood_rate as usize,
                1,
                10_000_000,
            ),
            (
                "limits.registrations_per_ip_per_hour",
                l.registrations_per_ip_per_hour as usize,
                1,
                10_000_000,
            ),
        ] {
            if value < min || value > max {
                return bad(key, &format!("{value} is outside {min}..={max}"));
            }
        }
        // A page is 4 KiB: the cap becomes SQLite's max_page_count, at most 2^32 - 2.
        if self.history.max_db_mib > 16 * 1024 * 1024 {
            return bad(
                "history.max_db_mib",
                "must be at most 16777216 (16 TiB), or 0 for no limit",
            );
        }
        for (key, value) in [
            (
                "limits.registration_timeout_secs",
                l.registration_timeout_secs,
            ),
            ("limits.ping_interval_secs", l.ping_interval_secs),
            ("limits.ping_timeout_secs", l.ping_timeout_secs),
        ] {
            if value == 0 {
                return bad(key, "must be at least 1");
            }
        }
        let a = &self.accounts;
        if a.pbkdf2_iterations < 1000 {
            return bad("accounts.pbkdf2_iterations", "must be at least 1000");
        }
        if a.pbkdf2_iterations < 100_000 {
            log::warn!(
                "accounts.pbkdf2_iterations = {} is below the recommended 100000",
                a.pbkdf2_iterations
            );
        }
        for (key, value, min, max) in [
            ("accounts.min_password_len", a.min_password_len, 1, 300),
            (
                "accounts.nick_grace_secs",
                a.nick_grace_secs as usize,
                0,
                86_400,
            ),
            (
                "accounts.login_failures_per_conn",
                a.login_failures_per_conn as usize,
                1,
                1000,
            ),
            (
                "accounts.login_failures_per_ip",
                a.login_failures_per_ip as usize,
                1,
                100_000,
            ),
            ("history.page_size", self.history.page_size, 1, 10_000),
            (
                "history.missed_per_channel",
                self.history.missed_per_channel,
                0,
                10_000,
            ),
            (
                "history.queue_max_messages",
                self.history.queue_max_messages,
                1,
                1_000_000,
            ),
            (
                "history.queue_max_age_days",
                self.history.queue_max_age_days as usize,
                1,
                36_500,
            ),
            (
                "history.log_backlog_max",
                self.history.log_backlog_max,
                100,
                10_000_000,
            ),
            (
                "history.commit_window_ms",
                self.history.commit_window_ms as usize,
                0,
                1_000,
            ),
        ] {
            if value < min || value > max {
                return bad(key, &format!("{value} is outside {min}..={max}"));
            }
        }
        if !a.account_host.is_empty() {
            let rest = a.account_host.replace("{account}", "");
            if !a.account_host.contains("{account}")
                || rest.is_empty()
                || !rest
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
                || a.account_host.len() > 40
            {
                return bad(
                    "accounts.account_host",
                    "must hold {account} and otherwise only letters, digits, '.' and '-' \
                     (at most 40 bytes), e.g. \"{account}.users.chatd\"",
                );
            }
        }
        if a.guest_prefix.is_empty()
            || !crate::state::names::is_valid_nick(&format!("{}1", a.guest_prefix), 30)
        {
            return bad("accounts.guest_prefix", "must start a valid nick");
        }
        let digits = crate::state::names::GUEST_DIGITS;
        if a.guest_prefix.len() + digits > l.nick_len {
            return bad(
                "accounts.guest_prefix",
                &format!(
                    "{:?} and the {digits} digits of a guest nick must fit in limits.nick_len \
                     ({}): shorten the prefix or raise limits.nick_len to at least {}",
                    a.guest_prefix,
                    l.nick_len,
                    a.guest_prefix.len() + digits
                ),
            );
        }
        for (i, class) in self.oper_class.iter().enumerate() {
            if class.name.is_empty() || class.name.contains(' ') {
                return bad(&format!("oper_class[{i}].name"), "must be one word");
            }
            if let Err(unknown) = super::Privileges::from_names(&class.privileges) {
                let known: Vec<&str> = super::Privilege::NAMES.iter().map(|(n, _)| *n).collect();
                return bad(
                    &format!("oper_class[{i}].privileges"),
                    &format!(
                        "unknown privilege {unknown:?} (known: {}, or \"*\")",
                        known.join(", ")
                    ),
                );
            }
        }
        for (i, oper) in self.oper.iter().enumerate() {
            if oper.name.is_empty() || oper.name.contains(' ') {
                return bad(&format!("oper[{i}].name"), "must be one word");
            }
            if self.class_privileges(&oper.class).is_none() {
                return bad(
                    &format!("oper[{i}].class"),
                    &format!(
                        "no class {:?}: add an [[oper_class]] or use admin or moderator",
                        oper.class
                    ),
                );
            }
            let by_account = oper.account.is_some() && oper.password.is_empty();
            if !by_account && oper.password.parse::<crate::store::PasswordHash>().is_err() {
                return bad(
                    &format!("oper[{i}].password"),
                    "must be a hash printed by `chatd hash-password`",
                );
            }
        }
        for chan in &self.server.auto_join {
            if !crate::state::names::is_valid_channel(chan, l.channel_len) {
                return bad(
                    "server.auto_join",
                    &format!("{chan:?} is not a valid channel name"),
                );
            }
        }
        if parse_level(&self.log.level).is_none() {
            return bad(
                "log.level",
                "must be one of error, warn, info, debug, trace",
            );
        }
        Ok(())
    }
}
