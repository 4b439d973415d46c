use std::sync::Arc;
use std::time::Duration;

use tollgate_policy::threat::BlockRule;
use tollgate_policy::*;

use super::*;

fn admin() -> Actor {
    Actor {
        name: "admin".into(),
        ip: Some("127.0.0.1".into()),
    }
}

async fn memory() -> Store {
    Store::open("sqlite::memory:", "tollgate").await.unwrap()
}

fn account(name: &str, kind: AccountKind) -> Account {
    Account {
        id: 0,
        name: name.into(),
        kind,
        status: AccountStatus::Active,
        channels: 0,
        cps: 0,
        notes: String::new(),
        digest: None,
        carrier: CarrierSettings::default(),
    }
}

fn egress(account_id: i64, address: &str) -> IpAuthEntry {
    IpAuthEntry {
        account_id,
        addresses: vec![address.parse().unwrap()],
        direction: Direction::Egress,
        channels: 30,
        cps: 5,
        port: 5060,
        ..IpAuthEntry::default()
    }
}

fn sip_user(account_id: i64, name: &str, channels: u32) -> SipUser {
    SipUser {
        account_id,
        username: name.into(),
        ha1: Ha1Set::new(name, "tollgate", "s3cret"),
        channels,
        ..SipUser::default()
    }
}

#[tokio::test]
async fn every_write_has_its_audit_event_and_bumps_the_version() {
    let store = memory().await;
    let mut changes = store.subscribe();
    let (acme, _) = store
        .create_account(&admin(), account("acme", AccountKind::Customer))
        .await
        .unwrap();
    assert!(acme.id > 0);
    assert_eq!(store.version(), 1);
    assert!(changes.has_changed().unwrap());
    let mut renamed = acme.clone();
    renamed.name = "acme-telecom".into();
    store.update_account(&admin(), renamed).await.unwrap();
    store.delete_account(&admin(), acme.id).await.unwrap();
    assert_eq!(store.version(), 3);
    let events = store.audit(&AuditFilter::default()).await.unwrap();
    let actions: Vec<_> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["delete", "update", "create"]);
    assert_eq!(events[1].before.as_ref().unwrap()["name"], "acme");
    assert_eq!(events[1].after.as_ref().unwrap()["name"], "acme-telecom");
    assert_eq!(events[0].actor, "admin");
    assert_eq!(events[0].actor_ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(events[0].account_id, Some(acme.id));
    let _ = changes.borrow_and_update();
}

