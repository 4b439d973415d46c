//! What the management API sees of live calls, and how it asks for one to
//! end. The edge owns the calls; it publishes [`CallInfo`] rows through a
//! [`LiveCalls`] implementation the API holds.

use serde::Serialize;
use utoipa::ToSchema;

use crate::model::{AccountId, EntryId, UserId};

/// Where a call stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CallState {
    /// The B-leg INVITE is out; no ringing yet.
    Routing,
    /// The carrier sent a provisional response (ringing or progress).
    Ringing,
    /// Both legs are connected.
    Answered,
}

/// One live call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct CallInfo {
    /// Identity of the call for the life of the process.
    pub id: u64,
    /// The customer account.
    pub account_id: AccountId,
    /// The IP entry that identified the caller, when IP-authenticated.
    pub entry_id: Option<EntryId>,
    /// The SIP user, when digest-authenticated.
    pub user_id: Option<UserId>,
    /// The caller number sent to the carrier.
    pub caller: String,
    /// The called number (before the carrier's tech prefix).
    pub callee: String,
    /// The carrier account of the current B-leg.
    pub carrier_id: Option<AccountId>,
    /// The carrier gateway (ingress entry) of the current B-leg.
    pub gateway_id: Option<EntryId>,
    /// Where the B-leg goes (`ip:port`).
    pub gateway_address: Option<String>,
    /// Where the call stands.
    pub state: CallState,
    /// Unix milliseconds of the caller's INVITE.
    pub started: u64,
    /// Unix milliseconds of the answer.
    pub answered: Option<u64>,
}

/// Live calls as the API sees them.
pub trait LiveCalls: Send + Sync + std::fmt::Debug {
    /// Every live call, oldest first.
    fn list(&self) -> Vec<CallInfo>;

    /// Asks for call `id` to end (BYE on both legs, or CANCEL before the
    /// answer). False when there is no such call.
    fn hang_up(&self, id: u64) -> bool;

    /// Whether gateway `id` (an ingress entry) answered its latest health
    /// probe; `None` when it was never probed (probes off, or not yet).
    fn gateway_up(&self, id: EntryId) -> Option<bool>;
}
