//! What a test UA receives ([`Received`]) and the dialogs it holds
//! ([`Dialog`]): plain values, no I/O.

use bytes::Bytes;
use tollgate_sip::{Head, parse_datagram};

/// A received message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// The whole message as received.
    pub data: Bytes,
}

impl Received {
    /// Runs `f` on the parsed head. Panics if the message does not parse:
    /// the UA only hands out messages that framed.
    pub fn with_head<R>(&self, f: impl FnOnce(&Head<'_, '_>) -> R) -> R {
        let mut headers = tollgate_sip::header_array();
        let msg = parse_datagram(&self.data, &mut headers).expect("received message parses");
        f(&msg.head)
    }

    /// The status code, for a response.
    pub fn status(&self) -> Option<u16> {
        self.with_head(|h| h.status_line().map(|s| s.code))
    }

    /// The method, for a request.
    pub fn method(&self) -> Option<String> {
        self.with_head(|h| h.method().map(|m| m.to_string()))
    }

    /// The first value of header `name` (any case), as text.
    pub fn header(&self, name: &str) -> Option<String> {
        self.with_head(|h| {
            let kind = tollgate_sip::HeaderKind::from_name(name.as_bytes());
            let value = match kind {
                tollgate_sip::HeaderKind::Other => h.value_by_name(name.as_bytes()),
                kind => h.value(kind),
            };
            value.map(|v| String::from_utf8_lossy(v).into_owned())
        })
    }

    /// Every value of header `name` (any case), in order.
    pub fn headers(&self, name: &str) -> Vec<String> {
        self.with_head(|h| {
            h.headers()
                .iter()
                .filter(|x| x.name.eq_ignore_ascii_case(name.as_bytes()))
                .map(|x| String::from_utf8_lossy(x.value).into_owned())
                .collect()
        })
    }

    /// The message as (lossy) text, for assertion messages.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.data).into_owned()
    }

    /// The body, as text.
    pub fn body(&self) -> String {
        let mut headers = tollgate_sip::header_array();
        let msg = parse_datagram(&self.data, &mut headers).expect("received message parses");
        String::from_utf8_lossy(msg.body).into_owned()
    }

    /// The Request-URI, for a request.
    pub fn uri(&self) -> Option<String> {
        self.with_head(|h| {
            h.request_line()
                .map(|l| String::from_utf8_lossy(l.uri).into_owned())
        })
    }

    /// The Contact URI, without brackets.
    pub fn contact_uri(&self) -> Option<String> {
        let contact = self.header("Contact")?;
        let inner = match (contact.find('<'), contact.find('>')) {
            (Some(a), Some(b)) if a < b => &contact[a + 1..b],
            _ => contact.split(';').next().unwrap_or_default(),
        };
        Some(inner.trim().to_owned())
    }

    /// The CSeq number.
    pub fn cseq(&self) -> Option<u32> {
        self.with_head(|h| h.cseq().ok().map(|c| c.seq))
    }
}

/// One side of a dialog a test UA holds, to send requests inside it.
#[derive(Clone, Debug)]
pub struct Dialog {
    /// Call-ID.
    pub call_id: String,
    /// Our From value (with our tag).
    pub local: String,
    /// The peer's value (with its tag).
    pub remote: String,
    /// The Request-URI of our requests: the peer's Contact.
    pub target: String,
    /// The CSeq of our last request.
    pub cseq: u32,
}

impl Dialog {
    /// The caller's dialog from its INVITE and the 2xx it got.
    pub fn from_answer(invite: &Received, ok: &Received) -> Self {
        Self {
            call_id: invite.header("Call-ID").unwrap_or_default(),
            local: invite.header("From").unwrap_or_default(),
            remote: ok.header("To").unwrap_or_default(),
            target: ok.contact_uri().unwrap_or_default(),
            cseq: invite.cseq().unwrap_or_default(),
        }
    }

    /// The callee's dialog from the INVITE it received and the To tag it
    /// answers with.
    pub fn from_invite(invite: &Received, tag: &str) -> Self {
        Self {
            call_id: invite.header("Call-ID").unwrap_or_default(),
            local: format!("{};tag={tag}", invite.header("To").unwrap_or_default()),
            remote: invite.header("From").unwrap_or_default(),
            target: invite.contact_uri().unwrap_or_default(),
            cseq: 0,
        }
    }
}
