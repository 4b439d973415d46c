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

/// Receives datagrams until `closed` is signalled. When the driver's queue
/// is full the datagram is dropped: under overload, shedding at the socket
/// is cheaper than queueing, and UDP peers retransmit.
pub(crate) async fn receive_loop(
    socket: Arc<UdpSocket>,
    index: u64,
    inbound: mpsc::Sender<Inbound>,
    mut closed: watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let received = tokio::select! {
            r = socket.recv_from(&mut buf) => r,
            _ = closed.changed() => return,
        };
        // ICMP errors from earlier sends surface here on some systems.
        let Ok((n, from)) = received else {
            continue;
        };
        if n == 0 {
            continue;
        }
        let peer = Peer {
            addr: from,
            transport: Transport::Udp,
            flow: Some(index),
        };
        let data = Bytes::copy_from_slice(&buf[..n]);
        if inbound.try_send(Inbound { peer, data }).is_err() {
            tracing::trace!(%from, "inbound queue full: datagram dropped");
        }
    }
}
