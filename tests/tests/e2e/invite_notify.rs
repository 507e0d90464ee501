//! IRCv3 invite-notify, https://ircv3.net/specs/extensions/invite-notify: the
//! channel's operators who negotiated it hear of an invitation; other members and
//! clients without the capability do not.

use chatd_proto::numeric::*;
use chatd_tests::*;

/// https://ircv3.net/specs/extensions/invite-notify ("INVITE" sent to channel members
/// with the capability who may invite, i.e. the operators).
#[test]
fn operators_with_the_cap_see_invites() {
    let server = TestServer::start();
    let mut owner = server.connect_with_caps("owner", "invite-notify");
    owner.join("#c");
    let mut other_op = server.connect_with_caps("otherop", "invite-notify");
    other_op.join("#c");
    owner.send("MODE #c +o otherop");
    let mut member = server.connect_with_caps("member", "invite-notify");
    member.join("#c");
    let mut oldop = server.connect("oldop");
    oldop.join("#c");
    owner.send("MODE #c +o oldop");
    for c in [&mut owner, &mut other_op, &mut member, &mut oldop] {
        c.sync();
    }
    let mut guest = server.connect("guest");
    owner.send("INVITE guest #c");
    let got = owner.sync();
    one(&got, RPL_INVITING);
    assert!(
        !has(&got, "INVITE"),
        "the inviter gets 341, not a copy: {got:?}"
    );
    let inv = guest.expect_command("INVITE");
    assert_eq!(inv.params, vec!["guest", "#c"]);
    let got = other_op.sync();
    let note = one(&got, "INVITE");
    assert_eq!(note.source_nick(), Some("owner"));
    assert_eq!(note.params, vec!["guest", "#c"]);
    assert!(!has(&member.sync(), "INVITE"), "not an operator");
    assert!(!has(&oldop.sync(), "INVITE"), "no invite-notify");
}
