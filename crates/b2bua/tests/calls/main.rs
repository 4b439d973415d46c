//! The B2BUA's calls in simulated time: a caller (127.0.0.2, IP
//! authenticated) or a digest user (127.0.0.4) calls through Tollgate's
//! core (at `sim::EDGE`) to carrier gateways played by simulated UAs
//! (127.0.0.3). Nothing here opens a socket; waits are virtual, so a
//! 64·T1 timeout or a maximum duration costs microseconds.

#[path = "../sim/mod.rs"]
mod sim;

mod carrier_auth;
mod connect;
mod dialogs;
mod fixture;
mod limits;
mod reliable;
mod routing;

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use tollgate_b2bua::{CallBoard, CallConfig};
use tollgate_policy::*;
use tollgate_sip::digest::{Answer, Challenge, Hash, answer};
use tollgate_sip::header::AuthValue;

use fixture::*;
use sim::{Dialog, EDGE, Received, Shared, SimUa, World, eventually, parts};

const WAIT: Duration = Duration::from_secs(5);

/// Tollgate on a simulated network with its board, a caller and carrier
/// gateways.
struct Lab {
    world: Shared,
    board: Arc<CallBoard>,
    snapshot: Arc<SharedSnapshot>,
    server: SocketAddr,
    caller: SimUa,
    gateways: Vec<SimUa>,
    config: Configuration,
}

impl Lab {
    /// Starts an edge with `gateways` gateway UAs; `tweak` changes the
    /// configuration before it is published.
    fn start(gateways: usize, tweak: impl FnOnce(&mut Configuration)) -> Self {
        let calls = CallConfig {
            timers: timers(),
            ..CallConfig::default()
        };
        Self::start_with(gateways, calls, tweak)
    }

    /// [`Lab::start`] with `calls` for the B2BUA.
    fn start_with(
        gateways: usize,
        calls: CallConfig,
        tweak: impl FnOnce(&mut Configuration),
    ) -> Self {
        Self::start_full(gateways, calls, tweak)
    }

    /// [`Lab::start_with`] on `world`'s parts.
    fn start_full(
        gateways: usize,
        calls: CallConfig,
        tweak: impl FnOnce(&mut Configuration),
    ) -> Self {
        let (snapshot, board) = parts();
        let world = Rc::new(RefCell::new(World::new(
            calls,
            snapshot.clone(),
            board.clone(),
        )));
        let caller = SimUa::new(&world, "127.0.0.2:5062".parse().unwrap());
        let gws: Vec<SimUa> = (0..gateways)
            .map(|i| SimUa::new(&world, SocketAddr::from(([127, 0, 0, 3], 5070 + i as u16))))
            .collect();
        let addrs: Vec<SocketAddr> = gws.iter().map(SimUa::local_addr).collect();
        let config = publish(&snapshot, &addrs, tweak);
        Self {
            world,
            board,
            snapshot,
            server: EDGE,
            caller,
            gateways: gws,
            config,
        }
    }

    fn uri(&self, number: &str) -> String {
        format!("sip:{number}@{}", self.server)
    }

    /// Sends an INVITE for `number` with `sdp` from `ua`; returns it.
    fn invite_from(ua: &mut SimUa, uri: &str, sdp: &str) -> Received {
        let from = ua.local_addr();
        let request = with_offer(ua.request("INVITE", uri), from, sdp);
        Received {
            data: ua.send(request).unwrap(),
        }
    }

    fn invite(&mut self, number: &str) -> Received {
        let uri = self.uri(number);
        Self::invite_from(&mut self.caller, &uri, SDP)
    }

    /// Ends a test whose call Tollgate hangs up towards the caller: the
    /// caller answers the BYE, every channel comes back and the edge shuts
    /// down. Returns that BYE.
    fn end_with_callers_bye(mut self) -> Received {
        let bye = expect_request(&mut self.caller, "BYE");
        self.caller.respond(&bye, 200, "OK").unwrap();
        assert!(self.channels_back_to_zero());
        bye
    }

    fn channels_back_to_zero(&self) -> bool {
        let board = self.board.clone();
        eventually(&self.world, WAIT, || {
            board.is_empty()
                && board.channels_in_use(CUSTOMER) == 0
                && board.channels_in_use(CARRIER) == 0
        })
    }
}

/// The next request `method` at `ua`.
fn expect_request(ua: &mut SimUa, method: &str) -> Received {
    ua.recv_until(WAIT, |r| r.method().as_deref() == Some(method))
        .unwrap()
        .unwrap_or_else(|| panic!("no {method} arrived"))
}

