//! The welcome burst a client gets when registration completes: 001–004, the
//! ISUPPORT (005) lines, LUSERS and the MOTD; LUSERS, MOTD and VERSION send the same
//! lines on request.

use super::Cx;
use crate::config::Config;
use crate::VERSION;
use chatd_proto::numeric::*;

/// 001–005, LUSERS and the MOTD, after registration.
pub fn welcome(cx: &mut Cx) {
    let network = cx.config.server.network.clone();
    let server = cx.server_name().to_string();
    let source = cx.user().source();
    let created = chrono::DateTime::from_timestamp(cx.state.started, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default();
    cx.reply(
        RPL_WELCOME,
        &[format!("Welcome to the {network} IRC Network {source}")],
    );
    cx.reply(
        RPL_YOURHOST,
        &[format!("Your host is {server}, running version {VERSION}")],
    );
    cx.reply(RPL_CREATED, &[format!("This server was created {created}")]);
    cx.reply(
        RPL_MYINFO,
        &[
            server.as_str(),
            VERSION,
            "Bio",
            "CIbehiklmnopqstv",
            "Ibehkloqv",
        ],
    );
    send_isupport(cx);
    send_lusers(cx);
    send_motd(cx);
    // A login before registration (SASL) may have made this client an operator.
    if cx.user().oper.is_some() {
        cx.reply(RPL_YOUREOPER, &["You are now an IRC operator"]);
    }
    let me = cx.me;
    cx.conns.trim_after_flush(me);
}

/// 005 lines, at most 13 tokens each.
pub fn send_isupport(cx: &mut Cx) {
    for chunk in isupport_tokens(cx.config).chunks(13) {
        let mut params: Vec<String> = chunk.to_vec();
        params.push("are supported by this server".into());
        cx.reply(RPL_ISUPPORT, &params);
    }
}

/// The ISUPPORT tokens this configuration advertises.
pub fn isupport_tokens(config: &Config) -> Vec<String> {
    let l = &config.limits;
    let t = l.targets_per_message;
    vec![
        format!("AWAYLEN={}", l.away_len),
        "BOT=B".into(),
        "CASEMAPPING=ascii".into(),
        format!("CHANLIMIT=#:{}", l.channels_per_user),
        "CHANMODES=beI,k,l,Cimnpst".into(),
        format!("CHANNELLEN={}", l.channel_len),
        "CHANTYPES=#".into(),
        "ELIST=CMNTU".into(),
        "EXCEPTS=e".into(),
        "EXTBAN=~,am".into(),
        "INVEX=I".into(),
        format!("KICKLEN={}", l.kick_len),
        format!("MAXLIST=b:{0},e:{0},I:{0}", l.bans_per_channel),
        format!("MAXTARGETS={t}"),
        format!("MODES={}", l.modes_per_command),
        format!("MONITOR={}", l.monitor_max),
        format!("NAMELEN={}", crate::state::names::REALNAME_LEN),
        format!("NETWORK={}", config.server.network),
        format!("NICKLEN={}", l.nick_len),
        "PREFIX=(qohv)~@%+".into(),
        "STATUSMSG=~@%+".into(),
        format!("TARGMAX=JOIN:,KICK:{t},NAMES:{t},NOTICE:{t},PART:,PRIVMSG:{t},TAGMSG:{t},WHOIS:1"),
        format!("TOPICLEN={}", l.topic_len),
        format!("USERLEN={}", l.user_len + 1),
        "UTF8ONLY".into(),
        "WHOX".into(),
        format!("CHATHISTORY={}", config.history.page_size),
        "MSGREFTYPES=msgid,timestamp".into(),
    ]
}

/// 251–255, 265, 266: the user, channel and connection counts.
pub fn send_lusers(cx: &mut Cx) {
    let counts = cx.state.counts;
    let (total, invisible, unknown, peak) = (
        counts.registered,
        counts.invisible,
        counts.unregistered,
        counts.peak,
    );
    let users = total - invisible;
    let channels = cx.state.channels.len();
    cx.reply(
        RPL_LUSERCLIENT,
        &[format!(
            "There are {users} users and {invisible} invisible on 1 servers"
        )],
    );
    cx.reply(RPL_LUSEROP, &["0", "operator(s) online"]);
    if unknown > 0 {
        cx.reply(
            RPL_LUSERUNKNOWN,
            &[unknown.to_string(), "unknown connection(s)".into()],
        );
    }
    cx.reply(
        RPL_LUSERCHANNELS,
        &[channels.to_string(), "channels formed".into()],
    );
    cx.reply(
        RPL_LUSERME,
        &[format!("I have {total} clients and 0 servers")],
    );
    let local = format!("Current local users {total}, max {peak}");
    cx.reply(
        RPL_LOCALUSERS,
        &[total.to_string(), peak.to_string(), local],
    );
    let global = format!("Current global users {total}, max {peak}");
    cx.reply(
        RPL_GLOBALUSERS,
        &[total.to_string(), peak.to_string(), global],
    );
}

/// 375, 372 per line, 376; or 422 when there is none.
pub fn send_motd(cx: &mut Cx) {
    if cx.motd.is_empty() {
        cx.reply(ERR_NOMOTD, &["MOTD File is missing"]);
        return;
    }
    let server = cx.server_name().to_string();
    cx.reply(
        RPL_MOTDSTART,
        &[format!("- {server} Message of the day - ")],
    );
    let lines: Vec<String> = cx.motd.to_vec();
    for line in lines {
        cx.reply(RPL_MOTD, &[format!("- {line}")]);
    }
    cx.reply(RPL_ENDOFMOTD, &["End of /MOTD command."]);
}
