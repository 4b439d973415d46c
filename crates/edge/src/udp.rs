//! UDP: the driver reads its sockets itself. A datagram goes from the
//! socket to the transaction layer with no task or queue in between, so a
//! burst of datagrams costs one wake-up of one task. Each datagram is
//! tagged with its socket's index (in `Peer::flow`), so the response leaves
//! from the address the request was sent to.

use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::Poll;

use bytes::Bytes;
use tokio::net::UdpSocket;
use tollgate_b2bua::Firewall;
use tollgate_sip::transaction::{Peer, Transport};

/// The largest UDP payload.
const MAX_DATAGRAM: usize = 65_535;

/// Datagrams read from one socket per wake-up, so one busy socket cannot
/// hold the driver from its timers and its other sockets.
const BATCH: usize = 32;

/// Binds a UDP listener at `addr`, asking the kernel for a receive buffer
/// of `receive_buffer` bytes (0 keeps the system's default). Datagrams wait
/// there while the driver is busy, and a burst at a few thousand calls per
/// second overflows the usual default of some 200 KB: each datagram lost
/// costs a retransmission, 500 ms later. The kernel caps the size at
/// `net.core.rmem_max`; a smaller buffer than asked is logged with that
/// hint.
pub(crate) fn bind(addr: SocketAddr, receive_buffer: usize) -> io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if receive_buffer > 0 {
        socket.set_recv_buffer_size(receive_buffer)?;
        // Linux reports twice what it grants (the rest is its bookkeeping).
        let granted = socket.recv_buffer_size()?;
        if granted < receive_buffer {
            tracing::warn!(
                %addr,
                asked = receive_buffer,
                granted,
                "UDP receive buffer smaller than asked: raise the sysctl net.core.rmem_max"
            );
        }
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

/// The UDP sockets, read by the driver.
pub(crate) struct UdpReceiver {
    sockets: Vec<Arc<UdpSocket>>,
    buf: Box<[u8]>,
    defense: Option<Arc<crate::Defense>>,
    /// `tollgate_blocked_drops_total{transport="udp"}`: a flood of blocked
    /// datagrams is counted without a registry lookup each.
    blocked_drops: metrics::Counter,
}

impl UdpReceiver {
    /// Reads `sockets` (in listener order: the index is the flow), dropping
    /// blocked sources and counting the others for `defense`.
    pub(crate) fn new(sockets: Vec<Arc<UdpSocket>>, defense: Option<Arc<crate::Defense>>) -> Self {
        Self {
            sockets,
            buf: vec![0; MAX_DATAGRAM].into_boxed_slice(),
            defense,
            blocked_drops: metrics::counter!("tollgate_blocked_drops_total", "transport" => "udp"),
        }
    }

    /// Resolves once any socket has something to read; never without
    /// sockets.
    pub(crate) async fn readable(&self) {
        poll_fn(|cx| {
            if self
                .sockets
                .iter()
                .any(|s| s.poll_recv_ready(cx).is_ready())
            {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
    }

    /// Reads what every socket has queued (up to [`BATCH`] each) without
    /// waiting and hands each datagram to `deliver`.
    pub(crate) fn read(&mut self, mut deliver: impl FnMut(Peer, Bytes)) {
        for (index, socket) in self.sockets.iter().enumerate() {
            for _ in 0..BATCH {
                match socket.try_recv_from(&mut self.buf) {
                    Ok((0, _)) => {}
                    // Blocked sources cost a lookup, nothing more.
                    Ok((_, from))
                        if self
                            .defense
                            .as_ref()
                            .is_some_and(|d| d.drop_blocked(from.ip())) =>
                    {
                        self.blocked_drops.increment(1);
                    }
                    Ok((n, from)) => {
                        if let Some(d) = &self.defense {
                            d.observe(from.ip(), tollgate_policy::threat::Signal::Request);
                        }
                        let peer = Peer {
                            addr: from,
                            transport: Transport::Udp,
                            flow: Some(index as u64),
                        };
                        deliver(peer, Bytes::copy_from_slice(&self.buf[..n]));
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    // ICMP errors from earlier sends surface here on some
                    // systems.
                    Err(_) => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receive_buffer(socket: &UdpSocket) -> usize {
        socket2::SockRef::from(socket).recv_buffer_size().unwrap()
    }

    #[tokio::test]
    async fn a_listener_gets_the_receive_buffer_it_asks_for_up_to_the_kernels_cap() {
        let asked = 1 << 20;
        let big = bind("127.0.0.1:0".parse().unwrap(), asked).unwrap();
        let cap = std::fs::read_to_string("/proc/sys/net/core/rmem_max")
            .ok()
            .and_then(|s| s.trim().parse::<usize>().ok())
            .unwrap_or(asked);
        let granted = receive_buffer(&big);
        assert!(granted >= asked.min(cap), "{granted} < min({asked}, {cap})");
        let default = bind("127.0.0.1:0".parse().unwrap(), 0).unwrap();
        if cap >= asked {
            assert!(receive_buffer(&default) < granted, "0 keeps the default");
        }
        // Bound and readable like any listener.
        let peer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        peer.send_to(b"x", big.local_addr().unwrap()).unwrap();
        let mut buf = [0; 8];
        let (n, from) = big.recv_from(&mut buf).await.unwrap();
        assert_eq!((n, from), (1, peer.local_addr().unwrap()));
    }
}
