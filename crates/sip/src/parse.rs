//! Framing and tokenizing: bytes in, [`Message`] spans out.
//!
//! The API follows httparse: the caller owns the header array, the parser
//! fills it with spans into the buffer and never allocates. Datagrams and
//! streams differ only in how the body is delimited (RFC 3261 §18.3):
//!
//! * [`parse_datagram`]: the body is exactly Content-Length bytes; a shorter
//!   datagram is an error, bytes after the body are ignored, a missing
//!   Content-Length means "the rest of the datagram".
//! * [`parse_stream`]: returns [`Status::Partial`] until a whole message is
//!   buffered; Content-Length is required; RFC 5626 CRLF keep-alives are
//!   reported as [`StreamItem::KeepAlive`].

use crate::error::ParseError;
use crate::header::HeaderKind;
use crate::lex;
use crate::message::{
    DeclaredLength, Head, Header, Message, RequestLine, StartLine, StatusLine, Version,
};
use crate::method::Method;

/// Size limits applied before anything else is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest message (head and body) accepted on a stream transport. A
    /// datagram is bounded by its own size.
    pub max_message_size: usize,
}

impl Default for Limits {
    /// 64 KiB: far above any real INVITE, small enough that a peer cannot make
    /// a connection buffer grow without bound.
    fn default() -> Self {
        Self {
            max_message_size: 65_535,
        }
    }
}

/// Result of parsing a stream buffer that may not yet hold a whole message.
#[derive(Clone, Copy, Debug)]
pub enum Status<T> {
    /// More bytes are needed.
    Partial,
    /// A complete item.
    Complete(T),
}

/// One item read from a stream.
#[derive(Clone, Copy, Debug)]
pub enum StreamItem<'b, 'h> {
    /// RFC 5626 §3.5.1 keep-alive: a double CRLF "ping" (answer it with a
    /// single CRLF "pong") or a single CRLF "pong".
    KeepAlive {
        /// True for a ping, which wants a pong back.
        ping: bool,
        /// Bytes to consume.
        len: usize,
    },
    /// A whole message; consume [`Message::wire_len`] bytes.
    Message(Message<'b, 'h>),
}

/// Parses one message received as a datagram.
///
/// Leading CRLFs are skipped; a datagram that is only CRLFs is
/// [`ParseError::Empty`]. A header section that ends with the datagram
/// (after a final CRLF) is accepted without its empty line.
pub fn parse_datagram<'b, 'h>(
    buf: &'b [u8],
    headers: &'h mut [Header<'b>],
) -> Result<Message<'b, 'h>, ParseError> {
    let head = parse_head(buf, headers, true)?;
    let available = buf.len() - head.len;
    let body_len = match head.declared_length {
        DeclaredLength::Absent => available,
        DeclaredLength::Declared(n) if n <= available => n,
        DeclaredLength::Declared(declared) => {
            return Err(ParseError::BodyTruncated {
                declared,
                available,
            });
        }
        DeclaredLength::Invalid => return Err(ParseError::BadContentLength),
        DeclaredLength::Repeated => return Err(ParseError::DuplicateContentLength),
    };
    Ok(Message {
        head,
        body: &buf[head.len..head.len + body_len],
    })
}

/// Parses only the start line and headers of a datagram, ignoring its body
/// framing: what a server needs to address a 400 when [`parse_datagram`]
/// failed with an error whose [`ParseError::status`] is `Some`.
pub fn parse_datagram_head<'b, 'h>(
    buf: &'b [u8],
    headers: &'h mut [Header<'b>],
) -> Result<Head<'b, 'h>, ParseError> {
    parse_head(buf, headers, true)
}

