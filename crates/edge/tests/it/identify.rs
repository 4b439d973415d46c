//! Identification over the wire: an IP-authenticated INVITE passes
//! identification (and, with no route configured, gets 404), strangers get
//! 407 (SHA-256 and MD5), accepts their digest retry and refuses a wrong
//! password with 403.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tollgate_edge::{
    CallBoard, CallConfig, Defense, Edge, EdgeConfig, Listen, PolicyCore, Transport,
};
use tollgate_policy::threat::{BlockDecision, ThreatConfig, ThreatDetector};
use tollgate_policy::*;
use tollgate_sip::digest::{Algorithm, Answer, Challenge, answer};
use tollgate_sip::header::AuthValue;
use tollgate_testua::TestUa;

/// What an identified INVITE gets here: this configuration has no route.
const IDENTIFIED: u16 = 404;

fn configuration() -> Configuration {
    let account = Account {
        id: 1,
        name: "acme".into(),
        kind: AccountKind::Customer,
        status: AccountStatus::Active,
        channels: 0,
        cps: 0,
        notes: String::new(),
        carrier: CarrierSettings::default(),
    };
    let entry = IpAuthEntry {
        id: 1,
        account_id: 1,
        addresses: vec!["127.0.0.1".parse().unwrap()],
        port: 5060,
        ..IpAuthEntry::default()
    };
    let user = SipUser {
        id: 1,
        account_id: 1,
        username: "alice".into(),
        ha1: Ha1Set::new("alice", "tollgate", "s3cret-pass"),
        ..SipUser::default()
    };
    Configuration {
        accounts: vec![account],
        entries: vec![entry],
        users: vec![user],
        routes: Vec::new(),
    }
}

/// An edge with the policy core and a firewall; also returns the firewall
/// and the block decisions it sends towards the store.
async fn start_defended() -> (Edge, Arc<Defense>, mpsc::UnboundedReceiver<BlockDecision>) {
    let snapshot = Arc::new(SharedSnapshot::new(Snapshot::build(&configuration(), 1)));
    let auth = Authenticator::new(
        "tollgate",
        vec![Algorithm::SHA256, Algorithm::MD5],
        &[3; 32],
        300,
    );
    let (tx, rx) = mpsc::unbounded_channel();
    let detector = ThreatDetector::new(ThreatConfig {
        requests_per_second: 500,
        ..ThreatConfig::default()
    });
    let defense = Arc::new(Defense::new(detector, Vec::new(), snapshot.clone(), tx));
    let config = EdgeConfig {
        listen: vec![Listen {
            transport: Transport::Udp,
            addr: "127.0.0.1:0".parse().unwrap(),
        }],
        defense: Some(defense.clone()),
        ..EdgeConfig::default()
    };
    let core = PolicyCore::new(
        snapshot,
        auth,
        Some(defense.clone()),
        CallConfig::default(),
        Arc::new(CallBoard::new()),
    );
    (Edge::start(config, core).await.unwrap(), defense, rx)
}

async fn start() -> Edge {
    start_defended().await.0
}

#[tokio::test]
async fn ip_authenticated_invite_passes_identification() {
    let edge = start().await;
    let server = edge.local_addr(Transport::Udp).unwrap();
    let mut ua = TestUa::udp(server).await.unwrap();
    let r = ua
        .call("INVITE", &format!("sip:+441632960123@{server}"))
        .await
        .unwrap();
    assert_eq!(r.status(), Some(IDENTIFIED), "{}", r.text());
    let r = ua.call("OPTIONS", &format!("sip:{server}")).await.unwrap();
    assert_eq!(r.status(), Some(200));
    edge.shutdown(Duration::from_millis(100)).await;
}