/// The next response with `code` at `ua` (other messages dropped).
fn expect_status(ua: &mut SimUa, code: u16) -> Received {
    ua.recv_until(WAIT, |r| r.status() == Some(code))
        .unwrap()
        .unwrap_or_else(|| panic!("no {code} arrived"))
}

/// The next final response at `ua`.
fn expect_final(ua: &mut SimUa) -> Received {
    ua.recv_until(WAIT, |r| r.status().is_some_and(|c| c >= 200))
        .unwrap()
        .expect("a final response")
}

/// Places a call from the lab's caller and lets gateway `g` answer it.
/// Returns the caller's and the gateway's dialogs.
fn connect(lab: &mut Lab, g: usize) -> (Dialog, Dialog) {
    let (a, b, _) = connect_with_invite(lab, g);
    (a, b)
}

/// [`connect`], also returning the INVITE gateway `g` answered.
fn connect_with_invite(lab: &mut Lab, g: usize) -> (Dialog, Dialog, Received) {
    let sent = lab.invite(NUMBER);
    let gw = &mut lab.gateways[g];
    let at_gw = expect_request(gw, "INVITE");
    let tag = format!("gw{}", rand_tag());
    let ok = gateway_answer(gw.local_addr(), &at_gw, 200, "OK", &tag);
    gw.send(ok).unwrap();
    expect_request(gw, "ACK");
    let ok = expect_status(&mut lab.caller, 200);
    let mut a = Dialog::from_answer(&sent, &ok);
    let ack = lab.caller.in_dialog(&mut a, "ACK");
    lab.caller.send(ack).unwrap();
    (a, Dialog::from_invite(&at_gw, &tag), at_gw)
}

/// The caller's `method` (re-INVITE, UPDATE) inside `dialog`, with its
/// Contact and the offer.
fn caller_offer(ua: &mut SimUa, dialog: &mut Dialog, method: &str) -> tollgate_sip::MessageBuilder {
    let contact = format!("<sip:caller@{}>", ua.local_addr());
    ua.in_dialog(dialog, method)
        .header("Contact", contact)
        .body("application/sdp", SDP)
}

/// Places a call that gateway 0 answers with the provisional `code` (To tag
/// `tag`); returns the caller's INVITE, the gateway's and the provisional
/// the caller got.
fn provisional_call(lab: &mut Lab, code: u16, tag: &str) -> (Received, Received, Received) {
    let sent = lab.invite(NUMBER);
    let gw = &mut lab.gateways[0];
    let at_gw = expect_request(gw, "INVITE");
    gw.send(gateway_answer(
        gw.local_addr(),
        &at_gw,
        code,
        "Progress",
        tag,
    ))
    .unwrap();
    let provisional = expect_status(&mut lab.caller, code);
    (sent, at_gw, provisional)
}

/// A 2xx to `invite` from `user` at gateway `gw_addr` (To tag `tag`) that
/// opens a dialog through a Record-Route, as a forking or slow carrier's
/// proxy sends it.
fn recorded_answer(
    invite: &Received,
    gw_addr: SocketAddr,
    user: &str,
    tag: &str,
) -> tollgate_sip::MessageBuilder {
    SimUa::response(invite, 200, "OK", tag)
        .header("Record-Route", format!("<sip:{gw_addr};lr>"))
        .header("Contact", format!("<sip:{user}@{gw_addr}>"))
        .body("application/sdp", ANSWER)
}

/// Checks that Tollgate acknowledges a [`recorded_answer`] it does not
/// want and hangs it up at once: ACK then BYE in that answer's dialog
/// (tag, Contact, route set), which the gateway answers 200. Returns the
/// ACK.
fn expect_ack_and_bye(gw: &mut SimUa, invite: &Received, user: &str, tag: &str) -> Received {
    let gw_addr = gw.local_addr();
    let route = Some(format!("<sip:{gw_addr};lr>"));
    let target = Some(format!("sip:{user}@{gw_addr}"));
    let ack = expect_request(gw, "ACK");
    assert!(ack.header("To").unwrap().ends_with(&format!("tag={tag}")));
    assert_eq!(ack.uri(), target);
    assert_eq!(ack.cseq(), invite.cseq());
    assert_eq!(ack.header("Route"), route);
    let bye = expect_request(gw, "BYE");
    assert!(bye.header("To").unwrap().ends_with(&format!("tag={tag}")));
    assert_eq!(bye.uri(), target);
    assert_eq!(bye.header("Route"), route);
    assert_eq!(bye.header("Call-ID"), invite.header("Call-ID"));
    assert!(bye.cseq() > invite.cseq());
    gw.respond(&bye, 200, "OK").unwrap();
    ack
}

