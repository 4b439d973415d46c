//! OPTIONS and INVITE over every transport and address family.

use std::time::Duration;

use tollgate_edge::{StreamLimits, Transport};
use tollgate_testua::TestUa;

use crate::support::{addr, certs, start};

async fn ua_for(
    edge: &tollgate_edge::Edge,
    transport: Transport,
    certs: &crate::support::Certs,
) -> TestUa {
    let server = addr(edge, transport);
    match transport {
        Transport::Udp => TestUa::udp(server).await.unwrap(),
        Transport::Tcp => TestUa::tcp(server).await.unwrap(),
        Transport::Tls => TestUa::tls(server, certs.client.clone(), &server.ip().to_string())
            .await
            .unwrap(),
    }
}

async fn options_and_invite(host: &str) {
    let certs = certs();
    let edge = start(host, &certs, StreamLimits::default()).await;
    for transport in [Transport::Udp, Transport::Tcp, Transport::Tls] {
        let mut ua = ua_for(&edge, transport, &certs).await;
        let uri = format!("sip:{}", addr(&edge, transport));
        let req = ua.request("OPTIONS", &uri);
        let ok = ua.transact(req).await.unwrap();
        assert_eq!(ok.status(), Some(200), "{transport:?}: {}", ok.text());
        assert!(ok.header("Allow").unwrap().contains("INVITE"));
        assert!(ok.header("To").unwrap().contains("tag="));
        // The response's Via is ours, stamped with what the edge saw of us
        // (RFC 3581: we asked for rport).
        let via = ok.header("Via").unwrap();
        let local = ua.local_addr();
        assert!(via.contains(&local.to_string()), "{via}");
        let stamp = format!(";rport={};received={}", local.port(), local.ip());
        assert!(via.contains(&stamp), "{via}");

        let invite = ua.request(
            "INVITE",
            &format!("sip:+15551234567@{}", addr(&edge, transport)),
        );
        let denied = ua.transact(invite).await.unwrap();
        assert_eq!(denied.status(), Some(403), "{transport:?}");

        let unknown = ua.request("FROBNICATE", &uri);
        assert_eq!(ua.transact(unknown).await.unwrap().status(), Some(501));
    }
    edge.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn every_transport_on_ipv4() {
    options_and_invite("127.0.0.1").await;
}

#[tokio::test]
async fn every_transport_on_ipv6() {
    options_and_invite("[::1]").await;
}

#[tokio::test]
async fn udp_retransmission_gets_the_same_answer() {
    let certs = certs();
    let edge = start("127.0.0.1", &certs, StreamLimits::default()).await;
    let server = addr(&edge, Transport::Udp);
    let mut ua = TestUa::udp(server).await.unwrap();
    let req = ua.request("REGISTER", &format!("sip:{server}"));
    let sent = ua.send(req).await.unwrap();
    let first = ua.recv(Duration::from_secs(2)).await.unwrap().unwrap();
    ua.send_raw(&sent).await.unwrap();
    let second = ua.recv(Duration::from_secs(2)).await.unwrap().unwrap();
    // The transaction absorbed the retransmission and repeated its answer
    // byte for byte (same To tag): the core saw one request.
    assert_eq!(first.status(), Some(403));
    assert_eq!(first, second);
    // OPTIONS are answered statelessly: a repeat gets a fresh 200.
    let req = ua.request("OPTIONS", &format!("sip:{server}"));
    let sent = ua.send(req).await.unwrap();
    let first = ua.recv(Duration::from_secs(2)).await.unwrap().unwrap();
    ua.send_raw(&sent).await.unwrap();
    let second = ua.recv(Duration::from_secs(2)).await.unwrap().unwrap();
    assert_eq!((first.status(), second.status()), (Some(200), Some(200)));
    assert_ne!(first.header("To"), second.header("To"));
    edge.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn malformed_requests_are_answered_or_dropped_and_the_server_keeps_going() {
    let certs = certs();
    let edge = start("127.0.0.1", &certs, StreamLimits::default()).await;
    let server = addr(&edge, Transport::Udp);
    let mut ua = TestUa::udp(server).await.unwrap();
    let bad = ua
        .request("OPTIONS", &format!("sip:{server}"))
        .header("Max-Forwards", "999")
        .build()
        .unwrap();
    ua.send_raw(&bad).await.unwrap();
    let answer = ua.recv(Duration::from_secs(2)).await.unwrap().unwrap();
    assert_eq!(answer.status(), Some(400), "{}", answer.text());
    ua.send_raw(b"\x00\x01garbage\r\n\r\n").await.unwrap();
    assert!(ua.is_silent_for(Duration::from_millis(300)).await);
    let ok = ua.call("OPTIONS", &format!("sip:{server}")).await.unwrap();
    assert_eq!(ok.status(), Some(200));
    edge.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn shutdown_closes_the_listeners() {
    let certs = certs();
    let edge = start("127.0.0.1", &certs, StreamLimits::default()).await;
    let tcp = addr(&edge, Transport::Tcp);
    edge.shutdown(Duration::from_millis(200)).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(tokio::net::TcpStream::connect(tcp).await.is_err());
}

/// A core that never answers: its transactions stay in flight.
struct SilentCore;

impl tollgate_edge::Core for SilentCore {
    fn on_event(
        &mut self,
        _now: tollgate_b2bua::Now,
        _event: tollgate_sip::transaction::Event,
        _layer: &mut tollgate_sip::transaction::TransactionLayer,
    ) {
    }
}

#[tokio::test]
async fn shutdown_refuses_new_requests_while_in_flight_ones_get_their_grace() {
    let config = tollgate_edge::EdgeConfig {
        listen: vec![tollgate_edge::Listen {
            transport: Transport::Udp,
            addr: "127.0.0.1:0".parse().unwrap(),
        }],
        ..tollgate_edge::EdgeConfig::default()
    };
    let edge = tollgate_edge::Edge::start(config, SilentCore)
        .await
        .unwrap();
    let server = addr(&edge, Transport::Udp);
    let mut caller = TestUa::udp(server).await.unwrap();
    let invite = caller.request("INVITE", &format!("sip:100@{server}"));
    caller.send(invite).await.unwrap();
    let trying = caller.recv(Duration::from_secs(2)).await.unwrap().unwrap();
    assert_eq!(trying.status(), Some(100), "the layer's own 100 Trying");
    let started = tokio::time::Instant::now();
    let stopping = tokio::spawn(edge.shutdown(Duration::from_millis(800)));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut late = TestUa::udp(server).await.unwrap();
    let refused = late
        .call("OPTIONS", &format!("sip:{server}"))
        .await
        .unwrap();
    assert_eq!(refused.status(), Some(503));
    assert_eq!(refused.header("Retry-After").as_deref(), Some("30"));
    stopping.await.unwrap();
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(700),
        "grace honoured: {waited:?}"
    );
    assert!(waited < Duration::from_secs(3), "grace bounded: {waited:?}");
}