/// INVITE from a stranger, then the retry answering challenge `which`.
async fn digest_call(server: std::net::SocketAddr, which: usize, password: &str) -> u16 {
    let mut ua = TestUa::udp_from("127.0.0.2:0".parse().unwrap(), server)
        .await
        .unwrap();
    let uri = format!("sip:+441632960123@{server}");
    let first = ua.call("INVITE", &uri).await.unwrap();
    assert_eq!(first.status(), Some(407), "{}", first.text());
    let challenges = first.headers("Proxy-Authenticate");
    assert_eq!(challenges.len(), 2, "SHA-256 and MD5 offered");
    assert!(challenges[0].contains("algorithm=SHA-256") && challenges[1].contains("algorithm=MD5"));
    let challenge =
        Challenge::parse(&AuthValue::parse(challenges[which].as_bytes()).unwrap()).unwrap();
    let credentials = answer(
        &challenge,
        &Answer {
            username: b"alice",
            password: password.as_bytes(),
            method: b"INVITE",
            uri: uri.as_bytes(),
            cnonce: b"0a4f113b",
            nc: 1,
        },
    );
    let retry = ua
        .request("INVITE", &uri)
        .header("Proxy-Authorization", credentials);
    ua.transact(retry).await.unwrap().status().unwrap()
}

