//! Message validation: what RFC 3261 §8.2 and §16.3 ask a server to check
//! before it acts on a request, with the answer each failure deserves.
//!
//! [`check_request`] is run on every request after framing. It returns the
//! hot headers already parsed, so the caller reads each of them once. The
//! option-tag, body-type and Accept checks are separate functions because
//! their answer depends on what the application supports.

use crate::error::{HeaderError, HeaderProblem};
use crate::header::{CSeq, HeaderKind, MAGIC_COOKIE, MediaType, NameAddr, Via};
use crate::message::{Head, Version};
use crate::method::Method;
use crate::uri::Uri;

/// Why a request is refused, and how to answer it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reason} (answer {status:?})")]
pub struct Rejection {
    /// The status to answer with; `None` when no response can be addressed
    /// (no usable top Via) and the request must be dropped.
    pub status: Option<u16>,
    /// A reason phrase that names the defect.
    pub reason: &'static str,
    /// The header at fault, when one is.
    pub header: Option<HeaderError>,
}

impl Rejection {
    fn bad(reason: &'static str) -> Self {
        Self {
            status: Some(400),
            reason,
            header: None,
        }
    }

    fn header(err: HeaderError) -> Self {
        Self {
            status: Some(400),
            reason: match (err.header, err.problem) {
                (_, HeaderProblem::Repeated) => "Repeated single-valued header",
                (_, HeaderProblem::OutOfRange) => "Header value out of range",
                (HeaderKind::CallId, HeaderProblem::Missing) => "Missing Call-ID",
                (HeaderKind::CSeq, HeaderProblem::Missing) => "Missing CSeq",
                (HeaderKind::From, HeaderProblem::Missing) => "Missing From",
                (HeaderKind::To, HeaderProblem::Missing) => "Missing To",
                (HeaderKind::Via, _) => "Malformed Via",
                (HeaderKind::From, _) => "Malformed From",
                (HeaderKind::To, _) => "Malformed To",
                (HeaderKind::CSeq, _) => "Malformed CSeq",
                (HeaderKind::Contact, _) => "Malformed Contact",
                _ => "Malformed header",
            },
            header: Some(err),
        }
    }
}

/// The parts of a valid request that every caller needs, parsed once.
#[derive(Clone, Copy, Debug)]
pub struct ValidRequest<'b> {
    /// The method.
    pub method: Method<'b>,
    /// The Request-URI (sip, sips or tel).
    pub uri: Uri<'b>,
    /// The topmost Via.
    pub top_via: Via<'b>,
    /// The Call-ID.
    pub call_id: &'b [u8],
    /// The CSeq.
    pub cseq: CSeq<'b>,
    /// The From header.
    pub from: NameAddr<'b>,
    /// The To header.
    pub to: NameAddr<'b>,
    /// Max-Forwards, absent in RFC 2543-style requests.
    pub max_forwards: Option<u8>,
}

