//! Building the messages Tollgate originates: requests on a B-leg and
//! responses to what it receives.
//!
//! Headers are written in the order they are added, every line ends in CRLF,
//! Content-Length is always computed (never taken from the caller) and a
//! header value can never smuggle a line break: CR and LF in values become
//! spaces, which is what a folded value means anyway.

use std::io::Write as _;
use std::net::SocketAddr;

use crate::header::{HeaderKind, Rport, Via};
use crate::lex;
use crate::message::Head;
use crate::method::Method;
use crate::parse::parse_datagram;

/// A message could not be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A header name is not a token.
    #[error("header name {0:?} is not a token")]
    HeaderName(String),
    /// Content-Length is computed by the builder and cannot be set.
    #[error("Content-Length is computed by the builder, do not set it")]
    ContentLength,
    /// The Request-URI holds white space or control characters.
    #[error("Request-URI {0:?} contains white space or control characters")]
    RequestUri(String),
    /// The reason phrase holds CR or LF.
    #[error("reason phrase contains a line break")]
    Reason,
    /// A status code outside 100–699.
    #[error("status code {0} is outside 100-699")]
    StatusCode(u16),
}

/// The headers every response to one request repeats (RFC 3261 §8.2.6.2),
/// written once by [`MessageBuilder::response_headers`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResponseHeaders(Box<[u8]>);

/// Builds one SIP message.
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until build() is called"]
pub struct MessageBuilder {
    head: Vec<u8>,
    body: Vec<u8>,
    error: Option<BuildError>,
}

impl MessageBuilder {
    fn empty() -> Self {
        Self {
            head: Vec::with_capacity(512),
            body: Vec::new(),
            error: None,
        }
    }

    fn with_start_line(line: &[&[u8]]) -> Self {
        let mut b = Self::empty();
        for part in line {
            b.head.extend_from_slice(part);
        }
        b.head.extend_from_slice(b"\r\n");
        b
    }

    fn fail(&mut self, error: BuildError) {
        self.error.get_or_insert(error);
    }

    /// Starts a request: `METHOD uri SIP/2.0`.
    pub fn request(method: Method<'_>, uri: &[u8]) -> Self {
        let mut b = Self::with_start_line(&[method.as_bytes(), b" ", uri, b" SIP/2.0"]);
        if uri.is_empty() || uri.iter().any(|&c| c <= b' ' || c == 0x7f) {
            b.fail(BuildError::RequestUri(
                String::from_utf8_lossy(uri).into_owned(),
            ));
        }
        b
    }

    /// Starts a response: `SIP/2.0 code reason`.
    pub fn response(code: u16, reason: &str) -> Self {
        let mut b = Self::empty();
        // Writing into a Vec cannot fail.
        let _ = write!(b.head, "SIP/2.0 {code} ");
        b.head.extend_from_slice(reason.as_bytes());
        b.head.extend_from_slice(b"\r\n");
        if !(100..=699).contains(&code) {
            b.fail(BuildError::StatusCode(code));
        }
        if reason.contains(['\r', '\n']) {
            b.fail(BuildError::Reason);
        }
        b
    }

    /// Starts a response to `request` as RFC 3261 §8.2.6.2 says: every Via in
    /// order, From, To, Call-ID and CSeq copied. When the request's To has
    /// no tag and `to_tag` is given, the tag is added (a UAS adds one to
    /// every response but 100 Trying).
    pub fn response_to(
        request: &Head<'_, '_>,
        code: u16,
        reason: &str,
        to_tag: Option<&[u8]>,
    ) -> Self {
        Self::response(code, reason).dialog_headers(request, to_tag)
    }

    /// The headers [`MessageBuilder::response_to`] copies from `request`,
    /// written once: [`MessageBuilder::response_with`] starts every later
    /// response to it without reading the request again.
    pub fn response_headers(request: &Head<'_, '_>, to_tag: Option<&[u8]>) -> ResponseHeaders {
        ResponseHeaders(Self::empty().dialog_headers(request, to_tag).head.into())
    }

