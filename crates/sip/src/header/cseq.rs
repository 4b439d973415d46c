//! `CSeq` (RFC 3261 §20.16): a sequence number and the request's method;
//! and `RAck` (RFC 3262 §7.2), which names a reliable provisional response
//! by its RSeq and its request's CSeq.

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

/// A parsed RAck value: the provisional response a PRACK acknowledges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RAck<'b> {
    /// The response's RSeq.
    pub rseq: u32,
    /// The CSeq of the request the response answered.
    pub cseq: CSeq<'b>,
}

impl<'b> RAck<'b> {
    /// Parses `response-num LWS CSeq-num LWS Method`; `None` when
    /// malformed or out of range.
    pub fn parse(s: &'b [u8]) -> Option<Self> {
        let s = lex::trim(s);
        let digits_end = s.iter().position(|&b| !b.is_ascii_digit())?;
        let rest = &s[digits_end..];
        if digits_end == 0 || !rest.first().is_some_and(|&b| lex::is_lws(b)) {
            return None;
        }
        let rseq = lex::parse_decimal(&s[..digits_end], u64::from(u32::MAX))? as u32;
        Some(Self {
            rseq,
            cseq: CSeq::parse(rest).ok()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rack_values() {
        let r = RAck::parse(b" 776656 1 INVITE").unwrap();
        assert_eq!(
            (r.rseq, r.cseq.seq, r.cseq.method),
            (776656, 1, Method::Invite)
        );
        assert_eq!(RAck::parse(b"1 INVITE"), None);
        assert_eq!(RAck::parse(b"4294967296 1 INVITE"), None);
        assert_eq!(RAck::parse(b"1\r\n 2 INVITE").map(|r| r.cseq.seq), Some(2));
        assert_eq!(RAck::parse(b"x 1 INVITE"), None);
    }

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
