//! Shared by the corpus tests: locating files, preparing them for the wire,
//! and judging a message against an expected outcome.

use std::path::{Path, PathBuf};

use tollgate_sip::{
    Header, Message, ParseError, Status, StreamItem, check_request, check_response, fuzzing,
    parse_datagram, parse_datagram_head, parse_stream,
};

/// Room for every header of the corpus messages (longreq has the most).
pub(crate) const HEADERS: usize = 96;

/// What a server must do with a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Parses, and passes request or response checks.
    Ok,
    /// A request answered with this status after it parsed.
    Reject(u16),
    /// A datagram whose body framing is wrong, answered with this status
    /// (its head still parses and addresses a reply).
    Framing(u16),
    /// Dropped without an answer.
    Drop,
}

impl Outcome {
    /// Reads `ok`, `reject N`, `framing N` or `drop`.
    pub(crate) fn parse(s: &str) -> Self {
        let mut words = s.split_whitespace();
        let word = words.next().unwrap_or("");
        let code = || {
            words
                .clone()
                .next()
                .and_then(|c| c.parse().ok())
                .unwrap_or_else(|| panic!("outcome {s:?} needs a status code"))
        };
        match word {
            "ok" => Self::Ok,
            "reject" => Self::Reject(code()),
            "framing" => Self::Framing(code()),
            "drop" => Self::Drop,
            _ => panic!("unknown outcome {s:?}"),
        }
    }
}

/// The shared conformance corpus beside the checkout (see
/// `tollgate_sip::corpus::locate`).
pub(crate) fn conformance_dir() -> Option<PathBuf> {
    tollgate_sip::corpus::locate(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
}

/// Judges a datagram against `expected` and returns the parsed message
/// when it parsed, for further checks.
pub(crate) fn judge_datagram<'b>(
    name: &str,
    data: &'b [u8],
    headers: &'b mut [Header<'b>; HEADERS],
    expected: Outcome,
) -> Option<Message<'b, 'b>> {
    fuzzing::parse_and_inspect(data);
    fuzzing::round_trip(data);
    match parse_datagram(data, headers) {
        Err(e) => {
            judge_parse_error(name, data, e, expected);
            None
        }
        Ok(msg) => {
            let got = if msg.head.request_line().is_some() {
                match check_request(&msg.head) {
                    Ok(_) => Outcome::Ok,
                    Err(r) => r.status.map_or(Outcome::Drop, Outcome::Reject),
                }
            } else {
                match check_response(&msg.head) {
                    Ok(_) => Outcome::Ok,
                    Err(_) => Outcome::Drop,
                }
            };
            assert_eq!(
                got,
                expected,
                "{name}: {:?}",
                check_request(&msg.head).err()
            );
            Some(msg)
        }
    }
}

fn judge_parse_error(name: &str, data: &[u8], e: ParseError, expected: Outcome) {
    match (e.status(), expected) {
        (Some(code), Outcome::Framing(want)) => {
            assert_eq!(code, want, "{name}: {e}");
            let mut headers = [Header::EMPTY; HEADERS];
            let head = parse_datagram_head(data, &mut headers)
                .unwrap_or_else(|e| panic!("{name}: head must parse to address a reply: {e}"));
            assert!(head.top_via().is_ok(), "{name}: no Via to answer to");
        }
        (None, Outcome::Drop) => {}
        _ => panic!("{name}: parse error {e:?}, expected {expected:?}"),
    }
}

/// Frames `data` as a stream, whole and one byte at a time, and checks it
/// agrees with the datagram reading where the two transports agree.
pub(crate) fn judge_stream(name: &str, data: &[u8], datagram: Option<&Message<'_, '_>>) {
    fuzzing::stream_chunks(data, &[1]);
    fuzzing::stream_chunks(data, &[7, 3, 250]);
    let mut headers = [Header::EMPTY; HEADERS];
    let limits = tollgate_sip::Limits::default();
    let framed = parse_stream(data, &mut headers, &limits);
    match (datagram, framed) {
        (Some(d), Ok(Status::Complete(StreamItem::Message(s)))) => {
            assert!(d.head.content_length().is_some(), "{name}");
            assert_eq!(d.body, s.body, "{name}: stream and datagram bodies differ");
        }
        (Some(d), Err(ParseError::MissingContentLength)) => {
            assert_eq!(d.head.content_length(), None, "{name}");
        }
        (Some(_), Ok(Status::Partial)) => {
            // Only a message without its empty line (baddn, RFC 5118 §4.10
            // as archived) can leave a stream waiting.
            assert!(!data.windows(4).any(|w| w == b"\r\n\r\n"), "{name}");
        }
        (None, Ok(Status::Complete(StreamItem::Message(_)))) => {
            panic!("{name}: a stream framed what a datagram refused")
        }
        (_, other) => {
            assert!(
                matches!(other, Err(_) | Ok(Status::Partial)),
                "{name}: {other:?}"
            );
        }
    }
}
