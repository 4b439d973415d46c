//! How long IP-entry bulk writes take as the table grows, and whether a
//! single write made meanwhile succeeds: `bulk_write [BULK] [ROUNDS]`
//! writes ROUNDS bulks of BULK egress entries (alternating between two
//! customers, each entry its own address) into a fresh SQLite file, timing
//! each; during the last one, an account is created and timed too.
//! Run it in release: `cargo run --release -p tollgate-store --example
//! bulk_write 10000 11` is 10,000 entries into 100,000.

use std::time::Instant;

use tollgate_policy::{Account, AccountKind, Direction, IpAuthEntry};
use tollgate_store::{Actor, Store};

fn entry(account_id: i64, n: u32) -> IpAuthEntry {
    let ip = std::net::Ipv4Addr::from(0x0a00_0000 + n);
    IpAuthEntry {
        account_id,
        addresses: vec![ip.to_string().parse().expect("an IP")],
        direction: Direction::Egress,
        port: 5060,
        ..IpAuthEntry::default()
    }
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let bulk: u32 = args.next().map_or(10_000, |a| a.parse().expect("BULK"));
    let rounds: u32 = args.next().map_or(11, |a| a.parse().expect("ROUNDS"));
    assert!(bulk <= 100_000 && rounds <= 100, "bounded");
    let dir = std::env::temp_dir().join(format!("tollgate-bulk-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let store = Store::open(&format!("sqlite://{}/t.db", dir.display()), "tollgate")
        .await
        .expect("store");
    let admin = Actor::system();
    let mut customers = Vec::new();
    for name in ["acme", "globex"] {
        let account = Account {
            name: name.into(),
            kind: AccountKind::Customer,
            ..Account::default()
        };
        customers.push(
            store
                .create_account(&admin, account)
                .await
                .expect("account")
                .0
                .id,
        );
    }
    for round in 0..rounds {
        let entries: Vec<IpAuthEntry> = (0..bulk)
            .map(|i| entry(customers[(i % 2) as usize], round * bulk + i))
            .collect();
        let last = round + 1 == rounds;
        let single = last.then(|| {
            let store = store.clone();
            tokio::spawn(async move {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                let started = Instant::now();
                let account = Account {
                    name: "during-the-bulk".into(),
                    ..Account::default()
                };
                let result = store.create_account(&Actor::system(), account).await;
                (
                    started.elapsed(),
                    result.map(drop).map_err(|e| e.to_string()),
                )
            })
        });
        let started = Instant::now();
        store
            .create_ip_auth_bulk(&admin, entries)
            .await
            .expect("bulk");
        println!(
            "bulk of {bulk} into {}: {} ms",
            round * bulk,
            started.elapsed().as_millis()
        );
        if let Some(single) = single {
            let (took, result) = single.await.expect("single write");
            println!(
                "a single write during it: {result:?} after {} ms",
                took.as_millis()
            );
        }
    }
    store.close().await;
    std::fs::remove_dir_all(&dir).ok();
}
