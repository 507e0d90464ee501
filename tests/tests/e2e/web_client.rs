//! The web client chatd serves (`daemon/web/`, `docs/web.md`) in a real browser:
//! headless Chromium over WebDriver, against the real server's web listener. Users
//! chat with each other and with a TCP client, see offline messages with their
//! original time, page back through history (IRCv3 draft/chathistory,
//! <https://ircv3.net/specs/extensions/chathistory>), get notified of private
//! messages while the tab is hidden, and use it on a 375 px wide screen. Screenshots
//! are kept in `target/web-screenshots/`. Marked ignored when Chromium or
//! chromedriver is missing, unless `CI` is set (`.ci/run` installs them).
//!
//! A page has no PING/PONG: the tests wait for what the page shows
//! (`Browser::wait`, bounded by the kit's timeout), as the terminal tests read a
//! screen.

use chatd_tests::browser::Browser;
use chatd_tests::*;
use serde_json::json;
use std::path::PathBuf;

const PASSWORD: &str = "correct-horse-battery";

fn web_server() -> TestServer {
    TestServer::start_with(|c| {
        c.web.listen = vec!["127.0.0.1:0".parse().unwrap()];
    })
}

fn screenshots() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/web-screenshots")
}

/// A browser at the server's page, logged in as `account` (created beforehand).
fn logged_in(server: &TestServer, account: &str, width: u32, height: u32) -> Browser {
    let b = Browser::start(width, height);
    b.goto(&format!("http://{}/", server.web_addr.unwrap()));
    b.wait("document.getElementById('login-form')", "the login page");
    b.type_keys("#login-account", account);
    b.type_keys("#login-password", &format!("{PASSWORD}\n"));
    b.wait(
        "!document.getElementById('app').hidden",
        "the app after login",
    );
    b.wait(
        &format!(
            "document.getElementById('me-nick').textContent === {}",
            json!(account)
        ),
        "own nick shown",
    );
    b
}

fn join(b: &Browser, channel: &str) {
    b.type_keys("#join-input", &format!("{channel}\n"));
    b.wait(
        &format!(
            "document.getElementById('buffer-name').textContent === {}",
            json!(channel)
        ),
        "the joined channel shown",
    );
}

/// Opens the conversation named `name` in the sidebar.
fn open(b: &Browser, name: &str) {
    b.click(&format!("button[data-buffer=\"{name}\"]"));
    b.wait(
        &format!(
            "document.getElementById('buffer-name').textContent === {}",
            json!(name)
        ),
        "the conversation opened",
    );
}

/// Two browser users and a TCP user chat in a channel and privately; the member
/// list shows the channel operator's role; typing shows on the other side.
#[test]
#[cfg_attr(
    not(all(has_chromium, has_chromedriver)),
    ignore = "chromium or chromedriver not installed"
)]
fn two_browsers_and_a_tcp_user_chat_in_a_channel_and_privately() {
    let server = web_server();
    server.create_account("alice", PASSWORD);
    server.create_account("bob", PASSWORD);
    let alice = logged_in(&server, "alice", 1280, 800);
    join(&alice, "#team");
    let bob = logged_in(&server, "bob", 1280, 800);
    join(&bob, "#team");
    let mut carol = server.connect("carol");
    carol.join("#team");
    carol.sync();

    carol.send("PRIVMSG #team :hi from the terminal");
    alice.wait_message("hi from the terminal");
    bob.wait_message("hi from the terminal");

    alice.type_keys("#composer-input", "hello from alice's browser\n");
    carol.expect_privmsg_from("alice", "hello from alice's browser");
    bob.wait_message("hello from alice's browser");

    // Roles: alice created #team, so she is its operator.
    bob.wait(
        "[...document.querySelectorAll('#member-list button')].some(b => \
         b.getAttribute('aria-label') === 'alice, operator')",
        "alice listed as operator",
    );

    // Typing (+typing client tag) shows in the other browser.
    carol.send("@+typing=active TAGMSG #team");
    alice.wait(
        "document.getElementById('typing').textContent.includes('carol is typing')",
        "carol typing",
    );

    // Privately: browser to browser, then the TCP user to a browser and back.
    bob.type_keys("#composer-input", "/msg alice psst, alice\n");
    alice.wait(
        "document.querySelector('button[data-buffer=\"bob\"] .badge')",
        "an unread badge for bob",
    );
    open(&alice, "bob");
    alice.wait_message("psst, alice");
    carol.send("PRIVMSG alice :a word in private");
    alice.wait(
        "document.querySelector('button[data-buffer=\"carol\"]')",
        "a conversation with carol",
    );
    open(&alice, "carol");
    alice.wait_message("a word in private");
    alice.type_keys("#composer-input", "got it, carol\n");
    carol.expect_privmsg_from("alice", "got it, carol");
    alice.screenshot(&screenshots().join("desktop-private.png"));
    open(&alice, "#team");
    alice.screenshot(&screenshots().join("desktop-channel.png"));
}

