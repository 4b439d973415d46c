//! Tollgate's B2BUA: the application behind the transaction layer of
//! `tollgate-sip`. [`PolicyCore`] identifies each caller on the published
//! policy snapshot and turns an identified INVITE into a call with two legs
//! (`calls/`), relaying what happens in its dialogs until it ends.
//!
//! It is sans-IO, like the transaction layer under it: it opens no socket,
//! reads no clock and spawns nothing. The edge (`tollgate-edge`) owns the
//! sockets and the driver task, and feeds the core every event with the
//! time ([`Now`]); what the core sends goes out through the layer. What
//! the core needs of the world comes in through small seams: where the
//! edge listens ([`Bound`]), the firewall ([`Firewall`]) and a waker for
//! requests from other tasks ([`Core::set_waker`]).

mod calls;
mod core;
mod firewall;
mod meters;
mod policy_core;

pub use calls::{CallBoard, CallConfig};
pub use core::{Bound, Core, Now, answer, build_answer};
pub use firewall::Firewall;
pub use policy_core::PolicyCore;
