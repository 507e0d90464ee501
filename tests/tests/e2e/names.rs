//! NAMES for several channels (<https://modern.ircdocs.horse/#names-message>) and its
//! ISUPPORT `TARGMAX` entry (<https://modern.ircdocs.horse/#targmax-parameter>).

use chatd_proto::numeric::*;
use chatd_tests::*;

#[test]
fn several_channels_each_get_353_and_366_up_to_targmax() {
    // NAMES "<channel>{,<channel>}": one 353…366 per channel; TARGMAX NAMES:4 (from
    // limits.targets_per_message) is the most in one command.
    let server = TestServer::start();
    let mut c = server.connect("c");
    c.send("VERSION");
    let tokens: Vec<String> = all(&c.sync(), RPL_ISUPPORT)
        .iter()
        .flat_map(|m| m.params.iter().cloned())
        .collect();
    let targmax = tokens.iter().find(|t| t.starts_with("TARGMAX=")).unwrap();
    assert!(
        targmax.split([',', '=']).any(|e| e == "NAMES:4"),
        "{targmax}"
    );
    for chan in ["#a", "#b"] {
        c.join(chan);
    }
    c.send("NAMES #a,#b,#none");
    let got = c.sync();
    let ends: Vec<&str> = all(&got, RPL_ENDOFNAMES)
        .iter()
        .map(|m| m.param(1))
        .collect();
    assert_eq!(ends, vec!["#a", "#b", "#none"]);
    let chans: Vec<&str> = all(&got, RPL_NAMREPLY).iter().map(|m| m.param(2)).collect();
    assert_eq!(chans, vec!["#a", "#b"]);
    c.send("NAMES #a,#b,#c,#d,#e,#f");
    let got = c.sync();
    assert_eq!(one(&got, ERR_TOOMANYTARGETS).param(1), "#e");
    assert_eq!(all(&got, RPL_ENDOFNAMES).len(), 4, "the first 4 only");
}
