//! What the edge gives the sans-IO core from the world: the time of each
//! wake-up on both clocks, the system's source address towards a peer,
//! and a waker that brings the driver round when another task asks
//! something of the core.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::Arc;

use tokio::sync::Notify;
use tollgate_b2bua::Now;

use crate::defense::unix_ms;

/// The time now, on the monotonic clock and the wall clock.
pub(crate) fn now() -> Now {
    Now {
        at: std::time::Instant::now(),
        unix_ms: unix_ms(),
    }
}

/// The source address the system would use towards `peer`: a UDP
/// `connect` picks it from the routing table and sends nothing.
pub(crate) fn source_toward(peer: IpAddr) -> Option<IpAddr> {
    let any: SocketAddr = if peer.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(any).ok()?;
    socket.connect((peer, 9)).ok()?;
    Some(socket.local_addr().ok()?.ip())
}

/// Wakes the driver task through its [`Notify`].
pub(crate) struct NotifyWaker(pub(crate) Arc<Notify>);

impl std::task::Wake for NotifyWaker {
    fn wake(self: Arc<Self>) {
        self.0.notify_one();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.notify_one();
    }
}
