//! The SQLite file as other processes and users see it: one writer, other
//! writers' commits noticed, files private to their owner.

use std::time::Duration;

use sqlx::Connection as _;
use tollgate_policy::{Account, AccountKind};

use crate::{Actor, Store};

/// A fresh directory for one test's database; removed afterwards.
struct Dir(std::path::PathBuf);

impl Dir {
    fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!("tollgate-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    fn url(&self) -> String {
        format!("sqlite://{}/t.db", self.0.display())
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn acme() -> Account {
    Account {
        name: "acme".into(),
        kind: AccountKind::Customer,
        ..Account::default()
    }
}

/// Waits up to a second for `rx` to show a value for which `f` holds.
async fn within_a_second(
    rx: &mut tokio::sync::watch::Receiver<u64>,
    f: impl Fn(u64) -> bool,
) -> bool {
    tokio::time::timeout(Duration::from_secs(1), rx.wait_for(|v| f(*v)))
        .await
        .is_ok_and(|r| r.is_ok())
}

#[tokio::test]
async fn a_second_writer_is_refused_naming_the_file_and_the_owner() {
    let dir = Dir::new("second-writer");
    let first = Store::open(&dir.url(), "tollgate").await.unwrap();
    let refused = Store::open(&dir.url(), "tollgate").await.unwrap_err();
    let message = refused.to_string();
    assert!(message.starts_with("store.url: "), "{message}");
    assert!(
        message.contains(&format!("{}/t.db", dir.0.display())),
        "{message}"
    );
    assert!(
        message.contains(&format!("pid {}", std::process::id())),
        "{message}"
    );
    assert!(message.contains("--read-only"), "{message}");
    // A reader is welcome; and the file is the writer's again once it is
    // closed.
    let reader = Store::open_read_only(&dir.url(), "tollgate").await.unwrap();
    assert!(
        reader
            .create_account(&Actor::system(), acme())
            .await
            .is_err()
    );
    drop(first);
    Store::open(&dir.url(), "tollgate").await.unwrap();
}

#[tokio::test]
async fn commits_of_other_connections_are_announced_within_a_second() {
    let dir = Dir::new("other-writers");
    let writer = Store::open(&dir.url(), "tollgate").await.unwrap();
    let reader = Store::open_read_only(&dir.url(), "tollgate").await.unwrap();
    let mut seen = reader.subscribe();
    writer
        .create_account(&Actor::system(), acme())
        .await
        .unwrap();
    assert!(
        within_a_second(&mut seen, |v| v >= 1).await,
        "the reader follows the writer"
    );
    assert_eq!(reader.load().await.unwrap().0.accounts[0].name, "acme");
    // Someone with the sqlite3 shell: a block and a configuration change.
    let mut versions = writer.subscribe();
    let mut firewall = writer.subscribe_firewall();
    let _ = firewall.borrow_and_update();
    let mut shell = sqlx::SqliteConnection::connect(&dir.url()).await.unwrap();
    sqlx::query(
        "INSERT INTO firewall (address, reason, source, created_at) VALUES ('192.0.2.9', 'shell', 'manual', 0);
         UPDATE config_version SET version = version + 1, firewall_version = firewall_version + 1",
    )
    .execute(&mut shell)
    .await
    .unwrap();
    assert!(within_a_second(&mut versions, |v| v >= 2).await);
    assert!(
        tokio::time::timeout(Duration::from_secs(1), firewall.changed())
            .await
            .is_ok(),
        "the block list reloads"
    );
    // The writer's own changes are announced once, not again by the watcher.
    let mut own = writer.subscribe_firewall();
    let _ = own.borrow_and_update();
    writer
        .block(
            &Actor::system(),
            crate::NewBlock {
                address: "192.0.2.10",
                reason: "test",
                source: crate::BlockSource::Manual,
                rule: None,
                duration_s: None,
                notes: "",
            },
        )
        .await
        .unwrap();
    assert!(own.has_changed().unwrap());
    let _ = own.borrow_and_update();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(!own.has_changed().unwrap(), "announced once");
}

#[cfg(unix)]
#[tokio::test]
async fn the_database_and_its_companions_are_private_to_their_owner() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = Dir::new("private");
    let store = Store::open(&dir.url(), "tollgate").await.unwrap();
    store
        .create_account(&Actor::system(), acme())
        .await
        .unwrap();
    for name in ["t.db", "t.db-wal", "t.db-shm", "t.db.lock", "t.db.key"] {
        let mode = std::fs::metadata(dir.0.join(name))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{name}: {mode:o}");
    }
}

/// A big account, numbered `i`.
fn big(i: usize) -> Account {
    Account {
        name: format!("acme-{i}"),
        notes: "n".repeat(2000),
        ..acme()
    }
}

/// Writes big accounts until the database refused `refusals` of them:
/// the ids of those it acknowledged. Every refusal must be the same
/// clear error, never a wedged connection ("non-zero transaction depth").
async fn fill_until_full(store: &Store, refusals: usize) -> Vec<i64> {
    let (mut kept, mut refused) = (Vec::new(), 0);
    for i in 0..1_000 {
        match store.create_account(&Actor::system(), big(i)).await {
            Ok((a, _)) => kept.push(a.id),
            Err(crate::StoreError::Full) => {
                refused += 1;
                if refused == refusals {
                    return kept;
                }
            }
            Err(e) => panic!("write {i} after {refused} refusals: {e}"),
        }
    }
    panic!("never full after {} accounts", kept.len());
}

/// After room came back: the same server writes again, with no restart,
/// and everything acknowledged (`kept`) is there.
async fn writes_again_and_lost_nothing(store: &Store, kept: &[i64]) {
    store
        .create_account(&Actor::system(), big(1_000))
        .await
        .unwrap();
    let accounts = store.accounts(None).await.unwrap();
    assert_eq!(accounts.len(), kept.len() + 1, "nothing acknowledged lost");
    assert!(kept.iter().all(|id| accounts.iter().any(|a| a.id == *id)));
}

#[tokio::test]
async fn a_full_disk_refuses_writes_until_there_is_room_again_and_loses_nothing() {
    use sqlx::sqlite::SqliteConnectOptions;
    let dir = Dir::new("full");
    let path = dir.0.join("t.db");
    // A size limit stands in for a full disk: SQLite answers SQLITE_FULL.
    let limited = SqliteConnectOptions::new()
        .filename(&path)
        .pragma("max_page_count", "48");
    let store = super::SqliteStore::open_with(limited, Some(path.clone()), "tollgate", false)
        .await
        .unwrap();
    let store = Store::new(std::sync::Arc::new(store));
    let kept = fill_until_full(&store, 5).await;
    assert!(!kept.is_empty());
    // Room again: the operator prunes the audit log with the sqlite3
    // shell. The same server writes again, no restart.
    let mut shell =
        sqlx::SqliteConnection::connect_with(&SqliteConnectOptions::new().filename(&path))
            .await
            .unwrap();
    sqlx::query("DELETE FROM audit")
        .execute(&mut shell)
        .await
        .unwrap();
    writes_again_and_lost_nothing(&store, &kept).await;
}

/// A 1 MiB tmpfs mounted for one test (root only), unmounted afterwards.
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    /// Mounts one, or says why it cannot.
    fn mount(name: &str) -> Result<Self, String> {
        let path = std::env::temp_dir().join(format!("tollgate-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&path).map_err(|e| e.to_string())?;
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
            .arg(&path)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if mounted {
            Ok(Self(path))
        } else {
            let _ = std::fs::remove_dir(&path);
            Err("cannot mount a tmpfs (needs root)".into())
        }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        // Lazily: connections closing in the background may still hold
        // files there.
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
        let _ = std::fs::remove_dir(&self.0);
    }
}

#[tokio::test]
async fn a_truly_full_disk_fails_writes_at_commit_and_never_wedges_the_store() {
    let disk = match SmallDisk::mount("disk-full") {
        Ok(disk) => disk,
        Err(why) if std::env::var_os("CI").is_none() => {
            eprintln!("skipped: {why}");
            return;
        }
        Err(why) => panic!("{why}"),
    };
    // A file taking most of the room, removed later to free it.
    std::fs::write(disk.0.join("ballast"), vec![0u8; 300_000]).unwrap();
    let url = format!("sqlite://{}/t.db", disk.0.display());
    let store = Store::open(&url, "tollgate").await.unwrap();
    let kept = fill_until_full(&store, 6).await;
    std::fs::remove_file(disk.0.join("ballast")).unwrap();
    writes_again_and_lost_nothing(&store, &kept).await;
    store.close().await;
}

#[tokio::test]
async fn a_carrier_password_is_never_in_the_file_in_clear() {
    use tollgate_policy::{Direction, IpAuthEntry};
    let dir = Dir::new("sealed");
    let secret = "carrier-Secret-9f3e";
    let id = {
        let store = Store::open(&dir.url(), "tollgate").await.unwrap();
        let (carrier, _) = store
            .create_account(
                &Actor::system(),
                Account {
                    kind: AccountKind::Carrier,
                    ..acme()
                },
            )
            .await
            .unwrap();
        let gateway = IpAuthEntry {
            account_id: carrier.id,
            addresses: vec!["198.51.100.7".parse().unwrap()],
            direction: Direction::Ingress,
            port: 5060,
            username: "trunk".into(),
            password: Some(secret.into()),
            ..IpAuthEntry::default()
        };
        let (gateway, _) = store
            .create_ip_auth(&Actor::system(), gateway)
            .await
            .unwrap();
        store.close().await;
        gateway.id
    };
    for name in ["t.db", "t.db-wal"] {
        let bytes = std::fs::read(dir.0.join(name)).unwrap_or_default();
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{name} holds the password in clear"
        );
    }
    // The same server, started again, reads it back (the key file beside
    // the database), and so does the snapshot the edge answers carriers
    // from.
    let store = Store::open(&dir.url(), "tollgate").await.unwrap();
    assert_eq!(
        store.ip_auth(id).await.unwrap().password.as_deref(),
        Some(secret)
    );
    let (config, _) = store.load().await.unwrap();
    assert_eq!(config.entries[0].password.as_deref(), Some(secret));
}
