//! Calls end to end over real loopback sockets: a caller (127.0.0.2, IP
//! authenticated) or a digest user (127.0.0.4) calls through the edge
//! (127.0.0.1) to carrier gateways played by test UAs (127.0.0.3).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tollgate_b2bua::{CallBoard, CallConfig, PolicyCore};
use tollgate_edge::{Edge, EdgeConfig, Listen, TimerConfig, Transport};
use tollgate_policy::*;
use tollgate_sip::digest::{Algorithm, Answer, Challenge, Hash, answer};
use tollgate_sip::header::AuthValue;
use tollgate_testua::{Dialog, Received, TestUa};

use crate::support::eventually;

const WAIT: Duration = Duration::from_secs(5);
const CUSTOMER: AccountId = 1;
const CARRIER: AccountId = 10;
const NUMBER: &str = "+441632960123";
const SDP: &str = "v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n\
m=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n";
const ANSWER: &str = "v=0\r\no=- 2 2 IN IP4 192.0.2.20\r\ns=-\r\nc=IN IP4 192.0.2.20\r\nt=0 0\r\n\
m=audio 5000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

/// An edge with its board, a caller and carrier gateways.
struct Lab {
    edge: Edge,
    board: Arc<CallBoard>,
    snapshot: Arc<SharedSnapshot>,
    server: SocketAddr,
    caller: TestUa,
    gateways: Vec<TestUa>,
    config: Configuration,
}

/// The configuration: customer 1 with IP entry 1 (127.0.0.2) and user
/// alice; carrier 10 with one ingress entry per gateway (ids 100…); route 1
/// from the customer to the carrier.
fn configuration(gateways: &[SocketAddr]) -> Configuration {
    let account = |id, name: &str, kind| Account {
        id,
        name: name.into(),
        kind,
        status: AccountStatus::Active,
        channels: 0,
        cps: 0,
        notes: String::new(),
        digest: None,
        carrier: CarrierSettings::default(),
    };
    let mut entries = vec![IpAuthEntry {
        id: 1,
        account_id: CUSTOMER,
        addresses: vec!["127.0.0.2".parse().unwrap()],
        ..IpAuthEntry::default()
    }];
    for (i, gw) in gateways.iter().enumerate() {
        entries.push(IpAuthEntry {
            id: 100 + i as i64,
            account_id: CARRIER,
            addresses: vec![gw.ip().to_string().parse().unwrap()],
            direction: Direction::Ingress,
            port: gw.port(),
            weight: 1,
            ..IpAuthEntry::default()
        });
    }
    Configuration {
        accounts: vec![
            account(CUSTOMER, "acme", AccountKind::Customer),
            account(CARRIER, "carrier", AccountKind::Carrier),
        ],
        entries,
        users: vec![SipUser {
            id: 1,
            account_id: CUSTOMER,
            username: "alice".into(),
            ha1: Ha1Set::new("alice", "tollgate", "s3cret-pass"),
            // Both algorithms, so either answer can be tried.
            digest: Some(DigestPolicy::Sha256Md5),
            ..SipUser::default()
        }],
        routes: vec![Route {
            id: 1,
            account_id: CUSTOMER,
            carriers: vec![CARRIER],
            ..Route::default()
        }],
    }
}

fn timers() -> TimerConfig {
    TimerConfig {
        t1: Duration::from_millis(50),
        t2: Duration::from_millis(400),
        ..TimerConfig::default()
    }
}

impl Lab {
    /// Starts an edge with `gateways` gateway UAs; `tweak` changes the
    /// configuration before it is published.
    async fn start(gateways: usize, tweak: impl FnOnce(&mut Configuration)) -> Self {
        let calls = CallConfig {
            timers: timers(),
            ..CallConfig::default()
        };
        Self::start_with(gateways, calls, tweak).await
    }

    /// [`Lab::start`] with `calls` for the B2BUA.
    async fn start_with(
        gateways: usize,
        calls: CallConfig,
        tweak: impl FnOnce(&mut Configuration),
    ) -> Self {
        Self::start_full(gateways, calls, None, tweak).await
    }

    /// [`Lab::start_with`], trusting `tls_client` for TLS connections the
    /// edge opens.
    async fn start_full(
        gateways: usize,
        calls: CallConfig,
        tls_client: Option<Arc<rustls::ClientConfig>>,
        tweak: impl FnOnce(&mut Configuration),
    ) -> Self {
        let snapshot = Arc::new(SharedSnapshot::new(Snapshot::default()));
        let board = Arc::new(CallBoard::new());
        let auth = Authenticator::new("tollgate", vec![Algorithm::MD5], &[5; 32], 300);
        let core = PolicyCore::new(snapshot.clone(), auth, None, calls, board.clone());
        let config = EdgeConfig {
            listen: [Transport::Udp, Transport::Tcp]
                .into_iter()
                .map(|transport| Listen {
                    transport,
                    addr: "127.0.0.1:0".parse().unwrap(),
                })
                .collect(),
            timers: timers(),
            tls_client,
            ..EdgeConfig::default()
        };
        let edge = Edge::start(config, core).await.unwrap();
        let server = edge.local_addr(Transport::Udp).unwrap();
        let caller = TestUa::udp_from("127.0.0.2:0".parse().unwrap(), server)
            .await
            .unwrap();
        let mut gws = Vec::new();
        for _ in 0..gateways {
            gws.push(
                TestUa::udp_from("127.0.0.3:0".parse().unwrap(), server)
                    .await
                    .unwrap(),
            );
        }
        let addrs: Vec<SocketAddr> = gws.iter().map(TestUa::local_addr).collect();
        let mut config = configuration(&addrs);
        tweak(&mut config);
        snapshot.publish(Snapshot::build(&config, 2));
        Self {
            edge,
            board,
            snapshot,
            server,
            caller,
            gateways: gws,
            config,
        }
    }

    fn uri(&self, number: &str) -> String {
        format!("sip:{number}@{}", self.server)
    }

    /// Sends an INVITE for `number` with `sdp` from `ua`; returns it.
    async fn invite_from(ua: &mut TestUa, uri: &str, sdp: &str) -> Received {
        let contact = format!("<sip:caller@{}>", ua.local_addr());
        let request = ua
            .request("INVITE", uri)
            .header("Contact", contact)
            .body("application/sdp", sdp);
        Received {
            data: ua.send(request).await.unwrap(),
        }
    }

    async fn invite(&mut self, number: &str) -> Received {
        let uri = self.uri(number);
        Self::invite_from(&mut self.caller, &uri, SDP).await
    }

    /// Ends a test whose call Tollgate hangs up towards the caller: the
    /// caller answers the BYE, every channel comes back and the edge shuts
    /// down. Returns that BYE.
    async fn end_with_callers_bye(mut self) -> Received {
        let bye = expect_request(&mut self.caller, "BYE").await;
        self.caller.respond(&bye, 200, "OK").await.unwrap();
        assert!(self.channels_back_to_zero().await);
        self.edge.shutdown(Duration::from_millis(100)).await;
        bye
    }

    async fn channels_back_to_zero(&self) -> bool {
        let board = self.board.clone();
        eventually(WAIT, || {
            board.is_empty()
                && board.channels_in_use(CUSTOMER) == 0
                && board.channels_in_use(CARRIER) == 0
        })
        .await
    }
}

/// The next request `method` at `ua`.
async fn expect_request(ua: &mut TestUa, method: &str) -> Received {
    ua.recv_until(WAIT, |r| r.method().as_deref() == Some(method))
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no {method} arrived"))
}

/// The next response with `code` at `ua` (other messages dropped).
async fn expect_status(ua: &mut TestUa, code: u16) -> Received {
    ua.recv_until(WAIT, |r| r.status() == Some(code))
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no {code} arrived"))
}

/// The next final response at `ua`.
async fn expect_final(ua: &mut TestUa) -> Received {
    ua.recv_until(WAIT, |r| r.status().is_some_and(|c| c >= 200))
        .await
        .unwrap()
        .expect("a final response")
}

/// A gateway's answer to `invite`: Contact and, for 2xx and 183, SDP.
fn gateway_answer(
    gw: &TestUa,
    invite: &Received,
    code: u16,
    reason: &str,
    tag: &str,
) -> tollgate_sip::MessageBuilder {
    let b = TestUa::response(invite, code, reason, tag)
        .header("Contact", format!("<sip:gw@{}>", gw.local_addr()));
    if code == 200 || code == 183 {
        b.body("application/sdp", ANSWER)
    } else {
        b
    }
}

/// Places a call from the lab's caller and lets gateway `g` answer it.
/// Returns the caller's and the gateway's dialogs.
async fn connect(lab: &mut Lab, g: usize) -> (Dialog, Dialog) {
    let (a, b, _) = connect_with_invite(lab, g).await;
    (a, b)
}

/// [`connect`], also returning the INVITE gateway `g` answered.
async fn connect_with_invite(lab: &mut Lab, g: usize) -> (Dialog, Dialog, Received) {
    let sent = lab.invite(NUMBER).await;
    let gw = &mut lab.gateways[g];
    let at_gw = expect_request(gw, "INVITE").await;
    let tag = format!("gw{}", rand_tag());
    let ok = gateway_answer(gw, &at_gw, 200, "OK", &tag);
    gw.send(ok).await.unwrap();
    expect_request(gw, "ACK").await;
    let ok = expect_status(&mut lab.caller, 200).await;
    let mut a = Dialog::from_answer(&sent, &ok);
    let ack = lab.caller.in_dialog(&mut a, "ACK");
    lab.caller.send(ack).await.unwrap();
    (a, Dialog::from_invite(&at_gw, &tag), at_gw)
}

/// The caller's `method` (re-INVITE, UPDATE) inside `dialog`, with its
/// Contact and the offer.
fn caller_offer(
    ua: &mut TestUa,
    dialog: &mut Dialog,
    method: &str,
) -> tollgate_sip::MessageBuilder {
    let contact = format!("<sip:caller@{}>", ua.local_addr());
    ua.in_dialog(dialog, method)
        .header("Contact", contact)
        .body("application/sdp", SDP)
}

/// Gives the carrier's gateway the credentials its challenges get.
fn gateway_credentials(c: &mut Configuration) {
    c.entries[1].username = "carrier-user".into();
    c.entries[1].password = Some("gw-secret".into());
}

