//! `reload` (and SIGHUP): re-reads the config file and the TLS certificate, applies
//! what may change while running, and says what needs a restart. Split from
//! `commands.rs`, which re-exports it.

use super::commands::Ctl;
use crate::config::Config;

/// Re-reads the config file (and the TLS certificate) and applies what can change
/// while running. On any error nothing changes. Used by `reload` and SIGHUP.
pub fn reload(ctl: &mut Ctl) -> Result<(Vec<String>, Vec<String>), String> {
    let mut new = match ctl.st.config_path.clone() {
        Some(path) => Config::load(&path).map_err(|e| e.to_string())?,
        None => ctl.config.clone(),
    };
    let file_before = ctl
        .st
        .file_config
        .clone()
        .unwrap_or_else(|| ctl.config.clone());
    let file_now = new.clone();
    let (mut changed, mut unchanged) = apply_reload(&file_before, ctl.config, &mut new);
    ctl.st.file_config = Some(file_now);
    if ctl.st.config_path.is_none() {
        unchanged.push("chatd runs without --config: only files are re-read".into());
    }
    let tls = match (&new.tls.cert, &new.tls.key) {
        (Some(cert), Some(key)) => Some(crate::tls::load(cert, key)?),
        _ => None,
    };
    if tls.is_some() != ctl.tls.is_some() {
        unchanged.push("turning TLS on or off (needs a restart)".into());
    } else if let Some(tls) = tls {
        *ctl.tls = Some(tls);
        changed.push("tls certificate (re-read)".into());
    }
    *ctl.config = new;
    let motd = ctl.config.motd_lines();
    if motd != *ctl.motd {
        changed.push("motd".into());
        *ctl.motd = motd;
    }
    ctl.conns.sendq_limit = ctl.config.limits.sendq_bytes;
    log::info!("config reloaded: changed {changed:?}; needs a restart: {unchanged:?}");
    Ok((changed, unchanged))
}

/// Keeps in `new` what cannot change while running (as `running` has it), and lists
/// what changed. `file_before` is what the file said before, so keys that command-line
/// flags override are reported only when the file itself changed them.
pub fn apply_reload(
    file_before: &Config,
    running: &Config,
    new: &mut Config,
) -> (Vec<String>, Vec<String>) {
    let old = running;
    let mut unchanged = Vec::new();
    let restart_only: [(&str, bool); 13] = [
        ("tls.listen", old.tls.listen != new.tls.listen),
        ("web.listen", old.web.listen != new.web.listen),
        ("web.tls_listen", old.web.tls_listen != new.web.tls_listen),
        (
            "server.listen",
            file_before.server.listen != new.server.listen,
        ),
        (
            "server.data_dir",
            file_before.server.data_dir != new.server.data_dir,
        ),
        (
            "log",
            format!("{:?}", file_before.log) != format!("{:?}", new.log),
        ),
        (
            "admin",
            format!("{:?}", old.admin) != format!("{:?}", new.admin),
        ),
        (
            "accounts.pbkdf2_iterations",
            old.accounts.pbkdf2_iterations != new.accounts.pbkdf2_iterations,
        ),
        (
            "history.queue_max_messages",
            old.history.queue_max_messages != new.history.queue_max_messages,
        ),
        (
            "history.queue_max_age_days",
            old.history.queue_max_age_days != new.history.queue_max_age_days,
        ),
        (
            "history.max_db_mib",
            old.history.max_db_mib != new.history.max_db_mib,
        ),
        (
            "history.startup_check",
            old.history.startup_check != new.history.startup_check,
        ),
        (
            "history.missed_per_channel",
            old.history.missed_per_channel != new.history.missed_per_channel,
        ),
    ];
    for (key, differs) in restart_only {
        if differs {
            unchanged.push(format!("{key} (needs a restart)"));
        }
    }
    new.server.listen = old.server.listen.clone();
    new.server.data_dir = old.server.data_dir.clone();
    new.log = old.log.clone();
    new.admin = old.admin.clone();
    new.tls.listen = old.tls.listen.clone();
    new.web.listen = old.web.listen.clone();
    new.web.tls_listen = old.web.tls_listen.clone();
    new.accounts.pbkdf2_iterations = old.accounts.pbkdf2_iterations;
    new.history.queue_max_messages = old.history.queue_max_messages;
    new.history.queue_max_age_days = old.history.queue_max_age_days;
    new.history.missed_per_channel = old.history.missed_per_channel;
    new.history.max_db_mib = old.history.max_db_mib;
    new.history.startup_check = old.history.startup_check;
    let mut changed = Vec::new();
    let sections = [
        (
            "server",
            format!("{:?}", old.server),
            format!("{:?}", new.server),
        ),
        (
            "limits",
            format!("{:?}", old.limits),
            format!("{:?}", new.limits),
        ),
        (
            "accounts",
            format!("{:?}", old.accounts),
            format!("{:?}", new.accounts),
        ),
        (
            "history",
            format!("{:?}", old.history),
            format!("{:?}", new.history),
        ),
        ("oper", format!("{:?}", old.oper), format!("{:?}", new.oper)),
        ("web", format!("{:?}", old.web), format!("{:?}", new.web)),
        (
            "oper_class",
            format!("{:?}", old.oper_class),
            format!("{:?}", new.oper_class),
        ),
        (
            "channels",
            format!("{:?}", old.channels),
            format!("{:?}", new.channels),
        ),
    ];
    for (name, a, b) in sections {
        if a != b {
            changed.push(name.to_string());
        }
    }
    if (old.tls.sts_duration_secs, old.tls.sts_port)
        != (new.tls.sts_duration_secs, new.tls.sts_port)
    {
        changed.push("tls.sts".to_string());
    }
    (changed, unchanged)
}
