//! UDP: the driver reads its sockets itself. A datagram goes from the
//! socket to the transaction layer with no task or queue in between, so a
//! burst of datagrams costs one wake-up of one task. Each datagram is
//! tagged with its socket's index (in `Peer::flow`), so the response leaves
//! from the address the request was sent to.

use std::future::poll_fn;
use std::sync::Arc;
use std::task::Poll;

use bytes::Bytes;
use tokio::net::UdpSocket;
use tollgate_sip::transaction::{Peer, Transport};

/// The largest UDP payload.
const MAX_DATAGRAM: usize = 65_535;

/// Datagrams read from one socket per wake-up, so one busy socket cannot
/// hold the driver from its timers and its other sockets.
const BATCH: usize = 32;

/// The UDP sockets, read by the driver.
pub(crate) struct UdpReceiver {
    sockets: Vec<Arc<UdpSocket>>,
    buf: Box<[u8]>,
    defense: Option<Arc<crate::Defense>>,
}

impl UdpReceiver {
    /// Reads `sockets` (in listener order: the index is the flow), dropping
    /// blocked sources and counting the others for `defense`.
    pub(crate) fn new(sockets: Vec<Arc<UdpSocket>>, defense: Option<Arc<crate::Defense>>) -> Self {
        Self {
            sockets,
            buf: vec![0; MAX_DATAGRAM].into_boxed_slice(),
            defense,
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
                            .is_some_and(|d| d.is_blocked(from.ip())) =>
                    {
                        metrics::counter!("tollgate_blocked_drops_total", "transport" => "udp")
                            .increment(1);
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