/// Parses the next item from a stream buffer.
///
/// Every error is a framing error: the connection cannot be resynchronised
/// and must be closed.
pub fn parse_stream<'b, 'h>(
    buf: &'b [u8],
    headers: &'h mut [Header<'b>],
    limits: &Limits,
) -> Result<Status<StreamItem<'b, 'h>>, ParseError> {
    if buf.starts_with(b"\r\n\r\n") {
        return Ok(Status::Complete(StreamItem::KeepAlive {
            ping: true,
            len: 4,
        }));
    }
    if buf.starts_with(b"\r\n") && buf.len() > 2 && buf[2] != b'\r' {
        return Ok(Status::Complete(StreamItem::KeepAlive {
            ping: false,
            len: 2,
        }));
    }
    // A lone CRLF may be a pong or the first half of a ping: wait. A
    // transport that sent a ping and sees only CRLF buffered may take it as
    // the pong.
    if buf.starts_with(b"\r") && buf.len() < 4 && b"\r\n\r".starts_with(buf) {
        return Ok(Status::Partial);
    }
    let window = &buf[..buf.len().min(limits.max_message_size)];
    let Some(end) = memchr::memmem::find(window, b"\r\n\r\n") else {
        return if buf.len() >= limits.max_message_size {
            Err(ParseError::TooLarge {
                max: limits.max_message_size,
            })
        } else {
            Ok(Status::Partial)
        };
    };
    let head = parse_head(&buf[..end + 4], headers, false)?;
    let body_len = match head.declared_length {
        DeclaredLength::Declared(n) => n,
        DeclaredLength::Absent => return Err(ParseError::MissingContentLength),
        DeclaredLength::Invalid => return Err(ParseError::BadContentLength),
        DeclaredLength::Repeated => return Err(ParseError::DuplicateContentLength),
    };
    let total = head.len.saturating_add(body_len);
    if total > limits.max_message_size {
        return Err(ParseError::TooLarge {
            max: limits.max_message_size,
        });
    }
    if buf.len() < total {
        return Ok(Status::Partial);
    }
    Ok(Status::Complete(StreamItem::Message(Message {
        head,
        body: &buf[head.len..total],
    })))
}

/// Largest Content-Length value taken seriously; anything above is invalid
/// (no SIP message is gigabytes long, and this keeps sums from overflowing).
const MAX_CONTENT_LENGTH: u64 = 1 << 31;

#[cfg(feature = "testing")]
thread_local! {
    static HEADS_PARSED: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// How many message heads this thread has parsed (feature `testing`):
/// a test reads it before and after a step to count that step's parses.
#[cfg(feature = "testing")]
pub fn heads_parsed() -> u64 {
    HEADS_PARSED.with(std::cell::Cell::get)
}

/// Tokenizes the start line and headers. With `eof_ends_head`, the end of
/// `buf` right after a CRLF also ends the head (datagrams); otherwise the
/// empty line is required.
fn parse_head<'b, 'h>(
    buf: &'b [u8],
    headers: &'h mut [Header<'b>],
    eof_ends_head: bool,
) -> Result<Head<'b, 'h>, ParseError> {
    #[cfg(feature = "testing")]
    HEADS_PARSED.with(|n| n.set(n.get() + 1));
    let mut pos = 0;
    while buf[pos..].starts_with(b"\r\n") {
        pos += 2;
    }
    if pos == buf.len() {
        return Err(ParseError::Empty);
    }
    let line_end = line_end(buf, pos)?.ok_or(ParseError::Unterminated)?;
    let start = parse_start_line(&buf[pos..line_end])?;
    pos = line_end + 2;

    let mut count = 0;
    let mut declared_length = DeclaredLength::Absent;
    let mut malformed_lines = false;
    loop {
        if buf[pos..].starts_with(b"\r\n") {
            pos += 2;
            break;
        }
        if pos == buf.len() {
            if eof_ends_head {
                break;
            }
            return Err(ParseError::Unterminated);
        }
        let end = header_end(buf, pos)?.ok_or(ParseError::Unterminated)?;
        let header = tokenize_header(&buf[pos..end]);
        match header.kind {
            HeaderKind::ContentLength => {
                declared_length = match declared_length {
                    DeclaredLength::Absent => {
                        match lex::parse_decimal(header.value, MAX_CONTENT_LENGTH) {
                            Some(n) => DeclaredLength::Declared(n as usize),
                            None => DeclaredLength::Invalid,
                        }
                    }
                    _ => DeclaredLength::Repeated,
                };
            }
            HeaderKind::Malformed => malformed_lines = true,
            _ => {}
        }
        let slot = headers
            .get_mut(count)
            .ok_or(ParseError::TooManyHeaders { max: count })?;
        *slot = header;
        count += 1;
        pos = end + 2;
    }
    Ok(Head {
        start,
        headers: &headers[..count],
        len: pos,
        declared_length,
        malformed_lines,
    })
}

