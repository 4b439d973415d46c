//! One side of a call: a dialog Tollgate holds with the caller (A-leg, where
//! Tollgate is the UAS) or with the carrier gateway (B-leg, where it is the
//! UAC). Each leg has its own Call-ID, tags and CSeq space, so nothing of
//! one side ever reaches the other.

use std::borrow::Cow;
use std::fmt::{Display, Write as _};
use std::hash::BuildHasher;
use std::time::Instant;

use bytes::Bytes;
use tollgate_sip::header::MediaType;
use tollgate_sip::transaction::{Peer, Received, TransactionLayer, TxId};
use tollgate_sip::{Head, HeaderKind, MessageBuilder, Method};

use super::carrier_auth::CarrierNonce;
use crate::core::{random_hex, sized_text};

/// The parts of a received request or response a call keeps, read in one
/// parse. They borrow from the message (copied only when not UTF-8).
#[derive(Debug, Default)]
pub(crate) struct Facts<'a> {
    /// Code and reason, for a response.
    pub(crate) status: Option<(u16, Cow<'a, str>)>,
    /// The CSeq number (a response repeats its request's).
    pub(crate) cseq: u32,
    /// The first usable challenge of a 401 or 407.
    pub(crate) challenge: Option<CarrierNonce>,
    /// The RSeq of a reliable provisional response (`Require: 100rel`).
    pub(crate) rseq: Option<u32>,
    pub(crate) call_id: Cow<'a, str>,
    pub(crate) from: Cow<'a, str>,
    pub(crate) to: Cow<'a, str>,
    pub(crate) to_tag: Cow<'a, str>,
    /// The user part of the From URI.
    pub(crate) from_user: Cow<'a, str>,
    /// The Contact URI (without brackets).
    pub(crate) contact: Option<Cow<'a, str>>,
    /// Max-Forwards (70 when absent).
    pub(crate) max_forwards: u8,
    /// Record-Route values in received order, each as `<uri>`, one per
    /// line (a leg's route set, see [`Parts::routes`]).
    pub(crate) record_route: String,
    pub(crate) content_type: Option<Cow<'a, str>>,
    /// The body is SDP (`application/sdp`).
    pub(crate) sdp: bool,
    pub(crate) body: Bytes,
}

/// True when any Content-Type of `head` says SDP, whatever its parameters
/// or repetitions: a malformed header must not carry a restricted codec
/// past the filter.
fn names_sdp(head: &Head<'_, '_>) -> bool {
    head.values(HeaderKind::ContentType).any(|v| {
        let media = v.split(|&b| b == b';').next().unwrap_or_default();
        MediaType::parse(media).is_ok_and(|m| m.is("application", "sdp"))
    })
}

fn text(b: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(b)
}

impl<'a> Facts<'a> {
    /// Reads `received`, what the layer read of `data`; `None` when it
    /// lacks what every dialog needs.
    pub(crate) fn of(data: &'a Bytes, received: &Received<'a, '_>) -> Option<Self> {
        let (msg, checked) = (&received.message, &received.checked);
        let head = &msg.head;
        let (from, to) = (checked.from(), checked.to());
        let body = if msg.body.is_empty() {
            Bytes::new()
        } else {
            data.slice_ref(msg.body)
        };
        let status = status(head);
        let challenge = match status {
            Some((code @ (401 | 407), _)) => CarrierNonce::from_head(head, code),
            _ => None,
        };
        let provisional = status.as_ref().is_some_and(|(code, _)| *code < 200);
        let rseq = provisional && head.has_option(HeaderKind::Require, super::call::RELIABLE_TAG);
        Some(Self {
            status,
            rseq: rseq.then(|| head.rseq().ok()).flatten(),
            cseq: checked.cseq().seq,
            challenge,
            call_id: text(checked.call_id()),
            from: text(head.value(HeaderKind::From)?),
            to: text(head.value(HeaderKind::To)?),
            to_tag: text(to.tag().unwrap_or_default()),
            from_user: text(from.uri.user().unwrap_or_default()),
            contact: head.contacts().find_map(|c| match c {
                Ok(tollgate_sip::header::Contact::Address(a)) => Some(text(a.uri_text)),
                _ => None,
            }),
            record_route: head.record_routes().filter_map(Result::ok).fold(
                String::new(),
                |mut routes, r| {
                    if !routes.is_empty() {
                        routes.push('\n');
                    }
                    routes.push('<');
                    routes.push_str(&text(r.uri_text));
                    routes.push('>');
                    routes
                },
            ),
            content_type: head.value(HeaderKind::ContentType).map(text),
            sdp: names_sdp(head),
            max_forwards: head.max_forwards().unwrap_or(70),
            body,
        })
    }
}

