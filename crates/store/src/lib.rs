//! Tollgate's persistence: the configuration (accounts, IP authentication
//! entries, SIP users, routes), admin tokens, the firewall list and the
//! audit log, in an embedded SQLite file by default.
//!
//! ```text
//!   API / CLI ──► Store::create_*/update_*/delete_* ──► one SQL transaction:
//!                                                       the change + its audit event + version bump
//!                 Store::subscribe() ◄── watch::Receiver<version> ◄── commit
//!                 Store::load()      ──► Configuration ──► policy::Snapshot::build
//! ```
//!
//! Nothing is changed without its audit event and no event exists for a
//! change that did not happen: both are written in the same transaction.
//! Secrets never leave in clear: SIP users keep only HA1 hashes, the UAC
//! password of an ingress entry is kept in its own column (it is needed in
//! clear to answer a carrier's challenge) and audit events show `"***"`.

#![forbid(unsafe_code)]

mod audit;
mod entities;
mod firewall;
mod tokens;

pub use audit::{AuditEvent, AuditFilter};
pub use entities::Actor;
pub use firewall::{Block, BlockSource, block_address};

use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use tokio::sync::watch;
use tollgate_policy::FieldError;

/// Why a store operation failed, in terms an API maps to a status.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The entity does not exist (404).
    #[error("{entity} {id} not found")]
    NotFound {
        /// `account`, `ip_auth`, `sip_user`, `route`.
        entity: &'static str,
        /// The id (or address) asked for.
        id: String,
    },
    /// The value breaks a rule (422), or clashes with another entity (409
    /// when `conflict`).
    #[error("{error}")]
    Invalid {
        /// The field and rule.
        error: FieldError,
        /// True when the clash is with existing data (a duplicate name).
        conflict: bool,
    },
    /// The database failed (500).
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// A stored document could not be read back (500).
    #[error("stored data is unreadable: {0}")]
    Corrupt(#[from] serde_json::Error),
}

impl StoreError {
    pub(crate) fn invalid(error: FieldError) -> Self {
        Self::Invalid {
            error,
            conflict: false,
        }
    }

    pub(crate) fn conflict(field: &str, message: &str) -> Self {
        Self::Invalid {
            error: FieldError::new(field, message),
            conflict: true,
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The configuration database.
#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
    realm: String,
    version: watch::Sender<u64>,
    firewall: watch::Sender<u64>,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

impl Store {
    /// Opens (creating and migrating on first use) the database at `url`
    /// (`sqlite://FILE` or `sqlite::memory:`). `realm` is the digest realm
    /// SIP users' HA1 hashes are computed for.
    pub async fn open(url: &str, realm: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .foreign_keys(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(std::time::Duration::from_secs(5));
        // An in-memory database exists per connection: keep exactly one.
        let max = if url.contains(":memory:") { 1 } else { 4 };
        let pool = SqlitePoolOptions::new()
            .max_connections(max)
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await.map_err(sqlx::Error::from)?;
        let version: i64 = sqlx::query_scalar("SELECT version FROM config_version WHERE id = 1")
            .fetch_one(&pool)
            .await?;
        let (version, _) = watch::channel(u64::try_from(version).unwrap_or(0));
        Ok(Self {
            pool,
            realm: realm.to_owned(),
            version,
            firewall: watch::channel(0).0,
        })
    }

    /// The digest realm.
    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// The configuration version: bumped by every committed change.
    pub fn version(&self) -> u64 {
        *self.version.borrow()
    }

    /// Notified with the new version after every committed change.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.version.subscribe()
    }

    /// Notified after every change to the firewall list (blocks, unblocks,
    /// and IP entries that may lift automatic blocks).
    pub fn subscribe_firewall(&self) -> watch::Receiver<u64> {
        self.firewall.subscribe()
    }

    pub(crate) fn firewall_changed(&self) {
        self.firewall.send_modify(|v| *v += 1);
    }

    /// Closes the pool (all connections).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Called after a commit: tell subscribers.
    pub(crate) fn committed(&self, version: u64) {
        self.version.send_replace(version);
    }
}

#[cfg(test)]
mod tests;

/// Resolved hostnames and a signal when they change, for
/// [`refresh_snapshots`].
#[derive(Debug)]
pub struct HostFeed {
    /// The latest lookups.
    pub table: std::sync::Arc<arc_swap::ArcSwap<tollgate_policy::HostTable>>,
    /// Bumped whenever `table` changes.
    pub changes: tokio::sync::watch::Receiver<u64>,
}

/// Keeps `shared` compiled from the latest configuration (and, with
/// `hosts`, the latest hostname lookups): rebuilds and publishes a snapshot
/// after every committed change (changes that land while a rebuild runs
/// are folded into the next one). Ends when the store is dropped.
pub fn refresh_snapshots(
    store: Store,
    shared: std::sync::Arc<tollgate_policy::SharedSnapshot>,
    mut hosts: Option<HostFeed>,
) -> tokio::task::JoinHandle<()> {
    let mut changes = store.subscribe();
    tokio::spawn(async move {
        loop {
            let table = hosts
                .as_ref()
                .map(|h| h.table.load_full())
                .unwrap_or_default();
            match store.load().await {
                // Compiling is CPU work (tens of ms at 100k entries): it
                // runs off the runtime's workers, which carry the edge.
                Ok((config, version)) => {
                    let built = tokio::task::spawn_blocking(move || {
                        tollgate_policy::Snapshot::build_with_hosts(&config, version, &table)
                    })
                    .await;
                    match built {
                        Ok(snapshot) => shared.publish(snapshot),
                        Err(e) => tracing::error!(error = %e, "snapshot rebuild failed"),
                    }
                }
                Err(e) => tracing::error!(error = %e, "snapshot rebuild failed"),
            }
            let host_change = async {
                match hosts.as_mut() {
                    Some(h) => h.changes.changed().await.is_ok(),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                changed = changes.changed() => if changed.is_err() { return },
                alive = host_change => if !alive { hosts = None },
            }
        }
    })
}
