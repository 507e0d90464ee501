//! Arbitrary command sequences from 1-4 clients into the server's command layer, in
//! process and without sockets (`Server::detached`). One server lives for the whole
//! process (its store in a scratch directory); every input attaches its clients,
//! feeds their lines, and makes each of them QUIT, so state does not pile up.
//!
//! Input layout:
//! - byte 0: bits 0-1: clients - 1; bit 2: register each client first (`NICK fN`,
//!   `USER`); bit 3: negotiate capabilities first (`CAP LS 302`, a `CAP REQ` for
//!   each capability chatd may offer, `CAP END`); bit 4: join `#fuzz` after
//!   registering; bit 5: `OPER`; bit 6: `REGISTER` an account and `LOGIN`; bit 7: let
//!   the store answer (`settle`) before the QUITs;
//! - then lines split on `\n`. A line's first byte picks the client (`byte % clients`:
//!   ASCII digits `0`-`3` name clients 0-3 for any count), bit 7 of it settles the
//!   store first, bit 6 sends the rest without a line end (a partial line that the
//!   client's next line completes); the rest of the line is what the client sends.
//!
//! Checked on everything a client is sent: it is whole lines, each ending in CRLF,
//! valid UTF-8, at most 512 + 8191 bytes with a tags section of at most 8191, and
//! parseable; no panic anywhere (the serializer panics in debug builds on a line with
//! a bad middle parameter, so none is ever built); QUIT frees every connection (slots stay few).

#![no_main]

use chatd::{Config, Server};
use libfuzzer_sys::fuzz_target;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// What a detached connection keeps of what it was sent (`DETACHED_KEEP` in conn.rs):
/// past it, the last line may be cut.
const DETACHED_KEEP: usize = 1 << 20;
/// The longest line a server may send: 512 bytes of message after 8191 of tags.
const MAX_LINE: usize = 512 + 8191;
/// Clients per input are at most 4; more live slots than this means QUIT leaked one.
const MAX_SLOT: usize = 16;

const OPER_NAME: &str = "fuzzoper";
const OPER_PASSWORD: &str = "fuzz-oper-pw";
const CAPS: &str = "multi-prefix message-tags server-time echo-message batch \
    labeled-response account-tag account-notify away-notify cap-notify sasl \
    draft/account-registration draft/chathistory";

static SERVER: OnceLock<Mutex<Server>> = OnceLock::new();
static DATA_DIR: OnceLock<PathBuf> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let server = SERVER.get_or_init(|| Mutex::new(start()));
    // A panic inside the server poisons the lock, but libFuzzer stops at the panic.
    let mut server = server.lock().unwrap_or_else(|e| e.into_inner());
    run(&mut server, data);
});

fn start() -> Server {
    // The store commits with fsync, which tmpfs makes cheap; and the folder goes with
    // the process.
    let scratch = std::env::var_os("CHATD_FUZZ_SCRATCH")
        .map(PathBuf::from)
        .or_else(|| Some(PathBuf::from("/dev/shm")).filter(|p| p.is_dir()))
        .unwrap_or_else(std::env::temp_dir);
    let base = scratch.join("chatd-fuzz-commands");
    sweep(&base);
    let dir = base.join(std::process::id().to_string());
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch directory for the store");
    DATA_DIR.set(dir.clone()).expect("started once");
    // SAFETY: `remove_data_dir` is a plain function that only touches the file system.
    unsafe {
        libc::atexit(remove_data_dir);
    }

    let mut config = Config::default();
    config.server.data_dir = dir.join("data");
    config.server.auto_join = Vec::new();
    config.accounts.pbkdf2_iterations = 1000;
    config.accounts.min_password_len = 1;
    config.accounts.login_failures_per_conn = 1_000_000;
    config.accounts.login_failures_per_ip = 1_000_000;
    config.limits.flood_burst = 1_000_000;
    config.limits.flood_rate = 1_000_000;
    config.limits.trusted_flood_burst = 1_000_000;
    config.limits.trusted_flood_rate = 1_000_000;
    config.limits.registrations_per_ip_per_hour = 1_000_000;
    config.oper.push(chatd::config::OperConfig {
        name: OPER_NAME.into(),
        password: chatd::store::password::hash(OPER_PASSWORD, 1000).to_string(),
        ..Default::default()
    });
    Server::detached(config).expect("a detached server opens its store")
}

