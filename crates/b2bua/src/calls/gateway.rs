//! How Tollgate reaches a gateway (an ingress entry): through its outbound
//! proxy when one is set (as a pre-loaded Route) or straight to one of its
//! addresses, over the transport of its protocol. The B-leg INVITE and the
//! gateway's health probes both go this way.

use std::net::{IpAddr, SocketAddr};

use tollgate_policy::IpAuthEntry;
use tollgate_sip::transaction::{Peer, Transport};

/// The way to one address of a gateway.
#[derive(Debug)]
pub(super) struct Hop {
    /// Where requests are sent: the outbound proxy, else the gateway.
    pub(super) peer: Peer,
    /// The gateway's own address, for its Request-URIs.
    pub(super) gateway: SocketAddr,
    /// The transport parameter of the gateway's URIs (empty for UDP).
    pub(super) uri_params: &'static str,
    /// The pre-loaded Route to the outbound proxy; empty without one.
    pub(super) routes: String,
}

impl Hop {
    /// The way to `entry` at `ip`, one of its addresses.
    pub(super) fn to(entry: &IpAuthEntry, ip: IpAddr) -> Self {
        let transport = Transport::from(entry.protocol);
        let port = if entry.port == 0 {
            entry.protocol.default_port()
        } else {
            entry.port
        };
        let gateway = SocketAddr::new(ip, port);
        let proxy = entry
            .outbound_proxy
            .as_deref()
            .filter(|p| !p.is_empty())
            .and_then(|p| parse_hostport(p, entry.protocol.default_port()));
        let uri_params = match transport {
            Transport::Udp => "",
            Transport::Tcp => ";transport=tcp",
            Transport::Tls => ";transport=tls",
        };
        Self {
            peer: Peer {
                addr: proxy.unwrap_or(gateway),
                transport,
                flow: None,
            },
            gateway,
            uri_params,
            routes: proxy
                .map(|p| format!("<sip:{p};lr{uri_params}>"))
                .unwrap_or_default(),
        }
    }
}

/// `ip:port` or `[ip]:port` or a bare IP with the default port.
fn parse_hostport(s: &str, default_port: u16) -> Option<SocketAddr> {
    let s = s.trim().trim_start_matches("sip:");
    s.parse()
        .ok()
        .or_else(|| s.parse::<IpAddr>().ok().map(|ip| (ip, default_port).into()))
}
