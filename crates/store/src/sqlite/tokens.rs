//! Admin token hashes in SQLite.

use super::SqliteStore;
use super::audit::record;
use crate::{Actor, AuditEvent, StoreFuture, Tokens, now_ms};

impl Tokens for SqliteStore {
    fn create_token<'a>(
        &'a self,
        actor: &'a Actor,
        name: &'a str,
        sha256_hex: &'a str,
    ) -> StoreFuture<'a, i64> {
        Box::pin(async move {
            let mut tx = self.write().await?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO admin_tokens (name, token_sha256, created_at) VALUES (?, ?, ?) RETURNING id",
            )
            .bind(name)
            .bind(sha256_hex)
            .bind(now_ms())
            .fetch_one(&mut *tx)
            .await?;
            let mut event = AuditEvent::new(
                actor,
                "token_create",
                "token",
                id.to_string(),
                None,
                format!("admin token {name:?} created"),
            );
            event.after = Some(serde_json::json!({ "name": name, "token": "***" }));
            record(&mut tx, &event).await?;
            tx.commit().await?;
            Ok(id)
        })
    }

    fn token_name<'a>(&'a self, sha256_hex: &'a str) -> StoreFuture<'a, Option<String>> {
        Box::pin(async move {
            Ok(
                sqlx::query_scalar("SELECT name FROM admin_tokens WHERE token_sha256 = ?")
                    .bind(sha256_hex)
                    .fetch_optional(&self.pool)
                    .await?,
            )
        })
    }

    fn token_count(&self) -> StoreFuture<'_, i64> {
        Box::pin(async move {
            Ok(sqlx::query_scalar("SELECT COUNT(*) FROM admin_tokens")
                .fetch_one(&self.pool)
                .await?)
        })
    }
}
