//! The RFC 3261 §17 transaction layer, sans-IO.
//!
//! Input is pushed, output is pulled, time is passed in:
//!
//! ```text
//!   handle_message(now, peer, bytes) ─┐                ┌─► poll_transmit() → Transmit { peer, data }
//!   respond(now, id, bytes)          ─┤                ├─► poll_event()    → Event (requests, responses,
//!   send_request(now, peer, bytes)   ─┼─► TransactionLayer                     cancels, timeouts)
//!   handle_timeout(now)              ─┘                └─► poll_timeout()  → next Instant to call handle_timeout
//! ```
//!
//! Retransmissions are absorbed here and never reach the core: a repeated
//! request gets the last response again, a repeated final response gets the
//! ACK again. Each of the four machines has its own file. Requests that fail
//! [`check_request`] are answered statelessly (400/416/505) or dropped;
//! malformed responses are dropped. The number of live transactions is
//! bounded: beyond it new requests get a stateless 503.
//!
//! [`TransactionLayer::handle_message_with`] is the driver's way in: it
//! hands each event over at once, with the layer's parse of the message
//! it came from, so a message is parsed once on its way to the core.

mod deadlines;
mod ids;
mod invite_client;
mod invite_server;
mod non_invite_client;
mod non_invite_server;
mod timers;

pub use ids::{IdHasher, IdMap};
pub use timers::TimerConfig;

use std::collections::VecDeque;
use std::hash::{BuildHasher, RandomState};
use std::io::Write as _;
use std::net::SocketAddr;
use std::time::Instant;

use hashbrown::HashTable;

use bytes::Bytes;

use crate::builder::{MessageBuilder, needs_stamp, stamp_parsed_via, stamp_via};
use crate::header::{HeaderKind, Via, is_rfc3261_branch};
use crate::message::{Head, Header, Message, StartLine};
use crate::method::Method;
use crate::parse::{parse_datagram, parse_datagram_head};
use crate::validate::{
    Checked, Rejection, ValidRequest, ValidResponse, check_request, check_response,
};
use deadlines::Deadlines;
use invite_client::InviteClient;
use invite_server::InviteServer;
use non_invite_client::NonInviteClient;
use non_invite_server::NonInviteServer;

/// A SIP transport protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    /// UDP: unreliable, so the layer retransmits.
    Udp,
    /// TCP.
    Tcp,
    /// TLS over TCP.
    Tls,
}

impl Transport {
    /// True for TCP and TLS: no retransmissions, no lingering.
    pub fn is_reliable(self) -> bool {
        !matches!(self, Self::Udp)
    }

    /// The Via transport token.
    pub fn via_token(self) -> &'static str {
        match self {
            Self::Udp => "UDP",
            Self::Tcp => "TCP",
            Self::Tls => "TLS",
        }
    }

    /// The lower-case name (`udp`, `tcp`, `tls`): a URI's `transport`
    /// parameter, and how configuration spells a listener.
    pub fn name(self) -> &'static str {
        match self {
            Self::Udp => "udp",
            Self::Tcp => "tcp",
            Self::Tls => "tls",
        }
    }

    /// The transport named `name` (any case).
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Udp, Self::Tcp, Self::Tls]
            .into_iter()
            .find(|t| t.name().eq_ignore_ascii_case(name))
    }
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The other end of a message: address, transport and, on stream
/// transports, the connection it came on (so responses can use it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Peer {
    /// The remote address.
    pub addr: SocketAddr,
    /// The transport.
    pub transport: Transport,
    /// The connection, for TCP and TLS.
    pub flow: Option<u64>,
}

/// Bytes to send to a peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Where to.
    pub peer: Peer,
    /// The whole message.
    pub data: Bytes,
}

/// What the layer read of a message it hands to the core: the parse and
/// the headers its checks parsed, all borrowed from the message's bytes.
#[derive(Clone, Copy, Debug)]
pub struct Received<'b, 'h> {
    /// The parsed message.
    pub message: Message<'b, 'h>,
    /// The result of [`check_request`] or [`check_response`].
    pub checked: Checked<'b>,
    /// The message's size as it arrived, before the layer stamped its top
    /// Via: what the sender spent on it.
    pub wire_len: usize,
}

