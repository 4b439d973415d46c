//! Invariant checks shared by the fuzz targets in `fuzz/` and by the test
//! that replays their seeds under stable `cargo test`.
//!
//! Each function panics when an invariant breaks; that is the point.

use crate::builder::MessageBuilder;
use crate::message::{Header, StartLine};
use crate::parse::{Limits, Status, StreamItem, parse_datagram, parse_stream};
use crate::validate::{check_request, check_response};

/// Parses `data` as a datagram and exercises every typed view; must never
/// panic, whatever the input.
pub fn parse_and_inspect(data: &[u8]) {
    let mut headers = [Header::EMPTY; 64];
    let Ok(msg) = parse_datagram(data, &mut headers) else {
        return;
    };
    let head = msg.head;
    assert!(msg.wire_len() <= data.len());
    let _ = head.request_uri();
    let _ = head.call_id();
    let _ = head.cseq();
    let _ = (head.from(), head.to(), head.max_forwards(), head.expires());
    let _ = (head.rseq(), head.rack());
    let _ = head.content_type();
    for v in head.vias().flatten() {
        let _ = (v.branch(), v.received(), v.rport(), v.maddr(), v.ttl());
        let _ = v.host.ip();
    }
    head.contacts().for_each(drop);
    head.routes().for_each(drop);
    head.record_routes().for_each(drop);
    head.accept().for_each(drop);
    for kind in [
        crate::HeaderKind::Authorization,
        crate::HeaderKind::ProxyAuthorization,
    ] {
        for v in head.auth_values(kind).flatten() {
            let _ = crate::digest::Credentials::parse(&v);
        }
    }
    match head.start() {
        StartLine::Request(_) => {
            let _ = check_request(&head);
        }
        StartLine::Response(_) => {
            let _ = check_response(&head);
        }
    }
    let _ = crate::sdp::remove_codecs(msg.body, &["PCMA", "telephone-event"]);
}

/// Parses `data`; when it is a request, rebuilds it with the builder from
/// the parsed parts and checks that the rebuilt message parses to the same
/// method, URI, headers and body.
pub fn round_trip(data: &[u8]) {
    let mut headers = [Header::EMPTY; 64];
    let Ok(msg) = parse_datagram(data, &mut headers) else {
        return;
    };
    let Some(line) = msg.head.request_line() else {
        return;
    };
    let mut b = MessageBuilder::request(line.method, line.uri);
    let kept: Vec<_> = msg
        .head
        .headers()
        .iter()
        .filter(|h| {
            !matches!(
                h.kind,
                crate::HeaderKind::ContentLength
                    | crate::HeaderKind::ContentType
                    | crate::HeaderKind::Malformed
            )
        })
        .collect();
    for h in &kept {
        b = b.header(std::str::from_utf8(h.name).unwrap_or("X"), h.value);
    }
    let content_type = msg.head.value(crate::HeaderKind::ContentType);
    b = match content_type.map(std::str::from_utf8) {
        Some(Ok(ct)) => b.body(ct, msg.body),
        Some(Err(_)) => return,
        None if msg.body.is_empty() => b,
        None => return,
    };
    let Ok(bytes) = b.build() else {
        return;
    };
    // The builder always writes Content-Length, which the original may have
    // lacked: one more header line than it had.
    let mut again = [Header::EMPTY; 65];
    let re = parse_datagram(&bytes, &mut again).expect("a built message parses");
    let re_line = re.head.request_line().expect("still a request");
    assert_eq!(re_line.method, line.method);
    assert_eq!(re_line.uri, line.uri);
    assert_eq!(re.body, msg.body);
    let re_headers: Vec<_> = re
        .head
        .headers()
        .iter()
        .filter(|h| {
            !matches!(
                h.kind,
                crate::HeaderKind::ContentLength | crate::HeaderKind::ContentType
            )
        })
        .collect();
    assert_eq!(re_headers.len(), kept.len());
    for (a, b) in kept.iter().zip(re_headers) {
        assert_eq!(a.kind, b.kind);
        let unfolded: Vec<u8> = a
            .value
            .iter()
            .map(|&c| if c == b'\r' || c == b'\n' { b' ' } else { c })
            .collect();
        assert_eq!(crate::lex::trim(&unfolded), b.value);
    }
}

/// Feeds `data` to the stream parser in chunks whose sizes come from
/// `cuts`, as a connection would deliver it, and checks that the messages
/// framed are the same as when the whole buffer is available at once.
pub fn stream_chunks(data: &[u8], cuts: &[u8]) {
    let limits = Limits {
        max_message_size: 8192,
    };
    let whole = frame_all(data, data.len(), &limits);
    let mut delivered = 0;
    let mut buffered: Vec<u8> = Vec::new();
    let mut framed = Vec::new();
    let mut cut_iter = cuts.iter().cycle();
    while delivered < data.len() {
        let step = usize::from(*cut_iter.next().unwrap_or(&255)).max(1);
        let next = (delivered + step).min(data.len());
        buffered.extend_from_slice(&data[delivered..next]);
        delivered = next;
        loop {
            let mut headers = [Header::EMPTY; 64];
            match parse_stream(&buffered, &mut headers, &limits) {
                Ok(Status::Complete(item)) => {
                    let (len, summary) = summarize(&item);
                    framed.push(summary);
                    buffered.drain(..len);
                }
                Ok(Status::Partial) => break,
                Err(e) => {
                    framed.push(format!("error {e:?}").into_bytes());
                    assert_eq!(framed, whole, "chunked framing differs at an error");
                    return;
                }
            }
        }
    }
    assert_eq!(framed, whole);
}

fn summarize(item: &StreamItem<'_, '_>) -> (usize, Vec<u8>) {
    match item {
        StreamItem::KeepAlive { ping, len } => (*len, format!("keepalive {ping}").into_bytes()),
        StreamItem::Message(m) => (
            m.wire_len(),
            [m.head.headers().len().to_string().as_bytes(), b" ", m.body].concat(),
        ),
    }
}

/// Frames everything in `data` with all bytes available: the reference
/// that chunked delivery must agree with.
fn frame_all(data: &[u8], available: usize, limits: &Limits) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < available {
        let mut headers = [Header::EMPTY; 64];
        match parse_stream(&data[pos..available], &mut headers, limits) {
            Ok(Status::Complete(item)) => {
                let (len, summary) = summarize(&item);
                out.push(summary);
                pos += len;
            }
            Ok(Status::Partial) => break,
            Err(e) => {
                out.push(format!("error {e:?}").into_bytes());
                break;
            }
        }
    }
    out
}

/// The stream fuzz target's input format: the first byte `n` says how many
/// of the following bytes (n % 8) are chunk sizes; the rest is the stream.
pub fn stream_target(data: &[u8]) {
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let n = usize::from(n % 8).min(rest.len());
    let (cuts, stream) = rest.split_at(n);
    stream_chunks(stream, if cuts.is_empty() { &[1] } else { cuts });
}
