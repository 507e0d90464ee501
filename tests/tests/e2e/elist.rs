//! LIST with ELIST conditions (<https://modern.ircdocs.horse/#list-message>,
//! <https://modern.ircdocs.horse/#elist-parameter>): ISUPPORT `ELIST=CMNTU`, member
//! counts (U), creation time (C), topic time (T), masks (M) and negated masks (N).

use chatd_proto::numeric::*;
use chatd_tests::*;

const SPEC: &str = "https://modern.ircdocs.horse/#elist-parameter";

/// The channel names a LIST answers, sorted.
fn listed(c: &mut Client, args: &str) -> Vec<String> {
    c.send(&format!("LIST {args}"));
    let got = c.sync();
    assert_eq!(commands(&got).first(), Some(&RPL_LISTSTART), "{got:?}");
    assert_eq!(commands(&got).last(), Some(&RPL_LISTEND));
    let mut names: Vec<String> = all(&got, RPL_LIST)
        .iter()
        .map(|m| m.param(1).to_string())
        .collect();
    names.sort();
    names
}

#[test]
fn elist_conditions() {
    let server = TestServer::start();
    let mut a = server.connect("a");
    let mut b = server.connect("b");
    a.join("#chat-big");
    b.join("#chat-big");
    a.join("#small");
    a.send("TOPIC #small :hello");
    a.sync();
    a.join("#offtopic");
    a.send("VERSION");
    let tokens: Vec<String> = all(&a.sync(), RPL_ISUPPORT)
        .iter()
        .flat_map(|m| m.params.iter().cloned())
        .collect();
    assert!(
        tokens.iter().any(|t| t == "ELIST=CMNTU"),
        "{SPEC}: {tokens:?}"
    );

    let all_three = vec!["#chat-big", "#offtopic", "#small"];
    assert_eq!(listed(&mut a, ""), all_three);
    // U: more / fewer members.
    assert_eq!(listed(&mut a, ">1"), vec!["#chat-big"], "{SPEC}: >n");
    assert_eq!(
        listed(&mut a, "<2"),
        vec!["#offtopic", "#small"],
        "{SPEC}: <n"
    );
    // M and N: masks, and masks that leave channels out.
    assert_eq!(listed(&mut a, "*CHAT*"), vec!["#chat-big"], "{SPEC}: mask");
    assert_eq!(
        listed(&mut a, "!*chat*"),
        vec!["#offtopic", "#small"],
        "{SPEC}: !mask"
    );
    assert_eq!(
        listed(&mut a, "#small,#offtopic"),
        vec!["#offtopic", "#small"]
    );
    // C: created less than 60 minutes ago (all of them), more than 60 (none).
    assert_eq!(listed(&mut a, "C<60"), all_three, "{SPEC}: C<");
    assert!(listed(&mut a, "C>60").is_empty(), "{SPEC}: C>");
    // T: only #small has a topic, set just now.
    assert_eq!(listed(&mut a, "T<60"), vec!["#small"], "{SPEC}: T<");
    assert!(listed(&mut a, "T>60").is_empty(), "{SPEC}: T>");
    // Conditions combine: all must hold.
    assert_eq!(listed(&mut a, "<2,!#small"), vec!["#offtopic"]);
}