/// A message sent to an offline account is shown at login with the time it was
/// sent (server-time), not the time it arrived.
#[test]
#[cfg_attr(
    not(all(has_chromium, has_chromedriver)),
    ignore = "chromium or chromedriver not installed"
)]
fn offline_message_shows_at_login_with_its_original_time() {
    let server = web_server();
    server.create_account("dave", PASSWORD);
    let mut erin = server.connect_with_caps("erin", "server-time batch");
    erin.send("PRIVMSG dave :while you were out");
    erin.store_sync();
    erin.send("CHATHISTORY LATEST dave * 1");
    let batch = erin.expect_history_batch("dave");
    let sent = batch[0].tag("time").expect("server-time").to_string();

    let dave = logged_in(&server, "dave", 1280, 800);
    dave.wait(
        "document.querySelector('button[data-buffer=\"erin\"]')",
        "the conversation with erin",
    );
    open(&dave, "erin");
    dave.wait_message("while you were out");
    let shown = dave.js(
        "const li = [...document.querySelectorAll('#message-list .msg')]\
           .find(li => li.innerText.includes('while you were out'));\
         return li.querySelector('time').dateTime;",
        json!([]),
    );
    assert_eq!(
        shown.as_str(),
        Some(sent.as_str()),
        "shown with its original time"
    );
}

/// Scroll-back: the channel opens with the latest page; "Load older messages"
/// fetches earlier pages with CHATHISTORY BEFORE until the first message.
#[test]
#[cfg_attr(
    not(all(has_chromium, has_chromedriver)),
    ignore = "chromium or chromedriver not installed"
)]
fn scrollback_loads_older_history() {
    let server = web_server();
    server.create_account("frank", PASSWORD);
    let mut grace = server.connect("grace");
    grace.join("#hist");
    for i in 0..120 {
        grace.send(&format!("PRIVMSG #hist :line {i:03}"));
    }
    grace.store_sync();
    let frank = logged_in(&server, "frank", 1280, 800);
    join(&frank, "#hist");
    frank.wait_message("line 119");
    let count = "document.querySelectorAll('#message-list .msg.message').length";
    frank.wait(&format!("{count} === 50"), "the latest page of 50");
    assert!(!frank
        .js(
            "return document.getElementById('message-list').innerText.includes('line 000');",
            json!([])
        )
        .as_bool()
        .unwrap());
    // Clicking (or scrolling to the top, which the click does) loads a page at a
    // time; three pages hold all 120.
    frank.click("#older");
    frank.wait(&format!("{count} >= 100"), "a second page");
    for _ in 0..3 {
        if frank.js("return document.getElementById('older').hidden;", json!([])) == json!(true) {
            break;
        }
        frank.click("#older");
        frank.wait(
            "document.getElementById('older').textContent !== 'Loading…'",
            "the page loaded",
        );
    }
    frank.wait(&format!("{count} === 120"), "every message");
    frank.wait_message("line 000");
    frank.wait("document.getElementById('older').hidden", "no more to load");
}

/// With the tab hidden, a private message raises a browser notification (the
/// page's `Notification` is replaced by a recorder granted permission) and the
/// unread count goes into the tab title.
#[test]
#[cfg_attr(
    not(all(has_chromium, has_chromedriver)),
    ignore = "chromium or chromedriver not installed"
)]
fn notification_for_a_private_message_while_hidden() {
    let server = web_server();
    server.create_account("heidi", PASSWORD);
    let heidi = logged_in(&server, "heidi", 1280, 800);
    join(&heidi, "#quiet");
    heidi.js(
        "window.notes = [];\
         window.Notification = class { \
           static permission = 'granted';\
           static requestPermission() { return Promise.resolve('granted'); }\
           constructor(title, options) { window.notes.push([title, options.body]); }\
         };\
         Object.defineProperty(document, 'visibilityState', { get: () => 'hidden', configurable: true });\
         document.dispatchEvent(new Event('visibilitychange'));",
        json!([]),
    );
    let mut ivan = server.connect("ivan");
    ivan.send("PRIVMSG heidi :are you around?");
    heidi.wait("window.notes.length === 1", "one notification");
    let note = heidi.js("return window.notes[0];", json!([]));
    assert_eq!(note, json!(["ivan (private)", "are you around?"]));
    heidi.wait(
        "document.title === '(1) chatd'",
        "the unread count in the title",
    );
    // A channel message that does not mention her raises none.
    ivan.join("#quiet");
    ivan.send("PRIVMSG #quiet :nothing for anyone");
    ivan.send("PRIVMSG #quiet :heidi: this one is for you");
    heidi.wait(
        "window.notes.length === 2",
        "a notification for the mention",
    );
    let note = heidi.js("return window.notes[1];", json!([]));
    assert_eq!(
        note,
        json!(["ivan in #quiet", "heidi: this one is for you"])
    );
    heidi.wait(
        "document.querySelector('#message-list .msg.mention')",
        "the mention highlighted",
    );
}