impl<'b, 'h> Received<'b, 'h> {
    /// Parses and checks `data` (a message the layer did not hand over
    /// read); `None` when it fails either.
    pub fn read(data: &'b [u8], headers: &'h mut [Header<'b>]) -> Option<Self> {
        let message = parse_datagram(data, headers).ok()?;
        let checked = Checked::check(&message.head)?;
        Some(Self {
            message,
            checked,
            wire_len: data.len(),
        })
    }

    /// What was read of a request, for `message`: its copy with the top
    /// Via stamped (RFC 3261 §18.2.1). Everything the checks read but the
    /// top Via is the same bytes in both.
    fn restamped<'c, 'g>(self, message: Message<'c, 'g>) -> Option<Received<'c, 'g>>
    where
        'b: 'c,
    {
        let Checked::Request(mut req) = self.checked else {
            return None;
        };
        req.top_via = message.head.top_via().ok()?;
        Some(Received {
            message,
            checked: Checked::Request(req),
            wire_len: self.wire_len,
        })
    }
}

/// Identifies one transaction for the life of the layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TxId(u64);

/// What the layer reports to the core.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A new request. `id` is its server transaction, to answer with
    /// [`TransactionLayer::respond`]. `None` for an ACK to a 2xx, which
    /// belongs to the dialog, not to a transaction, and for OPTIONS when the
    /// layer answers them statelessly (see
    /// [`TransactionLayer::set_stateless_options`]): answer those with
    /// [`TransactionLayer::send_stateless`] to `peer`.
    Request {
        /// The server transaction.
        id: Option<TxId>,
        /// Where it came from.
        peer: Peer,
        /// The whole message.
        data: Bytes,
    },
    /// A CANCEL matched this INVITE server transaction before its final
    /// response; the CANCEL itself was answered 200. The core should answer
    /// the INVITE with 487.
    Cancelled {
        /// The INVITE's server transaction.
        invite: TxId,
    },
    /// A response for a client transaction (retransmissions absorbed,
    /// except 2xx to INVITE, which the dialog layer must see).
    Response {
        /// The client transaction.
        id: TxId,
        /// The whole message.
        data: Bytes,
    },
    /// A client transaction got no final response in time (timer B or F),
    /// or an INVITE server transaction got no ACK (timer H).
    TimedOut {
        /// The transaction.
        id: TxId,
    },
}

/// Why a core request to the layer failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TxError {
    /// No live transaction has this id.
    #[error("no such transaction")]
    Unknown,
    /// The transaction cannot send that now (e.g. a second final response).
    #[error("the transaction cannot send this response in its current state")]
    InvalidState,
    /// The message to send does not parse or has no RFC 3261 branch.
    #[error("message is not a well-formed request with an RFC 3261 branch")]
    BadMessage,
    /// The layer holds its maximum number of transactions.
    #[error("too many live transactions")]
    Capacity,
}

/// Where machines put what they want sent and reported.
pub(crate) struct Out<'a> {
    transmits: &'a mut VecDeque<Transmit>,
    events: &'a mut VecDeque<Event>,
}

impl Out<'_> {
    fn send(&mut self, peer: Peer, data: Bytes) {
        self.transmits.push_back(Transmit { peer, data });
    }

    fn event(&mut self, event: Event) {
        self.events.push_back(event);
    }
}

#[derive(Debug)]
enum Machine {
    InviteServer(InviteServer),
    NonInviteServer(NonInviteServer),
    InviteClient(InviteClient),
    NonInviteClient(NonInviteClient),
}

impl Machine {
    fn deadline(&self) -> Option<Instant> {
        match self {
            Self::InviteServer(m) => m.deadline(),
            Self::NonInviteServer(m) => m.deadline(),
            Self::InviteClient(m) => m.deadline(),
            Self::NonInviteClient(m) => m.deadline(),
        }
    }

    fn is_terminated(&self) -> bool {
        match self {
            Self::InviteServer(m) => m.is_terminated(),
            Self::NonInviteServer(m) => m.is_terminated(),
            Self::InviteClient(m) => m.is_terminated(),
            Self::NonInviteClient(m) => m.is_terminated(),
        }
    }

