//! The SQLite backend: the default, one file beside the binary.

mod audit;
mod entities;
mod files;
mod firewall;
mod tokens;
mod write;

use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use sqlx::Connection as _;

use crate::secrets::Secrets;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
};
use tokio::sync::watch;

use crate::{ConfigStore, StoreError};

/// The configuration database in one SQLite file (WAL, foreign keys,
/// migrations embedded in the binary and run on open).
///
/// One process writes a database file: opening it takes an advisory lock
/// on `FILE.lock` (holding the owner's pid), and a second writer is
/// refused with a message naming both. Processes that only read open it
/// read-only. Either way a watcher notices commits made by any other
/// connection (`PRAGMA data_version`, polled every [`WATCH_EVERY`]) and
/// announces them like its own, so no edge is stale by more than that.
/// The file and its WAL and shared-memory files are readable by their
/// owner only (0600): they hold digest hashes and carrier passwords.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
    realm: String,
    signals: Arc<Signals>,
    writers: Arc<write::Writers>,
    /// Seals carrier passwords at rest.
    secrets: Arc<Secrets>,
}

/// What a database's store clones share: the change notifications (the
/// watcher holds them weakly, and stops with the last clone) and the
/// writer's lock.
#[derive(Debug)]
struct Signals {
    version: watch::Sender<u64>,
    firewall: watch::Sender<u64>,
    /// The firewall version last announced (the database's counter).
    firewall_seen: AtomicU64,
    /// Held while the store lives: the advisory lock of the one writer.
    _lock: Option<std::fs::File>,
}

/// How often the watcher asks SQLite whether another connection committed.
const WATCH_EVERY: Duration = Duration::from_millis(250);

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

impl SqliteStore {
    /// Opens (creating and migrating on first use) the database at `url`
    /// (`sqlite://FILE` or `sqlite::memory:`) as its one writer. `realm`
    /// is the digest realm SIP users' HA1 hashes are computed for.
    pub async fn open(url: &str, realm: &str) -> Result<Self, StoreError> {
        Self::open_as(url, realm, false).await
    }

    /// Opens an existing database at `url` to read only: no lock, no
    /// migrations, and every write fails as the file is read-only.
    pub async fn open_read_only(url: &str, realm: &str) -> Result<Self, StoreError> {
        Self::open_as(url, realm, true).await
    }

    async fn open_as(url: &str, realm: &str, read_only: bool) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?;
        // An in-memory database exists per connection: keep exactly one.
        let file = (!url.contains(":memory:")).then(|| options.get_filename().to_path_buf());
        Self::open_with(options, file, realm, read_only).await
    }

    /// Opens the database `options` name (stored in `file`, or in memory),
    /// with those options and ours.
    async fn open_with(
        options: SqliteConnectOptions,
        file: Option<std::path::PathBuf>,
        realm: &str,
        read_only: bool,
    ) -> Result<Self, StoreError> {
        let options = options
            .create_if_missing(!read_only)
            .read_only(read_only)
            .foreign_keys(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(std::time::Duration::from_secs(5));
        let memory = file.is_none();
        let lock = match &file {
            Some(file) if !read_only => {
                let lock = files::lock_for_writing(file)?;
                files::create_private(file)?;
                Some(lock)
            }
            _ => None,
        };
        let pool = SqlitePoolOptions::new()
            .max_connections(if memory { 1 } else { 4 })
            .connect_with(options.clone())
            .await?;
        if !read_only {
            MIGRATOR.run(&pool).await.map_err(sqlx::Error::from)?;
        }
        if let Some(file) = &file {
            files::owner_only(file);
        }
        let secrets = Secrets::for_database(file.as_deref(), !read_only)?;
        if !read_only {
            seal_stored(&pool, &secrets).await?;
        }
        let (version, firewall) = versions(&pool).await?;
        let signals = Arc::new(Signals {
            version: watch::channel(version).0,
            firewall: watch::channel(firewall).0,
            firewall_seen: AtomicU64::new(firewall),
            _lock: lock,
        });
        if !memory {
            let watcher = SqliteConnection::connect_with(&options).await?;
            tokio::spawn(watch_others(watcher, Arc::downgrade(&signals)));
        }
        Ok(Self {
            pool,
            realm: realm.to_owned(),
            signals,
            writers: Arc::new(write::Writers::new()),
            secrets: Arc::new(secrets),
        })
    }

    /// A write transaction, once it is this writer's turn (see
    /// [`write::WriteTx`]): writers queue here in order, and take SQLite's
    /// write lock at once.
    pub(crate) async fn write(&self) -> Result<write::WriteTx, StoreError> {
        let turn = self.writers.turn().await?;
        let conn = self.pool.acquire().await?;
        write::WriteTx::begin(conn, turn).await
    }

    /// Called after a commit that changed the firewall list to the
    /// database's firewall version `version`: tell subscribers.
    pub(crate) fn firewall_changed(&self, version: u64) {
        self.signals
            .firewall_seen
            .fetch_max(version, Ordering::SeqCst);
        self.signals.firewall.send_modify(|v| *v += 1);
    }

    /// Called after a commit: tell subscribers.
    pub(crate) fn committed(&self, version: u64) {
        self.signals.announce(version);
    }
}

