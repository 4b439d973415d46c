//! The firewall list: blocked addresses (an IP or a CIDR), manual or
//! automatic, with an optional expiry. Every block and unblock is audited.

use serde::{Deserialize, Serialize};
use sqlx::Row;
use tollgate_policy::{Address, FieldError};
use utoipa::ToSchema;

use crate::audit::{AuditEvent, record};
use crate::{Actor, Store, StoreError, now_ms};

/// Who created a block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum BlockSource {
    /// Threat detection.
    Auto,
    /// An operator.
    Manual,
}

/// One blocked address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Block {
    /// An IP address or CIDR.
    pub address: String,
    /// Why (the rule and counts for automatic blocks).
    pub reason: String,
    /// `auto` or `manual`.
    pub source: BlockSource,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms; none = until unblocked.
    pub expires_at: Option<i64>,
    /// Packets dropped because of it.
    pub hits: i64,
    /// Free text.
    pub notes: String,
}

/// Normalises an operator's address: an IP or a CIDR, never a hostname.
pub fn block_address(s: &str) -> Result<String, FieldError> {
    match s.parse::<Address>() {
        Ok(Address::Ip(ip)) => Ok(ip.to_string()),
        Ok(Address::Cidr(net)) => Ok(net.to_string()),
        Ok(Address::Host(_)) => Err(FieldError::new(
            "address",
            "must be an IP address or CIDR, not a hostname",
        )),
        Err(e) => Err(FieldError::new("address", e)),
    }
}

fn block_event(actor: &Actor, action: &str, address: &str, message: String) -> AuditEvent {
    AuditEvent {
        id: 0,
        at: now_ms(),
        actor: actor.name.clone(),
        actor_ip: actor.ip.clone(),
        action: action.into(),
        entity: "firewall".into(),
        entity_id: address.into(),
        account_id: None,
        message,
        before: None,
        after: None,
    }
}

impl Store {
    /// Every block that has not expired.
    pub async fn blocks(&self) -> Result<Vec<Block>, StoreError> {
        let rows = sqlx::query(
            "SELECT address, reason, source, created_at, expires_at, hits, notes FROM firewall
             WHERE expires_at IS NULL OR expires_at > ? ORDER BY created_at",
        )
        .bind(now_ms())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let source: String = r.try_get("source")?;
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
                    hits: r.try_get("hits")?,
                    notes: r.try_get("notes")?,
                })
            })
            .collect()
    }

    /// Blocks `address` (replacing an existing block of it).
    pub async fn block(
        &self,
        actor: &Actor,
        address: &str,
        reason: &str,
        source: BlockSource,
        duration_s: Option<u32>,
        notes: &str,
    ) -> Result<Block, StoreError> {
        let address = block_address(address).map_err(StoreError::invalid)?;
        let now = now_ms();
        let block = Block {
            address: address.clone(),
            reason: reason.into(),
            source,
            created_at: now,
            expires_at: duration_s.map(|d| now + i64::from(d) * 1000),
            hits: 0,
            notes: notes.into(),
        };
        let mut tx = self.write().await?;
        sqlx::query(
            "INSERT OR REPLACE INTO firewall (address, reason, source, created_at, expires_at, hits, notes)
             VALUES (?, ?, ?, ?, ?, 0, ?)",
        )
        .bind(&block.address)
        .bind(&block.reason)
        .bind(if source == BlockSource::Auto { "auto" } else { "manual" })
        .bind(block.created_at)
        .bind(block.expires_at)
        .bind(&block.notes)
        .execute(&mut *tx)
        .await?;
        let mut ev = block_event(
            actor,
            "block",
            &address,
            format!("{address} blocked: {reason}"),
        );
        ev.after = Some(serde_json::to_value(&block)?);
        record(&mut tx, &ev).await?;
        tx.commit().await?;
        self.firewall_changed();
        Ok(block)
    }

    /// Lifts the block of `address`.
    pub async fn unblock(
        &self,
        actor: &Actor,
        address: &str,
        why: &str,
    ) -> Result<Block, StoreError> {
        let address = block_address(address).map_err(StoreError::invalid)?;
        let existing = self
            .blocks()
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
        let mut ev = block_event(
            actor,
            "unblock",
            &address,
            format!("{address} unblocked: {why}"),
        );
        ev.before = Some(serde_json::to_value(&existing)?);
        record(&mut tx, &ev).await?;
        tx.commit().await?;
        self.firewall_changed();
        Ok(existing)
    }
}

/// Lifts the automatic blocks covering an egress entry's addresses (a
/// switch that called before it was configured), inside the entry's write
/// transaction, each with an audit event saying why.
pub(crate) async fn lift_for_entry(
    conn: &mut sqlx::SqliteConnection,
    actor: &Actor,
    entry: &tollgate_policy::IpAuthEntry,
) -> Result<(), StoreError> {
    if entry.direction != tollgate_policy::Direction::Egress || !entry.enabled {
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
        let covers = entry
            .addresses
            .iter()
            .filter_map(Address::network)
            .any(|a| net.contains(&a) || a.contains(&net.network()));
        if covers {
            sqlx::query("DELETE FROM firewall WHERE address = ?")
                .bind(&blocked)
                .execute(&mut *conn)
                .await?;
            metrics::counter!("tollgate_blocks_total", "event" => "lifted").increment(1);
            let ev = block_event(
                actor,
                "unblock",
                &blocked,
                format!(
                    "{blocked} unblocked: it belongs to IP auth entry {} of account {}",
                    entry.id, entry.account_id
                ),
            );
            record(conn, &ev).await?;
        }
    }
    Ok(())
}
