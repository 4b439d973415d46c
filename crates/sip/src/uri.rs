//! URIs: `sip:` and `sips:` (RFC 3261 §19.1), `tel:` (RFC 3966), and any
//! other scheme parsed just far enough to recognise it (so that a server can
//! answer 416). Spans borrow the buffer; %-escapes are validated, not decoded.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::error::UriError;
use crate::lex;
use crate::params::Params;

/// A parsed URI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Uri<'b> {
    /// `sip:` or `sips:`.
    Sip(SipUri<'b>),
    /// `tel:`.
    Tel(TelUri<'b>),
    /// A syntactically valid scheme Tollgate does not route.
    Other {
        /// The scheme, without the colon.
        scheme: &'b [u8],
        /// Everything after the colon.
        rest: &'b [u8],
    },
}

/// A `sip:` or `sips:` URI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SipUri<'b> {
    /// True for `sips:`.
    pub secure: bool,
    /// The user part, %-escapes as received.
    pub user: Option<&'b [u8]>,
    /// The password, when the userinfo has one.
    pub password: Option<&'b [u8]>,
    /// The host.
    pub host: Host<'b>,
    /// The port, when given.
    pub port: Option<u16>,
    /// The URI parameters (`;transport=tcp;lr`…).
    pub params: Params<'b>,
    /// The URI headers after `?`, as received.
    pub headers: Option<&'b [u8]>,
}

/// A `tel:` URI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TelUri<'b> {
    /// The number, visual separators included (`+1-201-555-0123`).
    pub number: &'b [u8],
    /// The parameters (`;phone-context=…`).
    pub params: Params<'b>,
}

/// The host of a SIP URI or Via sent-by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Host<'b> {
    /// A domain name.
    Name(&'b [u8]),
    /// An IPv4 address.
    Ipv4(Ipv4Addr),
    /// An IPv6 reference: the text inside the brackets. It may not be a
    /// valid address (RFC 5118 §4.10 tolerates `2001:db8:::192.0.2.1`);
    /// [`Host::ip`] says.
    Ipv6(&'b [u8]),
}

impl Host<'_> {
    /// The address, when the host is a literal address that parses.
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Host::Name(_) => None,
            Host::Ipv4(v4) => Some(IpAddr::V4(*v4)),
            Host::Ipv6(text) => parse_ipv6(text).map(IpAddr::V6),
        }
    }
}

fn parse_ipv6(text: &[u8]) -> Option<Ipv6Addr> {
    std::str::from_utf8(text).ok()?.parse().ok()
}

impl<'b> Uri<'b> {
    /// Parses a URI. White space, control characters, quotes and angle
    /// brackets are never part of a URI.
    pub fn parse(s: &'b [u8]) -> Result<Self, UriError> {
        let colon = memchr::memchr(b':', s).ok_or(UriError::BadScheme)?;
        let scheme = &s[..colon];
        if !is_scheme(scheme) {
            return Err(UriError::BadScheme);
        }
        let rest = &s[colon + 1..];
        if scheme.eq_ignore_ascii_case(b"sip") {
            parse_sip(rest, false).map(Uri::Sip)
        } else if scheme.eq_ignore_ascii_case(b"sips") {
            parse_sip(rest, true).map(Uri::Sip)
        } else if scheme.eq_ignore_ascii_case(b"tel") {
            parse_tel(rest).map(Uri::Tel)
        } else if rest.is_empty() || !rest.iter().all(|&b| b > b' ' && b < 0x7f) {
            Err(UriError::BadCharacter)
        } else {
            Ok(Uri::Other { scheme, rest })
        }
    }

    /// The SIP URI, when this is one.
    pub fn as_sip(&self) -> Option<&SipUri<'b>> {
        match self {
            Uri::Sip(sip) => Some(sip),
            _ => None,
        }
    }

    /// The user part of a SIP URI or the number of a tel URI: the digits a
    /// carrier edge routes on.
    pub fn user(&self) -> Option<&'b [u8]> {
        match self {
            Uri::Sip(sip) => sip.user,
            Uri::Tel(tel) => Some(tel.number),
            Uri::Other { .. } => None,
        }
    }
}

