//! The SQLite backend: the default, one file beside the binary.

mod audit;
mod entities;
mod firewall;
mod tokens;

use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use tokio::sync::watch;

use crate::{ConfigStore, StoreError};

/// The configuration database in one SQLite file (WAL, foreign keys,
/// migrations embedded in the binary and run on open).
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
    realm: String,
    version: watch::Sender<u64>,
    firewall: watch::Sender<u64>,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

impl SqliteStore {
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

    /// A write transaction that takes the database's write lock at once
    /// (`BEGIN IMMEDIATE`): concurrent writers queue on the busy timeout
    /// instead of failing when a read lock cannot be upgraded.
    pub(crate) async fn write(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, StoreError> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    pub(crate) fn firewall_changed(&self) {
        self.firewall.send_modify(|v| *v += 1);
    }

    /// Called after a commit: tell subscribers.
    pub(crate) fn committed(&self, version: u64) {
        self.version.send_replace(version);
    }
}

impl ConfigStore for SqliteStore {
    fn realm(&self) -> &str {
        &self.realm
    }

    fn version(&self) -> u64 {
        *self.version.borrow()
    }

    fn subscribe(&self) -> watch::Receiver<u64> {
        self.version.subscribe()
    }

    fn subscribe_firewall(&self) -> watch::Receiver<u64> {
        self.firewall.subscribe()
    }

    fn close(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(self.pool.close())
    }
}
