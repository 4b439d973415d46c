//! `Via` (RFC 3261 §20.42, §18.2; RFC 3581 `rport`).

use crate::error::Malformed;
use crate::lex;
use crate::params::Params;
use crate::uri::{Host, parse_hostport};

/// The RFC 3261 branch prefix that marks a transaction identifier.
pub const MAGIC_COOKIE: &[u8] = b"z9hG4bK";

/// One Via entry: `SIP/2.0/UDP host:port;branch=…;received=…;rport`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Via<'b> {
    /// Protocol name, normally `SIP`.
    pub protocol: &'b [u8],
    /// Protocol version, normally `2.0`.
    pub version: &'b [u8],
    /// Transport token (`UDP`, `TCP`, `TLS`, `SCTP`, `WS`… or unknown).
    pub transport: &'b [u8],
    /// The sent-by host.
    pub host: Host<'b>,
    /// The sent-by port, when given.
    pub port: Option<u16>,
    /// The parameters.
    pub params: Params<'b>,
}

/// The `rport` parameter of RFC 3581.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rport {
    /// No `rport` parameter.
    Absent,
    /// `;rport` without a value: the client asks for it to be filled in.
    Requested,
    /// `;rport=N`.
    Value(u16),
}

impl<'b> Via<'b> {
    /// Parses one Via entry (one element of a comma-separated Via value).
    pub fn parse(s: &'b [u8]) -> Result<Self, Malformed> {
        let (left, params) = match lex::find_unquoted(s, b';', false).map_err(|()| Malformed)? {
            Some(i) => (&s[..i], Params::new(&s[i + 1..])),
            None => (s, Params::default()),
        };
        let (protocol, rest) = lex::split_once(left, b'/');
        let (version, rest) = lex::split_once(rest.ok_or(Malformed)?, b'/');
        let rest = lex::trim_start(rest.ok_or(Malformed)?);
        let transport_end = rest.iter().position(|&b| lex::is_lws(b)).ok_or(Malformed)?;
        let transport = &rest[..transport_end];
        let sent_by = lex::trim(&rest[transport_end..]);
        let (protocol, version) = (lex::trim(protocol), lex::trim(version));
        if !lex::is_token(protocol) || !lex::is_token(version) || !lex::is_token(transport) {
            return Err(Malformed);
        }
        if lex::has_lws(sent_by) {
            return Err(Malformed);
        }
        let (host, port) = parse_hostport(sent_by).map_err(|_| Malformed)?;
        params.validate()?;
        if s.ends_with(b";") {
            return Err(Malformed);
        }
        Ok(Self {
            protocol,
            version,
            transport,
            host,
            port,
            params,
        })
    }

    /// The `branch` parameter.
    pub fn branch(&self) -> Option<&'b [u8]> {
        self.params.get(b"branch").flatten()
    }

    /// The `received` parameter (an IPv4 or IPv6 address, possibly in
    /// brackets: RFC 5118 §4.5 accepts both).
    pub fn received(&self) -> Option<&'b [u8]> {
        self.params.get(b"received").flatten()
    }

    /// The `rport` parameter.
    pub fn rport(&self) -> Rport {
        match self.params.get(b"rport") {
            None => Rport::Absent,
            Some(None) => Rport::Requested,
            Some(Some(v)) => match lex::parse_decimal(v, u64::from(u16::MAX)) {
                Some(p) => Rport::Value(p as u16),
                None => Rport::Requested,
            },
        }
    }

    /// The `maddr` parameter.
    pub fn maddr(&self) -> Option<&'b [u8]> {
        self.params.get(b"maddr").flatten()
    }

    /// The `ttl` parameter when it is a number from 0 to 255.
    pub fn ttl(&self) -> Option<u8> {
        self.params
            .get(b"ttl")
            .flatten()
            .and_then(|v| lex::parse_decimal(v, 255))
            .map(|t| t as u8)
    }

    /// True when the branch carries the RFC 3261 magic cookie followed by
    /// an identifier. A bare cookie (RFC 4475 badbranch) is not compliant.
    pub fn has_rfc3261_branch(&self) -> bool {
        self.branch().is_some_and(is_rfc3261_branch)
    }
}

/// True for a branch that starts with the magic cookie and has more after
/// it (RFC 3261 §8.1.1.7).
pub fn is_rfc3261_branch(branch: &[u8]) -> bool {
    branch.len() > MAGIC_COOKIE.len() && branch.starts_with(MAGIC_COOKIE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn via_with_folding_and_spaces() {
        let v = Via::parse(b"SIP  /   2.0\r\n /UDP\r\n    192.0.2.2;branch=390skdjuw").unwrap();
        assert_eq!(v.transport, b"UDP");
        assert_eq!(v.host, Host::Ipv4("192.0.2.2".parse().unwrap()));
        assert_eq!(v.branch(), Some(&b"390skdjuw"[..]));
        assert!(!v.has_rfc3261_branch());
        let v = Via::parse(
            b"SIP  / 2.0  / TCP     spindle.example.com   ;\r\n  branch  =   z9hG4bK9ikj8",
        )
        .unwrap();
        assert_eq!(v.host, Host::Name(b"spindle.example.com"));
        assert_eq!(v.branch(), Some(&b"z9hG4bK9ikj8"[..]));
        assert!(v.has_rfc3261_branch());
    }

    #[test]
    fn via_parameters() {
        let v = Via::parse(
            b"SIP/2.0/UDP [2001:db8::9:1]:6050;received=2001:db8::9:255;rport=5062;maddr=x;ttl=16;branch=z9hG4bKa",
        )
        .unwrap();
        assert_eq!(v.port, Some(6050));
        assert_eq!(v.received(), Some(&b"2001:db8::9:255"[..]));
        assert_eq!(v.rport(), Rport::Value(5062));
        assert_eq!(v.maddr(), Some(&b"x"[..]));
        assert_eq!(v.ttl(), Some(16));
        let bare = Via::parse(b"SIP/2.0/TCP h;rport;branch=z9hG4bK").unwrap();
        assert_eq!(bare.rport(), Rport::Requested);
        assert!(!bare.has_rfc3261_branch());
    }

    #[test]
    fn malformed_vias() {
        for bad in [
            &b"SIP/2.0/UDP 192.0.2.15;;"[..],
            b"SIP/2.0/UDP 192.0.2.15;",
            b"SIP/2.0 192.0.2.15",
            b"SIP/2.0/UDP",
            b"SIP/2.0/UDP host name",
            b"SIP/2.0/UDP host:abc",
        ] {
            assert!(Via::parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