/// On a 375 px wide screen nothing scrolls sideways, even with a long unbroken
/// message, and the panels open from buttons; screenshots are kept.
#[test]
#[cfg_attr(
    not(all(has_chromium, has_chromedriver)),
    ignore = "chromium or chromedriver not installed"
)]
fn phone_layout_has_no_horizontal_scroll() {
    let server = web_server();
    server.create_account("judy", PASSWORD);
    let login = Browser::start(375, 740);
    login.goto(&format!("http://{}/", server.web_addr.unwrap()));
    login.wait("document.getElementById('login-form')", "the login page");
    login.screenshot(&screenshots().join("phone-login.png"));
    drop(login);

    let judy = logged_in(&server, "judy", 375, 740);
    assert_eq!(judy.js("return window.innerWidth;", json!([])), json!(375));
    judy.click("#toggle-sidebar");
    judy.wait(
        "document.getElementById('sidebar').classList.contains('open')",
        "the sidebar",
    );
    judy.screenshot(&screenshots().join("phone-sidebar.png"));
    join(&judy, "#phones");
    let mut ken = server.connect("ken");
    ken.join("#phones");
    ken.send(&format!("PRIVMSG #phones :{}", "x".repeat(300)));
    ken.send("PRIVMSG #phones :a short one after a long one");
    judy.wait_message("a short one after a long one");
    let no_sideways = "document.documentElement.scrollWidth <= window.innerWidth && \
         document.body.scrollWidth <= window.innerWidth && \
         document.getElementById('messages').scrollWidth <= document.getElementById('messages').clientWidth";
    assert_eq!(
        judy.js(&format!("return {no_sideways};"), json!([])),
        json!(true)
    );
    judy.screenshot(&screenshots().join("phone-channel.png"));
    judy.click("#toggle-members");
    judy.wait(
        "document.getElementById('members').classList.contains('open')",
        "the members",
    );
    assert_eq!(
        judy.js(&format!("return {no_sideways};"), json!([])),
        json!(true)
    );
}

/// "Keep me logged in": a reload logs in again with a login token (SESSION CREATE)
/// kept in the browser's storage, never the password; logging out revokes it.
#[test]
#[cfg_attr(
    not(all(has_chromium, has_chromedriver)),
    ignore = "chromium or chromedriver not installed"
)]
fn a_reload_logs_in_with_a_token_and_logout_revokes_it() {
    let server = web_server();
    server.create_account("liam", PASSWORD);
    let liam = logged_in(&server, "liam", 1280, 800);
    liam.wait(
        "localStorage.getItem('chatd.session')",
        "a saved login token",
    );
    let storage = liam.js("return JSON.stringify(localStorage);", json!([]));
    let storage = storage.as_str().unwrap();
    assert!(storage.contains("chatd-token-"), "{storage}");
    assert!(
        !storage.contains(PASSWORD),
        "the password is not kept: {storage}"
    );
    let tokens = server.admin(r#"{"id":1,"cmd":"sessions","account":"liam"}"#);
    assert_eq!(
        tokens["result"].as_array().map(Vec::len),
        Some(1),
        "{tokens}"
    );

    liam.goto(&format!("http://{}/", server.web_addr.unwrap()));
    liam.wait(
        "!document.getElementById('app').hidden",
        "logged in again after a reload",
    );
    liam.wait(
        "document.getElementById('me-nick').textContent === 'liam'",
        "own nick shown",
    );

    liam.click("#logout-button");
    liam.wait("!document.getElementById('login').hidden", "the login page");
    assert_eq!(
        liam.js("return localStorage.getItem('chatd.session');", json!([])),
        json!(null)
    );
    let mut probe = server.connect("probe");
    probe.store_sync();
    let tokens = server.admin(r#"{"id":2,"cmd":"sessions","account":"liam"}"#);
    assert_eq!(tokens["result"], json!([]), "revoked at logout: {tokens}");
    liam.goto(&format!("http://{}/", server.web_addr.unwrap()));
    liam.wait("document.getElementById('login-form')", "the login page");
    assert_eq!(
        liam.js("return document.getElementById('app').hidden;", json!([])),
        json!(true)
    );
}

/// A dropped connection comes back by itself (with backoff), logged in with the
/// saved token, in the same channels.
#[test]
#[cfg_attr(
    not(all(has_chromium, has_chromedriver)),
    ignore = "chromium or chromedriver not installed"
)]
fn a_dropped_connection_reconnects_and_logs_in_again() {
    let server = web_server();
    server.create_account("mona", PASSWORD);
    let mona = logged_in(&server, "mona", 1280, 800);
    join(&mona, "#back");
    mona.wait(
        "localStorage.getItem('chatd.session')",
        "a saved login token",
    );
    let kicked = server.admin(r#"{"id":1,"cmd":"kick","nick":"mona","reason":"test"}"#);
    assert_eq!(kicked["ok"], true, "{kicked}");
    mona.wait(
        "document.body.dataset.connections === '2'",
        "a second connection",
    );
    // Remembered channels come back with the login: a message there arrives.
    let mut ned = server.connect("ned");
    ned.join("#back");
    ned.send("PRIVMSG #back :welcome back");
    mona.wait_message("welcome back");
}
