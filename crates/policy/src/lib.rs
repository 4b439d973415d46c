//! Tollgate's domain, pure: no sockets, no database, no clock.
//!
//! ```text
//!   Configuration (accounts, ip-auth entries, SIP users, routes)
//!        │  validate: FieldError { field, message }, Warning
//!        ▼
//!   Snapshot::build ──► SharedSnapshot (ArcSwap) ──► hot path readers
//!                         egress_candidates(ip), user(name), gateways(carrier), routes(customer)
//! ```
//!
//! The store loads a [`Configuration`], the snapshot compiles it; every
//! write validates first ([`model`] types carry `validate` methods and
//! [`validate`] holds the rules that span entities).

#![forbid(unsafe_code)]

pub mod address;
pub mod admission;
pub mod calls;
pub mod error;
pub mod identify;
pub mod model;
pub mod numbers;
pub mod routing;
pub mod snapshot;
pub mod threat;
pub mod validate;

pub use address::Address;
pub use calls::{CallInfo, CallState, LiveCalls};
pub use error::{FieldError, Warning};
pub use identify::{Authenticator, Decision, Denial, Identity, RequestFacts};
pub use model::*;
pub use numbers::DialPattern;
pub use snapshot::{HostStatus, HostTable, SharedSnapshot, Snapshot};