/// Removes scratch directories left by fuzzing processes that died (a crash skips
/// `atexit`).
fn sweep(base: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let alive = name
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
            .is_some_and(|pid| Path::new("/proc").join(pid.to_string()).exists());
        if !alive {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

extern "C" fn remove_data_dir() {
    if let Some(dir) = DATA_DIR.get() {
        let _ = std::fs::remove_dir_all(dir);
    }
}

fn run(server: &mut Server, data: &[u8]) {
    let (&head, body) = data.split_first().unwrap_or((&0, &[]));
    let count = 1 + (head & 3) as usize;
    let slots: Vec<usize> = (0..count).map(|_| server.attach()).collect();
    for &slot in &slots {
        assert!(
            slot < MAX_SLOT,
            "slot {slot} attached: connections of earlier inputs were not freed by QUIT"
        );
    }

    for (i, &slot) in slots.iter().enumerate() {
        let pre = preamble(head, i);
        if !pre.is_empty() {
            let out = server.feed(slot, pre.as_bytes());
            check_output(&out);
        }
    }

    for line in body.split(|&b| b == b'\n') {
        let Some((&pick, text)) = line.split_first() else {
            continue;
        };
        let slot = slots[pick as usize % count];
        if pick & 0x80 != 0 {
            server.settle();
        }
        let out = if pick & 0x40 != 0 {
            server.feed(slot, text)
        } else {
            let mut bytes = Vec::with_capacity(text.len() + 2);
            bytes.extend_from_slice(text);
            bytes.extend_from_slice(b"\r\n");
            server.feed(slot, &bytes)
        };
        check_output(&out);
    }

    if head & 0x80 != 0 {
        server.settle();
    }
    for &slot in &slots {
        // What arrived from the others since this client last spoke.
        check_output(&server.feed(slot, b""));
        // End any partial line first, so the QUIT is a line of its own.
        server.feed(slot, b"\r\nQUIT :fuzz input done\r\n");
        if server.attached(slot) {
            // Its lines wait for store or password answers (HISTORY, LOGIN...).
            server.settle();
        }
        let after = server.feed(slot, b"");
        assert!(
            after.is_empty() && !server.attached(slot),
            "slot {slot} still open after QUIT, was sent {:?}",
            String::from_utf8_lossy(&after)
        );
    }
}

fn preamble(head: u8, i: usize) -> String {
    let mut pre = String::new();
    let caps = head & 0x08 != 0;
    if caps {
        pre.push_str("CAP LS 302\r\n");
    }
    if head & 0x04 != 0 || caps {
        pre.push_str(&format!("NICK f{i}\r\nUSER u{i} 0 * :fuzz client {i}\r\n"));
    }
    if caps {
        // One REQ per capability: one the server lacks is refused alone.
        for cap in CAPS.split_whitespace() {
            pre.push_str(&format!("CAP REQ {cap}\r\n"));
        }
        pre.push_str("CAP END\r\n");
    }
    if head & 0x40 != 0 {
        pre.push_str(&format!(
            "REGISTER * * pw{i}-secret\r\nLOGIN f{i} pw{i}-secret\r\n"
        ));
    }
    if head & 0x20 != 0 {
        pre.push_str(&format!("OPER {OPER_NAME} {OPER_PASSWORD}\r\n"));
    }
    if head & 0x10 != 0 {
        pre.push_str("JOIN #fuzz\r\n");
    }
    pre
}

/// Whole CRLF-terminated lines of valid UTF-8, each short enough and parseable.
fn check_output(out: &[u8]) {
    if out.is_empty() {
        return;
    }
    let mut rest = out;
    if out.len() >= DETACHED_KEEP {
        // The detached socket stopped keeping bytes here; the last line may be cut.
        let end = out.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        rest = &out[..end];
    }
    let text = std::str::from_utf8(rest).unwrap_or_else(|e| {
        panic!(
            "the server sent invalid UTF-8 ({e}) in {:?}",
            String::from_utf8_lossy(rest)
        )
    });
    assert!(
        text.is_empty() || text.ends_with("\r\n"),
        "output does not end with CRLF: {:?}",
        clip(text, true)
    );
    for line in text.split_inclusive('\n') {
        assert!(
            line.ends_with("\r\n"),
            "a line without CRLF (bare LF or CR inside): {line:?}"
        );
        assert!(
            line.len() <= MAX_LINE,
            "a line of {} bytes (over 512 + 8191): {:?}",
            line.len(),
            clip(line, false)
        );
        // The tags section, its `@` and space included, has its own limit of 8191.
        let tags = if line.starts_with('@') {
            line.find(' ').map_or(line.len(), |i| i + 1)
        } else {
            0
        };
        assert!(
            tags <= 8191,
            "a tags section of {tags} bytes (over 8191): {:?}",
            clip(line, false)
        );
        if strict_length() {
            assert!(
                line.len() - tags <= 512,
                "a message of {} bytes after its tags (over 512): {:?}",
                line.len() - tags,
                clip(line, false)
            );
        }
        if let Err(e) = chatd_proto::parse(line) {
            panic!("the server sent a line that does not parse ({e}): {line:?}");
        }
    }
}

/// `CHATD_FUZZ_STRICT_LENGTH=1` also holds the message after the tags to 512 bytes
/// (RFC 1459), which relayed messages with a long source can exceed today.
fn strict_length() -> bool {
    static STRICT: OnceLock<bool> = OnceLock::new();
    *STRICT.get_or_init(|| std::env::var_os("CHATD_FUZZ_STRICT_LENGTH").is_some_and(|v| v == "1"))
}

/// At most 200 characters of `s`, from its end or its start, for a message.
fn clip(s: &str, from_end: bool) -> String {
    let n = s.chars().count();
    if from_end {
        s.chars().skip(n.saturating_sub(200)).collect()
    } else {
        s.chars().take(200).collect()
    }
}
