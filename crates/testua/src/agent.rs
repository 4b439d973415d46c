//! The sans-IO half of a test UA: who it is (address, transport, From
//! user) and the messages it writes. [`crate::TestUa`] sends them over
//! loopback sockets; a simulated network can send them as they are.

use std::net::SocketAddr;

use tollgate_sip::transaction::Transport;
use tollgate_sip::{MessageBuilder, Method};

use crate::message::{Dialog, Received};

/// A UA's identity and CSeq counter, writing its requests and answers.
#[derive(Clone, Debug)]
pub struct Agent {
    transport: Transport,
    local: SocketAddr,
    cseq: u32,
    /// The user of this UA's From URI.
    user: String,
}

/// Sixteen random hex digits: a tag, a branch, a Call-ID.
pub(crate) fn random_token() -> String {
    format!("{:016x}", rand::random::<u64>())
}

impl Agent {
    /// A UA at `local` over `transport`, named `testua` in its From.
    pub fn new(local: SocketAddr, transport: Transport) -> Self {
        Self {
            transport,
            local,
            cseq: 0,
            user: "testua".into(),
        }
    }

    /// The UA's own address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The transport it writes in its Via.
    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// The user named in its From.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// Names `user` in the From of the requests this UA builds from now on
    /// (`testua` at first), as a phone names its account.
    pub fn set_user(&mut self, user: &str) {
        user.clone_into(&mut self.user);
    }

    /// A request with Via (this UA's address and transport, a fresh branch,
    /// rport), From (fresh tag), To, Call-ID, CSeq and Max-Forwards filled
    /// in. Add headers and a body, then send it.
    pub fn request(&mut self, method: &str, uri: &str) -> MessageBuilder {
        self.cseq += 1;
        MessageBuilder::request(Method::from_token(method.as_bytes()), uri.as_bytes())
            .header("Via", self.via())
            .header("Max-Forwards", "70")
            .header(
                "From",
                format!("<sip:{}@{}>;tag={}", self.user, self.local, random_token()),
            )
            .header("To", format!("<{uri}>"))
            .header("Call-ID", format!("{}@testua", random_token()))
            .header("CSeq", format!("{} {method}", self.cseq))
    }

    /// A Via for this UA's address and transport, with a fresh branch and
    /// rport.
    fn via(&self) -> String {
        format!(
            "SIP/2.0/{} {};branch=z9hG4bK{};rport",
            self.transport.via_token(),
            self.local,
            random_token()
        )
    }

    /// A request inside `dialog` (the next CSeq, or the INVITE's for ACK),
    /// with this UA's Via.
    pub fn in_dialog(&mut self, dialog: &mut Dialog, method: &str) -> MessageBuilder {
        if method != "ACK" {
            dialog.cseq += 1;
        }
        MessageBuilder::request(
            Method::from_token(method.as_bytes()),
            dialog.target.as_bytes(),
        )
        .header("Via", self.via())
        .header("Max-Forwards", "70")
        .header("From", &dialog.local)
        .header("To", &dialog.remote)
        .header("Call-ID", &dialog.call_id)
        .header("CSeq", format!("{} {method}", dialog.cseq))
    }

    /// A response to `request` with To tag `tag` (kept when the request
    /// has one); add headers or a body, then send it.
    pub fn response(request: &Received, code: u16, reason: &str, tag: &str) -> MessageBuilder {
        request
            .with_head(|head| MessageBuilder::response_to(head, code, reason, Some(tag.as_bytes())))
    }
}
