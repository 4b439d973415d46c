//! A SIP user agent for tests: over real loopback sockets ([`TestUa`],
//! feature `net`, on by default), or as a sans-IO [`Agent`] whose messages
//! a simulated network carries.
//!
//! ```no_run
//! # async fn demo(server: std::net::SocketAddr) -> std::io::Result<()> {
//! use tollgate_testua::TestUa;
//! let mut ua = TestUa::udp(server).await?;
//! let answer = ua.call("OPTIONS", &format!("sip:{server}")).await?;
//! assert_eq!(answer.status(), Some(200));
//! # Ok(()) }
//! ```
//!
//! It frames what it receives exactly as the edge does (datagrams, or
//! Content-Length framing on TCP and TLS), builds requests with a correct
//! Via for its own address and transport, and can answer requests it
//! receives. Every wait has a timeout, so a broken server fails a test
//! instead of hanging it.

mod agent;
mod message;
#[cfg(feature = "net")]
mod net;

pub use agent::Agent;
pub use message::{Dialog, Received};
#[cfg(feature = "net")]
pub use net::{DEFAULT_WAIT, DigestCall, TestUa};