/// Checks a request's start line and headers.
///
/// The request is dropped (status `None`) when it has no Via at all, since
/// the sender could not match a response. Otherwise: 505 for a version other
/// than SIP/2.0; 416 for a Request-URI scheme other than sip, sips and tel;
/// 400 for anything malformed, missing, repeated or out of range, for a
/// CSeq method that differs from the request method, and for a bare
/// `z9hG4bK` branch (RFC 4475 §3.2.1).
pub fn check_request<'b>(head: &Head<'b, '_>) -> Result<ValidRequest<'b>, Rejection> {
    let line = head.request_line().ok_or(Rejection::bad("Not a request"))?;
    // Without any Via a response cannot be matched by the sender: drop.
    // A malformed Via still gets its 400, sent back to the source address.
    if head.count(HeaderKind::Via) == 0 {
        return Err(Rejection {
            status: None,
            reason: "Missing Via",
            header: Some(HeaderError::missing(HeaderKind::Via)),
        });
    }
    if line.version != Version::Sip2 {
        return Err(Rejection {
            status: Some(505),
            reason: "Version Not Supported",
            header: None,
        });
    }
    if head.has_malformed_lines() {
        return Err(Rejection::bad("Malformed header line"));
    }
    if line.irregular_spacing {
        return Err(Rejection::bad("Malformed Request-Line"));
    }
    let uri = match Uri::parse(line.uri) {
        Ok(Uri::Other { .. }) => {
            return Err(Rejection {
                status: Some(416),
                reason: "Unsupported URI Scheme",
                header: None,
            });
        }
        Ok(Uri::Sip(sip)) if sip.headers.is_some() => {
            // RFC 3261 §19.1.5: headers are not allowed in a Request-URI.
            return Err(Rejection::bad("Request-URI carries headers"));
        }
        Ok(uri) => uri,
        Err(_) => return Err(Rejection::bad("Malformed Request-URI")),
    };
    let top_via = head.top_via().map_err(Rejection::header)?;
    let call_id = head.call_id().map_err(Rejection::header)?;
    let cseq = head.cseq().map_err(Rejection::header)?;
    let from = head.from().map_err(Rejection::header)?;
    let to = head.to().map_err(Rejection::header)?;
    if cseq.method != line.method {
        return Err(Rejection::bad("CSeq method does not match the request"));
    }
    if top_via.branch() == Some(MAGIC_COOKIE) {
        return Err(Rejection::bad("Via branch has no transaction identifier"));
    }
    let max_forwards = match head.max_forwards() {
        Ok(n) => Some(n),
        Err(HeaderError {
            problem: HeaderProblem::Missing,
            ..
        }) => None,
        Err(e) => return Err(Rejection::header(e)),
    };
    check_other_headers(head).map_err(Rejection::header)?;
    Ok(ValidRequest {
        method: line.method,
        uri,
        top_via,
        call_id,
        cseq,
        from,
        to,
        max_forwards,
    })
}

/// The headers that are not on the hot path but must still be well formed:
/// every Via, Contact, Route and Record-Route, Content-Type, Expires, Date,
/// and no repeated single-valued header.
fn check_other_headers(head: &Head<'_, '_>) -> Result<(), HeaderError> {
    // One bit per kind: a single pass finds any repeated single-valued header.
    const _: () = assert!((HeaderKind::Malformed as u8) < 64);
    let mut seen = 0u64;
    for h in head.headers() {
        if h.kind.is_single_valued() {
            let bit = 1u64 << (h.kind as u8);
            if seen & bit != 0 {
                return Err(HeaderError {
                    header: h.kind,
                    problem: HeaderProblem::Repeated,
                });
            }
            seen |= bit;
        }
    }
    // The top Via was parsed by the caller.
    head.vias().skip(1).try_for_each(|v| v.map(drop))?;
    head.contacts().try_for_each(|c| c.map(drop))?;
    head.routes().try_for_each(|r| r.map(drop))?;
    head.record_routes().try_for_each(|r| r.map(drop))?;
    optional(head.content_type().map(drop))?;
    optional(head.expires().map(drop))?;
    if let Some(date) = head.value(HeaderKind::Date) {
        // RFC 3261 §20.17: SIP dates are always in GMT.
        if !date.ends_with(b" GMT") {
            return Err(HeaderError::malformed(HeaderKind::Date));
        }
    }
    Ok(())
}

/// Treats a missing optional header as fine.
fn optional(r: Result<(), HeaderError>) -> Result<(), HeaderError> {
    match r {
        Err(HeaderError {
            problem: HeaderProblem::Missing,
            ..
        }) => Ok(()),
        other => other,
    }
}

/// The parts of a valid response that transaction matching needs.
#[derive(Clone, Copy, Debug)]
pub struct ValidResponse<'b> {
    /// The status code.
    pub code: u16,
    /// The topmost Via (its branch selects the client transaction).
    pub top_via: Via<'b>,
    /// The CSeq (its method completes the transaction key).
    pub cseq: CSeq<'b>,
    /// The Call-ID.
    pub call_id: &'b [u8],
    /// The To header (its tag identifies the dialog).
    pub to: NameAddr<'b>,
    /// The From header.
    pub from: NameAddr<'b>,
}