/// A dialog with one peer, as seen by Tollgate.
///
/// Its texts (Call-ID, both header values, the target and the route set)
/// sit end to end in one allocation: a held call has two legs,
/// and a hundred thousand held calls have to fit in a few hundred
/// megabytes.
#[derive(Debug, Clone)]
pub(crate) struct Leg {
    /// Where requests on this leg go (and responses came from).
    pub(crate) peer: Peer,
    /// The [`Parts`] in order, the routes separated by newlines (which no
    /// header value Tollgate keeps can hold).
    text: Box<str>,
    /// Where the Call-ID, local, remote and target end in `text`; the
    /// routes take the rest.
    ends: [u32; 4],
    /// The CSeq of the last request we sent on this leg.
    pub(crate) cseq: u32,
    /// Max-Forwards of requests we send: the caller's, less one, on the
    /// B-leg (so a route that loops back through Tollgate dies out), 70 on
    /// the A-leg.
    pub(crate) max_forwards: u8,
}

/// The texts of a leg, borrowed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Parts<'a> {
    pub(crate) call_id: &'a str,
    /// Our From (B-leg) or To (A-leg) header value, ending with our tag
    /// (`;tag=…`).
    pub(crate) local: &'a str,
    /// The peer's header value, with its tag once known.
    pub(crate) remote: &'a str,
    /// The peer's Contact: the Request-URI of requests we send.
    pub(crate) target: &'a str,
    /// Route header values for requests we send, in order, one per line.
    pub(crate) routes: &'a str,
}

impl Parts<'_> {
    /// The parts end to end, and where each but the last ends.
    fn join(&self) -> (Box<str>, [u32; 4]) {
        let parts = [
            self.call_id,
            self.local,
            self.remote,
            self.target,
            self.routes,
        ];
        let len = parts.iter().map(|p| p.len()).sum();
        pack(parts.each_ref().map(|p| p as &dyn Display), len)
    }
}

/// Writes the five parts of a leg (in [`Parts`] order) end to end into one
/// text, reserving `capacity` bytes first; returns it and where each part
/// but the last ends.
fn pack(parts: [&dyn Display; 5], capacity: usize) -> (Box<str>, [u32; 4]) {
    let mut text = String::with_capacity(capacity);
    let mut ends = [0; 4];
    for (i, part) in parts.iter().enumerate() {
        // Writing into a String cannot fail.
        let _ = write!(text, "{part}");
        if let Some(end) = ends.get_mut(i) {
            // Each part comes from one message (at most 64 KiB).
            *end = u32::try_from(text.len()).unwrap_or(u32::MAX);
        }
    }
    (text.into_boxed_str(), ends)
}

impl Leg {
    /// A leg to `peer`, no request sent yet, whose parts (in [`Parts`]
    /// order: Call-ID, local, remote, target, routes) are written straight
    /// into its text, with no string of their own.
    pub(crate) fn new(peer: Peer, parts: [&dyn Display; 5], max_forwards: u8) -> Self {
        // Room for a leg's usual texts: written once, then fitted.
        let (text, ends) = pack(parts, 256);
        Self {
            peer,
            text,
            ends,
            cseq: 0,
            max_forwards,
        }
    }

