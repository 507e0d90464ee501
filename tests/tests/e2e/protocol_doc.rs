//! docs/protocol.md against the server: its tables name every capability in
//! `Cap::ALL` (sorted, each with its spec link), every command in `COMMANDS`, every
//! ISUPPORT token `isupport_tokens` sends with its default value, and every user
//! and channel mode of `004 RPL_MYINFO`, so the document cannot drift from the code.

use chatd::cmd::welcome::isupport_tokens;
use chatd::cmd::COMMANDS;
use chatd::config::Config;
use chatd::state::user::Cap;
use chatd_tests::TestServer;
use std::collections::BTreeSet;

fn doc() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/protocol.md");
    std::fs::read_to_string(path).expect("docs/protocol.md is readable")
}

/// The rows (whole lines) of the first table after the line starting with `after`,
/// header and separator left out.
fn table<'a>(doc: &'a str, after: &str) -> Vec<&'a str> {
    let start = doc
        .lines()
        .position(|l| l.starts_with(after))
        .unwrap_or_else(|| panic!("docs/protocol.md has a line starting {after:?}"));
    doc.lines()
        .skip(start + 1)
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .collect()
}

/// A row's first cell.
fn first_cell(row: &str) -> &str {
    let row = row.trim_start_matches("| ");
    row.split(" | ").next().unwrap_or(row)
}

/// The first `code` span of `cell`.
fn code(cell: &str) -> &str {
    cell.split('`').nth(1).unwrap_or("")
}

fn has_link(row: &str) -> bool {
    row.contains("](https://")
}

/// The IRCv3 capability negotiation spec lists capabilities; chatd's table lists
/// each one it can advertise, by name, with a link to its spec
/// (https://ircv3.net/specs/extensions/capability-negotiation, "CAP LS").
#[test]
fn every_capability_is_documented_in_order_with_its_spec() {
    let doc = doc();
    let rows = table(&doc, "### Capabilities");
    let names: Vec<&str> = rows.iter().map(|r| code(first_cell(r))).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted, "the capability table is sorted by name");
    for row in &rows {
        assert!(has_link(first_cell(row)), "a spec link: {row}");
    }
    let documented: BTreeSet<&str> = names.into_iter().collect();
    let mut known: BTreeSet<&str> = Cap::ALL.iter().map(|(_, name)| *name).collect();
    // STS is a policy advertised with TLS configured, not a Cap a client holds.
    known.insert("sts");
    assert_eq!(
        documented, known,
        "documented capabilities = Cap::ALL + sts"
    );

    // And what a live server advertises is among them.
    let server = TestServer::start();
    let mut c = server.connect_raw();
    c.send("CAP LS 302");
    let ls = c.expect(|m| m.command == "CAP" && m.param(1) == "LS", "CAP LS");
    for token in ls.params.last().unwrap().split(' ') {
        let name = token.split('=').next().unwrap();
        assert!(documented.contains(name), "{name} is documented");
    }
}

/// Every row of `COMMANDS` has a row in the command table, and nothing else does
/// (modern.ircdocs.horse, "Client Messages"; IRCv3 for the extensions).
#[test]
fn every_command_is_documented_with_its_spec() {
    let doc = doc();
    let rows = table(&doc, "## Commands");
    let mut documented = BTreeSet::new();
    for row in &rows {
        let cell = first_cell(row);
        assert!(
            has_link(cell) || row.contains("(chatd's own)"),
            "a spec link, or said to be chatd's own: {row}"
        );
        for name in cell.split(", ") {
            let name = name.trim_start_matches('[');
            let name = name.split(']').next().unwrap_or(name);
            documented.insert(name.to_string());
        }
    }
    let known: BTreeSet<String> = COMMANDS.iter().map(|c| c.name.to_string()).collect();
    assert_eq!(documented, known, "documented commands = COMMANDS");
}

/// The ISUPPORT table is what the server sends with the default configuration, in
/// order (modern.ircdocs.horse, "RPL_ISUPPORT Parameters"), each with its spec.
#[test]
fn every_isupport_token_is_documented_with_its_spec() {
    let doc = doc();
    let rows = table(&doc, "ISUPPORT (`005 RPL_ISUPPORT`");
    for row in &rows {
        assert!(has_link(first_cell(row)), "a spec link: {row}");
    }
    let documented: Vec<&str> = rows.iter().map(|r| code(first_cell(r))).collect();
    let sent = isupport_tokens(&Config::default());
    assert_eq!(
        documented, sent,
        "the ISUPPORT table = isupport_tokens(defaults)"
    );

    // A live server (test limits) sends the same tokens.
    let server = TestServer::start();
    let mut c = server.connect("docs");
    c.send("VERSION");
    let got = c.sync();
    let live: Vec<&str> = chatd_tests::all(&got, chatd_proto::numeric::RPL_ISUPPORT)
        .iter()
        .flat_map(|m| &m.params[1..m.params.len() - 1])
        .map(|t| t.split('=').next().unwrap())
        .collect();
    let keys: Vec<&str> = documented
        .iter()
        .map(|t| t.split('=').next().unwrap())
        .collect();
    assert_eq!(live, keys, "the live server's ISUPPORT keys");
}

/// Every mode letter of `004 RPL_MYINFO` (modern.ircdocs.horse, "RPL_MYINFO") has
/// its row in the user or channel mode table, and the tables hold no other.
#[test]
fn every_mode_is_documented() {
    let doc = doc();
    let letters = |heading: &str| -> BTreeSet<char> {
        // A row may name several modes: `+o nick` / `+v nick`.
        table(&doc, heading)
            .iter()
            .flat_map(|r| {
                let spans: Vec<&str> = first_cell(r).split('`').skip(1).step_by(2).collect();
                assert!(!spans.is_empty(), "a mode: {r}");
                spans.into_iter().map(move |mode| {
                    assert!(mode.starts_with('+'), "a mode: {r}");
                    mode.chars().nth(1).expect("a mode letter")
                })
            })
            .collect()
    };
    let server = TestServer::start();
    let mut c = server.connect_raw();
    c.register("docs");
    let myinfo = c
        .received()
        .iter()
        .find_map(|l| chatd_proto::parse(l).ok().filter(|m| m.command == "004"))
        .expect("004 RPL_MYINFO");
    let user: BTreeSet<char> = myinfo.param(3).chars().collect();
    let channel: BTreeSet<char> = myinfo.param(4).chars().collect();
    assert_eq!(letters("### User modes"), user, "user modes = 004");
    assert_eq!(letters("### Channel modes"), channel, "channel modes = 004");
}
