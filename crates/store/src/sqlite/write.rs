//! The write path: one writer at a time, queued in order, each in a
//! transaction that takes SQLite's write lock at once; a transaction that
//! fails anywhere never leaves its connection half-open in the pool.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::{Sqlite, SqliteConnection};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::StoreError;

/// Writers that may wait for their turn at once; more are refused (503).
const MAX_WAITING: usize = 256;

/// How long a writer waits for its turn before it is refused (503).
const MAX_WAIT: Duration = Duration::from_secs(30);

/// Whose turn it is to write.
#[derive(Debug)]
pub(super) struct Writers {
    turn: Arc<Semaphore>,
    waiting: AtomicUsize,
}

impl Writers {
    pub(super) fn new() -> Self {
        Self {
            turn: Arc::new(Semaphore::new(1)),
            waiting: AtomicUsize::new(0),
        }
    }

    /// Waits for this writer's turn, in arrival order.
    pub(super) async fn turn(&self) -> Result<OwnedSemaphorePermit, StoreError> {
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= MAX_WAITING {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(StoreError::Busy);
        }
        let permit = tokio::time::timeout(MAX_WAIT, self.turn.clone().acquire_owned()).await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        match permit {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(StoreError::Busy),
        }
    }
}

/// A write transaction (`BEGIN IMMEDIATE`) on its own pool connection,
/// holding the writers' turn. Committed with [`WriteTx::commit`]; dropped
/// without it (an error on the way), it is rolled back before the turn
/// passes on, and a connection that cannot even roll back is closed rather
/// than returned to the pool: whatever failed, the next writer starts on a
/// clean connection.
pub(crate) struct WriteTx {
    /// Taken when the transaction ends.
    conn: Option<PoolConnection<Sqlite>>,
    turn: Option<OwnedSemaphorePermit>,
}

impl WriteTx {
    pub(super) async fn begin(
        mut conn: PoolConnection<Sqlite>,
        turn: OwnedSemaphorePermit,
    ) -> Result<Self, StoreError> {
        if let Err(e) = sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await {
            conn.close_on_drop();
            return Err(e.into());
        }
        Ok(Self {
            conn: Some(conn),
            turn: Some(turn),
        })
    }

    /// Commits; on failure the transaction is rolled back (its connection
    /// closed) and nothing of it remains.
    pub(crate) async fn commit(mut self) -> Result<(), StoreError> {
        let mut conn = self
            .conn
            .take()
            .expect("a live transaction has its connection");
        let committed = sqlx::query("COMMIT").execute(&mut *conn).await;
        if committed.is_err() {
            roll_back(conn).await;
        }
        committed?;
        crate::writes_work();
        Ok(())
    }
}

/// Rolls back the transaction open on `conn`; closes the connection
/// instead of returning it to the pool when even that fails.
async fn roll_back(mut conn: PoolConnection<Sqlite>) {
    if sqlx::query("ROLLBACK").execute(&mut *conn).await.is_err() {
        conn.close_on_drop();
    }
}

impl Deref for WriteTx {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        self.conn
            .as_deref()
            .expect("a live transaction has its connection")
    }
}

impl DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        self.conn
            .as_deref_mut()
            .expect("a live transaction has its connection")
    }
}

impl Drop for WriteTx {
    /// A transaction left without a commit is rolled back in the
    /// background, still holding the writers' turn.
    fn drop(&mut self) {
        let (Some(mut conn), turn) = (self.conn.take(), self.turn.take()) else {
            return;
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    roll_back(conn).await;
                    drop(turn);
                });
            }
            Err(_) => conn.close_on_drop(),
        }
    }
}
