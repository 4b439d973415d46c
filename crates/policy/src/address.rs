//! The addresses of an IP authentication entry: an IP, a CIDR, or (for
//! ingress destinations) a hostname resolved in the background.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One address of an entry.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Address {
    /// A single IP address.
    Ip(IpAddr),
    /// A network in CIDR notation.
    Cidr(IpNet),
    /// A DNS name (only for ingress entries: Tollgate sends to it).
    Host(String),
}

/// Why an address was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// Nothing given.
    #[error("must not be empty")]
    Empty,
    /// A CIDR whose prefix is out of range or whose address has host bits.
    #[error("{0:?} is not a valid CIDR (address/prefix, no host bits set)")]
    BadCidr(String),
    /// Neither an IP, a CIDR nor a valid hostname.
    #[error("{0:?} is not an IP address, a CIDR or a hostname")]
    Invalid(String),
}

fn is_hostname(s: &str) -> bool {
    s.len() <= 253
        && s.trim_end_matches('.').split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        // A name made only of digits and dots is a malformed IP, not a host.
        && !s.bytes().all(|b| b.is_ascii_digit() || b == b'.')
}

impl FromStr for Address {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.is_empty() {
            return Err(AddressError::Empty);
        }
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Ok(Self::Ip(ip));
        }
        if s.contains('/') {
            let net: IpNet = s.parse().map_err(|_| AddressError::BadCidr(s.into()))?;
            if net.trunc() != net {
                return Err(AddressError::BadCidr(s.into()));
            }
            // A /32 or /128 is one address: store it as one.
            return Ok(if net.prefix_len() == net.max_prefix_len() {
                Self::Ip(net.addr())
            } else {
                Self::Cidr(net)
            });
        }
        if is_hostname(s) {
            return Ok(Self::Host(s.to_ascii_lowercase()));
        }
        Err(AddressError::Invalid(s.into()))
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ip(ip) => ip.fmt(f),
            Self::Cidr(net) => net.fmt(f),
            Self::Host(h) => f.write_str(h),
        }
    }
}

impl Address {
    /// The network this address covers, for IPs and CIDRs.
    pub fn network(&self) -> Option<IpNet> {
        match self {
            Self::Ip(ip) => Some(IpNet::from(*ip)),
            Self::Cidr(net) => Some(*net),
            Self::Host(_) => None,
        }
    }
}

impl Serialize for Address {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_into_their_kind() {
        assert_eq!(
            "203.0.113.7".parse(),
            Ok(Address::Ip("203.0.113.7".parse().unwrap()))
        );
        assert_eq!(
            "2001:db8::7".parse(),
            Ok(Address::Ip("2001:db8::7".parse().unwrap()))
        );
        assert_eq!(
            "198.51.100.0/24".parse(),
            Ok(Address::Cidr("198.51.100.0/24".parse().unwrap()))
        );
        assert_eq!(
            "198.51.100.9/32".parse(),
            Ok(Address::Ip("198.51.100.9".parse().unwrap()))
        );
        assert_eq!(
            "GW1.Carrier.Example".parse(),
            Ok(Address::Host("gw1.carrier.example".into()))
        );
    }

    #[test]
    fn malformed_addresses_say_why() {
        assert_eq!("".parse::<Address>(), Err(AddressError::Empty));
        assert!(matches!(
            "198.51.100.1/24".parse::<Address>(),
            Err(AddressError::BadCidr(_))
        ));
        assert!(matches!(
            "10.0.0.0/33".parse::<Address>(),
            Err(AddressError::BadCidr(_))
        ));
        assert!(matches!(
            "256.1.1.1".parse::<Address>(),
            Err(AddressError::Invalid(_))
        ));
        assert!(matches!(
            "bad_host!".parse::<Address>(),
            Err(AddressError::Invalid(_))
        ));
        assert!(matches!(
            "-x.example".parse::<Address>(),
            Err(AddressError::Invalid(_))
        ));
    }

    #[test]
    fn serde_uses_the_text_form() {
        let a: Address = "10.1.0.0/16".parse().unwrap();
        let json = format!("\"{a}\"");
        assert_eq!(json, "\"10.1.0.0/16\"");
    }
}
