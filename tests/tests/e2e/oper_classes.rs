//! Operator classes (`[[oper_class]]`, docs/roles.md): what an operator may do is its
//! class's privileges; an `[[oper]]` may name an account whose login is enough.
//! The numerics are those of https://modern.ircdocs.horse/#errnoprivileges-481,
//! #rplyoureoper-381 and #rplwhoisoperator-313.

use chatd::config::{OperClassConfig, OperConfig};
use chatd_proto::numeric::*;
use chatd_tests::*;

const PW: &str = "hunter22";

fn by_account(name: &str, account: &str, class: &str) -> OperConfig {
    OperConfig {
        name: name.into(),
        account: Some(account.into()),
        class: class.into(),
        ..Default::default()
    }
}

/// The built-in moderator class kicks and bans anywhere, but has no KILL, no
/// WALLOPS and no other channel modes. https://modern.ircdocs.horse/#kill-message
#[test]
fn a_moderator_kicks_and_bans_but_cannot_kill() {
    let server = TestServer::start_with(|c| c.oper.push(by_account("mods", "mo", "moderator")));
    server.create_account("mo", PW);
    let mut owner = server.connect("owner");
    owner.join("#c");
    let mut pest = server.connect("pest");
    pest.join("#c");
    let mut mo = server.connect_sasl("mo", "", "mo", PW);
    mo.expect_numeric(RPL_YOUREOPER);
    mo.send("KILL pest :bye");
    mo.expect_numeric(ERR_NOPRIVILEGES);
    mo.send("WALLOPS :hello");
    mo.expect_numeric(ERR_NOPRIVILEGES);
    mo.send("MODE #c +m");
    mo.expect_numeric(ERR_CHANOPRIVSNEEDED);
    mo.send("MODE #c +b ~m:pest!*@*");
    let ban = owner.expect_command("MODE");
    assert_eq!((ban.param(1), ban.param(2)), ("+b", "~m:pest!*@*"));
    mo.send("KICK #c pest :enough");
    let kick = pest.expect_command("KICK");
    assert_eq!(kick.param(1), "pest");
    pest.sync();
}

/// A class from the config with its own privileges.
#[test]
fn a_configured_class_has_exactly_its_privileges() {
    let server = TestServer::start_with(|c| {
        c.oper_class.push(OperClassConfig {
            name: "herald".into(),
            privileges: vec!["wallops".into()],
        });
        c.oper.push(by_account("heralds", "h", "herald"));
    });
    server.create_account("h", PW);
    let mut other = server.connect("other");
    let mut h = server.connect_sasl("h", "", "h", PW);
    h.expect_numeric(RPL_YOUREOPER);
    h.send("WALLOPS :news");
    h.expect_command("WALLOPS");
    h.send("KILL other :bye");
    h.expect_numeric(ERR_NOPRIVILEGES);
    other.sync();
}

/// WHOIS shows the class to operators and to the operator itself, and to others
/// only that it is an operator.
#[test]
fn whois_shows_the_class_to_those_allowed() {
    let server = TestServer::start_with(|c| c.oper.push(by_account("mods", "mo", "moderator")));
    server.create_account("mo", PW);
    let mut mo = server.connect_sasl("mo", "", "mo", PW);
    mo.expect_numeric(RPL_YOUREOPER);
    mo.send("WHOIS mo");
    let own = mo.expect_numeric(RPL_WHOISOPERATOR);
    assert_eq!(own.param(2), "is an IRC operator (moderator)");
    let mut user = server.connect("user");
    user.send("WHOIS mo");
    let seen = user.expect_numeric(RPL_WHOISOPERATOR);
    assert_eq!(seen.param(2), "is an IRC operator");
}

/// The config names a class that exists and privileges that exist, else it is
/// refused naming the key.
#[test]
fn unknown_classes_and_privileges_are_refused() {
    let unknown_class = "[[oper]]\nname = \"x\"\naccount = \"a\"\nclass = \"nobody\"\n";
    let e = chatd::Config::parse(unknown_class).unwrap_err().to_string();
    assert!(e.contains("oper[0].class"), "{e}");
    let unknown_privilege = "[[oper_class]]\nname = \"c\"\nprivileges = [\"fly\"]\n";
    let e = chatd::Config::parse(unknown_privilege)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("oper_class[0].privileges") && e.contains("fly"),
        "{e}"
    );
    let no_password = "[[oper]]\nname = \"x\"\n";
    let e = chatd::Config::parse(no_password).unwrap_err().to_string();
    assert!(e.contains("oper[0].password"), "{e}");
}

/// `see_hidden` decides whether an operator sees `+s` channels it is not in: the
/// built-in moderator class has it, a class without it sees what anyone sees.
/// https://modern.ircdocs.horse/#list-message (secret channels are not listed).
#[test]
fn only_a_class_with_see_hidden_lists_secret_channels() {
    let server = TestServer::start_with(|c| {
        c.oper_class.push(OperClassConfig {
            name: "herald".into(),
            privileges: vec!["wallops".into()],
        });
        c.oper.push(by_account("mods", "mo", "moderator"));
        c.oper.push(by_account("heralds", "h", "herald"));
    });
    server.create_account("mo", PW);
    server.create_account("h", PW);
    let mut owner = server.connect("owner");
    owner.join("#hush");
    owner.send("MODE #hush +s");
    owner.expect_command("MODE");
    let listed = |c: &mut Client| {
        c.send("LIST");
        c.sync()
            .iter()
            .any(|m| m.command == RPL_LIST && m.param(1) == "#hush")
    };
    let mut mo = server.connect_sasl("mo", "", "mo", PW);
    mo.expect_numeric(RPL_YOUREOPER);
    assert!(listed(&mut mo), "a moderator sees the secret channel");
    let mut h = server.connect_sasl("h", "", "h", PW);
    h.expect_numeric(RPL_YOUREOPER);
    assert!(!listed(&mut h), "a class without see_hidden does not");
}
