//! Property tests: serialize ∘ parse is the identity on valid messages, also through
//! line framing in arbitrary chunks; casemapping is idempotent; tag-value escaping
//! round-trips. The fuzz targets in `fuzz/` check the other direction (parse ∘
//! serialize on arbitrary input).

use chatd_proto::message::{escape_tag_value, unescape_tag_value};
use chatd_proto::{fold, fold_eq, parse, Limits, LineBuffer, LineError, Message, ParseError, Tag};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;

/// Characters a tag value may hold, weighted towards the ones that need escaping.
fn tag_value_char() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => select(vec![';', ' ', '\\', '\r', '\n', ':', 's', '=', '@']),
        2 => proptest::char::range('!', '~'),
        1 => any::<char>().prop_filter("no NUL", |c| *c != '\0'),
    ]
}

fn tag_value() -> impl Strategy<Value = String> {
    vec(tag_value_char(), 0..12).prop_map(|cs| cs.into_iter().collect())
}

/// `[+][vendor/]name`, as IRCv3 message-tags spells keys.
fn tag_key() -> impl Strategy<Value = String> {
    "\\+?([a-z0-9.-]{1,8}/)?[A-Za-z0-9-]{1,10}"
}

fn tags() -> impl Strategy<Value = Vec<Tag>> {
    vec((tag_key(), tag_value()), 0..5).prop_map(|pairs| {
        let mut tags: Vec<Tag> = Vec::new();
        for (key, value) in pairs {
            // A later duplicate would replace the earlier one when parsed.
            if !tags.iter().any(|t| t.key == key) {
                tags.push(Tag::new(key, value));
            }
        }
        tags
    })
}

fn source() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(prop_oneof![
        "[A-Za-z\\[\\]{}|^_`][A-Za-z0-9\\[\\]{}|^_`-]{0,15}(![~a-z]{1,10}@[a-z0-9.:-]{1,20})?",
        "[a-z]{1,10}\\.[a-z]{2,6}",
        // Anything without a space or a line break, even empty or starting with `:`.
        "[^\\x00\\r\\n ]{0,20}",
    ])
}

fn command() -> impl Strategy<Value = String> {
    prop_oneof!["[A-Za-z]{1,12}", "[0-9]{3}"]
}

/// A parameter before the last: not empty, no space, not starting with `:`.
fn middle_param() -> impl Strategy<Value = String> {
    "[^\\x00\\r\\n :][^\\x00\\r\\n ]{0,15}"
}

/// The last parameter: anything without NUL, CR or LF; tricky shapes made likely.
fn last_param() -> impl Strategy<Value = String> {
    prop_oneof![
        select(vec![
            "", " ", ":", "::", " :", ": ", "a b", " lead", "trail ", ":)", "x:y"
        ])
        .prop_map(String::from),
        "[^\\x00\\r\\n]{0,30}",
        "[: a-z]{0,10}",
    ]
}

fn params() -> impl Strategy<Value = Vec<String>> {
    (
        vec(middle_param(), 0..14),
        proptest::option::of(last_param()),
    )
        .prop_map(|(mut params, last)| {
            params.extend(last);
            params
        })
}

fn message() -> impl Strategy<Value = Message> {
    (tags(), source(), command(), params()).prop_map(|(tags, source, command, params)| Message {
        tags,
        source,
        command,
        params,
        trailing: false,
    })
}

fn escape(value: &str) -> String {
    let mut out = String::new();
    escape_tag_value(value, &mut out).expect("writing to a String");
    out
}

