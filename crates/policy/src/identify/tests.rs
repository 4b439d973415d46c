use std::net::SocketAddr;

use tollgate_sip::digest::{Algorithm, Answer, Challenge, answer};
use tollgate_sip::header::AuthValue;

use super::*;
use crate::model::*;
use crate::validate::tests::{customer, entry, user};

const KEY: [u8; 32] = [9; 32];
const NOW: u64 = 1_800_000_000;
const RURI: &[u8] = b"sip:+441632960123@edge.example";

fn config() -> Configuration {
    let mut shared_a = entry(10, 1, Direction::Egress, &["203.0.113.7"]);
    shared_a.tech_prefix = "11".into();
    let mut shared_b = entry(11, 4, Direction::Egress, &["203.0.113.7"]);
    shared_b.tech_prefix = "2".into();
    let mut inactive = customer(3);
    inactive.status = AccountStatus::Inactive;
    let mut disabled_entry = entry(13, 1, Direction::Egress, &["192.0.2.99"]);
    disabled_entry.enabled = false;
    let mut tcp_only = entry(14, 1, Direction::Egress, &["192.0.2.14"]);
    tcp_only.protocol = Protocol::Tcp;
    let mut listed = user(2, 1, "listed", 0);
    listed.ip_whitelist = vec!["198.51.100.0/24".parse().unwrap()];
    let mut off = user(3, 1, "off", 0);
    off.enabled = false;
    Configuration {
        accounts: vec![customer(1), inactive, customer(4)],
        entries: vec![
            shared_a,
            shared_b,
            entry(12, 1, Direction::Egress, &["198.51.100.0/24"]),
            entry(15, 4, Direction::Egress, &["198.51.100.50"]),
            disabled_entry,
            tcp_only,
            entry(16, 3, Direction::Egress, &["192.0.2.16"]),
        ],
        users: vec![user(1, 1, "alice", 0), listed, off],
        routes: Vec::new(),
    }
}

fn auth() -> Authenticator {
    Authenticator::new(
        "tollgate",
        vec![Algorithm::SHA256, Algorithm::MD5],
        &KEY,
        300,
    )
}

fn facts<'a>(source: &str, called: &'a str, header: Option<&'a [u8]>) -> RequestFacts<'a> {
    RequestFacts {
        source: source.parse::<SocketAddr>().unwrap(),
        transport: Transport::Udp,
        method: b"INVITE",
        request_uri: RURI,
        called,
        proxy_authorization: header,
        named_users: [None, None],
        now: NOW,
    }
}

fn ip_of<'s>(d: &Decision<'s>) -> (EntryId, String) {
    match d {
        Decision::Identified(Identity::Ip { entry, called, .. }) => (entry.id, called.clone()),
        other => panic!("not identified by IP: {other:?}"),
    }
}

/// Credentials answering a fresh challenge to `source` issued at `issued`.
fn creds(
    a: &Authenticator,
    source: &str,
    algorithm: usize,
    user: &str,
    password: &str,
    nc: u32,
    issued: u64,
) -> String {
    let ip = source.parse::<SocketAddr>().unwrap().ip();
    let values = a.challenges(ip, issued, false, None);
    let challenge =
        Challenge::parse(&AuthValue::parse(values[algorithm].as_bytes()).unwrap()).unwrap();
    answer(
        &challenge,
        &Answer {
            username: user.as_bytes(),
            password: password.as_bytes(),
            method: b"INVITE",
            uri: RURI,
            cnonce: b"c0ffee",
            nc,
        },
    )
}

#[test]
fn source_address_identifies_and_tech_prefix_picks_among_shared() {
    let snap = Snapshot::build(&config(), 1);
    let a = auth();
    assert_eq!(
        ip_of(&a.identify(&snap, &facts("203.0.113.7:5060", "11441632960123", None))),
        (10, "441632960123".into())
    );
    assert_eq!(
        ip_of(&a.identify(&snap, &facts("203.0.113.7:5060", "2441632960123", None))),
        (11, "441632960123".into())
    );
    assert_eq!(
        a.identify(&snap, &facts("203.0.113.7:5060", "441632960123", None)),
        Decision::Deny(Denial::NoTechPrefixMatch)
    );
}

#[test]
fn exact_address_beats_network() {
    let snap = Snapshot::build(&config(), 1);
    let a = auth();
    assert_eq!(
        ip_of(&a.identify(&snap, &facts("198.51.100.50:5060", "441632960123", None))).0,
        15
    );
    assert_eq!(
        ip_of(&a.identify(&snap, &facts("198.51.100.51:5060", "441632960123", None))).0,
        12
    );
}

