#![allow(missing_docs)] // criterion_group! generates undocumented items.
//! Snapshot rebuild with 100,000 IP authentication entries (the figure the
//! store pays after every committed change) and egress lookups against it.
//! Run with `cargo bench -p tollgate-policy`.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tollgate_policy::{
    Account, AccountKind, AccountStatus, Address, Authenticator, CarrierSettings, Configuration,
    Decision, Direction, Ha1Set, IpAuthEntry, RequestFacts, SipUser, Snapshot,
};
use tollgate_sip::transaction::Transport;

const ENTRIES: u32 = 100_000;

fn ip(n: u32) -> Ipv4Addr {
    Ipv4Addr::from(0x0a00_0000 | n)
}

/// 1,000 accounts; 90,000 entries with one IP each, 10,000 with a /28;
/// 10,000 SIP users (their HA1 computed once here, as the store holds it).
fn configuration() -> Configuration {
    let accounts = (0..1000)
        .map(|id| Account {
            id,
            name: format!("acct-{id}"),
            kind: AccountKind::Customer,
            status: AccountStatus::Active,
            channels: 0,
            cps: 0,
            notes: String::new(),
            digest: None,
            carrier: CarrierSettings::default(),
        })
        .collect();
    let entries = (0..ENTRIES)
        .map(|n| {
            let address = if n % 10 == 0 {
                Address::Cidr(
                    format!("{}/28", Ipv4Addr::from(0x0b00_0000 | (n << 4)))
                        .parse()
                        .unwrap(),
                )
            } else {
                Address::Ip(IpAddr::V4(ip(n)))
            };
            IpAuthEntry {
                id: i64::from(n),
                account_id: i64::from(n % 1000),
                addresses: vec![address],
                direction: Direction::Egress,
                channels: 30,
                cps: 5,
                port: 5060,
                ..IpAuthEntry::default()
            }
        })
        .collect();
    let ha1 = Ha1Set::new("user", "tollgate", "secret");
    let users = (0..10_000)
        .map(|n| SipUser {
            id: n,
            account_id: n % 1000,
            username: format!("user{n}"),
            ha1: ha1.clone(),
            ..SipUser::default()
        })
        .collect();
    Configuration {
        accounts,
        entries,
        users,
        routes: Vec::new(),
    }
}

fn rebuild(c: &mut Criterion) {
    let config = configuration();
    let mut g = c.benchmark_group("snapshot");
    g.sample_size(10);
    g.bench_function("build_100k_entries", |b| {
        b.iter(|| black_box(Snapshot::build(&config, 1)));
    });
    g.finish();

    let snap = Snapshot::build(&config, 1);
    let mut g = c.benchmark_group("egress_lookup_100k");
    g.throughput(Throughput::Elements(1));
    let mut n = 0u32;
    g.bench_function("exact_ip", |b| {
        b.iter(|| {
            n = (n + 7919) % ENTRIES;
            black_box(snap.egress_candidates(IpAddr::V4(ip(n | 1))).len())
        });
    });
    g.bench_function("cidr", |b| {
        b.iter(|| {
            n = (n + 7919) % ENTRIES;
            let addr = Ipv4Addr::from(0x0b00_0000 | ((n / 10 * 10) << 4) | 3);
            black_box(snap.egress_candidates(IpAddr::V4(addr)).len())
        });
    });
    let auth = Authenticator::new(
        "tollgate",
        vec![tollgate_sip::digest::Algorithm::SHA256],
        &[7; 32],
        300,
    );
    g.bench_function("identify_by_ip", |b| {
        b.iter(|| {
            n = (n + 7919) % ENTRIES;
            let facts = RequestFacts {
                source: std::net::SocketAddr::new(IpAddr::V4(ip(n | 1)), 5060),
                transport: Transport::Udp,
                method: b"INVITE",
                request_uri: b"sip:+441632960123@edge.example",
                called: "441632960123",
                proxy_authorization: None,
                named_users: [None, None],
                now: 1_800_000_000,
            };
            black_box(matches!(
                auth.identify(&snap, &facts),
                Decision::Identified(_)
            ))
        });
    });
    g.bench_function("unknown_source", |b| {
        b.iter(|| {
            black_box(
                snap.egress_candidates(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)))
                    .len(),
            )
        });
    });
    g.finish();
}

criterion_group!(benches, rebuild);
criterion_main!(benches);
