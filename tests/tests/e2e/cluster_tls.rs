//! Issue 20, the bus over TLS: nodes reach Redis with a `rediss://` URL (as
//! ElastiCache with in-transit encryption needs; docs/cluster.md), checking its
//! certificate against `cluster.redis_ca_file`, or refusing to start when they cannot
//! trust it.

use super::cluster::wait_ison;
use chatd_tests::redis::RedisServer;
use chatd_tests::TestServer;

fn tls_node(redis: &RedisServer, id: u16) -> TestServer {
    let (url, ca) = (redis.url(), redis.ca_file());
    TestServer::start_with(move |c| {
        c.cluster.node_id = id;
        c.cluster.redis = url;
        c.cluster.redis_ca_file = ca;
        c.cluster.node_timeout_secs = 2;
    })
}

#[test]
#[cfg_attr(not(has_redis), ignore = "redis-server not installed")]
fn nodes_chat_over_a_tls_link_to_redis() {
    let redis = RedisServer::start_tls();
    assert!(redis.url().starts_with("rediss://"));
    let (one, two) = (tls_node(&redis, 1), tls_node(&redis, 2));
    let mut a = one.connect("tls_a");
    let mut b = two.connect("tls_b");
    wait_ison(&mut a, &["tls_b".into()]);
    a.send("PRIVMSG tls_b :over TLS");
    b.expect_privmsg_from("tls_a", "over TLS");
}

/// A certificate the node cannot check (not in `cluster.redis_ca_file`, nor signed
/// by a system root) is refused: the node does not start, and says why.
#[test]
#[cfg_attr(not(has_redis), ignore = "redis-server not installed")]
fn a_redis_certificate_the_node_cannot_trust_is_refused() {
    let redis = RedisServer::start_tls();
    let other = tempfile::tempdir().unwrap();
    let (wrong_ca, _, _) = chatd_tests::tls::make_cert(other.path(), "other");
    for ca in [String::new(), wrong_ca.display().to_string()] {
        let settings = chatd::cluster::Settings {
            node: 1,
            name: "n1".into(),
            url: &redis.url(),
            ca_file: &ca,
            timeout_secs: 2,
            stream_length: 1000,
        };
        let refused = chatd::cluster::start(settings, std::sync::Arc::new(|| {}))
            .err()
            .unwrap_or_else(|| panic!("a node trusting {ca:?} started"));
        assert!(refused.contains("cannot reach Redis"), "{refused}");
    }
    // Not a certificate at all: said before any connection.
    let junk = other.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate").unwrap();
    let junk = junk.display().to_string();
    let settings = chatd::cluster::Settings {
        node: 1,
        name: "n1".into(),
        url: &redis.url(),
        ca_file: &junk,
        timeout_secs: 2,
        stream_length: 1000,
    };
    let refused = chatd::cluster::start(settings, std::sync::Arc::new(|| {})).err();
    assert!(
        refused
            .as_deref()
            .is_some_and(|r| r.contains("no PEM certificate")),
        "{refused:?}"
    );
}
