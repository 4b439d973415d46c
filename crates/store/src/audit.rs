//! The audit log: one event per change, written in the change's own
//! transaction, and queried by resource, actor and time (the API's
//! `GET /api/v1/audit` filters).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Actor, StoreFuture, now_ms};

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

impl AuditEvent {
    /// An event stamped now, by `actor`, without before/after documents.
    pub fn new(
        actor: &Actor,
        action: &str,
        entity: &str,
        entity_id: String,
        account_id: Option<i64>,
        message: String,
    ) -> Self {
        Self {
            id: 0,
            at: now_ms(),
            actor: actor.name.clone(),
            actor_ip: actor.ip.clone(),
            action: action.into(),
            entity: entity.into(),
            entity_id,
            account_id,
            message,
            before: None,
            after: None,
        }
    }
}

impl AuditEvent {
    /// The event for an operator hanging up a live call (calls live in the
    /// edge, not in the database: the event is all that is written).
    pub fn hangup(
        actor: &Actor,
        call: &tollgate_policy::CallInfo,
    ) -> Result<Self, serde_json::Error> {
        let mut event = Self::new(
            actor,
            "hangup",
            "call",
            call.id.to_string(),
            Some(call.account_id),
            format!(
                "call {} from {} to {} hung up",
                call.id, call.caller, call.callee
            ),
        );
        event.before = Some(serde_json::to_value(call)?);
        Ok(event)
    }
}

/// Reading the audit log, and the events that are not part of a
/// configuration change.
pub trait AuditLog {
    /// Records that `actor` hung up a live call (`action: hangup`,
    /// `entity: call`, the call's row in `before`).
    fn record_hangup<'a>(
        &'a self,
        actor: &'a Actor,
        call: &'a tollgate_policy::CallInfo,
    ) -> StoreFuture<'a, ()>;

    /// Events matching `filter`, newest first.
    fn audit<'a>(&'a self, filter: &'a AuditFilter) -> StoreFuture<'a, Vec<AuditEvent>>;
}
