//! Arbitrary bytes into the parser. Whatever parses must serialize and parse back to
//! the same message (serialize ∘ parse is the identity on parsed messages), and
//! nothing may panic.

#![no_main]

use chatd_proto::{parse, Message};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let line = String::from_utf8_lossy(data);
    let Ok(first) = parse(&line) else {
        return;
    };
    check(&first);
});

fn check(first: &Message) {
    assert!(!first.command.is_empty(), "parsed an empty command");
    // What the parser accepts is always writable: no middle parameter it gives back
    // is empty, holds a space or starts with `:`.
    first
        .check()
        .unwrap_or_else(|e| panic!("parsed {first:?} cannot be written: {e}"));
    let wire = first.to_line();
    assert!(wire.ends_with(b"\r\n"), "to_line without CRLF: {wire:?}");
    let text = std::str::from_utf8(&wire).expect("to_line writes UTF-8");
    let body = &text[..text.len() - 2];
    assert!(
        !body.contains(['\r', '\n', '\0']),
        "to_line wrote a line break or NUL inside {text:?}"
    );
    let again = parse(text)
        .unwrap_or_else(|e| panic!("{first:?} serialized as {text:?} does not parse: {e}"));
    assert_eq!(
        &again, first,
        "round trip through {text:?} changed the message"
    );
    // Display is the same wire form without the line ending.
    assert_eq!(first.to_string(), body);
}