#[tokio::test]
async fn refused_writes_change_nothing_and_log_nothing() {
    let store = memory().await;
    let mut bad = account("", AccountKind::Customer);
    let err = store
        .create_account(&admin(), bad.clone())
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Invalid { ref error, conflict: false } if error.field == "name"),
        "{err}"
    );
    bad.name = "acme".into();
    store.create_account(&admin(), bad.clone()).await.unwrap();
    let dup = store.create_account(&admin(), bad).await.unwrap_err();
    assert!(
        matches!(dup, StoreError::Invalid { ref error, conflict: true } if error.field == "name"),
        "{dup}"
    );
    assert!(matches!(
        store.account(999).await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(store.version(), 1);
    assert_eq!(store.audit(&AuditFilter::default()).await.unwrap().len(), 1);
}

#[tokio::test]
async fn secrets_are_kept_but_never_shown() {
    let store = memory().await;
    let (carrier, _) = store
        .create_account(&admin(), account("carrier", AccountKind::Carrier))
        .await
        .unwrap();
    let mut gw = egress(carrier.id, "198.51.100.7");
    gw.direction = Direction::Ingress;
    gw.username = "trunk".into();
    gw.password = Some("uac-secret".into());
    let (gw, _) = store.create_ip_auth(&admin(), gw).await.unwrap();
    // Kept for answering the carrier's challenge...
    assert_eq!(
        store.ip_auth(gw.id).await.unwrap().password.as_deref(),
        Some("uac-secret")
    );
    // ...unchanged by an update that does not mention it...
    let mut changed = gw.clone();
    changed.password = None;
    changed.weight = 10;
    let (after, _) = store.update_ip_auth(&admin(), changed).await.unwrap();
    assert_eq!(after.password.as_deref(), Some("uac-secret"));
    assert_eq!(after.weight, 10);
    // ...and never in the audit log or the JSON of the entity.
    let events = store.audit(&AuditFilter::default()).await.unwrap();
    let text = serde_json::to_string(&events).unwrap();
    assert!(!text.contains("uac-secret"), "{text}");
    assert_eq!(events[1].after.as_ref().unwrap()["password"], "***");
    assert!(
        !serde_json::to_string(&after)
            .unwrap()
            .contains("uac-secret")
    );

    let (acme, _) = store
        .create_account(&admin(), account("acme", AccountKind::Customer))
        .await
        .unwrap();
    let (user, _) = store
        .create_sip_user(&admin(), sip_user(acme.id, "alice", 0))
        .await
        .unwrap();
    let stored = store.sip_user(user.id).await.unwrap();
    assert_eq!(stored.ha1, Ha1Set::new("alice", "tollgate", "s3cret"));
    let dump = serde_json::to_string(&store.audit(&AuditFilter::default()).await.unwrap()).unwrap();
    assert!(!dump.contains(&stored.ha1.md5), "HA1 stays out of the log");
}

#[tokio::test]
async fn user_rules_span_the_account() {
    let store = memory().await;
    let mut limited = account("acme", AccountKind::Customer);
    limited.channels = 10;
    let (acme, _) = store.create_account(&admin(), limited).await.unwrap();
    store
        .create_sip_user(&admin(), sip_user(acme.id, "alice", 6))
        .await
        .unwrap();
    let err = store
        .create_sip_user(&admin(), sip_user(acme.id, "bob", 5))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "channels: no channel capacity available for this account"
    );
    store
        .create_sip_user(&admin(), sip_user(acme.id, "bob", 4))
        .await
        .unwrap();
    let dup = store
        .create_sip_user(&admin(), sip_user(acme.id, "ALICE", 0))
        .await
        .unwrap_err();
    assert!(
        matches!(
            dup,
            StoreError::Invalid { conflict: true, .. } | StoreError::Invalid { .. }
        ),
        "{dup}"
    );
    let orphan = store
        .create_sip_user(&admin(), sip_user(999, "carol", 1))
        .await
        .unwrap_err();
    assert!(orphan.to_string().starts_with("account_id"), "{orphan}");
}

#[tokio::test]
async fn shared_addresses_warn() {
    let store = memory().await;
    let (a, _) = store
        .create_account(&admin(), account("a", AccountKind::Customer))
        .await
        .unwrap();
    let (b, _) = store
        .create_account(&admin(), account("b", AccountKind::Customer))
        .await
        .unwrap();
    let (_, none) = store
        .create_ip_auth(&admin(), egress(a.id, "203.0.113.7"))
        .await
        .unwrap();
    assert!(none.is_empty());
    let (_, warned) = store
        .create_ip_auth(&admin(), egress(b.id, "203.0.113.7"))
        .await
        .unwrap();
    assert_eq!(warned.len(), 1);
    assert_eq!(warned[0].field, "addresses[0]");
    // The address index follows updates and deletes: a's entry moves
    // away, so a bulk of b's on the old address warns of nothing, and one
    // on the new address warns of a's entry only.
    let mut moved = store.ip_auths(Some(a.id)).await.unwrap().remove(0);
    moved.addresses = vec!["203.0.113.8".parse().unwrap()];
    store.update_ip_auth(&admin(), moved.clone()).await.unwrap();
    let bulk = vec![egress(b.id, "203.0.113.7"), egress(b.id, "203.0.113.8")];
    let written = store.create_ip_auth_bulk(&admin(), bulk).await.unwrap();
    assert!(written[0].1.is_empty(), "{:?}", written[0].1);
    assert_eq!(written[1].1.len(), 1);
    assert!(
        written[1].1[0]
            .message
            .contains(&format!("entry {}", moved.id))
    );
    store.delete_ip_auth(&admin(), moved.id).await.unwrap();
    let (_, after) = store
        .create_ip_auth(&admin(), egress(b.id, "203.0.113.8"))
        .await
        .unwrap();
    assert!(after.is_empty(), "{after:?}");
}