/// Index of the CR of the CRLF ending the line that starts at `from`, or
/// `None` when the buffer ends first. A bare LF is an error.
fn line_end(buf: &[u8], from: usize) -> Result<Option<usize>, ParseError> {
    match memchr::memchr(b'\n', &buf[from..]) {
        None => Ok(None),
        Some(i) => {
            let lf = from + i;
            if lf == from || buf[lf - 1] != b'\r' {
                Err(ParseError::BadLineEnding)
            } else {
                Ok(Some(lf - 1))
            }
        }
    }
}

/// Like [`line_end`], but continues over folds (CRLF followed by SP or
/// HTAB). A header line that ends with the buffer ends the header.
fn header_end(buf: &[u8], from: usize) -> Result<Option<usize>, ParseError> {
    let mut search = from;
    loop {
        let Some(cr) = line_end(buf, search)? else {
            return Ok(None);
        };
        match buf.get(cr + 2) {
            Some(b' ' | b'\t') => search = cr + 2,
            _ => return Ok(Some(cr)),
        }
    }
}

/// Splits `name: value`. A line without a colon, or whose name is not a
/// token, becomes a [`HeaderKind::Malformed`] header holding the whole line.
fn tokenize_header(line: &[u8]) -> Header<'_> {
    let malformed = Header {
        name: line,
        kind: HeaderKind::Malformed,
        value: b"",
    };
    // One pass over the name: token bytes, optional blanks, then the colon.
    let mut i = 0;
    while i < line.len() && lex::is_token_byte(line[i]) {
        i += 1;
    }
    let name = &line[..i];
    while i < line.len() && (line[i] == b' ' || line[i] == b'\t') {
        i += 1;
    }
    if name.is_empty() || line.get(i) != Some(&b':') {
        return malformed;
    }
    Header {
        name,
        kind: HeaderKind::from_name(name),
        value: lex::trim(&line[i + 1..]),
    }
}

/// Parses `SIP/x.y` (the literal is case-insensitive in RFC 3261's ABNF).
fn parse_version(s: &[u8]) -> Option<Version> {
    if s.len() < 7 || !s[..4].eq_ignore_ascii_case(b"SIP/") {
        return None;
    }
    let (major, minor) = lex::split_once(&s[4..], b'.');
    let minor = minor?;
    let digits = |d: &[u8]| !d.is_empty() && d.len() <= 9 && d.iter().all(u8::is_ascii_digit);
    if !digits(major) || !digits(minor) {
        return None;
    }
    Some(if major == b"2" && minor == b"0" {
        Version::Sip2
    } else {
        Version::Unsupported
    })
}

fn parse_start_line(line: &[u8]) -> Result<StartLine<'_>, ParseError> {
    if line.len() >= 4 && line[..4].eq_ignore_ascii_case(b"SIP/") {
        return parse_status_line(line).map(StartLine::Response);
    }
    parse_request_line(line).map(StartLine::Request)
}

/// Status line: exactly three digits from 100 to 699; the reason may be
/// empty and may be UTF-8 (RFC 4475 unreason, noreason).
fn parse_status_line(line: &[u8]) -> Result<StatusLine<'_>, ParseError> {
    let (version, rest) = lex::split_once(line, b' ');
    let version = parse_version(version).ok_or(ParseError::BadStartLine)?;
    let rest = rest.ok_or(ParseError::BadStartLine)?;
    let (code, reason) = lex::split_once(rest, b' ');
    if code.len() != 3 {
        return Err(ParseError::BadStartLine);
    }
    let code = lex::parse_decimal(code, 699)
        .filter(|&c| c >= 100)
        .ok_or(ParseError::BadStartLine)? as u16;
    let reason = reason.unwrap_or(b"");
    if reason.iter().any(|&b| b == b'\r' || b == b'\n') {
        return Err(ParseError::BadStartLine);
    }
    Ok(StatusLine {
        version,
        code,
        reason,
    })
}

