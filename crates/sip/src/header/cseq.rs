//! `CSeq` (RFC 3261 §20.16): a sequence number and the request's method.

use crate::lex;
use crate::method::Method;

/// A parsed CSeq value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CSeq<'b> {
    /// The sequence number, at most 2³²−1 (RFC 4475 §3.1.2.4).
    pub seq: u32,
    /// The method.
    pub method: Method<'b>,
}

impl<'b> CSeq<'b> {
    /// Parses `1*DIGIT LWS Method`. `Err(true)` means the number is out of
    /// range, `Err(false)` that the value is malformed.
    pub fn parse(s: &'b [u8]) -> Result<Self, bool> {
        let s = lex::trim(s);
        let digits_end = s.iter().position(|&b| !b.is_ascii_digit()).ok_or(false)?;
        let digits = &s[..digits_end];
        let rest = &s[digits_end..];
        if digits.is_empty() || !rest.first().is_some_and(|&b| lex::is_lws(b)) {
            return Err(false);
        }
        let method = lex::trim(rest);
        if !lex::is_token(method) {
            return Err(false);
        }
        let seq = lex::parse_decimal(digits, u64::from(u32::MAX)).ok_or(true)? as u32;
        Ok(Self {
            seq,
            method: Method::from_token(method),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cseq_values() {
        let c = CSeq::parse(b"0009\r\n  INVITE").unwrap();
        assert_eq!((c.seq, c.method), (9, Method::Invite));
        assert_eq!(CSeq::parse(b"36893488147419103232 REGISTER"), Err(true));
        assert_eq!(CSeq::parse(b"INVITE"), Err(false));
        assert_eq!(CSeq::parse(b"12"), Err(false));
        assert_eq!(CSeq::parse(b"12INVITE"), Err(false));
        assert_eq!(CSeq::parse(b"-1 INVITE"), Err(false));
    }
}
