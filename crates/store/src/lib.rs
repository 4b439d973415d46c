//! Tollgate's persistence: the configuration (accounts, IP authentication
//! entries, SIP users, routes), admin tokens, the firewall list and the
//! audit log, behind the [`ConfigStore`] trait; an embedded SQLite file
//! ([`SqliteStore`]) is the backend.
//!
//! ```text
//!   API / CLI ──► store.create_*/update_*/delete_*  ──► one SQL transaction:
//!                                                       the change + its audit event + version bump
//!                 store.subscribe() ◄── watch::Receiver<version> ◄── commit
//!                 store.load()      ──► Configuration ──► policy::Snapshot::build
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
mod secrets;
mod sqlite;
mod tokens;

pub use audit::{AuditEvent, AuditFilter, AuditLog};
pub use entities::{Actor, Entities};
pub use firewall::{Block, BlockSource, FirewallList, NewBlock, block_address};
pub use sqlite::SqliteStore;
pub use tokens::Tokens;

use std::fmt::Debug;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

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
    /// The database has no room left for the write (507): the disk, or
    /// its size limit, is full. Writes work again once there is room.
    #[error("the database is full: free disk space")]
    Full,
    /// The database is read-only: this server was started to read only,
    /// or the file cannot be written (503).
    #[error("the database is read-only here")]
    ReadOnly,
    /// Too many writes wait for their turn, or one waited too long (503,
    /// to be retried).
    #[error("the database is busy: retry shortly")]
    Busy,
    /// The database failed (500).
    #[error("database: {0}")]
    Database(sqlx::Error),
    /// A stored document could not be read back (500).
    #[error("stored data is unreadable: {0}")]
    Corrupt(#[from] serde_json::Error),
}

/// True while the database refuses writes (full, read-only): such an
/// episode is logged once, when it starts, and once when it ends.
static REFUSING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// A write committed: ends an episode of refused writes, if one was on.
pub(crate) fn writes_work() {
    if REFUSING.swap(false, std::sync::atomic::Ordering::SeqCst) {
        tracing::info!("the database accepts writes again");
    }
}

impl From<sqlx::Error> for StoreError {
    /// SQLite's refusals become errors of their own (`SQLITE_FULL`,
    /// `SQLITE_READONLY`, `SQLITE_BUSY`/`SQLITE_LOCKED`, by primary code);
    /// the first refusal of an episode is logged.
    fn from(e: sqlx::Error) -> Self {
        let primary = e
            .as_database_error()
            .and_then(|d| d.code())
            .and_then(|c| c.parse::<u32>().ok())
            .map(|c| c & 0xff);
        let refused = match primary {
            Some(13) => Self::Full,
            Some(8) => Self::ReadOnly,
            Some(5 | 6) => return Self::Busy,
            _ => return Self::Database(e),
        };
        if !REFUSING.swap(true, std::sync::atomic::Ordering::SeqCst) {
            tracing::error!(error = %e, "the database refuses writes: they fail until the cause is gone");
        }
        refused
    }
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

/// A boxed store operation: the traits below are used as `dyn` objects, so
/// their async methods return boxed futures.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Everything a backend provides: the configuration, the audit log, the
/// firewall list and admin tokens, plus the change notifications the edge
/// follows. The SQLite file is the one backend today; another (PostgreSQL for
/// several nodes) implements this trait and callers, who hold a [`Store`],
/// do not change.
pub trait ConfigStore: Entities + AuditLog + FirewallList + Tokens + Send + Sync + Debug {
    /// The digest realm SIP users' HA1 hashes are computed for.
    fn realm(&self) -> &str;

    /// The configuration version: bumped by every committed change.
    fn version(&self) -> u64;

    /// Notified with the new version after every committed change.
    fn subscribe(&self) -> watch::Receiver<u64>;

    /// Notified after every change to the firewall list (blocks, unblocks,
    /// and IP entries that may lift automatic blocks).
    fn subscribe_firewall(&self) -> watch::Receiver<u64>;

    /// Closes the backend's connections.
    fn close(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
}

/// The handle callers hold: a shared backend, chosen by [`Store::open`]
/// from the database URL. Cloning it is cheap.
#[derive(Clone, Debug)]
pub struct Store(Arc<dyn ConfigStore>);

impl Store {
    /// Opens (creating and migrating on first use) the database at `url`
    /// (`sqlite://FILE` or `sqlite::memory:`). `realm` is the digest realm
    /// SIP users' HA1 hashes are computed for.
    pub async fn open(url: &str, realm: &str) -> Result<Self, StoreError> {
        sqlite_only(url)?;
        Ok(Self::new(Arc::new(SqliteStore::open(url, realm).await?)))
    }

    /// Opens an existing database at `url` to read only (a server that
    /// follows another one's writes): every write fails.
    pub async fn open_read_only(url: &str, realm: &str) -> Result<Self, StoreError> {
        sqlite_only(url)?;
        Ok(Self::new(Arc::new(
            SqliteStore::open_read_only(url, realm).await?,
        )))
    }

    /// A store over any backend.
    pub fn new(backend: Arc<dyn ConfigStore>) -> Self {
        Self(backend)
    }
}

/// Refuses a database URL this build has no backend for.
fn sqlite_only(url: &str) -> Result<(), StoreError> {
    if url.starts_with("sqlite:") {
        return Ok(());
    }
    Err(StoreError::invalid(FieldError::new(
        "store.url",
        "this build stores its data in SQLite only: use sqlite://FILE",
    )))
}

impl Deref for Store {
    type Target = dyn ConfigStore;

    fn deref(&self) -> &Self::Target {
        &*self.0
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
