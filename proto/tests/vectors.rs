//! The community's IRC parser test vectors (`shared/parser-tests/`, ircdocs/parser-tests),
//! read at test time. Each file is skipped, with a message, only where the folder is absent.

use chatd_proto::mask::{glob_match, is_valid_hostname, split_source};
use chatd_proto::{parse, Message};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

fn vectors_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("CHATD_PARSER_TESTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/parser-tests")
        });
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "SKIPPED: parser test vectors not found at {} (set CHATD_PARSER_TESTS)",
            dir.display()
        );
        None
    }
}

fn load<T: for<'de> Deserialize<'de>>(file: &str) -> Option<T> {
    let dir = vectors_dir()?;
    let text = std::fs::read_to_string(dir.join(file)).expect("vector file readable");
    Some(serde_norway::from_str(&text).expect("vector file is valid YAML"))
}

#[derive(Deserialize, Default)]
struct Atoms {
    #[serde(default)]
    tags: Option<BTreeMap<String, Option<String>>>,
    #[serde(default)]
    source: Option<String>,
    verb: String,
    #[serde(default)]
    params: Vec<String>,
}

#[derive(Deserialize)]
struct Tests<T> {
    tests: Vec<T>,
}

#[derive(Deserialize)]
struct SplitCase {
    input: String,
    atoms: Atoms,
}

#[test]
fn msg_split() {
    let Some(file) = load::<Tests<SplitCase>>("msg-split.yaml") else {
        return;
    };
    assert!(file.tests.len() >= 30);
    for case in file.tests {
        let msg = parse(&case.input).unwrap_or_else(|e| panic!("{:?}: {e}", case.input));
        let want_tags: BTreeMap<String, String> = case
            .atoms
            .tags
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.unwrap_or_default()))
            .collect();
        let got_tags: BTreeMap<String, String> = msg
            .tags
            .iter()
            .map(|t| (t.key.clone(), t.value.clone()))
            .collect();
        assert_eq!(got_tags, want_tags, "tags of {:?}", case.input);
        assert_eq!(msg.source, case.atoms.source, "source of {:?}", case.input);
        assert_eq!(msg.command, case.atoms.verb, "verb of {:?}", case.input);
        assert_eq!(msg.params, case.atoms.params, "params of {:?}", case.input);
    }
}

#[derive(Deserialize)]
struct JoinCase {
    #[serde(default)]
    desc: String,
    atoms: Atoms,
    matches: Vec<String>,
}

#[test]
fn msg_join() {
    let Some(file) = load::<Tests<JoinCase>>("msg-join.yaml") else {
        return;
    };
    assert!(file.tests.len() >= 10);
    for case in file.tests {
        let mut msg = Message::new(case.atoms.verb, case.atoms.params);
        msg.source = case.atoms.source;
        for (k, v) in case.atoms.tags.unwrap_or_default() {
            msg = msg.with_tag(k, v.unwrap_or_default());
        }
        let got = msg.to_string();
        assert!(
            case.matches.contains(&got),
            "{}: got {got:?}, want one of {:?}",
            case.desc,
            case.matches
        );
    }
}

#[derive(Deserialize)]
struct UserhostCase {
    source: String,
    atoms: BTreeMap<String, String>,
}

#[test]
fn userhost_split() {
    let Some(file) = load::<Tests<UserhostCase>>("userhost-split.yaml") else {
        return;
    };
    for case in file.tests {
        let parts = split_source(&case.source);
        let want = |k: &str| case.atoms.get(k).cloned().unwrap_or_default();
        assert_eq!(parts.nick, want("nick"), "nick of {}", case.source);
        assert_eq!(parts.user, want("user"), "user of {}", case.source);
        assert_eq!(parts.host, want("host"), "host of {}", case.source);
    }
}

#[derive(Deserialize)]
struct MaskCase {
    mask: String,
    matches: Vec<String>,
    fails: Vec<String>,
}

#[test]
fn mask_match() {
    let Some(file) = load::<Tests<MaskCase>>("mask-match.yaml") else {
        return;
    };
    for case in file.tests {
        for m in &case.matches {
            assert!(glob_match(&case.mask, m), "{} should match {m}", case.mask);
        }
        for f in &case.fails {
            assert!(
                !glob_match(&case.mask, f),
                "{} should not match {f}",
                case.mask
            );
        }
    }
}

#[derive(Deserialize)]
struct HostCase {
    host: String,
    valid: bool,
}

#[test]
fn validate_hostname() {
    let Some(file) = load::<Tests<HostCase>>("validate-hostname.yaml") else {
        return;
    };
    for case in file.tests {
        assert_eq!(is_valid_hostname(&case.host), case.valid, "{:?}", case.host);
    }
}
