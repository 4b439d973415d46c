//! The firewall list: blocked addresses (an IP or a CIDR), manual or
//! automatic, with an optional expiry. Every block and unblock is audited.

use serde::{Deserialize, Serialize};
use tollgate_policy::threat::BlockRule;
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
    /// The rule that fired, for automatic blocks.
    pub rule: Option<BlockRule>,
    /// The value that tripped the rule: the count, or a scanner's
    /// User-Agent.
    pub trigger: Option<String>,
    /// Packets (and connections) dropped because of it, counted in memory
    /// and written every few seconds.
    pub hits: i64,
    /// Free text.
    pub notes: String,
}

/// A block to write (who asks is the [`Actor`]).
#[derive(Clone, Copy, Debug)]
pub struct NewBlock<'a> {
    /// An IP address or CIDR.
    pub address: &'a str,
    /// Why, in words.
    pub reason: &'a str,
    /// An operator's or threat detection's.
    pub source: BlockSource,
    /// For automatic blocks: the rule that fired and the value that
    /// tripped it.
    pub rule: Option<(BlockRule, &'a str)>,
    /// How long; none = until unblocked.
    pub duration_s: Option<u32>,
    /// Free text.
    pub notes: &'a str,
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

    /// Blocks an address (an IP or CIDR, replacing an existing block of
    /// it) for its duration, or until unblocked.
    fn block<'a>(&'a self, actor: &'a Actor, block: NewBlock<'a>) -> StoreFuture<'a, Block>;

    /// Adds dropped packets to the hits of blocks (by address); blocks
    /// lifted meanwhile are skipped. Not audited, and no reload of the
    /// list follows: only the counts change.
    fn add_hits<'a>(&'a self, hits: &'a [(String, u64)]) -> StoreFuture<'a, ()>;

    /// Lifts the block of `address`, saying `why` in the audit log; returns
    /// the block that was lifted.
    fn unblock<'a>(
        &'a self,
        actor: &'a Actor,
        address: &'a str,
        why: &'a str,
    ) -> StoreFuture<'a, Block>;
}