#[tokio::test]
async fn a_single_write_during_a_big_bulk_waits_its_turn_and_succeeds() {
    let store = memory().await;
    let (a, _) = store
        .create_account(&admin(), account("a", AccountKind::Customer))
        .await
        .unwrap();
    let bulk: Vec<IpAuthEntry> = (0..2_000u32)
        .map(|n| egress(a.id, &std::net::Ipv4Addr::from(0x0a00_0000 + n).to_string()))
        .collect();
    let writer = store.clone();
    let single = tokio::spawn(async move {
        tokio::task::yield_now().await;
        writer
            .create_account(&admin(), account("meanwhile", AccountKind::Customer))
            .await
    });
    store.create_ip_auth_bulk(&admin(), bulk).await.unwrap();
    single.await.unwrap().unwrap();
    assert_eq!(store.ip_auths(Some(a.id)).await.unwrap().len(), 2_000);
}

#[tokio::test]
async fn restart_keeps_everything() {
    let dir = std::env::temp_dir().join(format!("tollgate-store-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}/t.db", dir.display());
    {
        let store = Store::open(&url, "tollgate").await.unwrap();
        let (acme, _) = store
            .create_account(&admin(), account("acme", AccountKind::Customer))
            .await
            .unwrap();
        store
            .create_ip_auth(&admin(), egress(acme.id, "203.0.113.7"))
            .await
            .unwrap();
        store
            .create_sip_user(&admin(), sip_user(acme.id, "alice", 0))
            .await
            .unwrap();
        store.close().await;
    }
    let store = Store::open(&url, "tollgate").await.unwrap();
    assert_eq!(store.version(), 3);
    let (config, version) = store.load().await.unwrap();
    assert_eq!(version, 3);
    assert_eq!(config.accounts[0].name, "acme");
    assert_eq!(config.entries[0].addresses[0].to_string(), "203.0.113.7");
    assert_eq!(
        config.users[0].ha1,
        Ha1Set::new("alice", "tollgate", "s3cret")
    );
    assert_eq!(store.audit(&AuditFilter::default()).await.unwrap().len(), 3);
    store.close().await;
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn concurrent_writers_leave_a_consistent_trail() {
    let dir = std::env::temp_dir().join(format!("tollgate-store-cc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let store = Store::open(&format!("sqlite://{}/t.db", dir.display()), "tollgate")
        .await
        .unwrap();
    let (acme, _) = store
        .create_account(&admin(), account("acme", AccountKind::Customer))
        .await
        .unwrap();
    let (entry, _) = store
        .create_ip_auth(&admin(), egress(acme.id, "203.0.113.7"))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for cps in 1..=20u32 {
        let (store, mut e) = (store.clone(), entry.clone());
        tasks.push(tokio::spawn(async move {
            e.cps = cps;
            store.update_ip_auth(&admin(), e).await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let filter = AuditFilter {
        entity: Some("ip_auth".into()),
        entity_id: Some(entry.id.to_string()),
        ..AuditFilter::default()
    };
    let mut events = store.audit(&filter).await.unwrap();
    events.reverse();
    assert_eq!(events.len(), 21);
    // Each update's "before" is the previous event's "after": no lost write.
    for pair in events.windows(2) {
        assert_eq!(pair[1].before, pair[0].after);
    }
    let last_cps = events.last().unwrap().after.as_ref().unwrap()["cps"]
        .as_u64()
        .unwrap();
    assert_eq!(
        u64::from(store.ip_auth(entry.id).await.unwrap().cps),
        last_cps
    );
    store.close().await;
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn a_change_reaches_the_snapshot_within_a_second() {
    let store = memory().await;
    let shared = Arc::new(SharedSnapshot::new(Snapshot::default()));
    let refresher = refresh_snapshots(store.clone(), shared.clone(), None);
    let (acme, _) = store
        .create_account(&admin(), account("acme", AccountKind::Customer))
        .await
        .unwrap();
    let started = tokio::time::Instant::now();
    store
        .create_ip_auth(&admin(), egress(acme.id, "203.0.113.7"))
        .await
        .unwrap();
    let ip = "203.0.113.7".parse().unwrap();
    while shared.load().egress_candidates(ip).is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "snapshot not updated within 1 s"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(shared.load().version(), store.version());
    println!("change visible after {:?}", started.elapsed());
    refresher.abort();
}

#[tokio::test]
async fn a_block_keeps_its_rule_trigger_and_hits() {
    let store = memory().await;
    let mut changes = store.subscribe_firewall();
    let block = store
        .block(
            &Actor::system(),
            NewBlock {
                address: "203.0.113.9",
                reason: "a SIP scanner (User-Agent: friendly-scanner)",
                source: BlockSource::Auto,
                rule: Some((BlockRule::Scanner, "friendly-scanner")),
                duration_s: Some(3600),
                notes: "",
            },
        )
        .await
        .unwrap();
    assert_eq!(block.rule, Some(BlockRule::Scanner));
    let _ = changes.borrow_and_update();
    let hits = [
        ("203.0.113.9".to_owned(), 40),
        ("198.51.100.1".to_owned(), 5),
    ];
    store.add_hits(&hits).await.unwrap();
    store.add_hits(&hits[..1]).await.unwrap();
    assert!(!changes.has_changed().unwrap(), "counting reloads nothing");
    let listed = store.blocks().await.unwrap();
    assert_eq!(listed.len(), 1, "no row for an address not blocked");
    assert_eq!(listed[0].hits, 80);
    assert_eq!(listed[0].rule, Some(BlockRule::Scanner));
    assert_eq!(listed[0].trigger.as_deref(), Some("friendly-scanner"));
    let json = serde_json::to_value(&listed[0]).unwrap();
    assert_eq!(json["rule"], "scanner");
}

#[tokio::test]
async fn configuring_a_blocked_switch_lifts_its_automatic_block() {
    let store = memory().await;
    let mut changes = store.subscribe_firewall();
    store
        .block(
            &Actor::system(),
            NewBlock {
                address: "203.0.113.7",
                reason: "20 failed digest attempts",
                source: BlockSource::Auto,
                rule: Some((BlockRule::AuthFailures, "20")),
                duration_s: Some(3600),
                notes: "",
            },
        )
        .await
        .unwrap();
    store
        .block(
            &admin(),
            NewBlock {
                address: "198.51.100.0/24",
                reason: "manual block by admin",
                source: BlockSource::Manual,
                rule: None,
                duration_s: None,
                notes: "",
            },
        )
        .await
        .unwrap();
    assert!(changes.has_changed().unwrap());
    let _ = changes.borrow_and_update();
    let (acme, _) = store
        .create_account(&admin(), account("acme", AccountKind::Customer))
        .await
        .unwrap();
    store
        .create_ip_auth(&admin(), egress(acme.id, "203.0.113.7"))
        .await
        .unwrap();
    // A manual block is the operator's decision: an entry does not lift it.
    store
        .create_ip_auth(&admin(), egress(acme.id, "198.51.100.9"))
        .await
        .unwrap();
    assert!(
        changes.has_changed().unwrap(),
        "the firewall watchers are told"
    );
    let left: Vec<_> = store
        .blocks()
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.address)
        .collect();
    assert_eq!(left, ["198.51.100.0/24"]);
    let filter = AuditFilter {
        entity: Some("firewall".into()),
        ..AuditFilter::default()
    };
    let events = store.audit(&filter).await.unwrap();
    assert_eq!(events[0].action, "unblock");
    assert!(
        events[0].message.contains("belongs to IP auth entry"),
        "{}",
        events[0].message
    );
    assert_eq!(events[0].actor, "admin");
}

#[tokio::test]
async fn a_database_url_without_a_backend_is_refused_naming_the_field() {
    let err = Store::open("postgres://db.example/tollgate", "tollgate")
        .await
        .unwrap_err();
    match err {
        StoreError::Invalid { error, .. } => {
            assert_eq!(error.field, "store.url");
            assert!(error.message.contains("sqlite://"), "{}", error.message);
        }
        other => panic!("expected a field error, got {other:?}"),
    }
}

#[tokio::test]
async fn the_store_handle_works_over_a_backend_given_to_it() {
    let backend = SqliteStore::open("sqlite::memory:", "example.net")
        .await
        .unwrap();
    let store = Store::new(Arc::new(backend));
    assert_eq!(store.realm(), "example.net");
    let mut changes = store.subscribe();
    let (created, _) = store
        .create_account(&admin(), account("acme", AccountKind::Customer))
        .await
        .unwrap();
    changes.changed().await.unwrap();
    assert_eq!(*changes.borrow(), store.version());
    assert_eq!(store.account(created.id).await.unwrap().name, "acme");
}