    fn awaits_final(&self) -> bool {
        match self {
            Self::InviteServer(m) => m.awaits_final(),
            Self::NonInviteServer(m) => m.awaits_final(),
            Self::InviteClient(m) => m.awaits_final(),
            Self::NonInviteClient(m) => m.awaits_final(),
        }
    }

    /// Where a server transaction's responses go.
    fn reply_to(&self) -> Option<Peer> {
        match self {
            Self::InviteServer(m) => Some(m.reply_to()),
            Self::NonInviteServer(m) => Some(m.reply_to()),
            Self::InviteClient(_) | Self::NonInviteClient(_) => None,
        }
    }

    fn on_timer(&mut self, now: Instant, out: &mut Out<'_>) {
        match self {
            Self::InviteServer(m) => m.on_timer(now, out),
            Self::NonInviteServer(m) => m.on_timer(now),
            Self::InviteClient(m) => m.on_timer(now, out),
            Self::NonInviteClient(m) => m.on_timer(now, out),
        }
    }
}

#[derive(Debug)]
struct Entry {
    /// The key the transaction is found by (see [`server_key`] and
    /// [`client_key`]), kept here only: the key tables hold ids.
    key: Box<[u8]>,
    /// The key's hash, so the tables forget the id without reading the key.
    key_hash: u64,
    server: bool,
    machine: Machine,
    /// The deadline last pushed on the timer heap, so an unchanged one is
    /// not pushed twice.
    armed: Option<Instant>,
}

/// The transaction layer: every live client and server transaction, their
/// timers, and the queues of what to send and report.
#[derive(Debug)]
pub struct TransactionLayer {
    config: TimerConfig,
    max_transactions: usize,
    next_id: u64,
    /// Boxed: an entry is some 350 bytes and the table keeps about twice
    /// as many slots as entries, most of them for lingering transactions.
    entries: IdMap<TxId, Box<Entry>>,
    /// Client (`[0]`) and server (`[1]`, see [`keys_of`]) transactions by
    /// the hash of their key, which their entry holds. Peers choose
    /// branches: the hash is keyed SipHash.
    keys: [HashTable<TxId>; 2],
    key_hasher: RandomState,
    /// Where a message's key is built to be looked up: lookups, one or
    /// more per message, allocate nothing.
    key: Vec<u8>,
    timers: Deadlines<TxId>,
    /// The deadlines [`TransactionLayer::handle_timeout`] is serving (kept
    /// for its capacity).
    due: Vec<(Instant, TxId)>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    stateless_options: bool,
}

/// Which machine a request method gets, and how ACK and CANCEL find their
/// INVITE.
fn method_class(method: Method<'_>) -> &[u8] {
    match method {
        Method::Ack => b"INVITE",
        other => other.as_bytes(),
    }
}

/// The server-side key (RFC 3261 §17.2.3): branch, sent-by and method when
/// the branch carries the magic cookie; otherwise the RFC 2543 fields
/// (Request-URI, Call-ID, From tag, CSeq number, top Via). Written into
/// `key`; `None` when the request lacks a part of it.
fn server_key(head: &Head<'_, '_>, via: &Via<'_>, method: &[u8], key: &mut Vec<u8>) -> Option<()> {
    let top_raw = head.value(HeaderKind::Via)?;
    let sent_by = top_raw
        .split(|&b| b == b';' || b == b',')
        .next()
        .unwrap_or(top_raw);
    key.clear();
    if via.has_rfc3261_branch() {
        key.extend_from_slice(b"3261\0");
        key.extend_from_slice(via.branch()?);
        key.push(0);
        key.extend_from_slice(sent_by);
    } else {
        key.extend_from_slice(b"2543\0");
        key.extend_from_slice(head.request_line()?.uri);
        key.push(0);
        key.extend_from_slice(head.call_id().ok()?);
        key.push(0);
        key.extend_from_slice(head.from().ok()?.tag().unwrap_or_default());
        key.push(0);
        // Writing into a Vec cannot fail.
        let _ = write!(key, "{}", head.cseq().ok()?.seq);
        key.push(0);
        key.extend_from_slice(top_raw);
    }
    key.push(0);
    key.extend_from_slice(method);
    Some(())
}