/// `ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`
fn is_scheme(s: &[u8]) -> bool {
    s.first().is_some_and(u8::is_ascii_alphabetic)
        && s.iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

fn parse_sip(rest: &[u8], secure: bool) -> Result<SipUri<'_>, UriError> {
    // One pass validates every character and escape and finds the `@` that
    // ends the userinfo (`@` may appear nowhere else unescaped).
    let mut at = None;
    let mut i = 0;
    while i < rest.len() {
        let b = rest[i];
        if !lex::is(b, lex::URI) {
            return Err(UriError::BadCharacter);
        }
        if b == b'%' {
            match (rest.get(i + 1), rest.get(i + 2)) {
                (Some(&h), Some(&l)) if h.is_ascii_hexdigit() && l.is_ascii_hexdigit() => {
                    i += 3;
                    continue;
                }
                _ => return Err(UriError::BadEscape),
            }
        }
        if b == b'@' && at.is_none() {
            at = Some(i);
        }
        i += 1;
    }
    let (user, password, after_user) = match at {
        Some(at) => {
            let (user, password) = lex::split_once(&rest[..at], b':');
            if user.is_empty() {
                return Err(UriError::BadCharacter);
            }
            (Some(user), password, &rest[at + 1..])
        }
        None => (None, None, rest),
    };
    let (before_headers, headers) = lex::split_once(after_user, b'?');
    let (hostport, params) = lex::split_once(before_headers, b';');
    let (host, port) = parse_hostport(hostport)?;
    let params = Params::new(params.unwrap_or_default());
    if params.validate().is_err() || before_headers.ends_with(b";") {
        return Err(UriError::BadParam);
    }
    Ok(SipUri {
        secure,
        user,
        password,
        host,
        port,
        params,
        headers,
    })
}

/// Parses `host [":" port]` where host is a domain name, an IPv4 address or
/// a bracketed IPv6 reference.
pub(crate) fn parse_hostport(s: &[u8]) -> Result<(Host<'_>, Option<u16>), UriError> {
    let (host, port) = if s.first() == Some(&b'[') {
        let close = memchr::memchr(b']', s).ok_or(UriError::BadHost)?;
        let inner = &s[1..close];
        let valid = inner.len() >= 2
            && inner.contains(&b':')
            && inner
                .iter()
                .all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
        if !valid {
            return Err(UriError::BadHost);
        }
        let port = match &s[close + 1..] {
            [] => None,
            [b':', digits @ ..] => Some(digits),
            _ => return Err(UriError::BadHost),
        };
        (Host::Ipv6(inner), port)
    } else {
        let (host, port) = lex::split_once(s, b':');
        (parse_host_name(host)?, port)
    };
    let port = match port {
        None => None,
        Some(digits) => {
            Some(lex::parse_decimal(digits, u64::from(u16::MAX)).ok_or(UriError::BadPort)? as u16)
        }
    };
    Ok((host, port))
}

/// A hostname (`*(domainlabel ".") toplabel ["."]`) or dotted IPv4 address,
/// checked in one pass.
fn parse_host_name(s: &[u8]) -> Result<Host<'_>, UriError> {
    let mut numeric = true;
    let mut label_len = 0usize;
    let mut prev = b'.';
    for &b in s {
        if b == b'.' {
            // Labels are non-empty and do not end with a hyphen.
            if label_len == 0 || prev == b'-' {
                return Err(UriError::BadHost);
            }
            label_len = 0;
        } else {
            if !lex::is(b, lex::HOST) || (label_len == 0 && b == b'-') {
                return Err(UriError::BadHost);
            }
            numeric &= b.is_ascii_digit();
            label_len += 1;
        }
        prev = b;
    }
    if s.is_empty() || prev == b'-' {
        return Err(UriError::BadHost);
    }
    if numeric {
        return parse_ipv4(s).map(Host::Ipv4).ok_or(UriError::BadHost);
    }
    Ok(Host::Name(s))
}

/// Dotted-quad IPv4 (no leading zeros beyond a lone `0`, as std requires).
pub(crate) fn parse_ipv4(s: &[u8]) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut n = 0;
    let mut value: u16 = 0;
    let mut digits = 0;
    for &b in s.iter().chain(std::iter::once(&b'.')) {
        if b == b'.' {
            if digits == 0 || n == 4 {
                return None;
            }
            octets[n] = u8::try_from(value).ok()?;
            n += 1;
            (value, digits) = (0, 0);
        } else if b.is_ascii_digit() && digits < 3 && !(digits == 1 && value == 0) {
            value = value * 10 + u16::from(b - b'0');
            digits += 1;
        } else {
            return None;
        }
    }
    (n == 4).then_some(Ipv4Addr::from(octets))
}

fn is_visual_separator(b: u8) -> bool {
    matches!(b, b'-' | b'.' | b'(' | b')')
}

