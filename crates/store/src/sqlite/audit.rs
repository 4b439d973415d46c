//! The audit log in SQLite: events written inside the change's own
//! transaction, read back with the filters of [`AuditFilter`].

use serde_json::Value;
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};

use super::SqliteStore;
use crate::{Actor, AuditEvent, AuditFilter, AuditLog, StoreError, StoreFuture};

/// Writes `event` (its `id` is ignored) inside the caller's transaction.
pub(crate) async fn record(
    conn: &mut SqliteConnection,
    event: &AuditEvent,
) -> Result<(), StoreError> {
    let json = |v: &Option<Value>| v.as_ref().map(Value::to_string);
    sqlx::query(
        "INSERT INTO audit (at, actor, actor_ip, action, entity, entity_id, account_id, message, before, after)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(event.at)
    .bind(&event.actor)
    .bind(&event.actor_ip)
    .bind(&event.action)
    .bind(&event.entity)
    .bind(&event.entity_id)
    .bind(event.account_id)
    .bind(&event.message)
    .bind(json(&event.before))
    .bind(json(&event.after))
    .execute(conn)
    .await?;
    Ok(())
}

impl AuditLog for SqliteStore {
    fn record_hangup<'a>(
        &'a self,
        actor: &'a Actor,
        call: &'a tollgate_policy::CallInfo,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let event = AuditEvent::hangup(actor, call)?;
            let mut tx = self.write().await?;
            record(&mut tx, &event).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn audit<'a>(&'a self, filter: &'a AuditFilter) -> StoreFuture<'a, Vec<AuditEvent>> {
        Box::pin(self.read_audit(filter))
    }
}

impl SqliteStore {
    async fn read_audit(&self, filter: &AuditFilter) -> Result<Vec<AuditEvent>, StoreError> {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
            "SELECT id, at, actor, actor_ip, action, entity, entity_id, account_id, message, before, after FROM audit WHERE 1 = 1",
        );
        if let Some(v) = filter.account_id {
            q.push(" AND account_id = ").push_bind(v);
        }
        if let Some(v) = &filter.entity {
            q.push(" AND entity = ").push_bind(v.clone());
        }
        if let Some(v) = &filter.entity_id {
            q.push(" AND entity_id = ").push_bind(v.clone());
        }
        if let Some(v) = filter.since {
            q.push(" AND at >= ").push_bind(v);
        }
        if let Some(v) = filter.until {
            q.push(" AND at <= ").push_bind(v);
        }
        if let Some(v) = &filter.actor {
            q.push(" AND actor = ").push_bind(v.clone());
        }
        q.push(" ORDER BY id DESC LIMIT ")
            .push_bind(i64::from(filter.limit.unwrap_or(100).min(1000)))
            .push(" OFFSET ")
            .push_bind(i64::from(filter.offset.unwrap_or(0)));
        let rows = q.build().fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                let json = |col: &str| -> Result<Option<Value>, StoreError> {
                    let text: Option<String> = r.try_get(col)?;
                    Ok(text
                        .map(|t| serde_json::from_str::<Value>(&t))
                        .transpose()?)
                };
                Ok(AuditEvent {
                    id: r.try_get("id")?,
                    at: r.try_get("at")?,
                    actor: r.try_get("actor")?,
                    actor_ip: r.try_get("actor_ip")?,
                    action: r.try_get("action")?,
                    entity: r.try_get("entity")?,
                    entity_id: r.try_get("entity_id")?,
                    account_id: r.try_get("account_id")?,
                    message: r.try_get("message")?,
                    before: json("before")?,
                    after: json("after")?,
                })
            })
            .collect()
    }
}