/// Which of the layer's key tables holds server (or client) transactions.
fn keys_of(server: bool) -> usize {
    usize::from(server)
}

/// The client-side key (RFC 3261 §17.1.3): branch and CSeq method, written
/// into `key`.
fn client_key(branch: &[u8], method: &[u8], key: &mut Vec<u8>) {
    key.clear();
    key.extend_from_slice(branch);
    key.push(0);
    key.extend_from_slice(method);
}

/// Where responses to a request go: back on the same connection for stream
/// transports (RFC 3261 §18.2.2) and, for UDP, to the source address and
/// port the request came from, whether or not the client asked for `rport`
/// (RFC 3581). Symmetric routing is what an edge facing switches behind NAT
/// must do; a client that sends from a port other than its Via port is the
/// rare case it gives up.
fn reply_destination(source: Peer) -> Peer {
    source
}

/// A response with its top Via stamped for the request's source.
pub(crate) fn stamped(data: Bytes, source: SocketAddr) -> Bytes {
    stamp_via(&data, source).map_or(data, Bytes::from)
}

/// The status code at the start of a response this layer is asked to send.
fn status_code(data: &[u8]) -> Option<u16> {
    let code = data.strip_prefix(b"SIP/2.0 ")?.get(..3)?;
    std::str::from_utf8(code).ok()?.parse().ok()
}

/// A To tag for stateless responses: stable for a given request, so a
/// retransmission gets the same answer (RFC 3261 §8.2.6.2).
pub fn stateless_tag(head: &Head<'_, '_>) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in [head.value(HeaderKind::CallId), head.value(HeaderKind::Via)] {
        for &b in part.unwrap_or_default() {
            h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    }
    // Eight hex digits: unique enough among one caller's requests, and
    // every byte of a stateless answer counts (it may go to a spoofed
    // address).
    format!("{:08x}", h >> 32)
}

impl TransactionLayer {
    /// A layer with these timers and at most `max_transactions` live
    /// transactions.
    pub fn new(config: TimerConfig, max_transactions: usize) -> Self {
        Self {
            config,
            max_transactions,
            next_id: 0,
            entries: IdMap::default(),
            keys: [HashTable::new(), HashTable::new()],
            key_hasher: RandomState::new(),
            key: Vec::with_capacity(128),
            timers: Deadlines::new(),
            due: Vec::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stateless_options: false,
        }
    }

    /// Hands OPTIONS to the core without a server transaction, to be
    /// answered statelessly. Keep-alive probes and scanner floods are mostly
    /// OPTIONS; answering them costs no state, and a retransmission simply
    /// gets an identical answer again.
    pub fn set_stateless_options(&mut self, stateless: bool) {
        self.stateless_options = stateless;
    }

    /// How many transactions are live.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no transaction is live.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// How many transactions still wait for a final response. The others
    /// only linger to absorb retransmissions, so a shutdown need not wait
    /// for them.
    pub fn awaiting_final(&self) -> usize {
        self.entries
            .values()
            .filter(|e| e.machine.awaits_final())
            .count()
    }