/// Request line. The method is the token before the first SP and the
/// version the last word; what lies between is the Request-URI, kept even
/// when it holds white space so that the request can still be answered with
/// 400 (RFC 4475 lwsruri, lwsstart, trws).
fn parse_request_line(line: &[u8]) -> Result<RequestLine<'_>, ParseError> {
    let sp = memchr::memchr(b' ', line).ok_or(ParseError::BadStartLine)?;
    let method = &line[..sp];
    if !lex::is_token(method) {
        return Err(ParseError::BadStartLine);
    }
    let rest = &line[sp + 1..];
    let trimmed_len = rest
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(0, |i| i + 1);
    let trailing_ws = trimmed_len != rest.len();
    let rest = &rest[..trimmed_len];
    let version_sp = memchr::memrchr(b' ', rest).ok_or(ParseError::BadStartLine)?;
    let version = parse_version(&rest[version_sp + 1..]).ok_or(ParseError::BadStartLine)?;
    let raw_uri = &rest[..version_sp];
    let uri = lex::trim(raw_uri);
    if uri.is_empty() {
        return Err(ParseError::BadStartLine);
    }
    Ok(RequestLine {
        method: Method::from_token(method),
        uri,
        version,
        irregular_spacing: trailing_ws || uri.len() != raw_uri.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers() -> [Header<'static>; 32] {
        [Header::EMPTY; 32]
    }

    #[test]
    fn datagram_body_is_exactly_content_length() {
        let buf = b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 3\r\n\r\nabcdef";
        let mut h = headers();
        let msg = parse_datagram(buf, &mut h).unwrap();
        assert_eq!(msg.body, b"abc");
        assert_eq!(msg.wire_len(), buf.len() - 3);
    }

    #[test]
    fn datagram_without_content_length_takes_the_rest() {
        let buf = b"OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\n\r\nrest";
        let mut h = headers();
        assert_eq!(parse_datagram(buf, &mut h).unwrap().body, b"rest");
    }

    #[test]
    fn datagram_errors_are_classified() {
        let mut h = headers();
        let short = b"OPTIONS sip:a@b SIP/2.0\r\nl: 9\r\n\r\nabc";
        let err = parse_datagram(short, &mut h).unwrap_err();
        assert_eq!(
            err,
            ParseError::BodyTruncated {
                declared: 9,
                available: 3
            }
        );
        assert_eq!(err.status(), Some(400));
        let neg = b"OPTIONS sip:a@b SIP/2.0\r\nl: -9\r\n\r\n";
        assert_eq!(
            parse_datagram(neg, &mut h).unwrap_err(),
            ParseError::BadContentLength
        );
        let dup = b"OPTIONS sip:a@b SIP/2.0\r\nl: 0\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(
            parse_datagram(dup, &mut h).unwrap_err(),
            ParseError::DuplicateContentLength
        );
        assert_eq!(
            parse_datagram(b"\r\n\r\n", &mut h).unwrap_err(),
            ParseError::Empty
        );
        let bare_lf = b"OPTIONS sip:a@b SIP/2.0\nVia: x\r\n\r\n";
        assert_eq!(
            parse_datagram(bare_lf, &mut h).unwrap_err(),
            ParseError::BadLineEnding
        );
        assert_eq!(
            parse_datagram(b"OPTIONS sip:a@b SIP/2.0", &mut h).unwrap_err(),
            ParseError::Unterminated
        );
    }

    #[test]
    fn too_many_headers_is_an_error() {
        let mut h = [Header::EMPTY; 1];
        let buf = b"OPTIONS sip:a@b SIP/2.0\r\nA: 1\r\nB: 2\r\n\r\n";
        assert_eq!(
            parse_datagram(buf, &mut h).unwrap_err(),
            ParseError::TooManyHeaders { max: 1 }
        );
    }

    #[test]
    fn folded_headers_and_odd_names_are_tokenized() {
        let buf = b"INVITE sip:a@b SIP/2.0\r\nTO :\r\n sip:x@y ;tag = 1\r\nFoo bar\r\n\r\n";
        let mut h = headers();
        let msg = parse_datagram(buf, &mut h).unwrap();
        let hs = msg.head.headers();
        assert_eq!(hs[0].kind, HeaderKind::To);
        assert_eq!(hs[0].value, b"sip:x@y ;tag = 1");
        assert_eq!(hs[1].kind, HeaderKind::Malformed);
        assert!(msg.head.has_malformed_lines());
    }

    #[test]
    fn request_line_spacing_is_recorded() {
        let mut h = headers();
        let lws = b"INVITE  sip:a@b  SIP/2.0\r\n\r\n";
        let head = parse_datagram(lws, &mut h).unwrap().head;
        let line = head.request_line().unwrap();
        assert!(line.irregular_spacing);
        assert_eq!(line.uri, b"sip:a@b");
        let trailing = b"OPTIONS sip:a@b SIP/2.0  \r\n\r\n";
        assert!(
            parse_datagram(trailing, &mut h)
                .unwrap()
                .head
                .request_line()
                .unwrap()
                .irregular_spacing
        );
        let seven = b"OPTIONS sip:a@b SIP/7.0\r\n\r\n";
        assert_eq!(
            parse_datagram(seven, &mut h)
                .unwrap()
                .head
                .request_line()
                .unwrap()
                .version,
            Version::Unsupported
        );
    }

    #[test]
    fn status_lines_need_three_digit_codes() {
        let mut h = headers();
        let ok = parse_datagram(b"SIP/2.0 100 \r\n\r\n", &mut h).unwrap();
        assert_eq!(ok.head.status_line().unwrap().code, 100);
        assert_eq!(ok.head.status_line().unwrap().reason, b"");
        for bad in [
            &b"SIP/2.0 4294967301 big\r\n\r\n"[..],
            b"SIP/2.0 99 low\r\n\r\n",
            b"SIP/2.0 700 high\r\n\r\n",
            b"SIP/2.0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\n\r\n",
        ] {
            assert_eq!(
                parse_datagram(bad, &mut h).unwrap_err(),
                ParseError::BadStartLine,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn stream_framing_waits_for_the_whole_message() {
        let limits = Limits::default();
        let msg = b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 4\r\n\r\nbody";
        for cut in 0..msg.len() {
            let mut h = headers();
            match parse_stream(&msg[..cut], &mut h, &limits) {
                Ok(Status::Partial) => {}
                other => panic!("cut {cut}: {other:?}"),
            }
        }
        let mut h = headers();
        let Ok(Status::Complete(StreamItem::Message(m))) = parse_stream(msg, &mut h, &limits)
        else {
            panic!("whole message not framed");
        };
        assert_eq!(m.body, b"body");
        assert_eq!(m.wire_len(), msg.len());
    }

    #[test]
    fn stream_keep_alives_and_errors() {
        let limits = Limits {
            max_message_size: 64,
        };
        let mut h = headers();
        assert!(matches!(
            parse_stream(b"\r\n\r\nINVITE", &mut h, &limits),
            Ok(Status::Complete(StreamItem::KeepAlive {
                ping: true,
                len: 4
            }))
        ));
        assert!(matches!(
            parse_stream(b"\r\nOPTIONS", &mut h, &limits),
            Ok(Status::Complete(StreamItem::KeepAlive {
                ping: false,
                len: 2
            }))
        ));
        assert!(matches!(
            parse_stream(b"\r\n", &mut h, &limits),
            Ok(Status::Partial)
        ));
        let no_cl = b"OPTIONS sip:a@b SIP/2.0\r\n\r\n";
        assert_eq!(
            parse_stream(no_cl, &mut h, &limits).unwrap_err(),
            ParseError::MissingContentLength
        );
        let big = [b'a'; 64];
        assert_eq!(
            parse_stream(&big, &mut h, &limits).unwrap_err(),
            ParseError::TooLarge { max: 64 }
        );
        let big_body = b"OPTIONS sip:a@b SIP/2.0\r\nl: 100\r\n\r\n";
        assert_eq!(
            parse_stream(big_body, &mut h, &limits).unwrap_err(),
            ParseError::TooLarge { max: 64 }
        );
    }
}
