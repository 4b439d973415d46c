//! The wiring of calls over real loopback sockets: a caller (127.0.0.2, IP
//! authenticated) calls through the edge (127.0.0.1) to carrier gateways
//! played by test UAs (127.0.0.3) over UDP, TCP and TLS, and the API's
//! hang-up wakes the driver. What calls do is proved in simulated time,
//! in `tollgate-b2bua`'s `tests/calls/`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tollgate_b2bua::{CallBoard, CallConfig, PolicyCore};
use tollgate_edge::{Edge, EdgeConfig, Listen, Transport};
use tollgate_policy::*;
use tollgate_sip::digest::Algorithm;
use tollgate_testua::{Dialog, Received, TestUa};

use crate::support::eventually;

// The same configuration as the simulated call tests.
#[path = "../../../b2bua/tests/calls/fixture.rs"]
mod fixture;
use fixture::*;

const WAIT: Duration = Duration::from_secs(5);

/// An edge with its board, a caller and carrier gateways.
struct Lab {
    edge: Edge,
    board: Arc<CallBoard>,
    server: SocketAddr,
    caller: TestUa,
    gateways: Vec<TestUa>,
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
        publish(&snapshot, &addrs, tweak);
        Self {
            edge,
            board,
            server,
            caller,
            gateways: gws,
        }
    }

    fn uri(&self, number: &str) -> String {
        format!("sip:{number}@{}", self.server)
    }

    /// Sends an INVITE for `number` with `sdp` from `ua`; returns it.
    async fn invite_from(ua: &mut TestUa, uri: &str, sdp: &str) -> Received {
        let from = ua.local_addr();
        let request = with_offer(ua.request("INVITE", uri), from, sdp);
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
    let ok = gateway_answer(gw.local_addr(), &at_gw, 200, "OK", &tag);
    gw.send(ok).await.unwrap();
    expect_request(gw, "ACK").await;
    let ok = expect_status(&mut lab.caller, 200).await;
    let mut a = Dialog::from_answer(&sent, &ok);
    let ack = lab.caller.in_dialog(&mut a, "ACK");
    lab.caller.send(ack).await.unwrap();
    (a, Dialog::from_invite(&at_gw, &tag), at_gw)
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

fn rand_tag() -> u64 {
    rand::random()
}

/// A UDP call over real sockets: the B-leg leaves from the bound address
/// (in its Via and Contact), the answer reaches the caller's ephemeral
/// port, and a BYE from the caller ends both legs.
#[tokio::test]
async fn a_udp_call_connects_and_ends_over_real_sockets() {
    let mut lab = Lab::start(1, |_| {}).await;
    let (mut a, _, at_gw) = connect_with_invite(&mut lab, 0).await;
    let bound = lab.server.to_string();
    assert!(
        at_gw.header("Via").unwrap().contains(&bound),
        "{}",
        at_gw.text()
    );
    assert!(at_gw.header("Contact").unwrap().contains(&bound));
    assert_eq!(lab.board.list()[0].state, CallState::Answered);
    let bye = lab.caller.in_dialog(&mut a, "BYE");
    lab.caller.send(bye).await.unwrap();
    expect_status(&mut lab.caller, 200).await;
    let gw = &mut lab.gateways[0];
    let bye = expect_request(gw, "BYE").await;
    assert_eq!(bye.header("Call-ID"), at_gw.header("Call-ID"));
    gw.respond(&bye, 200, "OK").await.unwrap();
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

/// Two gateways weighted 10 and 1, one failover, a 1 s first-reply
/// timeout.
fn failover_pair(c: &mut Configuration) {
    c.accounts[1].carrier.gateway_failover = 1;
    c.accounts[1].carrier.first_reply_timeout_s = 1;
    c.entries[1].weight = 10;
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
    gw.send(gateway_answer(gw.local_addr(), &at_gw, 200, "OK", param))
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