    /// Starts a response whose copied headers were written by
    /// [`MessageBuilder::response_headers`].
    pub fn response_with(code: u16, reason: &str, headers: &ResponseHeaders) -> Self {
        let mut b = Self::response(code, reason);
        b.head.extend_from_slice(&headers.0);
        b
    }

    /// Copies Vias, From, To (with `to_tag` when it has none), Call-ID and
    /// CSeq from `request`.
    fn dialog_headers(mut self, request: &Head<'_, '_>, to_tag: Option<&[u8]>) -> Self {
        for h in request.headers() {
            self = match h.kind {
                HeaderKind::Via | HeaderKind::From | HeaderKind::CallId | HeaderKind::CSeq => {
                    self.header(h.kind.canonical_name().unwrap_or("Via"), h.value)
                }
                HeaderKind::To => {
                    let needs_tag =
                        to_tag.is_some() && request.to().is_ok_and(|t| t.tag().is_none());
                    match (needs_tag, to_tag) {
                        (true, Some(tag)) => self.header_parts("To", &[h.value, b";tag=", tag]),
                        _ => self.header("To", h.value),
                    }
                }
                _ => self,
            };
        }
        self
    }

    /// Appends a header line. The name must be a token; CR and LF in the
    /// value are written as spaces. Content-Length may not be set (it is
    /// computed); Content-Type is written by [`MessageBuilder::body`].
    pub fn header(self, name: &str, value: impl AsRef<[u8]>) -> Self {
        self.write_header(name, |head| head.extend_from_slice(value.as_ref()))
    }

    /// [`MessageBuilder::header`] with the value formatted in place
    /// (`format_args!`), so it needs no String of its own.
    pub fn header_fmt(self, name: &str, value: std::fmt::Arguments<'_>) -> Self {
        // Writing into a Vec cannot fail.
        self.write_header(name, |head| {
            let _ = head.write_fmt(value);
        })
    }

    /// [`MessageBuilder::header`] with the value written from `parts` in
    /// order.
    fn header_parts(self, name: &str, parts: &[&[u8]]) -> Self {
        self.write_header(name, |head| {
            for part in parts {
                head.extend_from_slice(part);
            }
        })
    }

    /// Writes one header line, its value written by `value`: then trimmed,
    /// CR and LF in it turned into spaces.
    fn write_header(mut self, name: &str, value: impl FnOnce(&mut Vec<u8>)) -> Self {
        if !lex::is_token(name.as_bytes()) {
            self.fail(BuildError::HeaderName(name.to_owned()));
            return self;
        }
        if name.eq_ignore_ascii_case("Content-Length") || name.eq_ignore_ascii_case("l") {
            self.fail(BuildError::ContentLength);
            return self;
        }
        self.head.extend_from_slice(name.as_bytes());
        self.head.extend_from_slice(b": ");
        let start = self.head.len();
        value(&mut self.head);
        let written = &self.head[start..];
        let leading = written.len() - lex::trim_start(written).len();
        self.head.drain(start..start + leading);
        let kept = lex::trim_end(&self.head[start..]).len();
        self.head.truncate(start + kept);
        if memchr::memchr2(b'\r', b'\n', &self.head[start..]).is_some() {
            for c in &mut self.head[start..] {
                if *c == b'\r' || *c == b'\n' {
                    *c = b' ';
                }
            }
        }
        self.head.extend_from_slice(b"\r\n");
        self
    }

    /// Sets the body and writes its Content-Type header.
    pub fn body(self, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        let mut b = self.header("Content-Type", content_type);
        b.body = body.into();
        b
    }

    /// Finishes the message: Content-Length, the empty line, the body.
    pub fn build(self) -> Result<Vec<u8>, BuildError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let mut out = self.head;
        out.reserve(24 + self.body.len());
        // Writing into a Vec cannot fail.
        let _ = write!(out, "Content-Length: {}\r\n\r\n", self.body.len());
        out.extend_from_slice(&self.body);
        Ok(out)
    }
}

