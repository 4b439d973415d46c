//! Tollgate's SIP runtime: sockets and timers around the sans-IO
//! transaction layer of `tollgate-sip`.
//!
//! ```text
//!   UDP socket tasks ─┐                        ┌─► UDP send_to (same socket the request came on)
//!   TCP/TLS conn tasks┼─► inbound channel ─► Driver ─► connection writers (same connection)
//!   (framing, keep-   │    (bounded)          │  owns TransactionLayer + Core
//!    alives, limits) ─┘                        └─► timers (poll_timeout / handle_timeout)
//! ```
//!
//! [`Edge::start`] binds every listener and spawns the tasks; the [`Core`]
//! is the application: [`PolicyCore`] identifies callers and runs their
//! calls (the B2BUA, `calls/`); [`OptionsCore`] only answers OPTIONS. The driver
//! is the only owner of the transaction layer, so no lock is ever taken on
//! the per-message path; the connection table's lock is held only to look
//! a connection up, never across an await.

mod calls;
mod config;
mod connections;
mod core;
mod defense;
mod driver;
mod meters;
mod policy_core;
mod stream;
mod tls;
mod udp;

pub use calls::{CallBoard, CallConfig};
pub use config::{EdgeConfig, Listen, StreamLimits};
pub use core::{Core, OptionsCore};
pub use defense::{BlockHits, Blocked, Defense};
pub use driver::Edge;
pub use policy_core::PolicyCore;
pub use tls::{TlsError, client_config, client_config_system, server_config};
pub use tollgate_sip::transaction::{Peer, TimerConfig, Transport};
