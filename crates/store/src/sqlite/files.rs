//! The database's files on disk: readable by their owner only, and written
//! by one process at a time.

use std::fs::{File, OpenOptions};
use std::io::{Read as _, Seek as _, Write as _};
use std::path::{Path, PathBuf};

use tollgate_policy::FieldError;

use crate::StoreError;

/// `database` with `suffix` appended to its file name (`t.db` → `t.db-wal`).
fn beside(database: &Path, suffix: &str) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Takes the advisory lock of the one process writing `database`
/// (`FILE.lock`, holding the owner's pid); the lock lasts as long as the
/// returned file is open. Another writer is refused, named by its pid.
pub(super) fn lock_for_writing(database: &Path) -> Result<File, StoreError> {
    let path = beside(database, ".lock");
    let mut file = open_private(&path, false)
        .map_err(|e| refused(format!("cannot open the lock file {}: {e}", path.display())))?;
    if let Err(e) = file.try_lock() {
        let mut holder = String::new();
        let _ = file.read_to_string(&mut holder);
        let holder = holder.trim();
        let who = if holder.is_empty() {
            "another process".to_owned()
        } else {
            format!("another tollgate (pid {holder})")
        };
        return Err(refused(format!(
            "{} is in use by {who} ({e}): one process writes a database; \
             start this one with --read-only to serve from it without writing",
            database.display()
        )));
    }
    let _ = file.set_len(0);
    let _ = file.rewind();
    let _ = write!(file, "{}", std::process::id());
    Ok(file)
}

fn refused(message: String) -> StoreError {
    StoreError::invalid(FieldError::new("store.url", message))
}

/// Opens (creating, readable by the owner only) the file at `path`.
fn open_private(path: &Path, append: bool) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).append(append);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options.open(path)
}

/// Creates `database` empty and readable by its owner only when it does
/// not exist yet, so SQLite never creates it with the default mode.
pub(super) fn create_private(database: &Path) -> Result<(), StoreError> {
    if database.exists() {
        return Ok(());
    }
    open_private(database, true)
        .map(drop)
        .map_err(|e| refused(format!("cannot create {}: {e}", database.display())))
}

/// Writes `text` to a new file at `path` (refusing to overwrite one),
/// readable by its owner only.
pub(super) fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options.open(path)?.write_all(text.as_bytes())
}

/// Makes the database and its WAL and shared-memory files readable by
/// their owner only (SQLite creates the latter two with the database's
/// own mode); a file that cannot be changed is reported, not fatal.
pub(super) fn owner_only(database: &Path) {
    #[cfg(unix)]
    for path in [
        database.to_path_buf(),
        beside(database, "-wal"),
        beside(database, "-shm"),
    ] {
        use std::os::unix::fs::PermissionsExt as _;
        if !path.exists() {
            continue;
        }
        if let Err(e) = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)) {
            tracing::warn!(file = %path.display(), error = %e, "cannot make the database private");
        }
    }
}
