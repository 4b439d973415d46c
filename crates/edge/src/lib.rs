//! Tollgate's SIP runtime: sockets and timers around the sans-IO
//! transaction layer of `tollgate-sip`.
//!
//! ```text
//!   UDP sockets ────── read by the driver itself ──┐
//!                                                   ▼
//!   TCP/TLS conn tasks ─► inbound channel ──────► Driver ─► UDP send_to (the socket the request came on)
//!   (framing, keep-       (bounded)              │  owns   └► connection writers (same connection)
//!    alives, limits)                             │  TransactionLayer + Core (tollgate-b2bua)
//!                                                └─► timers (poll_timeout / handle_timeout)
//! ```
//!
//! [`Edge::start`] binds every listener and spawns the tasks; the
//! [`Core`] is the application, a sans-IO value of `tollgate-b2bua` (the
//! B2BUA, `PolicyCore`) that the driver feeds every event with the time.
//! The driver is the only owner of the transaction layer and the core, so
//! no lock is ever taken on the per-message path; the connection table's
//! lock is held only to look a connection up, never across an await.

mod config;
mod connections;
mod defense;
mod driver;
mod seams;
mod stream;
mod tls;
mod udp;

pub use config::{EdgeConfig, Listen, StreamLimits};
pub use defense::{BlockHits, Blocked, Defense};
pub use driver::Edge;
pub use tls::{TlsError, client_config, client_config_system, server_config};
pub use tollgate_b2bua::Core;
pub use tollgate_sip::transaction::{Peer, TimerConfig, Transport};