/// The caller's `method` on the same hop as its INVITE `sent`: a CANCEL, or
/// the ACK of a non-2xx answer (RFC 3261 9.1 and 17.1.1.3: the INVITE's
/// Request-URI, Via, From, Call-ID and CSeq number; `to` is the INVITE's To
/// for a CANCEL, the answer's for an ACK).
fn same_hop(
    sent: &Received,
    method: tollgate_sip::Method,
    to: &str,
) -> tollgate_sip::MessageBuilder {
    sent.with_head(|h| {
        tollgate_sip::MessageBuilder::request(method, h.request_line().unwrap().uri)
            .header("Via", h.value(tollgate_sip::HeaderKind::Via).unwrap())
            .header("Max-Forwards", "70")
            .header("From", h.value(tollgate_sip::HeaderKind::From).unwrap())
            .header("To", to)
            .header(
                "Call-ID",
                h.value(tollgate_sip::HeaderKind::CallId).unwrap(),
            )
            .header("CSeq", format!("{} {}", h.cseq().unwrap().seq, method))
    })
}

/// The caller's CANCEL of its INVITE `sent`.
fn cancel_of(sent: &Received) -> tollgate_sip::MessageBuilder {
    same_hop(
        sent,
        tollgate_sip::Method::Cancel,
        &sent.header("To").unwrap(),
    )
}

/// The caller acknowledges the answer `ok` to its INVITE `sent`, then
/// hangs up.
fn ack_and_hang_up(ua: &mut SimUa, sent: &Received, ok: &Received) {
    let mut a = Dialog::from_answer(sent, ok);
    let ack = ua.in_dialog(&mut a, "ACK");
    ua.send(ack).unwrap();
    let bye = ua.in_dialog(&mut a, "BYE");
    ua.send(bye).unwrap();
}

fn rand_tag() -> u64 {
    rand::random()
}

/// Checks `request`'s `header` for user `carrier-user`, hashed with
/// `hash`.
fn check_credentials_in(request: &Received, header: &str, hash: Hash, method: &str, nonce: &str) {
    let value = request.header(header).expect("credentials");
    let auth = AuthValue::parse(value.as_bytes()).unwrap();
    let creds = tollgate_sip::digest::Credentials::parse(&auth).unwrap();
    assert_eq!(&*creds.username, b"carrier-user");
    assert_eq!(creds.nonce, nonce.as_bytes());
    let ha1 = tollgate_sip::digest::ha1(hash, b"carrier-user", b"carrier", b"gw-secret");
    assert!(creds.verify(ha1.as_bytes(), method.as_bytes()), "{value}");
}

/// Two gateways weighted 10 and 1, one failover, a 1 s first-reply
/// timeout.
fn failover_pair(c: &mut Configuration) {
    c.accounts[1].carrier.gateway_failover = 1;
    c.accounts[1].carrier.first_reply_timeout_s = 1;
    c.entries[1].weight = 10;
}

/// The caller's INVITE without an offer, and what gateway 0 got of it.
fn late_offer_invite(lab: &mut Lab) -> (Received, Received) {
    let uri = lab.uri(NUMBER);
    let contact = format!("<sip:caller@{}>", lab.caller.local_addr());
    let invite = lab
        .caller
        .request("INVITE", &uri)
        .header("Contact", contact);
    let sent = Received {
        data: lab.caller.send(invite).unwrap(),
    };
    let at_gw = expect_request(&mut lab.gateways[0], "INVITE");
    assert!(at_gw.body().is_empty(), "no offer to pass on");
    (sent, at_gw)
}

/// Checks that `ack` answers the gateway's offer ([`ANSWER`], one audio
/// stream) by declining it: a valid answer with the stream's port 0.
fn declines_the_offer(ack: &Received) {
    assert_eq!(
        ack.header("Content-Type").as_deref(),
        Some("application/sdp")
    );
    let body = ack.body();
    assert!(body.starts_with("v=0\r\n"), "{body}");
    assert!(body.contains("\r\nm=audio 0 RTP/AVP 0\r\n"), "{body}");
    assert_eq!(body.matches("m=").count(), 1, "{body}");
}
