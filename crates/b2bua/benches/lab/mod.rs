//! The simulated call both call benches drive: Tollgate's transaction
//! layer and `PolicyCore` on the B2BUA tests' simulated network
//! (`tests/sim/`), with an IP-authenticated caller and a carrier gateway
//! whose messages the bench writes itself, one complete call per simulated
//! millisecond. Datagrams take no time on the wire here: a call's seven
//! exchanges all happen in its millisecond.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tollgate_b2bua::{CallBoard, CallConfig};
use tollgate_policy::*;
use tollgate_sip::{HeaderKind, MessageBuilder, header_array, parse_datagram};

#[path = "../../tests/sim/mod.rs"]
mod sim;

use sim::{EDGE, World};

const CALLER: &str = "127.0.0.2:5060";
const GATEWAY: &str = "127.0.0.3:5062";
const SDP: &str = "v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n\
m=audio 4000 RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n";

/// Customer 1 (IP entry 127.0.0.2), carrier 10 (gateway 127.0.0.3:5062),
/// a route between them.
fn configuration() -> Configuration {
    let account = |id, kind| Account {
        id,
        name: format!("account-{id}"),
        kind,
        ..Account::default()
    };
    let caller: SocketAddr = CALLER.parse().unwrap();
    let gateway: SocketAddr = GATEWAY.parse().unwrap();
    Configuration {
        accounts: vec![
            account(1, AccountKind::Customer),
            account(10, AccountKind::Carrier),
        ],
        entries: vec![
            IpAuthEntry {
                id: 1,
                account_id: 1,
                addresses: vec![caller.ip().to_string().parse().unwrap()],
                ..IpAuthEntry::default()
            },
            IpAuthEntry {
                id: 100,
                account_id: 10,
                addresses: vec![gateway.ip().to_string().parse().unwrap()],
                direction: Direction::Ingress,
                port: gateway.port(),
                weight: 1,
                ..IpAuthEntry::default()
            },
        ],
        users: Vec::new(),
        routes: vec![Route {
            id: 1,
            account_id: 1,
            carriers: vec![10],
            ..Route::default()
        }],
    }
}

/// Reads a running count (of allocations, say) to charge Tollgate's own
/// steps with, leaving out the simulated peers'.
pub(crate) type Meter = fn() -> u64;

/// Tollgate on the simulated network, and the calls made so far.
pub(crate) struct Lab {
    world: World,
    calls: u64,
    /// Parameters after the branch in the caller's Via: `;rport` makes
    /// Tollgate stamp each of its requests, as most real switches do.
    via_params: &'static str,
}

/// The `kind` header value of `data`.
fn header(data: &[u8], kind: HeaderKind) -> String {
    let mut headers = header_array();
    let msg = parse_datagram(data, &mut headers).expect("Tollgate sent a parsable message");
    String::from_utf8_lossy(msg.head.value(kind).expect("header present")).into_owned()
}

impl Lab {
    /// A fresh edge at simulated time zero; `meter`, when given, is read
    /// around each of Tollgate's steps; with `rport` the caller's Via asks
    /// for it.
    pub(crate) fn new(meter: Option<Meter>, rport: bool) -> Self {
        let snapshot = Arc::new(SharedSnapshot::new(Snapshot::build(&configuration(), 1)));
        let board = Arc::new(CallBoard::new());
        let mut world = World::new(CallConfig::default(), snapshot, board);
        world.latency = Duration::ZERO;
        world.meter = meter;
        Self {
            world,
            calls: 0,
            via_params: if rport { ";rport" } else { "" },
        }
    }

    /// `data` arrives from `from` and Tollgate does all it does about it;
    /// returns what it sent, to whom.
    fn deliver(&mut self, from: &str, data: Vec<u8>) -> Vec<(SocketAddr, Bytes)> {
        let now = self.world.now();
        self.world
            .send(from.parse().unwrap(), EDGE, Bytes::from(data));
        while self.world.step(now) {}
        [CALLER, GATEWAY]
            .into_iter()
            .map(|to| to.parse().unwrap())
            .flat_map(|to| {
                let received = self.world.take_inbox(to);
                received.into_iter().map(move |r| (to, r.data))
            })
            .collect()
    }