/// Places a call that gateway 0 answers with the provisional `code` (To tag
/// `tag`); returns the caller's INVITE, the gateway's and the provisional
/// the caller got.
async fn provisional_call(lab: &mut Lab, code: u16, tag: &str) -> (Received, Received, Received) {
    let sent = lab.invite(NUMBER).await;
    let gw = &mut lab.gateways[0];
    let at_gw = expect_request(gw, "INVITE").await;
    gw.send(gateway_answer(gw, &at_gw, code, "Progress", tag))
        .await
        .unwrap();
    let provisional = expect_status(&mut lab.caller, code).await;
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
    TestUa::response(invite, 200, "OK", tag)
        .header("Record-Route", format!("<sip:{gw_addr};lr>"))
        .header("Contact", format!("<sip:{user}@{gw_addr}>"))
        .body("application/sdp", ANSWER)
}

/// Checks that Tollgate acknowledges a [`recorded_answer`] it does not
/// want and hangs it up at once: ACK then BYE in that answer's dialog
/// (tag, Contact, route set), which the gateway answers 200. Returns the
/// ACK.
async fn expect_ack_and_bye(gw: &mut TestUa, invite: &Received, user: &str, tag: &str) -> Received {
    let gw_addr = gw.local_addr();
    let route = Some(format!("<sip:{gw_addr};lr>"));
    let target = Some(format!("sip:{user}@{gw_addr}"));
    let ack = expect_request(gw, "ACK").await;
    assert!(ack.header("To").unwrap().ends_with(&format!("tag={tag}")));
    assert_eq!(ack.uri(), target);
    assert_eq!(ack.cseq(), invite.cseq());
    assert_eq!(ack.header("Route"), route);
    let bye = expect_request(gw, "BYE").await;
    assert!(bye.header("To").unwrap().ends_with(&format!("tag={tag}")));
    assert_eq!(bye.uri(), target);
    assert_eq!(bye.header("Route"), route);
    assert_eq!(bye.header("Call-ID"), invite.header("Call-ID"));
    assert!(bye.cseq() > invite.cseq());
    gw.respond(&bye, 200, "OK").await.unwrap();
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

/// Ends a test whose call was refused before routing: the gateway heard
/// nothing and no channel is held.
async fn nothing_reached_the_carrier(mut lab: Lab) {
    assert!(
        lab.gateways[0]
            .is_silent_for(Duration::from_millis(200))
            .await
    );
    assert!(lab.channels_back_to_zero().await);
    lab.edge.shutdown(Duration::from_millis(100)).await;
}

/// The caller acknowledges the answer `ok` to its INVITE `sent`, then
/// hangs up.
async fn ack_and_hang_up(ua: &mut TestUa, sent: &Received, ok: &Received) {
    let mut a = Dialog::from_answer(sent, ok);
    let ack = ua.in_dialog(&mut a, "ACK");
    ua.send(ack).await.unwrap();
    let bye = ua.in_dialog(&mut a, "BYE");
    ua.send(bye).await.unwrap();
}

/// The INVITE that reached one of two gateways, and which.
async fn either_invite(gateways: &mut [TestUa]) -> (usize, Received) {
    let [g0, g1] = gateways else {
        panic!("two gateways expected");
    };
    tokio::select! {
        r = expect_request(g0, "INVITE") => (0, r),
        r = expect_request(g1, "INVITE") => (1, r),
    }
}

/// Places a call that gateway `g` answers with `code`; returns the
/// caller's final answer.
async fn failed_call(lab: &mut Lab, g: usize, code: u16) -> Received {
    lab.invite(NUMBER).await;
    let gw = &mut lab.gateways[g];
    let at_gw = expect_request(gw, "INVITE").await;
    gw.respond(&at_gw, code, "Failed").await.unwrap();
    expect_final(&mut lab.caller).await
}

fn rand_tag() -> u64 {
    rand::random()
}

#[tokio::test]
async fn ip_authenticated_call_connects_and_hides_each_side_from_the_other() {
    let mut lab = Lab::start(1, |_| {}).await;
    let sent = lab.invite(NUMBER).await;
    let gw_addr = lab.gateways[0].local_addr();
    let gw = &mut lab.gateways[0];
    let at_gw = expect_request(gw, "INVITE").await;
    let text = at_gw.text();
    assert!(
        !text.contains("127.0.0.2"),
        "caller address leaked:\n{text}"
    );
    assert_ne!(at_gw.header("Call-ID"), sent.header("Call-ID"));
    assert_eq!(at_gw.uri(), Some(format!("sip:441632960123@{gw_addr}")));
    assert!(at_gw.body().contains("PCMA"), "no restriction configured");
    assert_eq!(at_gw.header("Max-Forwards").as_deref(), Some("69"));
    gw.send(gateway_answer(gw, &at_gw, 180, "Ringing", "gwtag"))
        .await
        .unwrap();
    let ringing = expect_status(&mut lab.caller, 180).await;
    assert!(ringing.header("To").unwrap().contains("tag="));
    assert_eq!(lab.board.list()[0].state, CallState::Ringing);
    let gw = &mut lab.gateways[0];
    gw.send(gateway_answer(gw, &at_gw, 200, "OK", "gwtag"))
        .await
        .unwrap();
    expect_request(gw, "ACK").await;
    let ok = expect_status(&mut lab.caller, 200).await;
    assert!(
        !ok.text().contains("127.0.0.3"),
        "gateway address leaked:\n{}",
        ok.text()
    );
    assert_eq!(ok.body(), ANSWER);
    assert_eq!(
        ok.header("To"),
        ringing.header("To"),
        "one dialog towards the caller"
    );
    let calls = lab.board.list();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].state, CallState::Answered);
    assert_eq!(calls[0].callee, "441632960123");
    assert_eq!(calls[0].gateway_id, Some(100));
    assert_eq!(lab.board.channels_in_use(CUSTOMER), 1);
    assert_eq!(lab.board.channels_in_use(CARRIER), 1);

    ack_and_hang_up(&mut lab.caller, &sent, &ok).await;
    expect_status(&mut lab.caller, 200).await;
    let gw = &mut lab.gateways[0];
    let bye = expect_request(gw, "BYE").await;
    assert_eq!(bye.header("Call-ID"), at_gw.header("Call-ID"));
    gw.respond(&bye, 200, "OK").await.unwrap();
    assert!(lab.channels_back_to_zero().await);
    assert!(
        lab.caller.is_silent_for(Duration::from_millis(300)).await,
        "2xx retransmissions stopped by the ACK"
    );
    lab.edge.shutdown(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn callee_hang_up_is_relayed_and_releases_the_channel() {
    let mut lab = Lab::start(1, |_| {}).await;
    let (_, mut b) = connect(&mut lab, 0).await;
    let gw = &mut lab.gateways[0];
    let bye = gw.in_dialog(&mut b, "BYE");
    gw.send(bye).await.unwrap();
    expect_status(gw, 200).await;
    let bye = lab.end_with_callers_bye().await;
    assert!(!bye.text().contains("127.0.0.3"));
}

#[tokio::test]
async fn cancel_before_answer_reaches_the_carrier_and_releases_the_channel() {
    let mut lab = Lab::start(1, |_| {}).await;
    let (sent, at_gw, _) = provisional_call(&mut lab, 180, "t1").await;
    assert_eq!(lab.board.channels_in_use(CUSTOMER), 1);
    lab.caller.send(cancel_of(&sent)).await.unwrap();
    expect_status(&mut lab.caller, 487).await;
    let gw = &mut lab.gateways[0];
    let cancel = expect_request(gw, "CANCEL").await;
    assert_eq!(cancel.header("Call-ID"), at_gw.header("Call-ID"));
    gw.respond(&cancel, 200, "OK").await.unwrap();
    gw.send(TestUa::response(&at_gw, 487, "Request Terminated", "t1"))
        .await
        .unwrap();
    expect_request(gw, "ACK").await;
    assert!(lab.channels_back_to_zero().await);
    lab.edge.shutdown(Duration::from_millis(100)).await;
}

/// The caller cancels a ringing call (its INVITE with an offer, or
/// without: `late_offer`), and the carrier's 200 crosses the CANCEL.
async fn answer_crossing_the_cancel(late_offer: bool) {
    let mut lab = Lab::start(1, |_| {}).await;
    let (sent, at_gw) = if late_offer {
        let (sent, at_gw) = late_offer_invite(&mut lab).await;
        let gw = &mut lab.gateways[0];
        gw.send(gateway_answer(gw, &at_gw, 180, "Ringing", "t1"))
            .await
            .unwrap();
        expect_status(&mut lab.caller, 180).await;
        (sent, at_gw)
    } else {
        let (sent, at_gw, _) = provisional_call(&mut lab, 180, "t1").await;
        (sent, at_gw)
    };
    lab.caller.send(cancel_of(&sent)).await.unwrap();
    let terminated = expect_status(&mut lab.caller, 487).await;
    let to = terminated.header("To").unwrap();
    let ack = same_hop(&sent, tollgate_sip::Method::Ack, &to);
    lab.caller.send(ack).await.unwrap();
    let gw_addr = lab.gateways[0].local_addr();
    let gw = &mut lab.gateways[0];
    let cancel = expect_request(gw, "CANCEL").await;
    gw.respond(&cancel, 200, "OK").await.unwrap();
    // The phone was picked up as the CANCEL travelled: the carrier answers
    // the INVITE after all (with an offer, when the INVITE had none).
    gw.send(recorded_answer(&at_gw, gw_addr, "phone", "t1"))
        .await
        .unwrap();
    let ack = expect_ack_and_bye(gw, &at_gw, "phone", "t1").await;
    if late_offer {
        declines_the_offer(&ack);
    } else {
        assert!(ack.body().is_empty(), "{}", ack.text());
    }
    // The caller acknowledged its 487 and hears nothing more.
    assert!(lab.caller.is_silent_for(Duration::from_millis(300)).await);
    assert!(lab.channels_back_to_zero().await);
    lab.edge.shutdown(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn an_answer_crossing_the_cancel_is_acknowledged_and_hung_up() {
    answer_crossing_the_cancel(false).await;
}

#[tokio::test]
async fn an_offer_crossing_the_cancel_is_declined_in_the_ack() {
    answer_crossing_the_cancel(true).await;
}

#[tokio::test]
async fn a_carrier_failure_reaches_the_caller_and_releases_the_channel() {
    let mut lab = Lab::start(1, |_| {}).await;
    let answer = failed_call(&mut lab, 0, 486).await;
    assert_eq!(answer.status(), Some(486), "486 is never failed over");
    assert!(lab.channels_back_to_zero().await);
    lab.edge.shutdown(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn channel_limit_refuses_the_sixth_call_until_one_ends() {
    let mut lab = Lab::start(1, |c| c.entries[0].channels = 5).await;
    let mut dialogs = Vec::new();
    for _ in 0..5 {
        dialogs.push(connect(&mut lab, 0).await);
    }
    lab.invite(NUMBER).await;
    let refused = expect_final(&mut lab.caller).await;
    assert_eq!(refused.status(), Some(503));
    assert!(
        refused.text().contains("Channel limit reached"),
        "{}",
        refused.text()
    );
    let (mut a, _) = dialogs.pop().unwrap();
    let bye = lab.caller.in_dialog(&mut a, "BYE");
    lab.caller.send(bye).await.unwrap();
    let gw = &mut lab.gateways[0];
    let bye = expect_request(gw, "BYE").await;
    gw.respond(&bye, 200, "OK").await.unwrap();
    expect_status(&mut lab.caller, 200).await;
    assert_eq!(lab.board.channels_in_use(CUSTOMER), 4);
    dialogs.push(connect(&mut lab, 0).await);
    assert_eq!(lab.board.channels_in_use(CUSTOMER), 5);
    lab.edge.shutdown(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn cps_limit_admits_ten_of_a_burst_of_thirty() {
    let mut lab = Lab::start(1, |c| c.accounts[0].cps = 10).await;
    let mut invites = Vec::new();
    for _ in 0..30 {
        invites.push(lab.invite(NUMBER).await);
    }
    let gw = &mut lab.gateways[0];
    let mut admitted = 0;
    while let Some(inv) = gw
        .recv_until(Duration::from_millis(500), |r| {
            r.method().as_deref() == Some("INVITE")
        })
        .await
        .unwrap()
    {
        admitted += 1;
        gw.respond(&inv, 486, "Busy Here").await.unwrap();
    }
    // Non-2xx finals are retransmitted until ACKed: count calls, not
    // messages.
    let mut refused = std::collections::HashSet::new();
    while let Some(r) = lab
        .caller
        .recv_until(Duration::from_millis(500), |r| {
            r.status().is_some_and(|c| c >= 200)
        })
        .await
        .unwrap()
    {
        if r.status() == Some(503) {
            assert!(r.text().contains("CPS limit reached"));
            refused.insert(r.header("Call-ID"));
        }
    }
    assert!((9..=11).contains(&admitted), "{admitted} admitted");
    assert_eq!(admitted + refused.len(), 30);
    assert!(lab.channels_back_to_zero().await);
    lab.edge.shutdown(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn weights_ten_and_one_share_calls_exactly() {
    let mut lab = Lab::start(2, |c| c.entries[1].weight = 10).await;
    let mut counts = [0usize; 2];
    for _ in 0..1_100 {
        lab.invite(NUMBER).await;
        // Whichever gateway got it answers 486 at once.
        let (g, inv) = either_invite(&mut lab.gateways).await;
        counts[g] += 1;
        lab.gateways[g]
            .respond(&inv, 486, "Busy Here")
            .await
            .unwrap();
        expect_status(&mut lab.caller, 486).await;
    }
    assert_eq!(counts, [1_000, 100]);
    lab.edge.shutdown(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn failover_on_503_and_on_silence_but_not_on_486() {
    let mut lab = Lab::start(2, failover_pair).await;
    // 503 from the first gateway: the second gets the call, the caller
    // sees only the final answer.
    let sent = lab.invite(NUMBER).await;
    let first = expect_request(&mut lab.gateways[0], "INVITE").await;
    lab.gateways[0]
        .respond(&first, 503, "Service Unavailable")
        .await
        .unwrap();
    let second = expect_request(&mut lab.gateways[1], "INVITE").await;
    assert_ne!(first.header("Call-ID"), second.header("Call-ID"));
    let gw = &mut lab.gateways[1];
    gw.send(gateway_answer(gw, &second, 200, "OK", "g2"))
        .await
        .unwrap();
    let ok = expect_final(&mut lab.caller).await;
    assert_eq!(ok.status(), Some(200), "{}", ok.text());
    ack_and_hang_up(&mut lab.caller, &sent, &ok).await;
    expect_status(&mut lab.caller, 200).await;
    assert!(lab.channels_back_to_zero().await);

    // Weights 10 and 1: the pick starts with gateway 0 again; it stays
    // silent.
    lab.invite(NUMBER).await;
    let silent = expect_request(&mut lab.gateways[0], "INVITE").await;
    let started = tokio::time::Instant::now();
    let moved = expect_request(&mut lab.gateways[1], "INVITE").await;
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(800),
        "failed over after {waited:?}"
    );
    assert_ne!(silent.header("Call-ID"), moved.header("Call-ID"));
    lab.gateways[1]
        .respond(&moved, 486, "Busy Here")
        .await
        .unwrap();
    let busy = expect_final(&mut lab.caller).await;
    assert_eq!(busy.status(), Some(486));

    // 486 is the caller's answer, not failed over. Gateway 0, silent a
    // moment ago, now comes last, so gateway 1 gets the call first.
    lab.invite(NUMBER).await;
    let inv = expect_request(&mut lab.gateways[1], "INVITE").await;
    lab.gateways[1]
        .respond(&inv, 486, "Busy Here")
        .await
        .unwrap();
    assert_eq!(expect_final(&mut lab.caller).await.status(), Some(486));
    // Gateway 0 still hears the silent INVITE's retransmissions, nothing new.
    let silent_id = silent.header("Call-ID");
    let fresh =
        |r: &Received| r.method().as_deref() == Some("INVITE") && r.header("Call-ID") != silent_id;
    assert!(
        lab.gateways[0]
            .recv_until(Duration::from_millis(300), fresh)
            .await
            .unwrap()
            .is_none(),
        "486 was failed over"
    );
    assert!(lab.channels_back_to_zero().await);
    lab.edge.shutdown(Duration::from_millis(100)).await;
}

/// A 407 challenge for `request`.
fn challenge_for(request: &Received, nonce: &str) -> tollgate_sip::MessageBuilder {
    TestUa::response(request, 407, "Proxy Authentication Required", "ch").header(
        "Proxy-Authenticate",
        format!("Digest realm=\"carrier\", nonce=\"{nonce}\", algorithm=SHA-256, qop=\"auth\""),
    )
}

/// Checks `request`'s Proxy-Authorization for user `carrier-user`
/// (SHA-256).
fn check_credentials(request: &Received, method: &str, nonce: &str) {
    check_credentials_in(request, "Proxy-Authorization", Hash::Sha256, method, nonce);
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

#[tokio::test]
async fn a_401_is_answered_with_authorization_in_md5_and_sha_512_256() {
    let mut lab = Lab::start(1, gateway_credentials).await;
    for (token, hash) in [("MD5", Hash::Md5), ("SHA-512-256", Hash::Sha512_256)] {
        lab.invite(NUMBER).await;
        let gw = &mut lab.gateways[0];
        let first = expect_request(gw, "INVITE").await;
        let nonce = format!("n-{token}");
        let challenge = TestUa::response(&first, 401, "Unauthorized", "ch").header(
            "WWW-Authenticate",
            format!("Digest realm=\"carrier\", nonce=\"{nonce}\", algorithm={token}, qop=\"auth\""),
        );
        gw.send(challenge).await.unwrap();
        let retry = expect_request(gw, "INVITE").await;
        assert!(retry.header("Proxy-Authorization").is_none());
        check_credentials_in(&retry, "Authorization", hash, "INVITE", &nonce);
        gw.respond(&retry, 486, "Busy Here").await.unwrap();
        assert_eq!(expect_final(&mut lab.caller).await.status(), Some(486));
    }
    lab.edge.shutdown(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn carrier_challenges_are_answered_on_invite_and_bye() {
    let mut lab = Lab::start(1, gateway_credentials).await;
    let sent = lab.invite(NUMBER).await;
    let gw = &mut lab.gateways[0];
    let first = expect_request(gw, "INVITE").await;
    gw.send(challenge_for(&first, "n1")).await.unwrap();
    expect_request(gw, "ACK").await;
    let retry = expect_request(gw, "INVITE").await;
    assert_eq!(retry.header("Call-ID"), first.header("Call-ID"));
    assert_eq!(retry.cseq(), first.cseq().map(|c| c + 1));
    check_credentials(&retry, "INVITE", "n1");
    gw.send(gateway_answer(gw, &retry, 200, "OK", "g1"))
        .await
        .unwrap();
    let ack = expect_request(gw, "ACK").await;
    assert_eq!(ack.cseq(), retry.cseq());
    let ok = expect_status(&mut lab.caller, 200).await;
    ack_and_hang_up(&mut lab.caller, &sent, &ok).await;
    let gw = &mut lab.gateways[0];
    let bye = expect_request(gw, "BYE").await;
    assert!(bye.cseq() > retry.cseq(), "BYE after the challenged CSeq");
    gw.send(challenge_for(&bye, "n2")).await.unwrap();
    let bye2 = expect_request(gw, "BYE").await;
    assert_eq!(bye2.cseq(), bye.cseq().map(|c| c + 1));
    check_credentials(&bye2, "BYE", "n2");
    gw.respond(&bye2, 200, "OK").await.unwrap();
    assert!(lab.channels_back_to_zero().await);
    lab.edge.shutdown(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn a_carriers_nonce_answers_its_next_challenge_in_advance() {
    let mut lab = Lab::start(1, gateway_credentials).await;
    lab.invite(NUMBER).await;
    let gw = &mut lab.gateways[0];
    let first = expect_request(gw, "INVITE").await;
    assert!(first.header("Proxy-Authorization").is_none());
    gw.send(challenge_for(&first, "n1")).await.unwrap();
    let retry = expect_request(gw, "INVITE").await;
    check_credentials(&retry, "INVITE", "n1");
    gw.respond(&retry, 486, "Busy Here").await.unwrap();
    assert_eq!(expect_final(&mut lab.caller).await.status(), Some(486));

    // The next call carries the answer to n1 with the next nonce-count.
    lab.invite(NUMBER).await;
    let gw = &mut lab.gateways[0];
    let second = expect_request(gw, "INVITE").await;
    check_credentials(&second, "INVITE", "n1");
    let value = second.header("Proxy-Authorization").unwrap();
    let auth = AuthValue::parse(value.as_bytes()).unwrap();
    let creds = tollgate_sip::digest::Credentials::parse(&auth).unwrap();
    assert_eq!(creds.nonce_count(), Some(2));
    // Refused all the same: the one after waits for a challenge again.
    gw.respond(&second, 403, "Forbidden").await.unwrap();
    expect_final(&mut lab.caller).await;
    lab.invite(NUMBER).await;
    let third = expect_request(&mut lab.gateways[0], "INVITE").await;
    assert!(third.header("Proxy-Authorization").is_none());
    lab.edge.shutdown(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn a_second_challenge_or_none_to_answer_fails_over() {
    let mut lab = Lab::start(2, |c| {
        c.accounts[1].carrier.gateway_failover = 1;
        c.entries[1].weight = 5;
        c.entries[2].weight = 1;
    })
    .await;
    lab.invite(NUMBER).await;
    let first = expect_request(&mut lab.gateways[0], "INVITE").await;
    lab.gateways[0]
        .send(challenge_for(&first, "n"))
        .await
        .unwrap();
    let moved = expect_request(&mut lab.gateways[1], "INVITE").await;
    lab.gateways[1]
        .respond(&moved, 480, "Temporarily Unavailable")
        .await
        .unwrap();
    assert_eq!(expect_final(&mut lab.caller).await.status(), Some(480));
    assert!(lab.channels_back_to_zero().await);
    lab.edge.shutdown(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn restricted_codecs_are_removed_and_nothing_left_is_488() {
    let mut lab = Lab::start(1, |c| c.entries[0].restricted_codecs = vec!["PCMA".into()]).await;
    let (mut a, _) = {
        let sent = lab.invite(NUMBER).await;
        let gw = &mut lab.gateways[0];
        let at_gw = expect_request(gw, "INVITE").await;
        let body = at_gw.body();
        assert!(!body.contains("PCMA") && body.contains("PCMU"), "{body}");
        assert!(body.contains("m=audio 4000 RTP/AVP 0 101"), "{body}");
        // The carrier offers PCMA back in its answer: the caller never
        // sees it.
        let answer = ANSWER.replace("RTP/AVP 0\r\n", "RTP/AVP 8 0\r\na=rtpmap:8 PCMA/8000\r\n");
        let ok = TestUa::response(&at_gw, 200, "OK", "g")
            .header("Contact", format!("<sip:gw@{}>", gw.local_addr()))
            .body("application/sdp", answer);
        gw.send(ok).await.unwrap();
        let ok = expect_status(&mut lab.caller, 200).await;
        let body = ok.body();
        assert!(!body.contains("PCMA"), "{body}");
        assert!(body.contains("m=audio 5000 RTP/AVP 0\r\n"), "{body}");
        (Dialog::from_answer(&sent, &ok), ())
    };
    let ack = lab.caller.in_dialog(&mut a, "ACK");
    lab.caller.send(ack).await.unwrap();
    let bye = lab.caller.in_dialog(&mut a, "BYE");
    lab.caller.send(bye).await.unwrap();
    expect_status(&mut lab.caller, 200).await;
    assert!(lab.channels_back_to_zero().await);

    let mut config = lab.config.clone();
    config.entries[0].restricted_codecs = vec!["PCMA".into(), "PCMU".into()];
    lab.snapshot.publish(Snapshot::build(&config, 3));
    lab.invite(NUMBER).await;
    assert_eq!(expect_final(&mut lab.caller).await.status(), Some(488));
    assert!(lab.channels_back_to_zero().await);
    lab.edge.shutdown(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn numbers_are_rewritten_for_the_carrier() {
    let mut lab = Lab::start(1, |c| {
        let e = &mut c.entries[0];
        e.tech_prefix = "777".into();
        e.strip_digits = 2;
        e.cli_prefix = "+1".into();
        c.accounts[1].carrier.tech_prefix = "9#".into();
    })
    .await;
    let gw_addr = lab.gateways[0].local_addr();
    // Tech prefix 777 identifies the account and is removed, 2 digits are
    // stripped, the rest must be E.164.
    lab.invite("77700441632960123").await;
    let gw = &mut lab.gateways[0];
    let at_gw = expect_request(gw, "INVITE").await;
    assert_eq!(at_gw.uri(), Some(format!("sip:9#441632960123@{gw_addr}")));
    assert!(
        at_gw.header("From").unwrap().contains("sip:+1testua@"),
        "{}",
        at_gw.text()
    );
    gw.respond(&at_gw, 486, "Busy Here").await.unwrap();
    expect_final(&mut lab.caller).await;
    lab.invite("7770012345").await;
    let refused = expect_final(&mut lab.caller).await;
    assert_eq!(refused.status(), Some(403));
    assert!(refused.text().contains("Blocked by dial plan"));
    let mut config = lab.config.clone();
    config.routes[0].dial_string = vec!["33".into()];
    lab.snapshot.publish(Snapshot::build(&config, 3));
    lab.invite("77700441632960123").await;
    let refused = expect_final(&mut lab.caller).await;
    assert_eq!(refused.status(), Some(404));
    assert!(refused.text().contains("No route"));
    assert!(lab.channels_back_to_zero().await);
    lab.edge.shutdown(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn max_duration_ends_both_legs() {
    let mut lab = Lab::start(1, |c| c.routes[0].max_duration_s = 1).await;
    let (_a, _b) = connect(&mut lab, 0).await;
    let started = tokio::time::Instant::now();
    let bye_a = expect_request(&mut lab.caller, "BYE").await;
    let bye_b = expect_request(&mut lab.gateways[0], "BYE").await;
    assert!(started.elapsed() >= Duration::from_millis(800));
    lab.caller.respond(&bye_a, 200, "OK").await.unwrap();
    lab.gateways[0].respond(&bye_b, 200, "OK").await.unwrap();
    assert!(lab.channels_back_to_zero().await);
    lab.edge.shutdown(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn an_unanswered_bye_still_ends_the_call() {
    let mut lab = Lab::start(1, |_| {}).await;
    let (mut a, _) = connect(&mut lab, 0).await;
    let bye = lab.caller.in_dialog(&mut a, "BYE");
    lab.caller.send(bye).await.unwrap();
    expect_status(&mut lab.caller, 200).await;
    // The gateway never answers the BYE.
    expect_request(&mut lab.gateways[0], "BYE").await;
    assert!(lab.channels_back_to_zero().await);
    lab.edge.shutdown(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn the_api_can_hang_up_a_live_call() {
    let mut lab = Lab::start(1, |_| {}).await;
    connect(&mut lab, 0).await;
    let calls = lab.board.list();
    assert_eq!(calls.len(), 1);
    assert!(calls[0].answered.is_some());
    assert!(lab.board.hang_up(calls[0].id));
    assert!(!lab.board.hang_up(calls[0].id + 1));
    let bye = expect_request(&mut lab.gateways[0], "BYE").await;
    lab.gateways[0].respond(&bye, 200, "OK").await.unwrap();
    lab.end_with_callers_bye().await;
}

/// A digest-authenticated call with challenge `which` (0 = SHA-256,
/// 1 = MD5) from 127.0.0.4, naming alice in its From.
async fn digest_call(which: usize) {
    let mut lab = Lab::start(1, |_| {}).await;
    let mut ua = TestUa::udp_from("127.0.0.4:0".parse().unwrap(), lab.server)
        .await
        .unwrap();
    ua.set_user("alice");
    let uri = lab.uri(NUMBER);
    Lab::invite_from(&mut ua, &uri, SDP).await;
    let challenged = expect_final(&mut ua).await;
    assert_eq!(challenged.status(), Some(407));
    let ack = ua.request("ACK", &uri);
    ua.send(ack).await.unwrap();
    let challenges = challenged.headers("Proxy-Authenticate");
    let challenge =
        Challenge::parse(&AuthValue::parse(challenges[which].as_bytes()).unwrap()).unwrap();
    let credentials = answer(
        &challenge,
        &Answer {
            username: b"alice",
            password: b"s3cret-pass",
            method: b"INVITE",
            uri: uri.as_bytes(),
            cnonce: b"c0ffee",
            nc: 1,
        },
    );
    let contact = format!("<sip:alice@{}>", ua.local_addr());
    let request = ua
        .request("INVITE", &uri)
        .header("Contact", contact)
        .header("Proxy-Authorization", credentials)
        .body("application/sdp", SDP);
    let sent = Received {
        data: ua.send(request).await.unwrap(),
    };
    let gw = &mut lab.gateways[0];
    let at_gw = expect_request(gw, "INVITE").await;
    assert!(!at_gw.text().contains("Proxy-Authorization"));
    gw.send(gateway_answer(gw, &at_gw, 200, "OK", "g"))
        .await
        .unwrap();
    let ok = expect_status(&mut ua, 200).await;
    assert_eq!(lab.board.list()[0].user_id, Some(1));
    ack_and_hang_up(&mut ua, &sent, &ok).await;
    expect_status(&mut ua, 200).await;
    assert!(lab.channels_back_to_zero().await);
    lab.edge.shutdown(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn digest_authenticated_call_with_sha256() {
    digest_call(0).await;
}

#[tokio::test]
async fn digest_authenticated_call_with_md5() {
    digest_call(1).await;
}

#[tokio::test]
async fn a_re_invite_is_relayed_with_each_legs_own_cseq() {
    let mut lab = Lab::start(1, |c| c.entries[0].restricted_codecs = vec!["PCMA".into()]).await;
    let (mut a, mut b) = connect(&mut lab, 0).await;
    // The caller re-INVITEs (hold, say): the carrier gets it in its own
    // dialog, with its own CSeq, codecs still restricted.
    let reinvite = lab
        .caller
        .in_dialog(&mut a, "INVITE")
        .header(
            "Contact",
            format!("<sip:caller@{}>", lab.caller.local_addr()),
        )
        .body("application/sdp", SDP.replace("0 8 101", "8 0 101"));
    lab.caller.send(reinvite).await.unwrap();
    let gw = &mut lab.gateways[0];
    let at_gw = expect_request(gw, "INVITE").await;
    assert_eq!(at_gw.header("Call-ID").as_deref(), Some(b.call_id.as_str()));
    assert_eq!(
        at_gw.cseq(),
        Some(2),
        "the B-leg's CSeq space: INVITE 1, now 2"
    );
    assert!(!at_gw.body().contains("PCMA"), "{}", at_gw.body());
    let tag = b.local.rsplit("tag=").next().unwrap().to_owned();
    gw.send(gateway_answer(gw, &at_gw, 200, "OK", &tag))
        .await
        .unwrap();
    let ack = expect_request(gw, "ACK").await;
    assert_eq!(ack.cseq(), Some(2));
    let ok = expect_status(&mut lab.caller, 200).await;
    assert_eq!(ok.cseq(), a.cseq.into());
    assert_eq!(ok.body(), ANSWER);
    let ack = lab.caller.in_dialog(&mut a, "ACK");
    lab.caller.send(ack).await.unwrap();

    // The carrier sends INFO the other way: relayed, answered back.
    let gw = &mut lab.gateways[0];
    let info = gw
        .in_dialog(&mut b, "INFO")
        .body("application/dtmf-relay", "Signal=5\r\nDuration=160\r\n");
    gw.send(info).await.unwrap();
    let at_caller = expect_request(&mut lab.caller, "INFO").await;
    assert_eq!(at_caller.body(), "Signal=5\r\nDuration=160\r\n");
    assert_eq!(
        at_caller.header("Call-ID").as_deref(),
        Some(a.call_id.as_str())
    );
    lab.caller.respond(&at_caller, 200, "OK").await.unwrap();
    let answered = expect_final(&mut lab.gateways[0]).await;
    assert_eq!(answered.status(), Some(200));
    assert_eq!(answered.cseq(), Some(b.cseq));

    // An in-dialog request for a dialog that does not exist gets 481.
    let mut stranger = a.clone();
    stranger.call_id = "no-such-call@testua".into();
    let bye = lab.caller.in_dialog(&mut stranger, "BYE");
    lab.caller.send(bye).await.unwrap();
    assert_eq!(expect_final(&mut lab.caller).await.status(), Some(481));
    lab.edge.shutdown(Duration::from_millis(100)).await;
}

/// The caller's INVITE without an offer, and what gateway 0 got of it.
async fn late_offer_invite(lab: &mut Lab) -> (Received, Received) {
    let uri = lab.uri(NUMBER);
    let contact = format!("<sip:caller@{}>", lab.caller.local_addr());
    let invite = lab
        .caller
        .request("INVITE", &uri)
        .header("Contact", contact);
    let sent = Received {
        data: lab.caller.send(invite).await.unwrap(),
    };
    let at_gw = expect_request(&mut lab.gateways[0], "INVITE").await;
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

#[tokio::test]
async fn a_late_offer_the_call_drops_is_declined_in_the_ack_before_the_bye() {
    let mut lab = Lab::start(1, |_| {}).await;
    let (_, at_gw) = late_offer_invite(&mut lab).await;
    let gw_addr = lab.gateways[0].local_addr();
    let gw = &mut lab.gateways[0];
    gw.send(recorded_answer(&at_gw, gw_addr, "phone", "late"))
        .await
        .unwrap();
    expect_status(&mut lab.caller, 200).await;
    // A second fork answers with an offer of its own: its ACK must answer
    // that offer before the BYE, and declines it.
    let gw = &mut lab.gateways[0];
    gw.send(recorded_answer(&at_gw, gw_addr, "fork2", "fork2"))
        .await
        .unwrap();
    declines_the_offer(&expect_ack_and_bye(gw, &at_gw, "fork2", "fork2").await);
    // The caller never acknowledges the answer (64·T1): the call ends, and
    // the carrier, still owed the ACK of its offer, gets it before the BYE.
    declines_the_offer(&expect_ack_and_bye(gw, &at_gw, "phone", "late").await);
    lab.end_with_callers_bye().await;
}

/// The caller re-INVITEs without an offer in dialog `a`; gateway 0 answers
/// 200 (To tag `tag`) with an offer. Returns the re-INVITE it got.
async fn offerless_reinvite(lab: &mut Lab, a: &mut Dialog, tag: &str) -> Received {
    let contact = format!("<sip:caller@{}>", lab.caller.local_addr());
    let reinvite = lab.caller.in_dialog(a, "INVITE").header("Contact", contact);
    lab.caller.send(reinvite).await.unwrap();
    let gw = &mut lab.gateways[0];
    let at_gw = expect_request(gw, "INVITE").await;
    assert!(at_gw.body().is_empty(), "no offer to pass on");
    gw.send(gateway_answer(gw, &at_gw, 200, "OK", tag))
        .await
        .unwrap();
    at_gw
}

#[tokio::test]
async fn an_offerless_re_invite_gets_its_answer_in_the_far_ack() {
    let mut lab = Lab::start(1, |_| {}).await;
    let (mut a, b) = connect(&mut lab, 0).await;
    let tag = b.local.rsplit("tag=").next().unwrap().to_owned();
    // The caller re-INVITEs without an offer: the carrier's 2xx brings one.
    let at_gw = offerless_reinvite(&mut lab, &mut a, &tag).await;
    let ok = expect_status(&mut lab.caller, 200).await;
    assert_eq!(ok.body(), ANSWER, "the carrier's offer reaches the caller");
    let gw = &mut lab.gateways[0];
    assert!(
        gw.recv_until(Duration::from_millis(200), |r| r.method().as_deref()
            == Some("ACK"))
            .await
            .unwrap()
            .is_none(),
        "the carrier's ACK waits for the caller's answer"
    );
    let ack = lab
        .caller
        .in_dialog(&mut a, "ACK")
        .body("application/sdp", SDP);
    lab.caller.send(ack).await.unwrap();
    let gw = &mut lab.gateways[0];
    let ack = expect_request(gw, "ACK").await;
    assert_eq!((ack.cseq(), ack.body().as_str()), (at_gw.cseq(), SDP));
    // Its 2xx sent again gets the same ACK again, answer included.
    gw.send(gateway_answer(gw, &at_gw, 200, "OK", &tag))
        .await
        .unwrap();
    assert_eq!(expect_request(gw, "ACK").await.data, ack.data);
    // Another offerless re-INVITE whose answer the caller never sends: when
    // the call ends (no ACK within 64·T1) the carrier first gets its ACK,
    // declining its offer, then the BYE.
    let at_gw = offerless_reinvite(&mut lab, &mut a, &tag).await;
    let gw = &mut lab.gateways[0];
    let ack = expect_request(gw, "ACK").await;
    assert_eq!(ack.cseq(), at_gw.cseq());
    declines_the_offer(&ack);
    expect_request(gw, "BYE").await;
    lab.end_with_callers_bye().await;
}

#[tokio::test]
async fn a_late_offer_is_answered_in_the_callers_ack() {
    let mut lab = Lab::start(1, |_| {}).await;
    let (sent, at_gw) = late_offer_invite(&mut lab).await;
    let gw = &mut lab.gateways[0];
    gw.send(gateway_answer(gw, &at_gw, 200, "OK", "late"))
        .await
        .unwrap();
    let ok = expect_status(&mut lab.caller, 200).await;
    assert_eq!(ok.body(), ANSWER, "the carrier's offer reaches the caller");
    assert!(
        lab.gateways[0]
            .recv_until(Duration::from_millis(200), |r| r.method().as_deref()
                == Some("ACK"))
            .await
            .unwrap()
            .is_none(),
        "the B-leg ACK waits for the caller's answer"
    );
    let mut a = Dialog::from_answer(&sent, &ok);
    let ack = lab
        .caller
        .in_dialog(&mut a, "ACK")
        .body("application/sdp", SDP);
    lab.caller.send(ack).await.unwrap();
    let ack = expect_request(&mut lab.gateways[0], "ACK").await;
    assert_eq!(ack.body(), SDP);
    // The carrier did not hear that ACK: the same ACK, answer included,
    // goes out again.
    let gw = &mut lab.gateways[0];
    gw.send(gateway_answer(gw, &at_gw, 200, "OK", "late"))
        .await
        .unwrap();
    let again = expect_request(gw, "ACK").await;
    assert_eq!(again.data, ack.data);
    lab.edge.shutdown(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn a_retransmitted_answer_is_acknowledged_again() {
    let mut lab = Lab::start(1, |_| {}).await;
    lab.invite(NUMBER).await;
    let gw = &mut lab.gateways[0];
    let at_gw = expect_request(gw, "INVITE").await;
    let ok = gateway_answer(gw, &at_gw, 200, "OK", "gwtag");
    gw.send(ok).await.unwrap();
    let first = expect_request(gw, "ACK").await;
    for _ in 0..2 {
        let ok = gateway_answer(gw, &at_gw, 200, "OK", "gwtag");
        gw.send(ok).await.unwrap();
        let again = expect_request(gw, "ACK").await;
        assert_eq!(
            again.header("CSeq"),
            at_gw.header("CSeq").map(|c| c.replace("INVITE", "ACK"))
        );
        assert_eq!(again.header("Call-ID"), first.header("Call-ID"));
        assert_eq!(again.header("To"), first.header("To"));
    }
    // A 2xx whose From tag names no dialog of Tollgate's gets nothing.
    let from = at_gw.header("From").unwrap();
    let tag = from.split("tag=").nth(1).unwrap().to_owned();
    let forged = Received {
        data: at_gw.text().replace(&tag, "00000000000000001").into(),
    };
    gw.send(gateway_answer(gw, &forged, 200, "OK", "gwtag"))
        .await
        .unwrap();
    assert!(gw.is_silent_for(Duration::from_millis(300)).await);
    lab.edge.shutdown(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn a_second_fork_answering_is_acknowledged_and_hung_up() {
    let mut lab = Lab::start(1, |_| {}).await;
    let (mut a, b, at_gw) = connect_with_invite(&mut lab, 0).await;
    let first_tag = b.local.rsplit_once(";tag=").unwrap().1.to_owned();
    let gw_addr = lab.gateways[0].local_addr();
    let gw = &mut lab.gateways[0];
    // The carrier forked the INVITE and a second phone answered too: a
    // dialog of its own (its tag, its Contact), with a Record-Route.
    let fork2 = || recorded_answer(&at_gw, gw_addr, "fork2", "fork2");
    gw.send(fork2()).await.unwrap();
    expect_ack_and_bye(gw, &at_gw, "fork2", "fork2").await;
    // Its answer sent again (the ACK crossed it) is acknowledged again;
    // the fork is not hung up twice.
    gw.send(fork2()).await.unwrap();
    let again = expect_request(gw, "ACK").await;
    assert!(again.header("To").unwrap().ends_with("tag=fork2"));
    assert!(gw.is_silent_for(Duration::from_millis(300)).await);
    // The caller never hears of the fork, and its call goes on with the
    // first answer's dialog.
    assert!(lab.caller.is_silent_for(Duration::from_millis(300)).await);
    assert_eq!(lab.board.list()[0].state, CallState::Answered);
    let bye = lab.caller.in_dialog(&mut a, "BYE");
    lab.caller.send(bye).await.unwrap();
    expect_status(&mut lab.caller, 200).await;
    let gw = &mut lab.gateways[0];
    let bye = expect_request(gw, "BYE").await;
    assert!(
        bye.header("To")
            .unwrap()
            .ends_with(&format!("tag={first_tag}"))
    );
    gw.respond(&bye, 200, "OK").await.unwrap();
    assert!(lab.channels_back_to_zero().await);
    lab.edge.shutdown(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn a_full_gateway_is_skipped_not_failed() {
    let mut lab = Lab::start(2, |c| {
        c.entries[1].weight = 10;
        c.entries[1].channels = 1;
    })
    .await;
    connect(&mut lab, 0).await;
    // Gateway 0 would win the weighted pick but holds its one channel:
    // the next call goes to gateway 1.
    let (_a, _b) = connect(&mut lab, 1).await;
    assert_eq!(lab.board.channels_in_use(CARRIER), 2);
    lab.edge.shutdown(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn an_outbound_proxy_gets_the_call_with_a_preloaded_route() {
    let mut lab = Lab::start(2, |c| {
        // Gateway 0 is reached through gateway 1's address, the proxy.
        let proxy = format!("127.0.0.3:{}", c.entries[2].port);
        c.entries[1].outbound_proxy = Some(proxy);
        c.entries[2].enabled = false;
    })
    .await;
    let gw = lab.gateways[0].local_addr();
    let proxy = lab.gateways[1].local_addr();
    lab.invite(NUMBER).await;
    let at_proxy = expect_request(&mut lab.gateways[1], "INVITE").await;
    assert_eq!(at_proxy.uri(), Some(format!("sip:441632960123@{gw}")));
    assert_eq!(at_proxy.header("Route"), Some(format!("<sip:{proxy};lr>")));
    lab.gateways[1]
        .respond(&at_proxy, 486, "Busy Here")
        .await
        .unwrap();
    assert_eq!(expect_final(&mut lab.caller).await.status(), Some(486));
    assert!(lab.channels_back_to_zero().await);
    lab.edge.shutdown(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn over_cps_with_a_buffer_a_call_waits_for_budget() {
    let calls = CallConfig {
        timers: timers(),
        cps_buffer: Duration::from_secs(2),
        ..CallConfig::default()
    };
    let mut lab = Lab::start_with(1, calls, |c| c.accounts[0].cps = 2).await;
    let started = tokio::time::Instant::now();
    for _ in 0..4 {
        lab.invite(NUMBER).await;
    }
    // Two go at once; the others wait for the bucket (2 per second) and
    // are told 100 Trying meanwhile.
    let gw = &mut lab.gateways[0];
    let mut arrivals = Vec::new();
    for _ in 0..4 {
        let inv = expect_request(gw, "INVITE").await;
        arrivals.push(started.elapsed());
        gw.respond(&inv, 486, "Busy Here").await.unwrap();
    }
    assert!(arrivals[1] < Duration::from_millis(300), "{arrivals:?}");
    assert!(arrivals[2] >= Duration::from_millis(400), "{arrivals:?}");
    assert!(arrivals[3] < Duration::from_secs(2), "{arrivals:?}");
    let trying = lab
        .caller
        .recv_until(WAIT, |r| r.status() == Some(100))
        .await
        .unwrap();
    assert!(trying.is_some(), "waiting calls hear 100 Trying");
    // A burst beyond what the buffer can absorb is refused in the end.
    for _ in 0..8 {
        lab.invite(NUMBER).await;
    }
    let refused = lab
        .caller
        .recv_until(Duration::from_secs(4), |r| r.status() == Some(503))
        .await
        .unwrap()
        .expect("refused after the buffer");
    assert!(refused.text().contains("CPS limit reached"));
    lab.edge.shutdown(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn a_required_extension_tollgate_lacks_gets_420() {
    let mut lab = Lab::start(1, |_| {}).await;
    let uri = lab.uri(NUMBER);
    let invite = lab
        .caller
        .request("INVITE", &uri)
        .header("Require", "100rel, timer")
        .body("application/sdp", SDP);
    lab.caller.send(invite).await.unwrap();
    let refused = expect_final(&mut lab.caller).await;
    assert_eq!(refused.status(), Some(420));
    assert_eq!(
        refused.header("Unsupported").as_deref(),
        Some("timer"),
        "100rel is carried end to end"
    );
    nothing_reached_the_carrier(lab).await;
}

/// The caller's INVITE asking for reliable provisionals with `header`
/// (Supported or Require), its CSeq kept ahead of the B-leg's.
async fn reliable_invite(lab: &mut Lab, header: &str) -> Received {
    let uri = lab.uri(NUMBER);
    for _ in 0..2 {
        let _ = lab.caller.request("OPTIONS", &uri);
    }
    let contact = format!("<sip:caller@{}>", lab.caller.local_addr());
    let invite = lab
        .caller
        .request("INVITE", &uri)
        .header("Contact", contact)
        .header(header, "100rel")
        .body("application/sdp", SDP);
    Received {
        data: lab.caller.send(invite).await.unwrap(),
    }
}

/// Gateway `g` answers `invite` with a reliable 183 (To tag `tag`, RSeq
/// `rseq`); returns the 183 the caller got.
async fn reliable_183(
    lab: &mut Lab,
    g: usize,
    invite: &Received,
    tag: &str,
    rseq: u32,
) -> Received {
    let gw = &mut lab.gateways[g];
    let reliable = gateway_answer(gw, invite, 183, "Progress", tag)
        .header("Require", "100rel")
        .header("RSeq", rseq.to_string());
    gw.send(reliable).await.unwrap();
    let progress = expect_status(&mut lab.caller, 183).await;
    assert_eq!(progress.header("Require").as_deref(), Some("100rel"));
    progress
}

/// The caller PRACKs `progress` in its early dialog `a` (its INVITE was
/// `sent`); gateway `g` answers 200. Returns the PRACK the gateway got.
async fn prack(
    lab: &mut Lab,
    g: usize,
    a: &mut Dialog,
    sent: &Received,
    progress: &Received,
) -> Received {
    let rseq = progress.header("RSeq").unwrap();
    let rack = format!("{rseq} {} INVITE", sent.cseq().unwrap());
    let prack = lab.caller.in_dialog(a, "PRACK").header("RAck", rack);
    lab.caller.send(prack).await.unwrap();
    let gw = &mut lab.gateways[g];
    let at_gw = expect_request(gw, "PRACK").await;
    gw.send(TestUa::response(&at_gw, 200, "OK", ""))
        .await
        .unwrap();
    let pracked = expect_status(&mut lab.caller, 200).await;
    assert_eq!(pracked.cseq(), Some(a.cseq), "the 200 answers the PRACK");
    at_gw
}

#[tokio::test]
async fn reliable_provisionals_and_prack_cross_end_to_end() {
    let mut lab = Lab::start(1, |_| {}).await;
    let sent = reliable_invite(&mut lab, "Supported").await;
    let at_gw = expect_request(&mut lab.gateways[0], "INVITE").await;
    assert_eq!(at_gw.header("Supported").as_deref(), Some("100rel"));
    assert_ne!(sent.cseq(), at_gw.cseq(), "each leg has its own CSeq");
    let progress = reliable_183(&mut lab, 0, &at_gw, "rel", 41).await;
    assert_eq!(progress.header("RSeq").as_deref(), Some("41"));
    // The caller's PRACK names the 183 by its own INVITE's CSeq; the
    // carrier's names it by the B-leg INVITE's.
    let mut a = Dialog::from_answer(&sent, &progress);
    let at_gw_prack = prack(&mut lab, 0, &mut a, &sent, &progress).await;
    assert_eq!(
        at_gw_prack.header("RAck"),
        Some(format!("41 {} INVITE", at_gw.cseq().unwrap()))
    );
    assert!(at_gw_prack.header("To").unwrap().contains("tag=rel"));
    let gw = &mut lab.gateways[0];
    gw.send(gateway_answer(gw, &at_gw, 200, "OK", "rel"))
        .await
        .unwrap();
    expect_request(gw, "ACK").await;
    let ok = expect_status(&mut lab.caller, 200).await;
    assert_eq!(ok.cseq(), sent.cseq());
    ack_and_hang_up(&mut lab.caller, &sent, &ok).await;
    expect_request(&mut lab.gateways[0], "BYE").await;
    assert!(lab.channels_back_to_zero().await);
    lab.edge.shutdown(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn each_forks_reliable_provisional_is_pracked_in_its_own_early_dialog() {
    let mut lab = Lab::start(1, |_| {}).await;
    let sent = reliable_invite(&mut lab, "Supported").await;
    let at_gw = expect_request(&mut lab.gateways[0], "INVITE").await;
    // The carrier's proxy forked the INVITE: two phones each send a
    // reliable 183 in their own early dialog, with their own RSeq numbers.
    let first = reliable_183(&mut lab, 0, &at_gw, "f1", 100).await;
    assert_eq!(first.header("RSeq").as_deref(), Some("100"));
    let second = reliable_183(&mut lab, 0, &at_gw, "f2", 7).await;
    assert_eq!(
        second.header("RSeq").as_deref(),
        Some("101"),
        "the caller's one early dialog counts on from 100"
    );
    // The first fork's 183 sent again keeps the number the caller got.
    let again = reliable_183(&mut lab, 0, &at_gw, "f1", 100).await;
    assert_eq!(again.header("RSeq").as_deref(), Some("100"));
    // Each PRACK reaches the fork that sent the 183, with its own RSeq.
    let mut a = Dialog::from_answer(&sent, &first);
    let invite_cseq = at_gw.cseq().unwrap();
    for (progress, tag, rseq) in [(&second, "f2", 7), (&first, "f1", 100)] {
        let at_fork = prack(&mut lab, 0, &mut a, &sent, progress).await;
        assert!(
            at_fork
                .header("To")
                .unwrap()
                .ends_with(&format!("tag={tag}")),
            "{}",
            at_fork.text()
        );
        assert_eq!(
            at_fork.header("RAck"),
            Some(format!("{rseq} {invite_cseq} INVITE"))
        );
    }
    lab.edge.shutdown(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn a_reliable_provisional_to_a_re_invite_is_pracked_by_tollgate() {
    let mut lab = Lab::start(1, |_| {}).await;
    let (mut a, b) = connect(&mut lab, 0).await;
    let tag = b.local.rsplit("tag=").next().unwrap().to_owned();
    let reinvite = caller_offer(&mut lab.caller, &mut a, "INVITE");
    lab.caller.send(reinvite).await.unwrap();
    let gw = &mut lab.gateways[0];
    let at_gw = expect_request(gw, "INVITE").await;
    let reliable = gateway_answer(gw, &at_gw, 183, "Progress", &tag)
        .header("Require", "100rel")
        .header("RSeq", "5");
    gw.send(reliable).await.unwrap();
    // Tollgate acknowledges it on the carrier's side, in the dialog...
    let prack = expect_request(gw, "PRACK").await;
    let invite_cseq = at_gw.cseq().unwrap();
    assert_eq!(
        prack.header("RAck"),
        Some(format!("5 {invite_cseq} INVITE"))
    );
    assert_eq!(prack.header("Call-ID"), at_gw.header("Call-ID"));
    assert!(prack.header("To").unwrap().ends_with(&format!("tag={tag}")));
    assert!(prack.cseq() > at_gw.cseq());
    gw.respond(&prack, 200, "OK").await.unwrap();
    // ...and the caller gets an ordinary provisional, nothing to PRACK.
    let progress = expect_status(&mut lab.caller, 183).await;
    assert_eq!(progress.header("RSeq"), None);
    assert_eq!(progress.header("Require"), None);
    let gw = &mut lab.gateways[0];
    gw.send(gateway_answer(gw, &at_gw, 200, "OK", &tag))
        .await
        .unwrap();
    assert_eq!(expect_request(gw, "ACK").await.cseq(), at_gw.cseq());
    assert_eq!(
        expect_status(&mut lab.caller, 200).await.cseq(),
        Some(a.cseq)
    );
    lab.edge.shutdown(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn an_identified_callers_options_learns_the_methods_and_100rel() {
    let mut lab = Lab::start(1, |_| {}).await;
    let uri = format!("sip:{}", lab.server);
    let ok = lab.caller.call("OPTIONS", &uri).await.unwrap();
    assert_eq!(ok.status(), Some(200));
    assert_eq!(ok.header("Supported").as_deref(), Some("100rel"));
    assert!(ok.header("Allow").unwrap().contains("INVITE"));
    lab.edge.shutdown(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn after_a_failover_the_callers_rseq_keeps_growing() {
    let mut lab = Lab::start(2, failover_pair).await;
    let sent = reliable_invite(&mut lab, "Supported").await;
    let first = expect_request(&mut lab.gateways[0], "INVITE").await;
    let progress = reliable_183(&mut lab, 0, &first, "g1", 900).await;
    assert_eq!(progress.header("RSeq").as_deref(), Some("900"));
    let mut a = Dialog::from_answer(&sent, &progress);
    prack(&mut lab, 0, &mut a, &sent, &progress).await;
    lab.gateways[0]
        .respond(&first, 503, "Service Unavailable")
        .await
        .unwrap();
    // The second gateway starts its own numbers lower; the caller, in the
    // same early dialog with Tollgate, sees them follow on from 900.
    let second = expect_request(&mut lab.gateways[1], "INVITE").await;
    let progress = reliable_183(&mut lab, 1, &second, "g2", 7).await;
    assert_eq!(progress.header("RSeq").as_deref(), Some("901"));
    let at_gw = prack(&mut lab, 1, &mut a, &sent, &progress).await;
    assert_eq!(
        at_gw.header("RAck"),
        Some(format!("7 {} INVITE", second.cseq().unwrap()))
    );
    lab.edge.shutdown(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn required_100rel_is_required_of_the_carrier_and_unasked_rseq_is_not_relayed() {
    let mut lab = Lab::start(1, |_| {}).await;
    reliable_invite(&mut lab, "Require").await;
    let gw = &mut lab.gateways[0];
    let at_gw = expect_request(gw, "INVITE").await;
    assert_eq!(at_gw.header("Require").as_deref(), Some("100rel"));
    gw.respond(&at_gw, 486, "Busy Here").await.unwrap();
    assert_eq!(expect_final(&mut lab.caller).await.status(), Some(486));
    // A caller that did not ask gets no RSeq, whatever the carrier sends.
    lab.invite(NUMBER).await;
    let gw = &mut lab.gateways[0];
    let at_gw = expect_request(gw, "INVITE").await;
    assert_eq!(at_gw.header("Supported"), None);
    assert_eq!(at_gw.header("Require"), None);
    let reliable = gateway_answer(gw, &at_gw, 183, "Progress", "unasked")
        .header("Require", "100rel")
        .header("RSeq", "7");
    gw.send(reliable).await.unwrap();
    let progress = expect_status(&mut lab.caller, 183).await;
    assert_eq!(progress.header("RSeq"), None);
    assert_eq!(progress.header("Require"), None);
    lab.edge.shutdown(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn a_silent_gateway_is_tried_last_for_a_while() {
    let mut lab = Lab::start(2, failover_pair).await;
    // Gateway 0 (weight 10) stays silent: the call moves to gateway 1
    // after the first-reply timeout.
    let first = failed_call_after_silence(&mut lab).await;
    assert_eq!(first, Some(486));
    // The next call would go to gateway 0 by weight; it goes to gateway 1
    // at once instead.
    busy_at_once(&mut lab, 1).await;
    lab.edge.shutdown(Duration::from_millis(100)).await;
}

/// Places a call whose INVITE must reach gateway `g` first, at once (no
/// other gateway tried before it), and is answered 486 there.
async fn busy_at_once(lab: &mut Lab, g: usize) {
    lab.invite(NUMBER).await;
    let invite = lab.gateways[g]
        .recv_until(Duration::from_millis(500), |r| {
            r.method().as_deref() == Some("INVITE")
        })
        .await
        .unwrap()
        .expect("the INVITE at once");
    lab.gateways[g]
        .respond(&invite, 486, "Busy Here")
        .await
        .unwrap();
    assert_eq!(expect_final(&mut lab.caller).await.status(), Some(486));
}

/// Answers each OPTIONS that reaches gateway `ua` with `code` until `done`
/// holds; false when it still does not after ten seconds.
async fn answer_probes_until(ua: &mut TestUa, code: u16, done: impl Fn() -> bool) -> bool {
    let until = tokio::time::Instant::now() + Duration::from_secs(10);
    while !done() {
        if tokio::time::Instant::now() > until {
            return false;
        }
        let probe = ua.recv(Duration::from_millis(20)).await.unwrap();
        if let Some(probe) = probe.filter(|p| p.method().as_deref() == Some("OPTIONS")) {
            ua.respond(&probe, code, "Probe Answer").await.unwrap();
        }
    }
    true
}

#[tokio::test]
async fn probes_take_a_silent_gateway_down_until_it_answers_again() {
    let calls = CallConfig {
        timers: timers(),
        gateway_probe: Some(Duration::from_millis(300)),
        ..CallConfig::default()
    };
    let mut lab = Lab::start_with(2, calls, failover_pair).await;
    let gw0 = lab.gateways[0].local_addr();
    let probe = expect_request(&mut lab.gateways[0], "OPTIONS").await;
    assert_eq!(probe.uri(), Some(format!("sip:{gw0}")));
    assert_eq!(probe.header("To"), Some(format!("<sip:{gw0}>")));
    assert!(
        probe
            .header("From")
            .unwrap()
            .starts_with("<sip:tollgate@127.0.0.1>;tag=")
    );
    assert_eq!(probe.header("Max-Forwards").as_deref(), Some("70"));
    assert!(probe.header("CSeq").unwrap().ends_with(" OPTIONS"));
    // Gateway 0 (weight 10) stays silent and its probe times out (64·T1);
    // gateway 1 answers 405, which still shows a live SIP stack.
    let board = lab.board.clone();
    let gw0_down = || board.gateway_up(100) == Some(false);
    assert!(answer_probes_until(&mut lab.gateways[1], 405, gw0_down).await);
    assert_eq!(board.gateway_up(101), Some(true));
    // The next call goes to gateway 1 at once, though gateway 0 weighs ten
    // times more.
    busy_at_once(&mut lab, 1).await;
    // Gateway 0 answers its probes again: it is up, and the next call is
    // its by weight.
    let gw0_up = || board.gateway_up(100) == Some(true);
    assert!(answer_probes_until(&mut lab.gateways[0], 200, gw0_up).await);
    busy_at_once(&mut lab, 0).await;
    // A 503 to a probe is a refusal: down again at once.
    assert!(answer_probes_until(&mut lab.gateways[0], 503, gw0_down).await);
    assert!(lab.channels_back_to_zero().await);
    lab.edge.shutdown(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn without_probes_no_gateway_hears_an_options() {
    let mut lab = Lab::start(1, |_| {}).await;
    let heard = lab.gateways[0]
        .recv_until(Duration::from_millis(700), |r| {
            r.method().as_deref() == Some("OPTIONS")
        })
        .await
        .unwrap();
    assert!(heard.is_none());
    assert_eq!(lab.board.gateway_up(100), None);
    lab.edge.shutdown(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn a_carriers_reply_rules_fail_over_and_replace() {
    let mut lab = Lab::start(2, |c| {
        failover_pair(c);
        c.accounts[1].carrier.reply_rules = vec![
            ReplyRule {
                code: 486,
                action: ReplyAction::Failover,
                new_code: None,
                new_reason: None,
            },
            ReplyRule {
                code: 503,
                action: ReplyAction::Replace,
                new_code: Some(480),
                new_reason: Some("Carrier Unavailable".into()),
            },
        ];
    })
    .await;
    // 486 fails over here, against the default.
    lab.invite(NUMBER).await;
    let first = expect_request(&mut lab.gateways[0], "INVITE").await;
    lab.gateways[0]
        .respond(&first, 486, "Busy Here")
        .await
        .unwrap();
    // 503 goes to the caller, as the rule rewrites it.
    let second = expect_request(&mut lab.gateways[1], "INVITE").await;
    lab.gateways[1]
        .respond(&second, 503, "Service Unavailable")
        .await
        .unwrap();
    let answer = expect_final(&mut lab.caller).await;
    assert_eq!(answer.status(), Some(480));
    assert!(
        answer
            .text()
            .starts_with("SIP/2.0 480 Carrier Unavailable\r\n"),
        "{}",
        answer.text()
    );
    assert!(lab.channels_back_to_zero().await);
    lab.edge.shutdown(Duration::from_millis(100)).await;
}

/// Two gateways weighted 10 and 1, one failover, a 1 s first-reply
/// timeout.
fn failover_pair(c: &mut Configuration) {
    c.accounts[1].carrier.gateway_failover = 1;
    c.accounts[1].carrier.first_reply_timeout_s = 1;
    c.entries[1].weight = 10;
}

/// A call that gateway 0 ignores and gateway 1 then answers 486; the
/// caller's final status.
async fn failed_call_after_silence(lab: &mut Lab) -> Option<u16> {
    lab.invite(NUMBER).await;
    expect_request(&mut lab.gateways[0], "INVITE").await;
    let moved = expect_request(&mut lab.gateways[1], "INVITE").await;
    lab.gateways[1]
        .respond(&moved, 486, "Busy Here")
        .await
        .unwrap();
    expect_final(&mut lab.caller).await.status()
}

#[tokio::test]
async fn a_tcp_gateway_gets_the_call_over_a_connection_tollgate_opens() {
    stream_gateway_call(Transport::Tcp).await;
}

#[tokio::test]
async fn a_tls_gateway_gets_the_call_over_a_verified_connection() {
    stream_gateway_call(Transport::Tls).await;
}

/// A whole call to a gateway reached over `transport` (TCP, or TLS
/// verified against the test CA), on a connection Tollgate opens.
async fn stream_gateway_call(transport: Transport) {
    let certs = crate::support::certs();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gw_addr = listener.local_addr().unwrap();
    let (protocol, param) = match transport {
        Transport::Tls => (Protocol::Tls, "tls"),
        _ => (Protocol::Tcp, "tcp"),
    };
    let calls = CallConfig {
        timers: timers(),
        ..CallConfig::default()
    };
    let mut lab = Lab::start_full(1, calls, Some(certs.client.clone()), |c| {
        let e = &mut c.entries[1];
        e.addresses = vec!["127.0.0.1".parse().unwrap()];
        e.protocol = protocol;
        e.port = gw_addr.port();
    })
    .await;
    let sent = lab.invite(NUMBER).await;
    let accepted = async {
        match transport {
            Transport::Tls => TestUa::tls_accept(&listener, certs.server.clone()).await,
            _ => TestUa::tcp_accept(&listener).await,
        }
    };
    let mut gw = tokio::time::timeout(WAIT, accepted)
        .await
        .expect("Tollgate connects")
        .unwrap();
    let at_gw = expect_request(&mut gw, "INVITE").await;
    let via = at_gw.header("Via").unwrap();
    assert!(
        via.starts_with(&format!("SIP/2.0/{} ", transport.via_token())),
        "{via}"
    );
    assert_eq!(
        at_gw.uri(),
        Some(format!("sip:441632960123@{gw_addr};transport={param}"))
    );
    gw.send(gateway_answer(&gw, &at_gw, 200, "OK", param))
        .await
        .unwrap();
    expect_request(&mut gw, "ACK").await;
    let ok = expect_status(&mut lab.caller, 200).await;
    ack_and_hang_up(&mut lab.caller, &sent, &ok).await;
    let bye = expect_request(&mut gw, "BYE").await;
    gw.respond(&bye, 200, "OK").await.unwrap();
    expect_status(&mut lab.caller, 200).await;
    assert!(lab.channels_back_to_zero().await);
    lab.edge.shutdown(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn a_tcp_gateway_refusing_the_connection_is_failed_over() {
    // Nothing listens on this port: the connection is refused (it is
    // opened off the driver, which keeps answering meanwhile) and the call
    // fails over to the UDP gateway after the first-reply timeout.
    let mut lab = Lab::start(2, |c| {
        failover_pair(c);
        c.entries[1].protocol = Protocol::Tcp;
        c.entries[1].addresses = vec!["127.0.0.7".parse().unwrap()];
        c.entries[1].port = 9;
    })
    .await;
    lab.invite(NUMBER).await;
    let mut other = TestUa::udp_from("127.0.0.8:0".parse().unwrap(), lab.server)
        .await
        .unwrap();
    let options = other.call("OPTIONS", &format!("sip:{}", lab.server)).await;
    assert!(options.is_ok(), "the edge still answers");
    let moved = expect_request(&mut lab.gateways[1], "INVITE").await;
    lab.gateways[1]
        .respond(&moved, 486, "Busy Here")
        .await
        .unwrap();
    assert_eq!(expect_final(&mut lab.caller).await.status(), Some(486));
    lab.edge.shutdown(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn an_invite_out_of_hops_gets_483() {
    let mut lab = Lab::start(1, |_| {}).await;
    let uri = lab.uri(NUMBER);
    let invite = lab.caller.request("INVITE", &uri).build().unwrap();
    let text = String::from_utf8(invite)
        .unwrap()
        .replace("Max-Forwards: 70", "Max-Forwards: 0");
    lab.caller.send_raw(text.as_bytes()).await.unwrap();
    assert_eq!(expect_final(&mut lab.caller).await.status(), Some(483));
    nothing_reached_the_carrier(lab).await;
}

#[tokio::test]
async fn a_relayed_re_invite_answer_is_retransmitted_until_acked() {
    let mut lab = Lab::start(1, |_| {}).await;
    let (_a, mut b) = connect(&mut lab, 0).await;
    // The carrier re-INVITEs; the caller answers; the carrier's ACK is
    // late, so Tollgate repeats the 200 until it comes.
    let gw = &mut lab.gateways[0];
    let reinvite = gw
        .in_dialog(&mut b, "INVITE")
        .header("Contact", format!("<sip:gw@{}>", gw.local_addr()))
        .body("application/sdp", ANSWER);
    gw.send(reinvite).await.unwrap();
    let at_caller = expect_request(&mut lab.caller, "INVITE").await;
    let tag = at_caller.header("To").unwrap();
    let tag = tag.rsplit("tag=").next().unwrap().to_owned();
    let ok = TestUa::response(&at_caller, 200, "OK", &tag)
        .header(
            "Contact",
            format!("<sip:caller@{}>", lab.caller.local_addr()),
        )
        .body("application/sdp", SDP);
    lab.caller.send(ok).await.unwrap();
    expect_request(&mut lab.caller, "ACK").await;
    let gw = &mut lab.gateways[0];
    let first = expect_status(gw, 200).await;
    let again = expect_status(gw, 200).await;
    assert_eq!(first.data, again.data, "the same 2xx, retransmitted");
    let ack = gw.in_dialog(&mut b, "ACK");
    gw.send(ack).await.unwrap();
    // Drain what was in flight, then silence.
    tokio::time::sleep(Duration::from_millis(100)).await;
    while gw.recv(Duration::from_millis(10)).await.unwrap().is_some() {}
    assert!(gw.is_silent_for(Duration::from_millis(500)).await);
    lab.edge.shutdown(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn update_and_info_cross_in_the_early_dialog() {
    let mut lab = Lab::start(1, |_| {}).await;
    let (sent, at_gw, progress) = provisional_call(&mut lab, 183, "early").await;
    // Caller → carrier: UPDATE in the early dialog.
    let mut a = Dialog::from_answer(&sent, &progress);
    let update = caller_offer(&mut lab.caller, &mut a, "UPDATE");
    lab.caller.send(update).await.unwrap();
    let gw = &mut lab.gateways[0];
    let at_gw_update = expect_request(gw, "UPDATE").await;
    assert!(at_gw_update.header("To").unwrap().contains("tag=early"));
    assert_eq!(at_gw_update.cseq(), Some(2));
    gw.send(TestUa::response(&at_gw_update, 200, "OK", "early").body("application/sdp", ANSWER))
        .await
        .unwrap();
    let updated = expect_status(&mut lab.caller, 200).await;
    assert_eq!(updated.cseq(), a.cseq.into());
    // Carrier → caller: INFO in the early dialog.
    let mut b = Dialog::from_invite(&at_gw, "early");
    let info = gw
        .in_dialog(&mut b, "INFO")
        .body("application/dtmf-relay", "Signal=1\r\n");
    gw.send(info).await.unwrap();
    let at_caller = expect_request(&mut lab.caller, "INFO").await;
    lab.caller.respond(&at_caller, 200, "OK").await.unwrap();
    assert_eq!(
        expect_status(&mut lab.gateways[0], 200).await.cseq(),
        Some(b.cseq)
    );
    // The answer: the ACK carries the INVITE's CSeq, not the UPDATE's.
    let gw = &mut lab.gateways[0];
    gw.send(gateway_answer(gw, &at_gw, 200, "OK", "early"))
        .await
        .unwrap();
    let ack = expect_request(gw, "ACK").await;
    assert_eq!(ack.cseq(), at_gw.cseq());
    let ok = expect_status(&mut lab.caller, 200).await;
    ack_and_hang_up(&mut lab.caller, &sent, &ok).await;
    assert!(lab.channels_back_to_zero().await);
    lab.edge.shutdown(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn a_re_invite_the_carrier_challenges_is_answered_by_tollgate() {
    let mut lab = Lab::start(1, gateway_credentials).await;
    let (mut a, b) = connect(&mut lab, 0).await;
    let reinvite = caller_offer(&mut lab.caller, &mut a, "INVITE");
    lab.caller.send(reinvite).await.unwrap();
    let gw = &mut lab.gateways[0];
    let first = expect_request(gw, "INVITE").await;
    gw.send(challenge_for(&first, "n3")).await.unwrap();
    let retry = expect_request(gw, "INVITE").await;
    assert_eq!(retry.cseq(), first.cseq().map(|c| c + 1));
    check_credentials(&retry, "INVITE", "n3");
    let tag = b.local.rsplit("tag=").next().unwrap().to_owned();
    gw.send(gateway_answer(gw, &retry, 200, "OK", &tag))
        .await
        .unwrap();
    let answer = expect_final(&mut lab.caller).await;
    assert_eq!(answer.status(), Some(200), "the caller never sees the 407");
    lab.edge.shutdown(Duration::from_millis(100)).await;
}