proptest! {
    #[test]
    fn serialize_then_parse_is_identity(msg in message()) {
        let line = msg.to_line();
        let text = String::from_utf8(line).expect("to_line writes UTF-8");
        prop_assert!(text.ends_with("\r\n"));
        prop_assert_eq!(&text[..text.len() - 2], msg.to_string());
        prop_assert_eq!(parse(&text), Ok(msg.clone()));
        // Without its line ending too.
        prop_assert_eq!(parse(&msg.to_string()), Ok(msg));
    }

    #[test]
    fn parse_then_serialize_is_stable(
        input in prop_oneof![
            // Words that start tags, sources and trailing parameters, in any order.
            vec(select(vec!["@", "@;", "@a=b", "@x", ":", ":src", ":x y", "CMD", "p", "", "b=c;d", "\\s", "é"]), 0..8)
                .prop_map(|words| words.join(" ")),
            "[^\\x00\\r\\n]{0,60}",
        ],
    ) {
        // What parses serializes to a line that parses back to the same message.
        if let Ok(msg) = parse(&input) {
            let text = String::from_utf8(msg.to_line()).expect("UTF-8");
            prop_assert_eq!(parse(&text), Ok(msg));
        }
    }

    #[test]
    fn framing_delivers_each_serialized_message(
        msgs in vec(message(), 1..8),
        cuts in vec(any::<prop::sample::Index>(), 0..8),
        bare_lf in any::<bool>(),
    ) {
        let mut stream = Vec::new();
        for m in &msgs {
            let mut line = m.to_line();
            if bare_lf {
                line.remove(line.len() - 2);
            }
            stream.extend_from_slice(&line);
        }
        let mut at: Vec<usize> = cuts.iter().map(|i| i.index(stream.len() + 1)).collect();
        at.push(0);
        at.push(stream.len());
        at.sort_unstable();
        let mut lb = LineBuffer::new(Limits::default());
        let mut got = Vec::new();
        for w in at.windows(2) {
            lb.push(&stream[w[0]..w[1]]);
            while let Some(line) = lb.next_line() {
                got.push(line);
            }
        }
        prop_assert_eq!(got.len(), msgs.len());
        for (line, msg) in got.into_iter().zip(&msgs) {
            let mut body = String::new();
            msg.write_to(&mut body, false).expect("writing to a String");
            let tags_len = msg.to_string().len() - body.len();
            if body.len() + 2 <= 512 && tags_len <= 8191 {
                let text = String::from_utf8(line.expect("fits")).expect("UTF-8");
                prop_assert_eq!(parse(&text), Ok(msg.clone()));
            } else {
                prop_assert_eq!(line, Err(LineError::TooLong));
            }
        }
        prop_assert_eq!(lb.pending(), 0);
    }

    #[test]
    fn tag_values_round_trip_through_escaping(value in tag_value()) {
        let escaped = escape(&value);
        prop_assert!(!escaped.contains([' ', ';', '\r', '\n']), "{:?}", escaped);
        prop_assert_eq!(unescape_tag_value(&escaped), value);
    }

    #[test]
    fn any_string_round_trips_through_escaping(value in any::<String>()) {
        prop_assert_eq!(unescape_tag_value(&escape(&value)), value);
    }

    #[test]
    fn unescape_never_panics_and_is_a_fixed_point_after_one_round(raw in "[\\\\:sa-z;rn ]{0,20}") {
        let once = unescape_tag_value(&raw);
        prop_assert_eq!(unescape_tag_value(&escape(&once)), once);
    }

    #[test]
    fn fold_is_idempotent_and_agrees_with_fold_eq(a in any::<String>(), b in "[A-Za-z\\[\\]{}|^~]{0,6}") {
        let fa = fold(&a);
        prop_assert_eq!(fold(&fa), fa.clone());
        prop_assert_eq!(fa.len(), a.len());
        prop_assert!(fold_eq(&a, &fa));
        let fb = fold(&b);
        prop_assert_eq!(fold_eq(&b, &b.to_ascii_uppercase()), true);
        prop_assert_eq!(fold_eq(&a, &b), fa == fb);
    }
}

/// Found by the `parse` fuzz target: `@ @x` parsed as command `@x` with no tags, which
/// serializes to `@x`, read back as tags without a command.
#[test]
fn a_command_never_starts_with_at() {
    for line in ["@ @x", "@ @", ":src @x y"] {
        assert!(
            matches!(parse(line), Err(ParseError::NoCommand(_))),
            "{line:?} gave {:?}",
            parse(line)
        );
    }
    // With tags present the `@` word after them is still no command.
    assert!(parse("@a=b @x").is_err());
}

/// Found by the `lines` fuzz target: a line of the longest legal length whose CR came
/// in one read and its LF in the next was reported as too long.
#[test]
fn longest_line_with_cr_and_lf_in_separate_reads_fits() {
    let body = "a".repeat(510);
    let tagged = format!("@{} {body}", "t".repeat(8189));
    for line in [body, tagged] {
        let mut lb = LineBuffer::default();
        lb.push(line.as_bytes());
        lb.push(b"\r");
        assert_eq!(lb.next_line(), None);
        lb.push(b"\n");
        assert_eq!(lb.next_line(), Some(Ok(line.clone().into_bytes())));
        assert_eq!(lb.next_line(), None);
    }
    // One byte more is still too long, however it arrives.
    let mut lb = LineBuffer::default();
    lb.push("a".repeat(511).as_bytes());
    lb.push(b"\r");
    assert_eq!(lb.next_line(), None);
    lb.push(b"\n");
    assert_eq!(lb.next_line(), Some(Err(LineError::TooLong)));
}