fn parse_tel(rest: &[u8]) -> Result<TelUri<'_>, UriError> {
    let (number, params) = match memchr::memchr(b';', rest) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &b""[..]),
    };
    let valid = match number.strip_prefix(b"+") {
        Some(global) => {
            global.iter().any(u8::is_ascii_digit)
                && global
                    .iter()
                    .all(|&b| b.is_ascii_digit() || is_visual_separator(b))
        }
        None => {
            number
                .iter()
                .any(|&b| b.is_ascii_hexdigit() || b == b'*' || b == b'#')
                && number.iter().all(|&b| {
                    b.is_ascii_hexdigit() || b == b'*' || b == b'#' || is_visual_separator(b)
                })
        }
    };
    if !valid {
        return Err(UriError::BadTelNumber);
    }
    let params = Params::new(params);
    if params.validate().is_err() || rest.ends_with(b";") {
        return Err(UriError::BadParam);
    }
    Ok(TelUri { number, params })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sip(s: &str) -> SipUri<'_> {
        match Uri::parse(s.as_bytes()) {
            Ok(Uri::Sip(u)) => u,
            other => panic!("{s}: {other:?}"),
        }
    }

    #[test]
    fn sip_uri_parts() {
        let u = sip("sips:alice:secret@example.com:5061;transport=tls;lr?subject=hi");
        assert!(u.secure);
        assert_eq!(u.user, Some(&b"alice"[..]));
        assert_eq!(u.password, Some(&b"secret"[..]));
        assert_eq!(u.host, Host::Name(b"example.com"));
        assert_eq!(u.port, Some(5061));
        assert_eq!(u.params.get(b"transport"), Some(Some(&b"tls"[..])));
        assert!(u.params.contains(b"lr"));
        assert_eq!(u.headers, Some(&b"subject=hi"[..]));
    }

    #[test]
    fn user_parts_may_hold_reserved_characters() {
        let u = sip("sip:user;par=u%40example.net@example.com");
        assert_eq!(u.user, Some(&b"user;par=u%40example.net"[..]));
        assert_eq!(u.host, Host::Name(b"example.com"));
        assert!(u.params.is_empty());
    }

    #[test]
    fn ipv6_references() {
        let u = sip("sip:[2001:db8::10]:5070");
        assert_eq!(u.host.ip(), Some("2001:db8::10".parse().unwrap()));
        assert_eq!(u.port, Some(5070));
        let ambiguous = sip("sip:[2001:db8::10:5070]");
        assert_eq!(ambiguous.port, None);
        assert_eq!(
            ambiguous.host.ip(),
            Some("2001:db8::10:5070".parse().unwrap())
        );
        let three_colons = sip("sip:user@[2001:db8:::192.0.2.1]");
        assert_eq!(three_colons.host, Host::Ipv6(b"2001:db8:::192.0.2.1"));
        assert_eq!(three_colons.host.ip(), None);
        assert_eq!(
            Uri::parse(b"sip:2001:db8::10").unwrap_err(),
            UriError::BadHost
        );
    }

    #[test]
    fn rejects_what_is_not_a_uri() {
        for (s, e) in [
            ("<sip:user@example.com>", UriError::BadScheme),
            ("sip:user@example.com; lr", UriError::BadCharacter),
            ("sip:user@exa mple.com", UriError::BadCharacter),
            ("sip:%Zuser@example.com", UriError::BadEscape),
            ("sip:user@", UriError::BadHost),
            ("sip:user@host:99999", UriError::BadPort),
            ("sip:user@host;;lr", UriError::BadParam),
            ("sip:user@host;", UriError::BadParam),
            ("tel:+", UriError::BadTelNumber),
            ("1sip:x", UriError::BadScheme),
        ] {
            assert_eq!(Uri::parse(s.as_bytes()).unwrap_err(), e, "{s}");
        }
    }

    #[test]
    fn ipv4_addresses() {
        assert_eq!(parse_ipv4(b"192.0.2.1"), Some(Ipv4Addr::new(192, 0, 2, 1)));
        assert_eq!(parse_ipv4(b"0.0.0.0"), Some(Ipv4Addr::UNSPECIFIED));
        for bad in [
            &b"256.0.0.1"[..],
            b"1.2.3",
            b"1.2.3.4.5",
            b"01.2.3.4",
            b"1..2.3",
            b"",
        ] {
            assert_eq!(parse_ipv4(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn tel_and_other_schemes() {
        match Uri::parse(b"tel:+1-201-555-0123;phone-context=example.com").unwrap() {
            Uri::Tel(t) => {
                assert_eq!(t.number, b"+1-201-555-0123");
                assert!(t.params.contains(b"phone-context"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            Uri::parse(b"soap.beep://192.0.2.103:3002").unwrap(),
            Uri::Other {
                scheme: b"soap.beep",
                rest: b"//192.0.2.103:3002"
            }
        );
    }
}
