//! Typed, lazily computed views of the headers the hot path reads.
//!
//! Nothing is parsed until asked for, and nothing is copied: each view
//! borrows the receive buffer. Every accessor on [`Head`] returns a
//! [`HeaderError`] naming the header and the problem, so request validation
//! can map it to the right response.

mod auth;
mod cseq;
mod kind;
mod media_type;
mod name_addr;
mod via;

pub use auth::{AuthParam, AuthParams, AuthValue};
pub use cseq::{CSeq, RAck};
pub use kind::HeaderKind;
pub use media_type::MediaType;
pub use name_addr::{Contact, NameAddr, NameAddrError};
pub use via::{MAGIC_COOKIE, Rport, Via, is_rfc3261_branch};

use crate::error::{HeaderError, HeaderProblem, UriError};
use crate::lex::{self, CommaList};
use crate::message::Head;
use crate::uri::Uri;

impl<'b, 'h> Head<'b, 'h> {
    /// The single value of a header that may appear once.
    fn single(&self, kind: HeaderKind) -> Result<&'b [u8], HeaderError> {
        let mut values = self.values(kind);
        let first = values.next().ok_or(HeaderError::missing(kind))?;
        if values.next().is_some() {
            return Err(HeaderError {
                header: kind,
                problem: HeaderProblem::Repeated,
            });
        }
        Ok(first)
    }

    /// Every comma-separated element of every header of `kind`.
    fn elements(
        &self,
        kind: HeaderKind,
    ) -> impl Iterator<Item = Result<&'b [u8], HeaderError>> + 'h {
        self.values(kind).flat_map(move |v| {
            CommaList::new(v).map(move |e| e.map_err(|_| HeaderError::malformed(kind)))
        })
    }

    /// The Request-URI, parsed.
    pub fn request_uri(&self) -> Option<Result<Uri<'b>, UriError>> {
        self.request_line().map(|r| Uri::parse(r.uri))
    }

    /// The Call-ID: a non-empty word without white space.
    pub fn call_id(&self) -> Result<&'b [u8], HeaderError> {
        let v = self.single(HeaderKind::CallId)?;
        if v.is_empty() || lex::has_lws(v) {
            return Err(HeaderError::malformed(HeaderKind::CallId));
        }
        Ok(v)
    }

    /// The CSeq.
    pub fn cseq(&self) -> Result<CSeq<'b>, HeaderError> {
        CSeq::parse(self.single(HeaderKind::CSeq)?).map_err(|out_of_range| {
            if out_of_range {
                HeaderError::out_of_range(HeaderKind::CSeq)
            } else {
                HeaderError::malformed(HeaderKind::CSeq)
            }
        })
    }

    fn name_addr(&self, kind: HeaderKind) -> Result<NameAddr<'b>, HeaderError> {
        NameAddr::parse(self.single(kind)?).map_err(|_| HeaderError::malformed(kind))
    }

    /// The From header.
    pub fn from(&self) -> Result<NameAddr<'b>, HeaderError> {
        self.name_addr(HeaderKind::From)
    }

    /// The To header.
    pub fn to(&self) -> Result<NameAddr<'b>, HeaderError> {
        self.name_addr(HeaderKind::To)
    }

    /// Every Via entry, topmost first (multiple headers and comma lists).
    pub fn vias(&self) -> impl Iterator<Item = Result<Via<'b>, HeaderError>> + 'h {
        self.elements(HeaderKind::Via).map(|e| {
            e.and_then(|v| Via::parse(v).map_err(|_| HeaderError::malformed(HeaderKind::Via)))
        })
    }

    /// The topmost Via: the one a response is routed by.
    pub fn top_via(&self) -> Result<Via<'b>, HeaderError> {
        self.vias()
            .next()
            .unwrap_or(Err(HeaderError::missing(HeaderKind::Via)))
    }

    /// Max-Forwards, 0 to 255.
    pub fn max_forwards(&self) -> Result<u8, HeaderError> {
        let v = self.single(HeaderKind::MaxForwards)?;
        if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
            return Err(HeaderError::malformed(HeaderKind::MaxForwards));
        }
        lex::parse_decimal(v, 255)
            .map(|n| n as u8)
            .ok_or(HeaderError::out_of_range(HeaderKind::MaxForwards))
    }

    /// The RSeq of a reliable provisional response (RFC 3262 §7.1), 1 to
    /// 2³²−1.
    pub fn rseq(&self) -> Result<u32, HeaderError> {
        let v = self.single(HeaderKind::RSeq)?;
        if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
            return Err(HeaderError::malformed(HeaderKind::RSeq));
        }
        lex::parse_decimal(v, u64::from(u32::MAX))
            .filter(|&n| n > 0)
            .map(|n| n as u32)
            .ok_or(HeaderError::out_of_range(HeaderKind::RSeq))
    }

    /// The RAck of a PRACK (RFC 3262 §7.2).
    pub fn rack(&self) -> Result<RAck<'b>, HeaderError> {
        RAck::parse(self.single(HeaderKind::RAck)?).ok_or(HeaderError::malformed(HeaderKind::RAck))
    }

    /// True when the option tag `tag` is among the values of `kind`
    /// (Require, Supported).
    pub fn has_option(&self, kind: HeaderKind, tag: &str) -> bool {
        self.tokens(kind)
            .filter_map(Result::ok)
            .any(|t| t.eq_ignore_ascii_case(tag.as_bytes()))
    }

    /// The Expires header in seconds, 0 to 2³²−1.
    pub fn expires(&self) -> Result<u32, HeaderError> {
        let v = self.single(HeaderKind::Expires)?;
        if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
            return Err(HeaderError::malformed(HeaderKind::Expires));
        }
        lex::parse_decimal(v, u64::from(u32::MAX))
            .map(|n| n as u32)
            .ok_or(HeaderError::out_of_range(HeaderKind::Expires))
    }

    fn name_addrs(
        &self,
        kind: HeaderKind,
    ) -> impl Iterator<Item = Result<NameAddr<'b>, HeaderError>> + 'h {
        self.elements(kind).map(move |e| {
            e.and_then(|v| NameAddr::parse(v).map_err(|_| HeaderError::malformed(kind)))
        })
    }

    /// Every Contact value (`*` or an address).
    pub fn contacts(&self) -> impl Iterator<Item = Result<Contact<'b>, HeaderError>> + 'h {
        self.elements(HeaderKind::Contact).map(|e| {
            e.and_then(|v| {
                Contact::parse(v).map_err(|_| HeaderError::malformed(HeaderKind::Contact))
            })
        })
    }

    /// Every Route entry, in order.
    pub fn routes(&self) -> impl Iterator<Item = Result<NameAddr<'b>, HeaderError>> + 'h {
        self.name_addrs(HeaderKind::Route)
    }

    /// Every Record-Route entry, in order.
    pub fn record_routes(&self) -> impl Iterator<Item = Result<NameAddr<'b>, HeaderError>> + 'h {
        self.name_addrs(HeaderKind::RecordRoute)
    }

    /// The Content-Type.
    pub fn content_type(&self) -> Result<MediaType<'b>, HeaderError> {
        MediaType::parse(self.single(HeaderKind::ContentType)?)
            .map_err(|_| HeaderError::malformed(HeaderKind::ContentType))
    }

    /// The media ranges of every Accept header.
    pub fn accept(&self) -> impl Iterator<Item = Result<MediaType<'b>, HeaderError>> + 'h {
        self.elements(HeaderKind::Accept)
            .filter(|e| e.is_ok_and(|v| !v.is_empty()) || e.is_err())
            .map(|e| {
                e.and_then(|v| {
                    MediaType::parse(v).map_err(|_| HeaderError::malformed(HeaderKind::Accept))
                })
            })
    }

    /// The tokens of every header of `kind` (Supported, Require,
    /// Proxy-Require, Unsupported, Allow): empty elements are skipped, a
    /// non-token element is an error.
    pub fn tokens(
        &self,
        kind: HeaderKind,
    ) -> impl Iterator<Item = Result<&'b [u8], HeaderError>> + 'h {
        self.elements(kind)
            .filter(|e| e.is_ok_and(|v| !v.is_empty()) || e.is_err())
            .map(move |e| {
                e.and_then(|v| {
                    if lex::is_token(v) {
                        Ok(v)
                    } else {
                        Err(HeaderError::malformed(kind))
                    }
                })
            })
    }

    /// The User-Agent text, for logging and scanner detection.
    pub fn user_agent(&self) -> Option<&'b [u8]> {
        self.value(HeaderKind::UserAgent)
    }

    /// Every header value of an authentication kind (Authorization,
    /// Proxy-Authorization, WWW-Authenticate, Proxy-Authenticate), with the
    /// scheme split from the parameters.
    pub fn auth_values(
        &self,
        kind: HeaderKind,
    ) -> impl Iterator<Item = Result<AuthValue<'b>, HeaderError>> + 'h {
        self.values(kind)
            .map(move |v| AuthValue::parse(v).map_err(|_| HeaderError::malformed(kind)))
    }
}