#[test]
fn transport_disabled_entries_and_inactive_accounts() {
    let snap = Snapshot::build(&config(), 1);
    let a = auth();
    assert_eq!(
        a.identify(&snap, &facts("192.0.2.14:5060", "4411", None)),
        Decision::Deny(Denial::TransportMismatch)
    );
    let mut tcp = facts("192.0.2.14:5060", "4411", None);
    tcp.transport = Transport::Tcp;
    assert_eq!(ip_of(&a.identify(&snap, &tcp)).0, 14);
    // A disabled entry or an inactive account's entry does not identify:
    // the caller is asked for credentials like any stranger.
    assert_eq!(
        a.identify(&snap, &facts("192.0.2.99:5060", "4411", None)),
        Decision::Challenge {
            stale: false,
            policy: None
        }
    );
    assert_eq!(
        a.identify(&snap, &facts("192.0.2.16:5060", "4411", None)),
        Decision::Challenge {
            stale: false,
            policy: None
        }
    );
}

#[test]
fn challenges_offer_sha256_then_md5_with_qop_auth() {
    let values = auth().challenges("192.0.2.1".parse().unwrap(), NOW, true, None);
    assert_eq!(values.len(), 2);
    assert!(
        values[0].starts_with("Digest realm=\"tollgate\"")
            && values[0].contains("algorithm=SHA-256")
    );
    assert!(
        values[1].contains("algorithm=MD5")
            && values[1].contains("qop=\"auth\"")
            && values[1].contains("stale=true")
    );
}