/// Stamps the top Via of a message with what the server saw of the
/// request's source (RFC 3261 §18.2.1, RFC 3581 §4): `received` when
/// sent-by is not the source address or `rport` was asked for, and `rport`
/// filled with the source port when asked for. `None` when nothing needs to
/// change (or the message cannot be read).
pub fn stamp_via(message: &[u8], source: SocketAddr) -> Option<Vec<u8>> {
    let mut headers = crate::header_array();
    let msg = parse_datagram(message, &mut headers).ok()?;
    stamp_parsed_via(message, &msg.head, source)
}

/// True when a top Via from `source` must be stamped: its sent-by is not
/// the source address, or it asks for `rport`.
pub(crate) fn needs_stamp(via: &Via<'_>, source: SocketAddr) -> bool {
    via.rport() == Rport::Requested || via.host.ip() != Some(source.ip())
}

/// [`stamp_via`] for a message already parsed into `head`.
pub(crate) fn stamp_parsed_via(
    message: &[u8],
    head: &crate::message::Head<'_, '_>,
    source: SocketAddr,
) -> Option<Vec<u8>> {
    let value = head.value(HeaderKind::Via)?;
    let top_len = lex::find_unquoted(value, b',', true)
        .ok()?
        .unwrap_or(value.len());
    let top = &value[..top_len];
    let via = Via::parse(lex::trim(top)).ok()?;
    if !needs_stamp(&via, source) {
        return None;
    }
    let base_len = lex::find_unquoted(top, b';', false)
        .ok()?
        .unwrap_or(top.len());
    let mut stamped = lex::trim(&top[..base_len]).to_vec();
    for p in via.params.iter().map_while(Result::ok) {
        if p.name.eq_ignore_ascii_case(b"received") {
            continue;
        }
        stamped.push(b';');
        stamped.extend_from_slice(p.name);
        if p.name.eq_ignore_ascii_case(b"rport") && p.value.is_none() {
            stamped.extend_from_slice(format!("={}", source.port()).as_bytes());
        } else if let Some(v) = p.value {
            stamped.push(b'=');
            stamped.extend_from_slice(v);
        }
    }
    stamped.extend_from_slice(format!(";received={}", source.ip()).as_bytes());
    // Splice: the Via value is a span of `message`.
    let start = top.as_ptr() as usize - message.as_ptr() as usize;
    let mut out = Vec::with_capacity(message.len() + 32);
    out.extend_from_slice(&message[..start]);
    out.extend_from_slice(&stamped);
    out.extend_from_slice(&message[start + top_len..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Header;
    use crate::parse::parse_datagram;

    #[test]
    fn builds_a_request_that_parses_back() {
        let bytes = MessageBuilder::request(Method::Invite, b"sip:+15551234567@192.0.2.1:5060")
            .header("Via", "SIP/2.0/UDP 192.0.2.9;branch=z9hG4bKabc")
            .header("X-Injected", "a\r\nVia: evil")
            .body("application/sdp", b"v=0\r\n".to_vec())
            .build()
            .unwrap();
        let mut h = [Header::EMPTY; 8];
        let m = parse_datagram(&bytes, &mut h).unwrap();
        assert_eq!(m.head.method(), Some(Method::Invite));
        assert_eq!(m.head.count(HeaderKind::Via), 1);
        assert_eq!(
            m.head.value_by_name(b"x-injected"),
            Some(&b"a  Via: evil"[..])
        );
        assert_eq!(m.body, b"v=0\r\n");
        assert_eq!(m.head.content_length(), Some(5));
    }

    #[test]
    fn a_formatted_value_is_trimmed_and_cannot_break_the_line() {
        let (seq, evil) = (7, "x\r\nVia: evil ");
        let bytes = MessageBuilder::response(200, "OK")
            .header_fmt("CSeq", format_args!("  {seq} BYE\t"))
            .header_fmt("X-Note", format_args!("{evil}"))
            .build()
            .unwrap();
        assert_eq!(
            bytes,
            b"SIP/2.0 200 OK\r\nCSeq: 7 BYE\r\nX-Note: x  Via: evil\r\nContent-Length: 0\r\n\r\n"
        );
    }

    #[test]
    fn response_copies_the_dialog_headers_and_adds_a_to_tag() {
        let req = b"INVITE sip:b@h SIP/2.0\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK1\r\nv: SIP/2.0/UDP b;branch=z9hG4bK2\r\nf: <sip:a@h>;tag=x\r\nt: <sip:b@h>\r\ni: cid\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n\r\n";
        let mut h = [Header::EMPTY; 8];
        let head = parse_datagram(req, &mut h).unwrap().head;
        let resp = MessageBuilder::response_to(&head, 180, "Ringing", Some(b"srv"))
            .build()
            .unwrap();
        let headers = MessageBuilder::response_headers(&head, Some(b"srv"));
        let again = MessageBuilder::response_with(180, "Ringing", &headers).build();
        assert_eq!(
            again.as_ref(),
            Ok(&resp),
            "the written headers make the same response"
        );
        let mut h2 = [Header::EMPTY; 8];
        let r = parse_datagram(&resp, &mut h2).unwrap().head;
        assert_eq!(r.status_line().unwrap().code, 180);
        let branches: Vec<_> = r.vias().map(|v| v.unwrap().branch().unwrap()).collect();
        assert_eq!(branches, vec![&b"z9hG4bK1"[..], b"z9hG4bK2"]);
        assert_eq!(r.to().unwrap().tag(), Some(&b"srv"[..]));
        assert_eq!(r.from().unwrap().tag(), Some(&b"x"[..]));
        assert_eq!(r.call_id().unwrap(), b"cid");
        assert_eq!(r.count(HeaderKind::MaxForwards), 0);
    }

    #[test]
    fn via_is_stamped_with_received_and_rport() {
        let resp = MessageBuilder::response(200, "OK")
            .header(
                "Via",
                "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKa;rport, SIP/2.0/UDP b",
            )
            .header("Via", "SIP/2.0/UDP c")
            .build()
            .unwrap();
        let source: SocketAddr = "192.0.2.5:40000".parse().unwrap();
        let stamped = stamp_via(&resp, source).unwrap();
        let mut h = [Header::EMPTY; 8];
        let head = parse_datagram(&stamped, &mut h).unwrap().head;
        let vias: Vec<_> = head.vias().map(Result::unwrap).collect();
        assert_eq!(vias.len(), 3);
        assert_eq!(vias[0].rport(), Rport::Value(40000));
        assert_eq!(vias[0].received(), Some(&b"192.0.2.5"[..]));
        assert_eq!(vias[0].branch(), Some(&b"z9hG4bKa"[..]));
        assert_eq!(vias[1].host, crate::uri::Host::Name(b"b"));
        // sent-by already the source and no rport: nothing to add.
        let same = MessageBuilder::response(200, "OK")
            .header("Via", "SIP/2.0/UDP 192.0.2.5:40000;branch=z9hG4bKb")
            .build()
            .unwrap();
        assert_eq!(stamp_via(&same, source), None);
        // IPv6 sources are written without brackets (RFC 3261 grammar).
        let v6: SocketAddr = "[2001:db8::1]:5062".parse().unwrap();
        let stamped = stamp_via(&resp, v6).unwrap();
        assert!(
            String::from_utf8(stamped)
                .unwrap()
                .contains(";rport=5062;received=2001:db8::1")
        );
    }

    #[test]
    fn refuses_what_would_corrupt_the_message() {
        assert_eq!(
            MessageBuilder::request(Method::Bye, b"sip:a b").build(),
            Err(BuildError::RequestUri("sip:a b".into()))
        );
        assert_eq!(
            MessageBuilder::response(200, "OK")
                .header("Bad Name", "x")
                .build(),
            Err(BuildError::HeaderName("Bad Name".into()))
        );
        assert_eq!(
            MessageBuilder::response(200, "OK").header("l", "3").build(),
            Err(BuildError::ContentLength)
        );
        assert_eq!(
            MessageBuilder::response(99, "Low").build(),
            Err(BuildError::StatusCode(99))
        );
        assert_eq!(
            MessageBuilder::response(200, "O\r\nK").build(),
            Err(BuildError::Reason)
        );
    }
}
