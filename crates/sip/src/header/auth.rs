//! Authentication header values: `WWW-Authenticate`, `Proxy-Authenticate`,
//! `Authorization`, `Proxy-Authorization` (RFC 3261 §20.7, §20.27, §20.28,
//! §20.44; RFC 7616 §3.3–3.4). The scheme and `name=value` auth-params are
//! split here; the digest module interprets them.

use crate::error::Malformed;
use crate::lex;

/// `scheme LWS auth-param *(COMMA auth-param)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuthValue<'b> {
    /// The scheme (`Digest`), compare case-insensitively.
    pub scheme: &'b [u8],
    params: &'b [u8],
}

/// One auth-param. A quoted value is given without its quotes, escapes as
/// received (see [`crate::digest::unescape_quoted`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuthParam<'b> {
    /// The name, compare case-insensitively.
    pub name: &'b [u8],
    /// The value, without quotes.
    pub value: &'b [u8],
    /// True when the value was a quoted string.
    pub quoted: bool,
}

impl<'b> AuthValue<'b> {
    /// Splits the scheme from the parameters.
    pub fn parse(s: &'b [u8]) -> Result<Self, Malformed> {
        let s = lex::trim(s);
        let end = s.iter().position(|&b| lex::is_lws(b)).unwrap_or(s.len());
        let scheme = &s[..end];
        if !lex::is_token(scheme) {
            return Err(Malformed);
        }
        Ok(Self {
            scheme,
            params: lex::trim(&s[end..]),
        })
    }

    /// True when the scheme is `Digest`.
    pub fn is_digest(&self) -> bool {
        self.scheme.eq_ignore_ascii_case(b"Digest")
    }

    /// Iterates the auth-params; a malformed one yields `Err(Malformed)` and ends
    /// the iteration.
    pub fn params(&self) -> AuthParams<'b> {
        AuthParams {
            rest: (!self.params.is_empty()).then_some(self.params),
        }
    }
}

/// Iterator over auth-params.
#[derive(Clone, Debug)]
pub struct AuthParams<'b> {
    rest: Option<&'b [u8]>,
}

fn parse_auth_param(piece: &[u8]) -> Result<AuthParam<'_>, Malformed> {
    let eq = memchr::memchr(b'=', piece).ok_or(Malformed)?;
    let name = lex::trim(&piece[..eq]);
    let value = lex::trim(&piece[eq + 1..]);
    if !lex::is_token(name) {
        return Err(Malformed);
    }
    if value.first() == Some(&b'"') {
        if lex::quoted_len(value) != Some(value.len()) {
            return Err(Malformed);
        }
        return Ok(AuthParam {
            name,
            value: &value[1..value.len() - 1],
            quoted: true,
        });
    }
    if value.is_empty()
        || !value
            .iter()
            .all(|&b| lex::is_token_byte(b) || b == b'/' || b == b'=')
    {
        return Err(Malformed);
    }
    Ok(AuthParam {
        name,
        value,
        quoted: false,
    })
}

impl<'b> Iterator for AuthParams<'b> {
    type Item = Result<AuthParam<'b>, Malformed>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.rest?;
        let (piece, next) = match lex::find_unquoted(rest, b',', false) {
            Ok(Some(i)) => (&rest[..i], Some(&rest[i + 1..])),
            Ok(None) => (rest, None),
            Err(()) => {
                self.rest = None;
                return Some(Err(Malformed));
            }
        };
        let param = parse_auth_param(piece);
        self.rest = if param.is_ok() { next } else { None };
        Some(param)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_parameters() {
        let v = AuthValue::parse(
            br#"Digest username="bob", realm="x, y", nc=00000001, algorithm=SHA-256, qop=auth"#,
        )
        .unwrap();
        assert!(v.is_digest());
        let ps: Vec<_> = v.params().map(Result::unwrap).collect();
        assert_eq!(ps.len(), 5);
        assert_eq!(
            (ps[1].name, ps[1].value, ps[1].quoted),
            (&b"realm"[..], &b"x, y"[..], true)
        );
        assert_eq!(ps[3].value, b"SHA-256");
    }

    #[test]
    fn unknown_schemes_still_split() {
        let v = AuthValue::parse(b"NoOneKnowsThisScheme opaque-data=here").unwrap();
        assert!(!v.is_digest());
        assert_eq!(v.params().next().unwrap().unwrap().value, b"here");
    }

    #[test]
    fn malformed_parameters() {
        let v = AuthValue::parse(br#"Digest username="open"#).unwrap();
        assert!(v.params().next().unwrap().is_err());
        let v = AuthValue::parse(b"Digest novalue").unwrap();
        assert!(v.params().next().unwrap().is_err());
    }
}
