//! Tollgate's own address on each leg, for Via and Contact: the listener's
//! address for the leg's transport, with an unspecified bind (0.0.0.0, ::)
//! replaced by the configured advertised address or else by the local
//! address the system routes towards the peer (asked of the edge once per
//! peer address, see [`Bound::source_toward`]). The texts of each address
//! are written once ([`Own`]): every call repeats them.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::ops::Deref;
use std::sync::Arc;

use tollgate_sip::transaction::Transport;

use crate::Bound;

#[derive(Debug, Default)]
pub(super) struct Local {
    advertise: Option<IpAddr>,
    listeners: Vec<(Transport, SocketAddr)>,
    /// The edge's way to the system's source address towards a peer; none
    /// until bound.
    source_toward: Option<fn(IpAddr) -> Option<IpAddr>>,
    toward: HashMap<IpAddr, IpAddr>,
    texts: HashMap<(Transport, SocketAddr), Arc<Own>>,
}

/// What Tollgate writes of itself through one local address and transport.
#[derive(Debug)]
pub(super) struct Own {
    /// `SIP/2.0/UDP host:port`, a Via without its parameters.
    via: Box<str>,
    /// `<sip:host:port;transport=…>`.
    contact: Box<str>,
    /// The host alone (an IPv6 address in brackets), for a From.
    host: Box<str>,
}

impl Own {
    fn new(transport: Transport, addr: SocketAddr) -> Self {
        let (scheme, params) = match transport {
            Transport::Udp => ("sip", ""),
            Transport::Tcp => ("sip", ";transport=tcp"),
            Transport::Tls => ("sips", ""),
        };
        let (mut via, mut contact, mut host) = (String::new(), String::new(), String::new());
        // Writing into a String cannot fail.
        let _ = write!(via, "SIP/2.0/{} {addr}", transport.via_token());
        let _ = write!(contact, "<{scheme}:{addr}{params}>");
        let _ = write!(host, "{}", Host(addr));
        Self {
            via: via.into(),
            contact: contact.into(),
            host: host.into(),
        }
    }

    /// The host alone (an IPv6 address in brackets).
    pub(super) fn host(&self) -> &str {
        &self.host
    }
}

impl Local {
    pub(super) fn new(advertise: Option<IpAddr>) -> Self {
        Self {
            advertise,
            ..Self::default()
        }
    }

    pub(super) fn bind(&mut self, bound: Bound<'_>) {
        self.listeners = bound.listeners.to_vec();
        self.source_toward = Some(bound.source_toward);
    }

    /// Our address for a message to `peer` over `transport`.
    fn address(&mut self, transport: Transport, peer: IpAddr) -> SocketAddr {
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
            None => {
                let source = self.source_toward;
                *self
                    .toward
                    .entry(peer)
                    .or_insert_with(|| source.and_then(|f| f(peer)).unwrap_or(listener.ip()))
            }
        };
        SocketAddr::new(ip, listener.port())
    }

    /// Our texts for a message to `peer` over `transport`.
    pub(super) fn own(&mut self, transport: Transport, peer: IpAddr) -> Arc<Own> {
        let addr = self.address(transport, peer);
        let texts = self.texts.entry((transport, addr));
        Arc::clone(texts.or_insert_with(|| Arc::new(Own::new(transport, addr))))
    }

    /// Our IP address for a message to `peer` over `transport`.
    pub(super) fn ip(&mut self, transport: Transport, peer: IpAddr) -> IpAddr {
        self.address(transport, peer).ip()
    }

    /// `SIP/2.0/UDP host:port` for a request to `peer`.
    pub(super) fn via(&mut self, transport: Transport, peer: IpAddr) -> SentBy {
        SentBy(self.own(transport, peer))
    }

    /// `<sip:host:port;transport=…>` for a message to `peer`.
    pub(super) fn contact(&mut self, transport: Transport, peer: IpAddr) -> ContactText {
        ContactText(self.own(transport, peer))
    }
}

/// A Via value without its parameters (`SIP/2.0/UDP host:port`).
#[derive(Clone, Debug)]
pub(super) struct SentBy(Arc<Own>);

impl std::fmt::Display for SentBy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.via)
    }
}

/// Our Contact value (`<sip:host:port;transport=…>`).
#[derive(Clone, Debug)]
pub(super) struct ContactText(Arc<Own>);

impl Deref for ContactText {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0.contact
    }
}

impl AsRef<[u8]> for ContactText {
    fn as_ref(&self) -> &[u8] {
        self.0.contact.as_bytes()
    }
}

/// The `host` of an address in a URI (IPv6 in brackets).
pub(super) struct Host(pub(super) SocketAddr);

impl std::fmt::Display for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            SocketAddr::V4(a) => write!(f, "{}", a.ip()),
            SocketAddr::V6(a) => write!(f, "[{}]", a.ip()),
        }
    }
}