    /// The one message sent to `to` that starts with `start`.
    fn sent_to(sent: &[(SocketAddr, Bytes)], to: &str, start: &str) -> Bytes {
        let to: SocketAddr = to.parse().unwrap();
        sent.iter()
            .find(|(a, d)| *a == to && d.starts_with(start.as_bytes()))
            .map(|(_, d)| d.clone())
            .unwrap_or_else(|| panic!("no {start} to {to} in {sent:?}"))
    }

    /// The gateway's answer `code` to `request`.
    fn gateway_answer(request: &[u8], code: u16, body: bool) -> Vec<u8> {
        let mut headers = header_array();
        let msg = parse_datagram(request, &mut headers).unwrap();
        let b = MessageBuilder::response_to(&msg.head, code, "OK", Some(b"gw"))
            .header("Contact", format!("<sip:gw@{GATEWAY}>"));
        let b = if body {
            b.body("application/sdp", SDP)
        } else {
            b
        };
        b.build().unwrap()
    }

    /// The caller's request `method` with CSeq `seq` on call `n`.
    fn caller_request(&self, n: u64, method: &str, seq: u32, to: &str, body: bool) -> Vec<u8> {
        let b = MessageBuilder::request(
            tollgate_sip::Method::from_token(method.as_bytes()),
            format!("sip:+441632960123@{EDGE}").as_bytes(),
        )
        .header(
            "Via",
            format!(
                "SIP/2.0/UDP {CALLER};branch=z9hG4bK{n}x{seq}{}",
                self.via_params
            ),
        )
        .header("Max-Forwards", "70")
        .header("From", format!("<sip:15551234567@{CALLER}>;tag=a{n}"))
        .header("To", to)
        .header("Call-ID", format!("{n}@bench"))
        .header("CSeq", format!("{seq} {method}"))
        .header("Contact", format!("<sip:caller@{CALLER}>"));
        let b = if body {
            b.body("application/sdp", SDP)
        } else {
            b
        };
        b.build().unwrap()
    }

    /// One complete call; the next one a millisecond later (what falls due
    /// meanwhile runs). Returns what the meter counted in Tollgate's steps
    /// (0 without a meter).
    pub(crate) fn call(&mut self) -> u64 {
        let metered = self.world.metered;
        self.calls += 1;
        let n = self.calls;
        let to = format!("<sip:+441632960123@{EDGE}>");
        let sent = self.deliver(CALLER, self.caller_request(n, "INVITE", 1, &to, true));
        let b_invite = Self::sent_to(&sent, GATEWAY, "INVITE");
        let sent = self.deliver(GATEWAY, Self::gateway_answer(&b_invite, 180, false));
        Self::sent_to(&sent, CALLER, "SIP/2.0 180");
        let sent = self.deliver(GATEWAY, Self::gateway_answer(&b_invite, 200, true));
        Self::sent_to(&sent, GATEWAY, "ACK");
        let ok = Self::sent_to(&sent, CALLER, "SIP/2.0 200");
        let to = header(&ok, HeaderKind::To);
        self.deliver(CALLER, self.caller_request(n, "ACK", 1, &to, false));
        let sent = self.deliver(CALLER, self.caller_request(n, "BYE", 2, &to, false));
        Self::sent_to(&sent, CALLER, "SIP/2.0 200");
        let b_bye = Self::sent_to(&sent, GATEWAY, "BYE");
        self.deliver(GATEWAY, Self::gateway_answer(&b_bye, 200, false));
        let next = self.world.now() + Duration::from_millis(1);
        self.world.run_until(next);
        // What the peers got meanwhile (retransmissions) is not read.
        for peer in [CALLER, GATEWAY] {
            self.world.take_inbox(peer.parse().unwrap());
        }
        self.world.metered - metered
    }
}
