//! Tollgate's own address on each leg, for Via and Contact: the listener's
//! address for the leg's transport, with an unspecified bind (0.0.0.0, ::)
//! replaced by the configured advertised address or else by the local
//! address the system routes towards the peer (looked up once per peer
//! address; a UDP `connect` sends nothing).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, UdpSocket};

use tollgate_sip::transaction::Transport;

use crate::core::sized_text;

#[derive(Debug, Default)]
pub(super) struct Local {
    advertise: Option<IpAddr>,
    listeners: Vec<(Transport, SocketAddr)>,
    toward: HashMap<IpAddr, IpAddr>,
}

impl Local {
    pub(super) fn new(advertise: Option<IpAddr>) -> Self {
        Self {
            advertise,
            ..Self::default()
        }
    }

    pub(super) fn bind(&mut self, listeners: &[(Transport, SocketAddr)]) {
        self.listeners = listeners.to_vec();
    }

    /// Our address for a message to `peer` over `transport`.
    pub(super) fn address(&mut self, transport: Transport, peer: IpAddr) -> SocketAddr {
        let listener = self
            .listeners
            .iter()
            .find(|(t, a)| *t == transport && a.is_ipv4() == peer.is_ipv4())
            .or_else(|| self.listeners.iter().find(|(t, _)| *t == transport))
            .or_else(|| self.listeners.first())
            .map(|(_, a)| *a)
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 5060)));
        if !listener.ip().is_unspecified() {
            return listener;
        }
        let ip = match self.advertise {
            Some(ip) => ip,
            None => *self
                .toward
                .entry(peer)
                .or_insert_with(|| route_source(peer).unwrap_or(listener.ip())),
        };
        SocketAddr::new(ip, listener.port())
    }

    /// `SIP/2.0/UDP host:port` for a request to `peer`.
    pub(super) fn via(&mut self, transport: Transport, peer: IpAddr) -> SentBy {
        SentBy {
            transport,
            addr: self.address(transport, peer),
        }
    }

    /// `<sip:host:port;transport=…>` for a message to `peer`.
    pub(super) fn contact(&mut self, transport: Transport, peer: IpAddr) -> String {
        let addr = self.address(transport, peer);
        let (scheme, params) = match transport {
            Transport::Udp => ("sip", ""),
            Transport::Tcp => ("sip", ";transport=tcp"),
            Transport::Tls => ("sips", ""),
        };
        // Room for an IPv6 address and port, and the rest.
        sized_text(72, format_args!("<{scheme}:{addr}{params}>"))
    }
}

/// A Via value without its parameters (`SIP/2.0/UDP host:port`), written
/// where it is used.
#[derive(Clone, Copy, Debug)]
pub(super) struct SentBy {
    transport: Transport,
    addr: SocketAddr,
}

impl std::fmt::Display for SentBy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SIP/2.0/{} {}", self.transport.via_token(), self.addr)
    }
}

/// The source address the system would use towards `peer`.
fn route_source(peer: IpAddr) -> Option<IpAddr> {
    let any: SocketAddr = if peer.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(any).ok()?;
    socket.connect((peer, 9)).ok()?;
    Some(socket.local_addr().ok()?.ip())
}