impl Signals {
    /// Announces configuration `version`, unless a newer one was already.
    fn announce(&self, version: u64) {
        self.version.send_if_modified(|v| {
            let newer = version > *v;
            if newer {
                *v = version;
            }
            newer
        });
    }
}

/// Seals the carrier passwords stored in clear (before sealing existed),
/// in one transaction at start.
async fn seal_stored(pool: &SqlitePool, secrets: &Secrets) -> Result<(), StoreError> {
    let stored: Vec<(i64, String)> = sqlx::query_as(
        "SELECT id, uac_password FROM ip_auth_entries WHERE uac_password IS NOT NULL",
    )
    .fetch_all(pool)
    .await?;
    let clear: Vec<_> = stored
        .into_iter()
        .filter(|(_, p)| !Secrets::is_sealed(p))
        .collect();
    if clear.is_empty() {
        return Ok(());
    }
    let mut tx = pool.begin().await?;
    for (id, password) in &clear {
        sqlx::query("UPDATE ip_auth_entries SET uac_password = ? WHERE id = ?")
            .bind(secrets.seal(password))
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    tracing::info!(
        passwords = clear.len(),
        "sealed carrier passwords stored in clear"
    );
    Ok(())
}

/// Writes `text` to a new file at `path`, readable by its owner only.
pub(crate) fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    files::write_private(path, text)
}

/// Counts a change to the firewall list in the database (inside the
/// change's transaction); the new firewall version.
pub(crate) async fn bump_firewall(conn: &mut SqliteConnection) -> Result<u64, StoreError> {
    let v: i64 = sqlx::query_scalar(
        "UPDATE config_version SET firewall_version = firewall_version + 1 WHERE id = 1
         RETURNING firewall_version",
    )
    .fetch_one(conn)
    .await?;
    Ok(u64::try_from(v).unwrap_or(0))
}

/// The configuration and firewall versions stored in the database.
async fn versions(
    conn: impl sqlx::Executor<'_, Database = sqlx::Sqlite>,
) -> Result<(u64, u64), StoreError> {
    let (version, firewall): (i64, i64) =
        sqlx::query_as("SELECT version, firewall_version FROM config_version WHERE id = 1")
            .fetch_one(conn)
            .await?;
    Ok((
        u64::try_from(version).unwrap_or(0),
        u64::try_from(firewall).unwrap_or(0),
    ))
}

/// Announces what other connections (another process, the sqlite3 shell)
/// commit: every [`WATCH_EVERY`], when SQLite's `data_version` moved, the
/// stored versions are read, and a newer configuration or a changed
/// firewall list is announced as if committed here. Stops when the store
/// is gone.
async fn watch_others(mut conn: SqliteConnection, signals: Weak<Signals>) {
    let mut seen: Option<i64> = None;
    loop {
        tokio::time::sleep(WATCH_EVERY).await;
        let Some(signals) = signals.upgrade() else {
            return;
        };
        let Ok(data_version) = sqlx::query_scalar::<_, i64>("PRAGMA data_version")
            .fetch_one(&mut conn)
            .await
        else {
            continue;
        };
        if seen.replace(data_version) == Some(data_version) {
            continue;
        }
        let Ok((version, fw)) = versions(&mut conn).await else {
            continue;
        };
        signals.announce(version);
        if signals.firewall_seen.fetch_max(fw, Ordering::SeqCst) < fw {
            signals.firewall.send_modify(|v| *v += 1);
        }
    }
}

impl ConfigStore for SqliteStore {
    fn realm(&self) -> &str {
        &self.realm
    }

    fn version(&self) -> u64 {
        *self.signals.version.borrow()
    }

    fn subscribe(&self) -> watch::Receiver<u64> {
        self.signals.version.subscribe()
    }

    fn subscribe_firewall(&self) -> watch::Receiver<u64> {
        self.signals.firewall.subscribe()
    }

    fn close(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(self.pool.close())
    }
}

#[cfg(test)]
mod tests;
