//! The firewall list: blocked addresses (an IP or a CIDR), manual or
//! automatic, with an optional expiry. Every block and unblock is audited.

use serde::{Deserialize, Serialize};
use tollgate_policy::{Address, FieldError};
use utoipa::ToSchema;

use crate::{Actor, StoreFuture};

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

/// The stored firewall list.
pub trait FirewallList {
    /// Every block that has not expired.
    fn blocks(&self) -> StoreFuture<'_, Vec<Block>>;

    /// Blocks `address` (an IP or CIDR, replacing an existing block of it)
    /// for `duration_s`, or until unblocked.
    fn block<'a>(
        &'a self,
        actor: &'a Actor,
        address: &'a str,
        reason: &'a str,
        source: BlockSource,
        duration_s: Option<u32>,
        notes: &'a str,
    ) -> StoreFuture<'a, Block>;

    /// Lifts the block of `address`, saying `why` in the audit log; returns
    /// the block that was lifted.
    fn unblock<'a>(
        &'a self,
        actor: &'a Actor,
        address: &'a str,
        why: &'a str,
    ) -> StoreFuture<'a, Block>;
}