/// Checks a response. Malformed responses are dropped silently (RFC 4475
/// §3.1.2.5, §3.1.2.19), so the error only says which header was at fault.
pub fn check_response<'b>(head: &Head<'b, '_>) -> Result<ValidResponse<'b>, HeaderError> {
    let line = head
        .status_line()
        .ok_or(HeaderError::malformed(HeaderKind::Other))?;
    if line.version != Version::Sip2 || head.has_malformed_lines() {
        return Err(HeaderError::malformed(HeaderKind::Other));
    }
    let top_via = head.top_via()?;
    let cseq = head.cseq()?;
    let call_id = head.call_id()?;
    let to = head.to()?;
    let from = head.from()?;
    Ok(ValidResponse {
        code: line.code,
        top_via,
        cseq,
        call_id,
        to,
        from,
    })
}

/// A message that passed [`check_request`] or [`check_response`], with
/// the headers those checks parsed.
#[derive(Clone, Copy, Debug)]
pub enum Checked<'b> {
    /// A request.
    Request(ValidRequest<'b>),
    /// A response.
    Response(ValidResponse<'b>),
}

impl<'b> Checked<'b> {
    /// Checks `head` as a request or a response, as its start line says;
    /// `None` when it fails.
    pub fn check(head: &Head<'b, '_>) -> Option<Self> {
        if head.request_line().is_some() {
            check_request(head).ok().map(Self::Request)
        } else {
            check_response(head).ok().map(Self::Response)
        }
    }

    /// The From header.
    pub fn from(&self) -> &NameAddr<'b> {
        match self {
            Self::Request(r) => &r.from,
            Self::Response(r) => &r.from,
        }
    }

    /// The To header.
    pub fn to(&self) -> &NameAddr<'b> {
        match self {
            Self::Request(r) => &r.to,
            Self::Response(r) => &r.to,
        }
    }

    /// The CSeq.
    pub fn cseq(&self) -> &CSeq<'b> {
        match self {
            Self::Request(r) => &r.cseq,
            Self::Response(r) => &r.cseq,
        }
    }

    /// The Call-ID.
    pub fn call_id(&self) -> &'b [u8] {
        match self {
            Self::Request(r) => r.call_id,
            Self::Response(r) => r.call_id,
        }
    }
}

/// The option tags of `kind` (Require, or Proxy-Require for a proxy) that
/// are not in `supported`: non-empty means answer 420 Bad Extension with
/// these tags in an Unsupported header (RFC 3261 §8.2.2.3).
pub fn unsupported_options<'b>(
    head: &Head<'b, '_>,
    kind: HeaderKind,
    supported: &[&str],
) -> Vec<&'b [u8]> {
    head.tokens(kind)
        .filter_map(Result::ok)
        .filter(|tag| {
            !supported
                .iter()
                .any(|s| s.as_bytes().eq_ignore_ascii_case(tag))
        })
        .collect()
}

/// True when the body's Content-Type is one of `accepted` (or there is no
/// body). False means answer 415 Unsupported Media Type with an Accept
/// header listing `accepted` (RFC 3261 §8.2.3).
pub fn body_type_accepted(head: &Head<'_, '_>, body: &[u8], accepted: &[(&str, &str)]) -> bool {
    if body.is_empty() {
        return true;
    }
    match head.content_type() {
        Ok(ct) => accepted.iter().any(|(t, s)| ct.is(t, s)),
        Err(_) => false,
    }
}

/// True when the request's Accept headers (if any) admit `ty/subtype`. A
/// request without Accept accepts `application/sdp` (RFC 3261 §20.1). False
/// means a response body of that type cannot be sent: answer 406.
pub fn accepts(head: &Head<'_, '_>, ty: &str, subtype: &str) -> bool {
    if head.count(HeaderKind::Accept) == 0 {
        return ty.eq_ignore_ascii_case("application") && subtype.eq_ignore_ascii_case("sdp");
    }
    head.accept()
        .filter_map(Result::ok)
        .any(|m: MediaType<'_>| m.admits(ty, subtype))
}
