use super::*;
use crate::model::*;
use crate::validate::tests::{carrier, customer, entry, user};

fn config() -> Configuration {
    let mut inactive = customer(3);
    inactive.status = AccountStatus::Inactive;
    let mut shared_a = entry(10, 1, Direction::Egress, &["203.0.113.7"]);
    shared_a.tech_prefix = "11".into();
    let mut shared_b = entry(11, 4, Direction::Egress, &["203.0.113.7"]);
    shared_b.tech_prefix = "22".into();
    let mut disabled = entry(13, 1, Direction::Egress, &["192.0.2.99"]);
    disabled.enabled = false;
    Configuration {
        accounts: vec![customer(1), carrier(2), inactive, customer(4)],
        entries: vec![
            shared_a,
            shared_b,
            entry(12, 1, Direction::Egress, &["203.0.113.0/24"]),
            entry(14, 1, Direction::Egress, &["203.0.0.0/16"]),
            disabled,
            entry(15, 3, Direction::Egress, &["192.0.2.50"]),
            entry(20, 2, Direction::Ingress, &["gw1.carrier.example"]),
            entry(21, 2, Direction::Ingress, &["198.51.100.21"]),
        ],
        users: vec![user(1, 1, "Alice", 2)],
        routes: Vec::new(),
    }
}

fn ids(entries: &[&IpAuthEntry]) -> Vec<EntryId> {
    entries.iter().map(|e| e.id).collect()
}

#[test]
fn exact_addresses_come_before_networks_longest_first() {
    let snap = Snapshot::build(&config(), 7);
    assert_eq!(snap.version(), 7);
    assert_eq!(
        ids(&snap.egress_candidates("203.0.113.7".parse().unwrap())),
        [10, 11, 12, 14]
    );
    assert_eq!(
        ids(&snap.egress_candidates("203.0.113.8".parse().unwrap())),
        [12, 14]
    );
    assert_eq!(
        ids(&snap.egress_candidates("203.0.9.9".parse().unwrap())),
        [14]
    );
    assert!(
        snap.egress_candidates("198.51.100.21".parse().unwrap())
            .is_empty(),
        "ingress is not a source"
    );
}

#[test]
fn disabled_entries_and_inactive_accounts_are_left_out() {
    let snap = Snapshot::build(&config(), 1);
    assert!(
        snap.egress_candidates("192.0.2.99".parse().unwrap())
            .is_empty()
    );
    assert!(
        snap.egress_candidates("192.0.2.50".parse().unwrap())
            .is_empty()
    );
}

#[test]
fn users_gateways_and_publishing() {
    let shared = SharedSnapshot::new(Snapshot::build(&config(), 1));
    let snap = shared.load();
    assert_eq!(snap.user("alice").map(|u| u.id), Some(1));
    assert_eq!(
        snap.user("ALICE").unwrap().ha1,
        Ha1Set::new("Alice", "tollgate", "secret")
    );
    let gws: Vec<_> = snap.gateways(2).map(|e| e.id).collect();
    assert_eq!(gws, [20, 21]);
    let mut next = config();
    next.entries.retain(|e| e.id != 12);
    shared.publish(Snapshot::build(&next, 2));
    assert_eq!(snap.version(), 1, "an old reader keeps its snapshot");
    let now = shared.load();
    assert_eq!(now.version(), 2);
    assert_eq!(
        ids(&now.egress_candidates("203.0.113.8".parse().unwrap())),
        [14]
    );
}

#[test]
fn ipv6_sources() {
    let mut c = config();
    c.entries.push(entry(
        30,
        1,
        Direction::Egress,
        &["2001:db8::/32", "2001:db8::7"],
    ));
    let snap = Snapshot::build(&c, 1);
    assert_eq!(
        ids(&snap.egress_candidates("2001:db8::7".parse().unwrap())),
        [30]
    );
    assert_eq!(
        ids(&snap.egress_candidates("2001:db8::8".parse().unwrap())),
        [30]
    );
}

#[test]
fn hostnames_are_folded_in_when_resolved() {
    let c = config();
    assert_eq!(Snapshot::hostnames(&c), ["gw1.carrier.example"]);
    let unresolved = Snapshot::build(&c, 1);
    assert!(unresolved.gateway_addresses(20).is_empty());
    assert_eq!(
        unresolved.gateway_addresses(21),
        ["198.51.100.21".parse::<std::net::IpAddr>().unwrap()]
    );
    let mut hosts = HostTable::new();
    hosts.insert(
        "gw1.carrier.example".into(),
        HostStatus {
            addresses: vec!["203.0.113.50".parse().unwrap()],
            error: None,
            checked_at: 1,
        },
    );
    let resolved = Snapshot::build_with_hosts(&c, 2, &hosts);
    assert_eq!(
        resolved.gateway_addresses(20),
        ["203.0.113.50".parse::<std::net::IpAddr>().unwrap()]
    );
    assert!(resolved.is_gateway_address("203.0.113.50".parse().unwrap()));
    assert!(resolved.is_gateway_address("198.51.100.21".parse().unwrap()));
    assert!(!unresolved.is_gateway_address("203.0.113.50".parse().unwrap()));
    assert!(!resolved.is_gateway_address("203.0.113.8".parse().unwrap()));
}