/// The status an OPTIONS from `source` (a loopback address) gets.
async fn options_status_from(source: &str, server: std::net::SocketAddr) -> Option<u16> {
    let mut ua = TestUa::udp_from(format!("{source}:0").parse().unwrap(), server)
        .await
        .unwrap();
    ua.call("OPTIONS", &format!("sip:{server}"))
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn strangers_are_challenged_and_digest_identifies_them() {
    let edge = start().await;
    let server = edge.local_addr(Transport::Udp).unwrap();
    assert_eq!(
        digest_call(server, 0, "s3cret-pass").await,
        IDENTIFIED,
        "SHA-256"
    );
    assert_eq!(
        digest_call(server, 1, "s3cret-pass").await,
        IDENTIFIED,
        "MD5"
    );
    assert_eq!(digest_call(server, 0, "wrong").await, 403);
    assert_eq!(options_status_from("127.0.0.2", server).await, Some(407));
    edge.shutdown(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn a_busy_digest_user_is_challenged_on_every_call_and_never_blocked() {
    let (edge, _defense, mut decisions) = start_defended().await;
    let server = edge.local_addr(Transport::Udp).unwrap();
    // More challenges than the 200 per minute that block a stranger who
    // never logs in, and faster than the 500 requests per second of a
    // flood: each is answered correctly.
    for call in 1..=250 {
        assert_eq!(
            digest_call(server, 0, "s3cret-pass").await,
            IDENTIFIED,
            "call {call}"
        );
    }
    let decided = decisions.try_recv();
    assert!(decided.is_err(), "{decided:?}");
    edge.shutdown(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn brute_force_blocks_the_attacker_and_nobody_else() {
    let (edge, _defense, mut decisions) = start_defended().await;
    let server = edge.local_addr(Transport::Udp).unwrap();
    for attempt in 1..=20 {
        assert_eq!(
            digest_call(server, 0, "guess").await,
            403,
            "attempt {attempt}"
        );
    }
    let decision = tokio::time::timeout(Duration::from_secs(2), decisions.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        decision.address,
        "127.0.0.2".parse::<std::net::IpAddr>().unwrap()
    );
    assert_eq!(decision.reason, "20 failed digest attempts");
    // The attacker now gets no answer at all, even with the right password.
    let mut attacker = TestUa::udp_from("127.0.0.2:0".parse().unwrap(), server)
        .await
        .unwrap();
    let invite = attacker.request("INVITE", &format!("sip:+441632960123@{server}"));
    attacker.send(invite).await.unwrap();
    assert!(attacker.is_silent_for(Duration::from_millis(500)).await);
    // The customer's switch and other strangers are unaffected.
    let mut customer = TestUa::udp(server).await.unwrap();
    let r = customer
        .call("INVITE", &format!("sip:+441632960123@{server}"))
        .await
        .unwrap();
    assert_eq!(r.status(), Some(IDENTIFIED));
    assert_eq!(options_status_from("127.0.0.3", server).await, Some(407));
    edge.shutdown(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn the_block_list_takes_effect_at_once_both_ways() {
    let (edge, defense, _decisions) = start_defended().await;
    let server = edge.local_addr(Transport::Udp).unwrap();
    let mut ua = TestUa::udp_from("127.0.0.3:0".parse().unwrap(), server)
        .await
        .unwrap();
    defense.replace(["127.0.0.0/30".parse().unwrap()]);
    let options = ua.request("OPTIONS", &format!("sip:{server}"));
    ua.send(options).await.unwrap();
    assert!(
        ua.is_silent_for(Duration::from_millis(300)).await,
        "blocked network"
    );
    defense.replace([]);
    assert_eq!(
        ua.call("OPTIONS", &format!("sip:{server}"))
            .await
            .unwrap()
            .status(),
        Some(407)
    );
    edge.shutdown(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn a_flood_is_blocked_but_never_a_configured_switch() {
    let (edge, defense, mut decisions) = start_defended().await;
    let server = edge.local_addr(Transport::Udp).unwrap();
    let flooder = std::net::UdpSocket::bind("127.0.0.4:0").unwrap();
    let customer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    // A bounded burst from each: at most 20,000 datagrams, paced so the
    // kernel's socket buffer does not drop most of them, until a block.
    let mut decision = None;
    for round in 0..200 {
        for _ in 0..100 {
            let _ = flooder.send_to(b"OPTIONS sip:x SIP/2.0\r\n\r\n", server);
            let _ = customer.send_to(b"OPTIONS sip:x SIP/2.0\r\n\r\n", server);
        }
        if let Ok(d) = decisions.try_recv() {
            decision = Some((round, d));
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let (_, decision) = decision.expect("the flood was blocked");
    assert_eq!(
        decision.address,
        "127.0.0.4".parse::<std::net::IpAddr>().unwrap()
    );
    assert!(
        decision.reason.ends_with("requests in one second"),
        "{}",
        decision.reason
    );
    assert!(defense.is_blocked("127.0.0.4".parse().unwrap()));
    assert!(
        !defense.is_blocked("127.0.0.1".parse().unwrap()),
        "an IP entry's address is never blocked"
    );
    let mut ua = TestUa::udp(server).await.unwrap();
    assert_eq!(
        ua.call("OPTIONS", &format!("sip:{server}"))
            .await
            .unwrap()
            .status(),
        Some(200)
    );
    edge.shutdown(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn an_open_connection_of_a_newly_blocked_address_is_closed() {
    let (edge, defense, _decisions) = {
        let snapshot = Arc::new(SharedSnapshot::new(Snapshot::build(&configuration(), 1)));
        let auth = Authenticator::new("tollgate", vec![Algorithm::SHA256], &[3; 32], 300);
        let (tx, rx) = mpsc::unbounded_channel();
        let defense = Arc::new(Defense::new(
            ThreatDetector::new(ThreatConfig::default()),
            Vec::new(),
            snapshot.clone(),
            tx,
        ));
        let config = EdgeConfig {
            listen: vec![Listen {
                transport: Transport::Tcp,
                addr: "127.0.0.1:0".parse().unwrap(),
            }],
            defense: Some(defense.clone()),
            ..EdgeConfig::default()
        };
        let core = PolicyCore::new(
            snapshot,
            auth,
            Some(defense.clone()),
            CallConfig::default(),
            Arc::new(CallBoard::new()),
        );
        (Edge::start(config, core).await.unwrap(), defense, rx)
    };
    let server = edge.local_addr(Transport::Tcp).unwrap();
    let mut ua = TestUa::tcp(server).await.unwrap();
    // The entry for 127.0.0.1 is UDP-only: over TCP the switch is refused
    // (transport mismatch), which shows the connection is served.
    let first = ua.call("OPTIONS", &format!("sip:{server}")).await.unwrap();
    assert_eq!(first.status(), Some(403));
    defense.replace(["127.0.0.1/32".parse().unwrap()]);
    let options = ua.request("OPTIONS", &format!("sip:{server}"));
    ua.send(options).await.unwrap();
    assert!(
        ua.recv(Duration::from_secs(2)).await.is_err(),
        "closed, not answered"
    );
    // New connections are refused too.
    let mut again = TestUa::tcp(server).await.unwrap();
    let options = again.request("OPTIONS", &format!("sip:{server}"));
    let _ = again.send(options).await;
    assert!(again.recv(Duration::from_secs(2)).await.is_err());
    edge.shutdown(Duration::from_millis(100)).await;
}