    /// Part `i` of the text.
    fn part(&self, i: usize) -> &str {
        let start = i.checked_sub(1).map_or(0, |p| self.ends[p] as usize);
        let end = self.ends.get(i).map_or(self.text.len(), |&e| e as usize);
        &self.text[start..end]
    }

    /// The texts, borrowed.
    fn parts(&self) -> Parts<'_> {
        Parts {
            call_id: self.part(0),
            local: self.part(1),
            remote: self.part(2),
            target: self.part(3),
            routes: self.part(4),
        }
    }

    pub(crate) fn call_id(&self) -> &str {
        self.part(0)
    }

    /// Our tag on this dialog: the end of our header value.
    pub(crate) fn local_tag(&self) -> &str {
        self.part(1).rsplit_once(";tag=").map_or("", |(_, tag)| tag)
    }

    /// The Request-URI of requests we send.
    pub(crate) fn target(&self) -> &str {
        self.part(3)
    }

    /// The peer's tag on this dialog (empty until known).
    pub(crate) fn remote_tag(&self) -> &str {
        tollgate_sip::header::NameAddr::parse(self.part(2).as_bytes())
            .ok()
            .and_then(|to| to.tag())
            .and_then(|tag| std::str::from_utf8(tag).ok())
            .unwrap_or_default()
    }

    /// Takes the dialog a 2xx to this leg's INVITE set up: the peer's To
    /// (with its tag), its Contact as the target, and its Record-Route in
    /// reverse as the route set (a UAC's, RFC 3261 §12.1.2; without one the
    /// routes the INVITE carried stay).
    pub(crate) fn answered_by(&mut self, ok: &Facts<'_>) {
        let routes = (!ok.record_route.is_empty())
            .then(|| ok.record_route.rsplit('\n').collect::<Vec<_>>().join("\n"));
        self.update(Some(&ok.to), ok.contact.as_deref(), routes.as_deref());
    }

    /// Replaces the peer's header value (once it carries a tag), the target
    /// (a new Contact) or the route set (newline-separated), where given.
    pub(crate) fn update(
        &mut self,
        remote: Option<&str>,
        target: Option<&str>,
        routes: Option<&str>,
    ) {
        let old = self.parts();
        let (text, ends) = Parts {
            remote: remote.unwrap_or(old.remote),
            target: target.unwrap_or(old.target),
            routes: routes.unwrap_or(old.routes),
            ..old
        }
        .join();
        self.text = text;
        self.ends = ends;
    }

    /// This leg's dialog is the one of a request with `call_id` and our tag
    /// `tag` in its To.
    pub(crate) fn is_dialog(&self, call_id: &str, tag: &str) -> bool {
        self.local_tag() == tag && self.call_id() == call_id
    }

    /// A request within this dialog with the next CSeq (or `cseq` when
    /// given: a CANCEL or ACK reuses its INVITE's), Via `via` and a fresh
    /// branch unless `branch` is given.
    pub(crate) fn request(
        &mut self,
        method: Method<'_>,
        via: impl Display,
        branch: Option<&str>,
        cseq: Option<u32>,
    ) -> (MessageBuilder, String) {
        let seq = cseq.unwrap_or_else(|| {
            self.cseq += 1;
            self.cseq
        });
        let branch = branch.map_or_else(
            || sized_text(23, format_args!("z9hG4bK{}", random_hex())),
            String::from,
        );
        let parts = self.parts();
        let mut b = MessageBuilder::request(method, parts.target.as_bytes())
            .header_fmt("Via", format_args!("{via};branch={branch};rport"))
            .header_fmt("Max-Forwards", format_args!("{}", self.max_forwards));
        for r in parts.routes.split('\n').filter(|r| !r.is_empty()) {
            b = b.header("Route", r);
        }
        let b = b
            .header("From", parts.local)
            .header("To", parts.remote)
            .header("Call-ID", parts.call_id)
            .header_fmt(
                "CSeq",
                format_args!("{seq} {}", String::from_utf8_lossy(method.as_bytes())),
            );
        (b, branch)
    }
}

