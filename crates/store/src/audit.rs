//! The audit log: one event per change, written in the change's own
//! transaction, and queried with the filters PRODUCT.md names.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};

use crate::{Store, StoreError};

/// One audited change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditEvent {
    /// Identity (assigned by the store).
    pub id: i64,
    /// When, in Unix milliseconds.
    pub at: i64,
    /// Who: the admin token's name, `system` for automatic actions.
    pub actor: String,
    /// From which address, when known.
    pub actor_ip: Option<String>,
    /// `create`, `update`, `delete`, `password_reset`, `block`, `unblock`,
    /// `token_create`.
    pub action: String,
    /// `account`, `ip_auth`, `sip_user`, `route`, `firewall`, `token`.
    pub entity: String,
    /// The entity's id (or address, for the firewall).
    pub entity_id: String,
    /// The account concerned, when there is one.
    pub account_id: Option<i64>,
    /// One line for people.
    pub message: String,
    /// The entity before the change, secrets as `"***"`.
    #[schema(value_type = Option<Object>)]
    pub before: Option<Value>,
    /// The entity after the change, secrets as `"***"`.
    #[schema(value_type = Option<Object>)]
    pub after: Option<Value>,
}

/// Which events to list; every filter is optional. It is also the query
/// string of `GET /api/v1/audit`.
#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct AuditFilter {
    /// Only events about this account.
    pub account_id: Option<i64>,
    /// `account`, `ip_auth`, `sip_user`, `route`, `firewall`, `token`.
    pub entity: Option<String>,
    /// Only this entity (with `entity`).
    pub entity_id: Option<String>,
    /// Not before (Unix ms).
    pub since: Option<i64>,
    /// Not after (Unix ms).
    pub until: Option<i64>,
    /// Only this actor.
    pub actor: Option<String>,
    /// At most this many (default 100, at most 1000).
    pub limit: Option<u32>,
    /// Skip this many.
    pub offset: Option<u32>,
}

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

impl Store {
    /// Records that `actor` hung up the live call `call` (calls live in the
    /// edge, not in the database; the event is all that is written).
    pub async fn record_hangup(
        &self,
        actor: &crate::Actor,
        call: &tollgate_policy::CallInfo,
    ) -> Result<(), StoreError> {
        let event = AuditEvent {
            id: 0,
            at: crate::now_ms(),
            actor: actor.name.clone(),
            actor_ip: actor.ip.clone(),
            action: "hangup".into(),
            entity: "call".into(),
            entity_id: call.id.to_string(),
            account_id: Some(call.account_id),
            message: format!(
                "call {} from {} to {} hung up",
                call.id, call.caller, call.callee
            ),
            before: Some(serde_json::to_value(call)?),
            after: None,
        };
        let mut tx = self.write().await?;
        record(&mut tx, &event).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Lists audit events, newest first.
    pub async fn audit(&self, filter: &AuditFilter) -> Result<Vec<AuditEvent>, StoreError> {
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
