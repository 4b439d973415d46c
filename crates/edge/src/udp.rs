//! UDP: one receive task per socket. Each datagram becomes an inbound
//! message tagged with the socket's index (in `Peer::flow`), so the
//! response leaves from the address the request was sent to.

use std::sync::Arc;

use bytes::Bytes;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tollgate_sip::transaction::{Peer, Transport};

use crate::driver::Inbound;

/// The largest UDP payload.
const MAX_DATAGRAM: usize = 65_535;

/// Datagrams read per wake-up and handed to the driver in one message.
const BATCH: usize = 32;

/// Receives datagrams until `closed` is signalled, in batches: once the
/// socket is readable every queued datagram (up to [`BATCH`]) is read
/// without waiting, so a busy socket costs one wake-up and one channel send
/// per batch, not per datagram. When the driver's queue is full the batch
/// is dropped: under overload, shedding at the socket is cheaper than
/// queueing, and UDP peers retransmit.
pub(crate) async fn receive_loop(
    socket: Arc<UdpSocket>,
    index: u64,
    inbound: mpsc::Sender<Vec<Inbound>>,
    mut closed: watch::Receiver<bool>,
    defense: Option<Arc<crate::Defense>>,
) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        tokio::select! {
            r = socket.readable() => if r.is_err() { return },
            _ = closed.changed() => return,
        }
        let mut batch = Vec::with_capacity(BATCH);
        while batch.len() < BATCH {
            match socket.try_recv_from(&mut buf) {
                Ok((0, _)) => {}
                // Blocked sources cost a lookup, nothing more.
                Ok((_, from)) if defense.as_ref().is_some_and(|d| d.is_blocked(from.ip())) => {
                    metrics::counter!("tollgate_blocked_drops_total", "transport" => "udp")
                        .increment(1);
                }
                Ok((n, from)) => {
                    if let Some(d) = &defense {
                        d.observe(from.ip(), tollgate_policy::threat::Signal::Request);
                    }
                    batch.push(Inbound {
                        peer: Peer {
                            addr: from,
                            transport: Transport::Udp,
                            flow: Some(index),
                        },
                        data: Bytes::copy_from_slice(&buf[..n]),
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                // ICMP errors from earlier sends surface here on some systems.
                Err(_) => {}
            }
        }
        if !batch.is_empty() && inbound.try_send(batch).is_err() {
            tracing::trace!("inbound queue full: datagrams dropped");
        }
    }
}