    fn out(&mut self) -> Out<'_> {
        Out {
            transmits: &mut self.transmits,
            events: &mut self.events,
        }
    }

    fn allocate_id(&mut self) -> TxId {
        self.next_id += 1;
        TxId(self.next_id)
    }

    /// Re-arms the timer of `id` after its machine changed, or forgets a
    /// terminated transaction.
    fn settle(&mut self, id: TxId) {
        let Some(entry) = self.entries.get_mut(&id) else {
            return;
        };
        if entry.machine.is_terminated() {
            self.forget(id);
        } else {
            let deadline = entry.machine.deadline();
            if deadline != entry.armed {
                entry.armed = deadline;
                if let Some(at) = deadline {
                    self.timers.push(at, id);
                }
            }
        }
    }

    /// Removes transaction `id` and its key; its entry, when it was live.
    fn forget(&mut self, id: TxId) -> Option<Box<Entry>> {
        let entry = self.entries.remove(&id)?;
        let keys = &mut self.keys[keys_of(entry.server)];
        // The key may name a newer transaction by now.
        if let Ok(found) = keys.find_entry(entry.key_hash, |&other| other == id) {
            found.remove();
        }
        Some(entry)
    }

    /// The transaction whose key is the one last built in `self.key`.
    fn find(&self, server: bool) -> Option<TxId> {
        let keys = &self.keys[keys_of(server)];
        let hash = self.key_hasher.hash_one(self.key.as_slice());
        let same_key = |id: &TxId| self.entries.get(id).is_some_and(|e| *e.key == *self.key);
        keys.find(hash, same_key).copied()
    }

    /// Starts transaction `id` under the key last built in `self.key` (a
    /// transaction already under it gives the key up).
    fn insert(&mut self, id: TxId, server: bool, machine: Machine) {
        let key_hash = self.key_hasher.hash_one(self.key.as_slice());
        let entry = Entry {
            key: self.key.as_slice().into(),
            key_hash,
            server,
            machine,
            armed: None,
        };
        let keys = &mut self.keys[keys_of(server)];
        let entries = &self.entries;
        let same_key = |other: &TxId| entries.get(other).is_some_and(|e| e.key == entry.key);
        match keys.find_mut(key_hash, same_key) {
            Some(older) => *older = id,
            None => {
                let rehash = |other: &TxId| entries.get(other).map_or(0, |e| e.key_hash);
                keys.insert_unique(key_hash, id, rehash);
            }
        }
        self.entries.insert(id, Box::new(entry));
        self.settle(id);
    }

    /// Answers a request without creating a transaction.
    fn reply_stateless(&mut self, head: &Head<'_, '_>, to: Peer, status: u16, reason: &str) {
        let tag = stateless_tag(head);
        let needs_tag = status > 100;
        let built =
            MessageBuilder::response_to(head, status, reason, needs_tag.then_some(tag.as_bytes()));
        let built = if status == 503 {
            built.header("Retry-After", "5")
        } else {
            built
        };
        if let Ok(data) = built.build() {
            self.transmits.push_back(Transmit {
                peer: to,
                data: stamped(data.into(), to.addr),
            });
        }
    }

    /// Takes one received message (a datagram, or one framed stream
    /// message); what it brings waits in [`TransactionLayer::poll_event`].
    pub fn handle_message(&mut self, now: Instant, peer: Peer, data: Bytes) {
        let mut headers = crate::header_array();
        self.receive(now, peer, &data, &mut headers);
    }

    /// Takes one received message like [`TransactionLayer::handle_message`]
    /// and hands every queued event to `deliver` at once, in order. The
    /// event this message brought comes with what the layer read of it
    /// (its parse and checked headers), so the core need not read the
    /// message again; a request whose top Via the layer stamped comes with
    /// its copy framed again and the rest carried over. Events queued
    /// before come with `None`; events raised while `deliver` runs wait in
    /// [`TransactionLayer::poll_event`].
    pub fn handle_message_with<F>(&mut self, now: Instant, peer: Peer, data: Bytes, mut deliver: F)
    where
        F: FnMut(&mut Self, Event, Option<&Received<'_, '_>>),
    {
        let mut headers = crate::header_array();
        let earlier = self.events.len();
        let received = self.receive(now, peer, &data, &mut headers);
        for index in 0..self.events.len() {
            let Some(event) = self.events.pop_front() else {
                break;
            };
            let ours = received.filter(|_| index >= earlier);
            match (&event, ours) {
                (Event::Request { data: d, .. } | Event::Response { data: d, .. }, Some(r))
                    if d.as_ptr() == data.as_ptr() && d.len() == data.len() =>
                {
                    deliver(self, event, Some(&r));
                }
                (Event::Request { data: stamped, .. }, Some(r)) => {
                    let stamped = stamped.clone();
                    let mut stamped_headers = crate::header_array();
                    let read = parse_datagram(&stamped, &mut stamped_headers)
                        .ok()
                        .and_then(|message| r.restamped(message));
                    deliver(self, event, read.as_ref());
                }
                _ => deliver(self, event, None),
            }
        }
    }

    /// Parses `data` into `headers`, checks it and hands it to the
    /// machines; what was read, when the message passed.
    fn receive<'b, 'h>(
        &mut self,
        now: Instant,
        peer: Peer,
        data: &'b Bytes,
        headers: &'h mut [Header<'b>],
    ) -> Option<Received<'b, 'h>> {
        let message = match parse_datagram(data, headers) {
            Ok(msg) => msg,
            Err(e) => {
                if let Some(status) = e.status() {
                    self.reject_framing(peer, data, status);
                }
                return None;
            }
        };
        let head = &message.head;
        let checked = match head.start() {
            StartLine::Request(_) => match check_request(head) {
                Ok(req) => {
                    self.on_request(now, peer, head, &req, data);
                    Checked::Request(req)
                }
                Err(rejection) => {
                    self.reject(peer, head, &rejection);
                    return None;
                }
            },
            StartLine::Response(_) => {
                let resp = check_response(head).ok()?;
                self.on_response(now, &resp, data);
                Checked::Response(resp)
            }
        };
        Some(Received {
            message,
            checked,
            wire_len: data.len(),
        })
    }

    /// A request whose head parsed but whose body length is wrong.
    fn reject_framing(&mut self, peer: Peer, data: &[u8], status: u16) {
        let mut headers = crate::header_array();
        let Ok(head) = parse_datagram_head(data, &mut headers) else {
            return;
        };
        if head.method().is_some_and(|m| m != Method::Ack) && head.count(HeaderKind::Via) > 0 {
            self.reply_stateless(&head, reply_destination(peer), status, "Bad Request");
        }
    }

    /// A request that failed [`check_request`]: answered statelessly
    /// when it can be (never an ACK), dropped otherwise.
    fn reject(&mut self, peer: Peer, head: &Head<'_, '_>, rejection: &Rejection) {
        let is_ack = head.method() == Some(Method::Ack);
        if let (Some(status), false) = (rejection.status, is_ack) {
            self.reply_stateless(head, reply_destination(peer), status, rejection.reason);
        }
    }

    fn on_request(
        &mut self,
        now: Instant,
        peer: Peer,
        head: &Head<'_, '_>,
        req: &ValidRequest<'_>,
        data: &Bytes,
    ) {
        let reply_to = reply_destination(peer);
        if server_key(head, &req.top_via, method_class(req.method), &mut self.key).is_none() {
            return;
        }
        if let Some(id) = self.find(true) {
            self.on_matched_request(now, id, req.method);
            return;
        }
        // The core gets the request with its top Via stamped (RFC 3261
        // §18.2.1), so every response it builds from it is ready to send.
        // Most sources need nothing: the Via parsed above tells.
        let stamped = needs_stamp(&req.top_via, peer.addr)
            .then(|| stamp_parsed_via(data, head, peer.addr))
            .flatten();
        let data = &stamped.map_or_else(|| data.clone(), Bytes::from);
        match req.method {
            // An ACK without a transaction acknowledges a 2xx: the dialog's.
            Method::Ack => self.events.push_back(Event::Request {
                id: None,
                peer,
                data: data.clone(),
            }),
            Method::Options if self.stateless_options => self.events.push_back(Event::Request {
                id: None,
                peer: reply_to,
                data: data.clone(),
            }),
            Method::Cancel => self.on_cancel(now, head, &req.top_via, reply_to),
            _ if self.entries.len() >= self.max_transactions => {
                self.reply_stateless(head, reply_to, 503, "Service Unavailable");
            }
            method => {
                let id = self.allocate_id();
                let machine = if method == Method::Invite {
                    Machine::InviteServer(InviteServer::new(
                        id,
                        reply_to,
                        data.clone(),
                        self.config,
                        now,
                    ))
                } else {
                    Machine::NonInviteServer(NonInviteServer::new(reply_to, self.config))
                };
                self.insert(id, true, machine);
                self.events.push_back(Event::Request {
                    id: Some(id),
                    peer,
                    data: data.clone(),
                });
            }
        }
    }

    /// A request that matched a live server transaction: a retransmission,
    /// or the ACK for a non-2xx final response.
    fn on_matched_request(&mut self, now: Instant, id: TxId, method: Method<'_>) {
        let mut out = Out {
            transmits: &mut self.transmits,
            events: &mut self.events,
        };
        match self.entries.get_mut(&id).map(|e| &mut e.machine) {
            Some(Machine::InviteServer(m)) if method == Method::Ack => m.on_ack(now),
            Some(Machine::InviteServer(m)) => m.on_retransmission(&mut out),
            Some(Machine::NonInviteServer(m)) => m.on_retransmission(&mut out),
            _ => {}
        }
        self.settle(id);
    }

    /// CANCEL (RFC 3261 §9.2): answered 200 when it matches an INVITE
    /// server transaction (which the core is told about while it is still
    /// proceeding), 481 otherwise.
    fn on_cancel(&mut self, now: Instant, head: &Head<'_, '_>, via: &Via<'_>, reply_to: Peer) {
        let invite = server_key(head, via, b"INVITE", &mut self.key).and_then(|()| self.find(true));
        if server_key(head, via, b"CANCEL", &mut self.key).is_none() {
            return;
        }
        let id = self.allocate_id();
        let mut machine = NonInviteServer::new(reply_to, self.config);
        let (status, reason) = if invite.is_some() {
            (200, "OK")
        } else {
            (481, "Call/Transaction Does Not Exist")
        };
        let tag = stateless_tag(head);
        if let Ok(resp) =
            MessageBuilder::response_to(head, status, reason, Some(tag.as_bytes())).build()
        {
            let mut out = self.out();
            // A fresh transaction in Trying accepts a final response.
            let _ = machine.respond(now, status, stamped(resp.into(), reply_to.addr), &mut out);
        }
        self.insert(id, true, Machine::NonInviteServer(machine));
        let proceeding =
            |e: &Entry| matches!(&e.machine, Machine::InviteServer(m) if m.is_proceeding());
        if let Some(invite) = invite.filter(|i| self.entries.get(i).is_some_and(|e| proceeding(e)))
        {
            self.events.push_back(Event::Cancelled { invite });
        }
    }

    fn on_response(&mut self, now: Instant, resp: &ValidResponse<'_>, data: &Bytes) {
        let Some(branch) = resp.top_via.branch() else {
            return;
        };
        client_key(branch, resp.cseq.method.as_bytes(), &mut self.key);
        let Some(id) = self.find(false) else {
            return;
        };
        let mut out = Out {
            transmits: &mut self.transmits,
            events: &mut self.events,
        };
        match self.entries.get_mut(&id).map(|e| &mut e.machine) {
            Some(Machine::InviteClient(m)) => m.on_response(now, resp.code, data.clone(), &mut out),
            Some(Machine::NonInviteClient(m)) => {
                m.on_response(now, resp.code, data.clone(), &mut out);
            }
            _ => {}
        }
        self.settle(id);
    }

    /// Sends a response on a server transaction. Build it from the request
    /// as the layer delivered it: its top Via already carries `received`
    /// and `rport`.
    pub fn respond(&mut self, now: Instant, id: TxId, data: Bytes) -> Result<(), TxError> {
        let code = status_code(&data).ok_or(TxError::BadMessage)?;
        let mut out = Out {
            transmits: &mut self.transmits,
            events: &mut self.events,
        };
        let result = match self.entries.get_mut(&id).map(|e| &mut e.machine) {
            Some(Machine::InviteServer(m)) => m.respond(now, code, data, &mut out),
            Some(Machine::NonInviteServer(m)) => m.respond(now, code, data, &mut out),
            _ => Err(TxError::Unknown),
        };
        self.settle(id);
        result
    }

    /// Ends server transaction `id` without keeping any state, the way a
    /// stateless UAS answers (RFC 3261 §8.2.7): `answer`, when given, goes
    /// out once to the request's source and is never retransmitted, and a
    /// retransmission of the request reaches the core again as a new
    /// request. Without an answer the request is dropped unanswered (no
    /// 100 Trying either). This is how strangers are answered: nothing
    /// they send makes Tollgate send more than once, nor hold memory.
    pub fn respond_statelessly(&mut self, id: TxId, answer: Option<Bytes>) {
        let Some(entry) = self.forget(id) else {
            return;
        };
        if let (Some(peer), Some(data)) = (entry.machine.reply_to(), answer) {
            self.transmits.push_back(Transmit { peer, data });
        }
    }

    /// Starts a client transaction for a request the core built (its top
    /// Via must carry an RFC 3261 branch) and sends it. ACK is not a
    /// transaction: send it with [`TransactionLayer::send_stateless`].
    pub fn send_request(&mut self, now: Instant, peer: Peer, data: Bytes) -> Result<TxId, TxError> {
        let mut headers = crate::header_array();
        let msg = parse_datagram(&data, &mut headers).map_err(|_| TxError::BadMessage)?;
        let method = msg.head.method().ok_or(TxError::BadMessage)?;
        let via = msg.head.top_via().map_err(|_| TxError::BadMessage)?;
        let branch = via.branch().ok_or(TxError::BadMessage)?;
        self.send_built_request(now, peer, data.clone(), method, branch)
    }

    /// [`TransactionLayer::send_request`] for a request whose method and
    /// top Via branch the core knows, having just written them: the layer
    /// takes them as given instead of parsing the request again.
    pub fn send_built_request(
        &mut self,
        now: Instant,
        peer: Peer,
        data: Bytes,
        method: Method<'_>,
        branch: &[u8],
    ) -> Result<TxId, TxError> {
        if method == Method::Ack || !is_rfc3261_branch(branch) {
            return Err(TxError::BadMessage);
        }
        if self.entries.len() >= self.max_transactions {
            return Err(TxError::Capacity);
        }
        client_key(branch, method.as_bytes(), &mut self.key);
        let id = self.allocate_id();
        let mut out = Out {
            transmits: &mut self.transmits,
            events: &mut self.events,
        };
        let machine = if method == Method::Invite {
            Machine::InviteClient(InviteClient::start(
                id,
                peer,
                data,
                self.config,
                now,
                &mut out,
            ))
        } else {
            Machine::NonInviteClient(NonInviteClient::start(
                id,
                peer,
                data,
                self.config,
                now,
                &mut out,
            ))
        };
        self.insert(id, false, machine);
        Ok(id)
    }

    /// Sends a message outside any transaction (an ACK for a 2xx, a 2xx
    /// retransmission by the core).
    pub fn send_stateless(&mut self, peer: Peer, data: Bytes) {
        self.transmits.push_back(Transmit { peer, data });
    }

    /// Answers a request that has no transaction (stateless OPTIONS) at
    /// `peer`, its source; like [`TransactionLayer::respond`], build it from
    /// the request as delivered, whose top Via is already stamped.
    pub fn respond_stateless(&mut self, peer: Peer, data: Bytes) {
        self.transmits.push_back(Transmit { peer, data });
    }

    /// Runs every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut due = std::mem::take(&mut self.due);
        loop {
            due.extend(std::iter::from_fn(|| self.timers.pop_due(now)));
            if due.is_empty() {
                break;
            }
            // Stale deadlines (the machine has moved since) are dropped in
            // a pass of their own. Most due deadlines end the lingers of
            // transactions that finished 32 s ago, long out of the cache;
            // these lookups do not wait on one another, so the processor
            // overlaps their misses, where between the machines' work it
            // took them one at a time (about 4 % of a call's CPU at 1,000
            // calls/s).
            due.retain(|&(at, id)| self.entries.get(&id).is_some_and(|e| e.armed == Some(at)));
            for (at, id) in due.drain(..) {
                // Checked again: the same deadline may have been filed
                // twice (armed, moved, armed again), and is served once.
                let Some(entry) = self.entries.get_mut(&id).filter(|e| e.armed == Some(at)) else {
                    continue;
                };
                entry.armed = None;
                let mut out = Out {
                    transmits: &mut self.transmits,
                    events: &mut self.events,
                };
                entry.machine.on_timer(now, &mut out);
                self.settle(id);
            }
        }
        self.due = due;
    }

    /// When [`TransactionLayer::handle_timeout`] should next be called.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        while let Some((at, id)) = self.timers.peek() {
            if self.entries.get(&id).and_then(|e| e.armed) == Some(at) {
                return Some(at);
            }
            self.timers.pop_due(at);
        }
        None
    }

    /// The next message to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event for the core.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }
}

#[cfg(test)]
mod tests;
