//! The firewall list in SQLite; blocks and unblocks are written with their
//! audit events in one transaction.

use sqlx::Row;
use tollgate_policy::Address;

use super::audit::record;
use super::{SqliteStore, bump_firewall};
use tollgate_policy::threat::BlockRule;

use crate::{
    Actor, AuditEvent, Block, BlockSource, FirewallList, NewBlock, StoreError, StoreFuture,
    block_address, now_ms,
};

impl FirewallList for SqliteStore {
    fn blocks(&self) -> StoreFuture<'_, Vec<Block>> {
        Box::pin(self.read_blocks())
    }

    fn block<'a>(&'a self, actor: &'a Actor, block: NewBlock<'a>) -> StoreFuture<'a, Block> {
        Box::pin(self.write_block(actor, block))
    }

    fn add_hits<'a>(&'a self, hits: &'a [(String, u64)]) -> StoreFuture<'a, ()> {
        Box::pin(self.write_hits(hits))
    }

    fn unblock<'a>(
        &'a self,
        actor: &'a Actor,
        address: &'a str,
        why: &'a str,
    ) -> StoreFuture<'a, Block> {
        Box::pin(self.remove_block(actor, address, why))
    }
}

impl SqliteStore {
    async fn read_blocks(&self) -> Result<Vec<Block>, StoreError> {
        let rows = sqlx::query(
            "SELECT address, reason, source, created_at, expires_at, hits, notes, rule, trigger
             FROM firewall
             WHERE expires_at IS NULL OR expires_at > ? ORDER BY created_at",
        )
        .bind(now_ms())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let source: String = r.try_get("source")?;
                let rule: Option<String> = r.try_get("rule")?;
                Ok(Block {
                    address: r.try_get("address")?,
                    reason: r.try_get("reason")?,
                    source: if source == "auto" {
                        BlockSource::Auto
                    } else {
                        BlockSource::Manual
                    },
                    created_at: r.try_get("created_at")?,
                    expires_at: r.try_get("expires_at")?,
                    rule: rule.as_deref().and_then(BlockRule::from_name),
                    trigger: r.try_get("trigger")?,
                    hits: r.try_get("hits")?,
                    notes: r.try_get("notes")?,
                })
            })
            .collect()
    }

    async fn write_block(&self, actor: &Actor, new: NewBlock<'_>) -> Result<Block, StoreError> {
        let address = block_address(new.address).map_err(StoreError::invalid)?;
        let now = now_ms();
        let block = Block {
            address: address.clone(),
            reason: new.reason.into(),
            source: new.source,
            created_at: now,
            expires_at: new.duration_s.map(|d| now + i64::from(d) * 1000),
            rule: new.rule.map(|(rule, _)| rule),
            trigger: new.rule.map(|(_, trigger)| trigger.to_owned()),
            hits: 0,
            notes: new.notes.into(),
        };
        let mut tx = self.write().await?;
        sqlx::query(
            "INSERT OR REPLACE INTO firewall
             (address, reason, source, created_at, expires_at, hits, notes, rule, trigger)
             VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?)",
        )
        .bind(&block.address)
        .bind(&block.reason)
        .bind(if block.source == BlockSource::Auto {
            "auto"
        } else {
            "manual"
        })
        .bind(block.created_at)
        .bind(block.expires_at)
        .bind(&block.notes)
        .bind(block.rule.map(BlockRule::as_str))
        .bind(&block.trigger)
        .execute(&mut *tx)
        .await?;
        let mut ev = AuditEvent::new(
            actor,
            "block",
            "firewall",
            address.clone(),
            None,
            format!("{address} blocked: {}", block.reason),
        );
        ev.after = Some(serde_json::to_value(&block)?);
        record(&mut tx, &ev).await?;
        let version = bump_firewall(&mut tx).await?;
        tx.commit().await?;
        self.firewall_changed(version);
        Ok(block)
    }

    async fn write_hits(&self, hits: &[(String, u64)]) -> Result<(), StoreError> {
        if hits.is_empty() {
            return Ok(());
        }
        let mut tx = self.write().await?;
        for (address, n) in hits {
            sqlx::query("UPDATE firewall SET hits = hits + ? WHERE address = ?")
                .bind(i64::try_from(*n).unwrap_or(i64::MAX))
                .bind(address)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn remove_block(
        &self,
        actor: &Actor,
        address: &str,
        why: &str,
    ) -> Result<Block, StoreError> {
        let address = block_address(address).map_err(StoreError::invalid)?;
        let existing = self
            .read_blocks()
            .await?
            .into_iter()
            .find(|b| b.address == address)
            .ok_or_else(|| StoreError::NotFound {
                entity: "firewall",
                id: address.clone(),
            })?;
        let mut tx = self.write().await?;
        sqlx::query("DELETE FROM firewall WHERE address = ?")
            .bind(&address)
            .execute(&mut *tx)
            .await?;
        let mut ev = AuditEvent::new(
            actor,
            "unblock",
            "firewall",
            address.clone(),
            None,
            format!("{address} unblocked: {why}"),
        );
        ev.before = Some(serde_json::to_value(&existing)?);
        record(&mut tx, &ev).await?;
        let version = bump_firewall(&mut tx).await?;
        tx.commit().await?;
        self.firewall_changed(version);
        Ok(existing)
    }
}

/// Lifts the automatic blocks covering the addresses of `entries` that
/// are enabled egress entries (a switch that called before it was
/// configured), inside the entries' write transaction, each with an audit
/// event saying why. One read of the blocks serves every entry.
pub(crate) async fn lift_for_entries(
    conn: &mut sqlx::SqliteConnection,
    actor: &Actor,
    entries: &[tollgate_policy::IpAuthEntry],
) -> Result<(), StoreError> {
    let callers: Vec<&tollgate_policy::IpAuthEntry> = entries
        .iter()
        .filter(|e| e.direction == tollgate_policy::Direction::Egress && e.enabled)
        .collect();
    if callers.is_empty() {
        return Ok(());
    }
    let rows = sqlx::query("SELECT address FROM firewall WHERE source = 'auto'")
        .fetch_all(&mut *conn)
        .await?;
    for row in rows {
        let blocked: String = row.try_get("address")?;
        let Some(net) = blocked.parse::<Address>().ok().and_then(|a| a.network()) else {
            continue;
        };
        let covered = callers.iter().find(|entry| {
            entry
                .addresses
                .iter()
                .filter_map(Address::network)
                .any(|a| net.contains(&a) || a.contains(&net.network()))
        });
        if let Some(entry) = covered {
            sqlx::query("DELETE FROM firewall WHERE address = ?")
                .bind(&blocked)
                .execute(&mut *conn)
                .await?;
            metrics::counter!("tollgate_blocks_total", "event" => "lifted").increment(1);
            let ev = AuditEvent::new(
                actor,
                "unblock",
                "firewall",
                blocked.clone(),
                None,
                format!(
                    "{blocked} unblocked: it belongs to IP auth entry {} of account {}",
                    entry.id, entry.account_id
                ),
            );
            record(conn, &ev).await?;
            bump_firewall(conn).await?;
        }
    }
    Ok(())
}