/// Builds `b`, a request written by [`Leg::request`] with `method` and
/// `branch`, and sends it to `peer` on a new client transaction; the layer
/// takes the method and branch as given, without parsing the request.
pub(crate) fn send_request(
    layer: &mut TransactionLayer,
    now: Instant,
    peer: Peer,
    b: MessageBuilder,
    method: Method<'_>,
    branch: &str,
) -> Option<TxId> {
    let data = Bytes::from(b.build().ok()?);
    layer
        .send_built_request(now, peer, data, method, branch.as_bytes())
        .ok()
}

/// Makes and reads Tollgate's tags on call legs. A tag is sixteen random
/// hex digits, then the call's id masked with a keyed hash of them (sixteen
/// more). Requests inside the dialog carry it back, so the call is found
/// from the tag alone, without a table of dialogs; the mask keeps the tag
/// from telling callers and carriers how many calls Tollgate has carried,
/// and the random part (checked with the Call-ID, see [`Leg::is_dialog`])
/// keeps it unguessable.
#[derive(Debug, Default)]
pub(crate) struct Tags {
    /// The mask's key, random per process.
    key: std::hash::RandomState,
}

impl Tags {
    /// A fresh tag for a leg of call `id`.
    pub(crate) fn make(&self, id: u64) -> String {
        let nonce = rand::random::<u64>();
        let masked = id ^ self.key.hash_one(nonce);
        sized_text(32, format_args!("{nonce:016x}{masked:016x}"))
    }

    /// The call a tag made by [`Tags::make`] names (any other text gives
    /// some id or none; the caller checks the leg).
    pub(crate) fn call_of(&self, tag: &str) -> Option<u64> {
        if tag.len() != 32 {
            return None;
        }
        let nonce = u64::from_str_radix(tag.get(..16)?, 16).ok()?;
        let masked = u64::from_str_radix(tag.get(16..)?, 16).ok()?;
        Some(masked ^ self.key.hash_one(nonce))
    }
}

/// The status code and reason of a response head.
fn status<'a>(head: &Head<'a, '_>) -> Option<(u16, Cow<'a, str>)> {
    let line = head.status_line()?;
    Some((line.code, text(line.reason)))
}

impl Facts<'_> {
    /// The status code of a response (0 for a request).
    pub(crate) fn code(&self) -> u16 {
        self.status.as_ref().map_or(0, |(c, _)| *c)
    }
}

#[cfg(test)]
mod tests {
    use super::{Tags, names_sdp};

    use tollgate_sip::parse_datagram;

    #[test]
    fn sdp_is_named_by_any_content_type() {
        let names = |content_types: &str| {
            let text = format!(
                "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKs\r\n\
                 {content_types}Content-Length: 0\r\n\r\n"
            );
            let mut headers = tollgate_sip::header_array();
            names_sdp(&parse_datagram(text.as_bytes(), &mut headers).unwrap().head)
        };
        assert!(names("Content-Type: application/SDP\r\n"));
        assert!(names(
            "Content-Type: text/plain\r\nContent-Type: application/sdp\r\n"
        ));
        assert!(names("Content-Type: application / sdp;;=\r\n"));
        assert!(!names("Content-Type: text/plain\r\n"));
        assert!(!names(""));
    }

    #[test]
    fn a_tag_names_its_call_to_the_tags_that_made_it_only() {
        let tags = Tags::default();
        let (one, two) = (tags.make(1), tags.make(2));
        assert_eq!((tags.call_of(&one), tags.call_of(&two)), (Some(1), Some(2)));
        assert_ne!(one, tags.make(1), "fresh each time");
        // Consecutive calls' tags share no visible counter.
        assert_ne!(one[16..31], two[16..31]);
        assert_ne!(Tags::default().call_of(&one), Some(1), "another process");
        for bad in ["", "abc", &one[1..], &format!("{}x", &one[1..])] {
            assert_eq!(tags.call_of(bad), None, "{bad:?}");
        }
    }
}
