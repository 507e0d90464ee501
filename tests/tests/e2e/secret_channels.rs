//! Channel modes `+s` (secret) and `+p` (private) (modern.ircdocs.horse
//! <https://modern.ircdocs.horse/#secret-channel-mode>,
//! <https://modern.ircdocs.horse/#rplnamreply-353>): hidden from LIST, NAMES, WHO and
//! WHOIS of non-members; `@` / `*` / `=` in 353; IRC operators see all.

use chatd::config::OperConfig;
use chatd::store::password;
use chatd_proto::numeric::*;
use chatd_tests::*;

const SPEC: &str = "https://modern.ircdocs.horse/#secret-channel-mode";

fn server() -> TestServer {
    TestServer::start_with(|c| {
        c.oper = vec![OperConfig {
            name: "admin".into(),
            password: password::hash("opersecret", 1000).to_string(),
            ..Default::default()
        }];
    })
}

fn list_names(c: &mut Client) -> Vec<String> {
    c.send("LIST");
    all(&c.sync(), RPL_LIST)
        .iter()
        .map(|m| m.param(1).to_string())
        .collect()
}

#[test]
fn modes_are_advertised_and_set() {
    let server = server();
    let mut owner = server.connect("owner");
    owner.join("#hide");
    owner.send("MODE #hide +sp");
    let got = owner.sync();
    assert_eq!(one(&got, "MODE").param(1), "+sp");
    owner.send("MODE #hide");
    let got = owner.sync();
    assert_eq!(one(&got, RPL_CHANNELMODEIS).param(2), "+npst");
    owner.send("VERSION");
    let got = owner.sync();
    let chanmodes = all(&got, RPL_ISUPPORT)
        .iter()
        .flat_map(|m| m.params.clone())
        .find(|t| t.starts_with("CHANMODES="))
        .unwrap();
    let flags = chanmodes.rsplit(',').next().unwrap();
    assert!(flags.contains('s') && flags.contains('p'), "{chanmodes}");
}

#[test]
fn a_secret_channel_is_hidden_from_outsiders_everywhere() {
    let server = server();
    let mut owner = server.connect("owner");
    owner.join("#hide");
    owner.join("#open");
    owner.send("MODE #hide +s");
    owner.sync();
    let mut outsider = server.connect("outsider");
    // LIST
    assert_eq!(list_names(&mut outsider), vec!["#open"], "{SPEC}: LIST");
    assert_eq!(list_names(&mut owner).len(), 2, "members see it");
    // NAMES: only the end, as for a channel that does not exist.
    outsider.send("NAMES #hide");
    let got = outsider.sync();
    assert_eq!(commands(&got), vec![RPL_ENDOFNAMES], "{SPEC}: NAMES");
    owner.send("NAMES #hide");
    let got = owner.sync();
    assert_eq!(one(&got, RPL_NAMREPLY).param(1), "@", "353 symbol of +s");
    // WHO #chan: no rows; WHO nick: never the secret channel in the column.
    outsider.send("WHO #hide");
    assert_eq!(
        commands(&outsider.sync()),
        vec![RPL_ENDOFWHO],
        "{SPEC}: WHO"
    );
    owner.send("PART #open");
    owner.sync();
    outsider.send("WHO owner");
    let got = outsider.sync();
    assert_eq!(one(&got, RPL_WHOREPLY).param(1), "*", "{SPEC}: WHO mask");
    // WHOIS: 319 leaves it out (here it was the only channel: no 319).
    outsider.send("WHOIS owner");
    let got = outsider.sync();
    assert!(!has(&got, RPL_WHOISCHANNELS), "{SPEC}: WHOIS {got:?}");
    owner.send("WHOIS owner");
    let got = owner.sync();
    assert_eq!(one(&got, RPL_WHOISCHANNELS).param(2), "@#hide");
}

#[test]
fn private_is_star_in_names_and_hidden_too() {
    let server = server();
    let mut owner = server.connect("owner");
    owner.join("#p");
    owner.send("MODE #p +p");
    owner.sync();
    owner.send("NAMES #p");
    let got = owner.sync();
    assert_eq!(one(&got, RPL_NAMREPLY).param(1), "*", "353 symbol of +p");
    let mut outsider = server.connect("outsider");
    assert!(list_names(&mut outsider).is_empty());
    owner.send("MODE #p -p");
    owner.sync();
    assert_eq!(list_names(&mut outsider), vec!["#p"]);
    outsider.send("NAMES #p");
    let got = outsider.sync();
    assert_eq!(one(&got, RPL_NAMREPLY).param(1), "=", "public again");
}

#[test]
fn irc_operators_see_secret_channels() {
    let server = server();
    let mut owner = server.connect("owner");
    owner.join("#hide");
    owner.send("MODE #hide +s");
    owner.sync();
    let mut op = server.connect("op");
    op.send("OPER admin opersecret");
    op.expect_numeric(RPL_YOUREOPER);
    assert_eq!(list_names(&mut op), vec!["#hide"], "{SPEC}");
    op.send("NAMES #hide");
    let got = op.sync();
    assert_eq!(one(&got, RPL_NAMREPLY).param(3), "@owner");
    op.send("WHO #hide");
    assert_eq!(all(&op.sync(), RPL_WHOREPLY).len(), 1);
}