#[test]
fn digest_round_trip_with_both_algorithms() {
    let snap = Snapshot::build(&config(), 1);
    let a = auth();
    for alg in [0, 1] {
        let h = creds(&a, "192.0.2.1:5060", alg, "alice", "secret", 1, NOW);
        match a.identify(&snap, &facts("192.0.2.1:5060", "4411", Some(h.as_bytes()))) {
            Decision::Identified(Identity::Digest { user, .. }) => {
                assert_eq!(user.username, "alice");
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn unknown_user_and_wrong_password_look_the_same() {
    let snap = Snapshot::build(&config(), 1);
    let a = auth();
    let wrong = creds(&a, "192.0.2.1:5060", 0, "alice", "guess", 1, NOW);
    let unknown = creds(&a, "192.0.2.1:5060", 0, "mallory", "secret", 1, NOW);
    let d1 = a.identify(
        &snap,
        &facts("192.0.2.1:5060", "4411", Some(wrong.as_bytes())),
    );
    let d2 = a.identify(
        &snap,
        &facts("192.0.2.1:5060", "4411", Some(unknown.as_bytes())),
    );
    assert_eq!(d1, Decision::Deny(Denial::BadCredentials));
    assert_eq!(d1, d2);
    let mut other_uri = facts("192.0.2.1:5060", "4411", None);
    let good = creds(&a, "192.0.2.1:5060", 0, "alice", "secret", 1, NOW);
    other_uri.proxy_authorization = Some(good.as_bytes());
    other_uri.request_uri = b"sip:other@edge.example";
    assert_eq!(
        a.identify(&snap, &other_uri),
        Decision::Deny(Denial::BadCredentials)
    );
    let mut server_uri = facts("192.0.2.1:5060", "4411", None);
    let sipp_style = answer(
        &Challenge::parse(
            &AuthValue::parse(
                a.challenges("192.0.2.1".parse().unwrap(), NOW, false, None)[0].as_bytes(),
            )
            .unwrap(),
        )
        .unwrap(),
        &Answer {
            username: b"alice",
            password: b"secret",
            method: b"INVITE",
            uri: b"sip:edge.example",
            cnonce: b"c0ffee",
            nc: 1,
        },
    );
    server_uri.proxy_authorization = Some(sipp_style.as_bytes());
    assert!(
        matches!(a.identify(&snap, &server_uri), Decision::Identified(_)),
        "sip:host of the server is accepted"
    );
    let garbage = facts("192.0.2.1:5060", "4411", Some(b"Digest nonsense"));
    assert_eq!(
        a.identify(&snap, &garbage),
        Decision::Deny(Denial::BadCredentials)
    );
}

#[test]
fn expired_nonce_is_stale_only_with_the_right_password() {
    let snap = Snapshot::build(&config(), 1);
    let a = auth();
    let old = creds(&a, "192.0.2.1:5060", 0, "alice", "secret", 1, NOW - 301);
    assert_eq!(
        a.identify(
            &snap,
            &facts("192.0.2.1:5060", "4411", Some(old.as_bytes()))
        ),
        Decision::Challenge {
            stale: true,
            policy: None
        }
    );
    let old_wrong = creds(&a, "192.0.2.1:5060", 0, "alice", "guess", 1, NOW - 301);
    assert_eq!(
        a.identify(
            &snap,
            &facts("192.0.2.1:5060", "4411", Some(old_wrong.as_bytes()))
        ),
        Decision::Deny(Denial::BadCredentials)
    );
}

#[test]
fn forged_or_foreign_nonces_are_refused() {
    let snap = Snapshot::build(&config(), 1);
    let a = auth();
    // Issued for another address.
    let elsewhere = creds(&a, "192.0.2.2:5060", 0, "alice", "secret", 1, NOW);
    assert_eq!(
        a.identify(
            &snap,
            &facts("192.0.2.1:5060", "4411", Some(elsewhere.as_bytes()))
        ),
        Decision::Deny(Denial::ForgedNonce)
    );
    // Issued by another server.
    let stranger = Authenticator::new("tollgate", vec![Algorithm::SHA256], &[1; 32], 300);
    let foreign = creds(&stranger, "192.0.2.1:5060", 0, "alice", "secret", 1, NOW);
    assert_eq!(
        a.identify(
            &snap,
            &facts("192.0.2.1:5060", "4411", Some(foreign.as_bytes()))
        ),
        Decision::Deny(Denial::ForgedNonce)
    );
}

#[test]
fn nonce_count_must_grow() {
    let snap = Snapshot::build(&config(), 1);
    let a = auth();
    let values = a.challenges("192.0.2.1".parse().unwrap(), NOW, false, None);
    let challenge = Challenge::parse(&AuthValue::parse(values[0].as_bytes()).unwrap()).unwrap();
    let with_nc = |nc| {
        answer(
            &challenge,
            &Answer {
                username: b"alice",
                password: b"secret",
                method: b"INVITE",
                uri: RURI,
                cnonce: b"c0ffee",
                nc,
            },
        )
    };
    let first = with_nc(1);
    assert!(matches!(
        a.identify(
            &snap,
            &facts("192.0.2.1:5060", "4411", Some(first.as_bytes()))
        ),
        Decision::Identified(_)
    ));
    assert_eq!(
        a.identify(
            &snap,
            &facts("192.0.2.1:5060", "4411", Some(first.as_bytes()))
        ),
        Decision::Deny(Denial::Replay)
    );
    let second = with_nc(2);
    assert!(matches!(
        a.identify(
            &snap,
            &facts("192.0.2.1:5060", "4411", Some(second.as_bytes()))
        ),
        Decision::Identified(_)
    ));
}

#[test]
fn whitelist_and_enabled_user() {
    let snap = Snapshot::build(&config(), 1);
    let a = auth();
    let outside = creds(&a, "192.0.2.1:5060", 0, "listed", "secret", 1, NOW);
    assert_eq!(
        a.identify(
            &snap,
            &facts("192.0.2.1:5060", "4411", Some(outside.as_bytes()))
        ),
        Decision::Deny(Denial::NotWhitelisted)
    );
    // 198.51.100.7 has no entry of its own (the /24 entry is account 1's,
    // so use an address outside every entry but inside the whitelist).
    let inside_src = "198.51.100.7:5060";
    let snap_no_cidr = {
        let mut c = config();
        c.entries.retain(|e| e.id != 12);
        Snapshot::build(&c, 2)
    };
    let inside = creds(&a, inside_src, 0, "listed", "secret", 1, NOW);
    assert!(matches!(
        a.identify(
            &snap_no_cidr,
            &facts(inside_src, "4411", Some(inside.as_bytes()))
        ),
        Decision::Identified(Identity::Digest { .. })
    ));
    let disabled = creds(&a, "192.0.2.1:5060", 0, "off", "secret", 1, NOW);
    assert_eq!(
        a.identify(
            &snap,
            &facts("192.0.2.1:5060", "4411", Some(disabled.as_bytes()))
        ),
        Decision::Deny(Denial::Disabled)
    );
}

#[test]
fn other_realms_and_algorithms_are_challenged_again() {
    let snap = Snapshot::build(&config(), 1);
    let a = Authenticator::new("tollgate", vec![Algorithm::SHA256], &KEY, 300);
    let md5_only = Authenticator::new("tollgate", vec![Algorithm::MD5], &KEY, 300);
    let md5 = creds(&md5_only, "192.0.2.1:5060", 0, "alice", "secret", 1, NOW);
    assert_eq!(
        a.identify(
            &snap,
            &facts("192.0.2.1:5060", "4411", Some(md5.as_bytes()))
        ),
        Decision::Challenge {
            stale: false,
            policy: None
        }
    );
    let elsewhere = Authenticator::new("other", vec![Algorithm::SHA256], &KEY, 300);
    let foreign = creds(&elsewhere, "192.0.2.1:5060", 0, "alice", "secret", 1, NOW);
    assert_eq!(
        a.identify(
            &snap,
            &facts("192.0.2.1:5060", "4411", Some(foreign.as_bytes()))
        ),
        Decision::Challenge {
            stale: false,
            policy: None
        }
    );
}

#[test]
fn nonce_counts_stay_bounded_and_refuse_replays_of_recent_nonces() {
    let capacity = 16 * 2 * 8;
    let counts = NonceCounts::new(capacity);
    assert!(counts.advance("n0", 1));
    assert!(!counts.advance("n0", 1), "replayed");
    assert!(counts.advance("n0", 2));
    for i in 0..10_000 {
        assert!(counts.advance(&format!("x{i}"), 1));
    }
    let held: usize = counts
        .shards
        .iter()
        .map(|s| {
            let g = s.lock().unwrap();
            g.current.len() + g.previous.len()
        })
        .sum();
    assert!(held <= capacity, "{held} nonces held");
    assert!(
        !counts.advance("x9999", 1),
        "the latest nonce is remembered"
    );
}

#[test]
fn a_users_digest_policy_picks_its_challenges_and_allows_no_downgrade() {
    let mut c = config();
    // The server offers MD5 alone; alice's account wants SHA-256, and
    // "listed" keeps both by its own policy.
    c.accounts[0].digest = Some(DigestPolicy::Sha256);
    c.users[1].digest = Some(DigestPolicy::Sha256Md5);
    let snap = Snapshot::build(&c, 1);
    let a = Authenticator::new("tollgate", vec![Algorithm::MD5], &KEY, 300);
    let named = |from: &'static [u8]| RequestFacts {
        named_users: [Some(from), Some(b"+441632960123")],
        ..facts("192.0.2.1:5060", "4411", None)
    };
    let challenge = |f: &RequestFacts<'_>| match a.identify(&snap, f) {
        Decision::Challenge { policy, .. } => policy,
        other => panic!("{other:?}"),
    };
    assert_eq!(challenge(&named(b"alice")), Some(DigestPolicy::Sha256));
    assert_eq!(challenge(&named(b"LISTED")), Some(DigestPolicy::Sha256Md5));
    assert_eq!(challenge(&named(b"nobody")), None, "the server's default");
    let offered = |p| {
        a.challenges("192.0.2.1".parse().unwrap(), NOW, false, p)
            .iter()
            .map(|c| {
                c.split("algorithm=")
                    .nth(1)
                    .unwrap()
                    .split(',')
                    .next()
                    .unwrap()
                    .to_owned()
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(offered(None), ["MD5"]);
    assert_eq!(offered(Some(DigestPolicy::Sha256)), ["SHA-256"]);
    assert_eq!(offered(Some(DigestPolicy::Sha256Md5)), ["SHA-256", "MD5"]);
    // Alice answers in SHA-256 and is identified; her MD5 answer (a
    // downgrade) is challenged again, with SHA-256.
    let sha = Authenticator::new("tollgate", vec![Algorithm::SHA256], &KEY, 300);
    let good = creds(&sha, "192.0.2.1:5060", 0, "alice", "secret", 1, NOW);
    let f = facts("192.0.2.1:5060", "4411", Some(good.as_bytes()));
    assert!(matches!(a.identify(&snap, &f), Decision::Identified(_)));
    let md5 = creds(&a, "192.0.2.1:5060", 0, "alice", "secret", 1, NOW);
    let f = facts("192.0.2.1:5060", "4411", Some(md5.as_bytes()));
    assert_eq!(
        a.identify(&snap, &f),
        Decision::Challenge {
            stale: false,
            policy: Some(DigestPolicy::Sha256)
        }
    );
}
