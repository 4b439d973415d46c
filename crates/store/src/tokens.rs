//! Admin API tokens: only their SHA-256 is stored (they are random 32-byte
//! values, so a slow hash adds nothing), and creating one is audited.

use crate::audit::{AuditEvent, record};
use crate::{Actor, Store, StoreError, now_ms};

impl Store {
    /// Stores a token's hash under `name`; returns its id.
    pub async fn create_token(
        &self,
        actor: &Actor,
        name: &str,
        sha256_hex: &str,
    ) -> Result<i64, StoreError> {
        let mut tx = self.write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO admin_tokens (name, token_sha256, created_at) VALUES (?, ?, ?) RETURNING id",
        )
        .bind(name)
        .bind(sha256_hex)
        .bind(now_ms())
        .fetch_one(&mut *tx)
        .await?;
        let event = AuditEvent {
            id: 0,
            at: now_ms(),
            actor: actor.name.clone(),
            actor_ip: actor.ip.clone(),
            action: "token_create".into(),
            entity: "token".into(),
            entity_id: id.to_string(),
            account_id: None,
            message: format!("admin token {name:?} created"),
            before: None,
            after: Some(serde_json::json!({ "name": name, "token": "***" })),
        };
        record(&mut tx, &event).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The name of the token with this hash, if it exists.
    pub async fn token_name(&self, sha256_hex: &str) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT name FROM admin_tokens WHERE token_sha256 = ?")
                .bind(sha256_hex)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// How many tokens exist (none on a first start).
    pub async fn token_count(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM admin_tokens")
            .fetch_one(&self.pool)
            .await?)
    }
}
