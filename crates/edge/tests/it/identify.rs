//! Identification over the wire: an IP-authenticated INVITE passes
//! identification (and, with no route configured, gets 404), strangers get
//! 407 (SHA-256 and MD5), accepts their digest retry and refuses a wrong
//! password with 403.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tollgate_b2bua::{CallBoard, CallConfig, PolicyCore};
use tollgate_edge::{Defense, Edge, EdgeConfig, Listen, TimerConfig, Transport};
use tollgate_policy::threat::{BlockDecision, BlockRule, ThreatConfig, ThreatDetector};
use tollgate_policy::*;
use tollgate_sip::digest::Algorithm;
use tollgate_testua::TestUa;

/// What an identified INVITE gets here: this configuration has no route.
const IDENTIFIED: u16 = 404;

/// A phone's SDP offer.
const OFFER: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.2\r\ns=-\r\nc=IN IP4 127.0.0.2\r\nt=0 0\r\n\
    m=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\n";

fn configuration() -> Configuration {
    let account = Account {
        id: 1,
        name: "acme".into(),
        kind: AccountKind::Customer,
        status: AccountStatus::Active,
        channels: 0,
        cps: 0,
        notes: String::new(),
        digest: None,
        carrier: CarrierSettings::default(),
    };
    let entry = IpAuthEntry {
        id: 1,
        account_id: 1,
        addresses: vec!["127.0.0.1".parse().unwrap()],
        port: 5060,
        ..IpAuthEntry::default()
    };
    // Alice follows the server's default (MD5); the others have a digest
    // policy of their own.
    let user = |id, name: &str, digest| SipUser {
        id,
        account_id: 1,
        username: name.into(),
        ha1: Ha1Set::new(name, "tollgate", "s3cret-pass"),
        digest,
        ..SipUser::default()
    };
    Configuration {
        accounts: vec![account],
        entries: vec![entry],
        users: vec![
            user(1, "alice", None),
            user(2, "sha", Some(DigestPolicy::Sha256)),
            user(3, "both", Some(DigestPolicy::Sha256Md5)),
        ],
        routes: Vec::new(),
    }
}

/// An edge with the policy core and a firewall; also returns the firewall
/// and the block decisions it sends towards the store.
async fn start_defended() -> (Edge, Arc<Defense>, mpsc::UnboundedReceiver<BlockDecision>) {
    start_with_timers(TimerConfig::default()).await
}

/// [`start_defended`] with these transaction timers.
async fn start_with_timers(
    timers: TimerConfig,
) -> (Edge, Arc<Defense>, mpsc::UnboundedReceiver<BlockDecision>) {
    let snapshot = Arc::new(SharedSnapshot::new(Snapshot::build(&configuration(), 1)));
    let (edge, defense, decisions) = start_on(snapshot, timers).await;
    (edge, defense, decisions)
}

/// An edge reading `snapshot`, whose server default is MD5 (as
/// `tollgate serve`'s).
async fn start_on(
    snapshot: Arc<SharedSnapshot>,
    timers: TimerConfig,
) -> (Edge, Arc<Defense>, mpsc::UnboundedReceiver<BlockDecision>) {
    let auth = Authenticator::new("tollgate", vec![Algorithm::MD5], &[3; 32], 300);
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
        timers,
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

/// INVITE from a stranger naming `user` in its From, then the retry
/// answering the challenge in `algorithm`: the algorithms the 407 offered,
/// in order, and the status of the retry (none when `algorithm` was not
/// offered).
async fn digest_call(
    server: std::net::SocketAddr,
    user: &str,
    algorithm: &str,
    password: &str,
) -> (Vec<String>, Option<u16>) {
    let mut ua = TestUa::udp_from("127.0.0.2:0".parse().unwrap(), server)
        .await
        .unwrap();
    ua.set_user(user);
    let uri = format!("sip:+441632960123@{server}");
    let call = ua
        .digest_call(&uri, OFFER, algorithm, password)
        .await
        .unwrap();
    assert_eq!(
        call.challenged.status(),
        Some(407),
        "{}",
        call.challenged.text()
    );
    call.outcome()
}

/// The status of alice's retry with `password`, answering MD5 (the
/// server's default).
async fn alice_call(server: std::net::SocketAddr, password: &str) -> u16 {
    let (offered, status) = digest_call(server, "alice", "MD5", password).await;
    assert_eq!(offered, ["MD5"], "the default: MD5 alone");
    status.unwrap()
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
    assert_eq!(alice_call(server, "s3cret-pass").await, IDENTIFIED);
    assert_eq!(alice_call(server, "wrong").await, 403);
    assert_eq!(options_status_from("127.0.0.2", server).await, Some(407));
    edge.shutdown(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn each_user_is_challenged_as_its_policy_says_and_a_switch_needs_no_new_password() {
    let snapshot = Arc::new(SharedSnapshot::new(Snapshot::build(&configuration(), 1)));
    let (edge, _defense, _decisions) = start_on(snapshot.clone(), TimerConfig::default()).await;
    let server = edge.local_addr(Transport::Udp).unwrap();
    let pass = "s3cret-pass";
    // SHA-256 alone: identified in SHA-256; MD5 is not even offered.
    assert_eq!(
        digest_call(server, "sha", "SHA-256", pass).await,
        (vec!["SHA-256".to_owned()], Some(IDENTIFIED))
    );
    // Both, SHA-256 first: either answer identifies.
    for algorithm in ["SHA-256", "MD5"] {
        let (offered, status) = digest_call(server, "both", algorithm, pass).await;
        assert_eq!(offered, ["SHA-256", "MD5"]);
        assert_eq!(status, Some(IDENTIFIED), "{algorithm}");
    }
    // A stranger naming nobody known gets the server's default.
    let (offered, _) = digest_call(server, "mallory", "MD5", pass).await;
    assert_eq!(offered, ["MD5"]);
    // The operator moves "sha" to MD5, and its account to SHA-256 for
    // the users that follow it: the stored hashes serve, no new password.
    let mut changed = configuration();
    changed.users[1].digest = Some(DigestPolicy::Md5);
    changed.accounts[0].digest = Some(DigestPolicy::Sha256);
    snapshot.publish(Snapshot::build(&changed, 2));
    assert_eq!(
        digest_call(server, "sha", "MD5", pass).await,
        (vec!["MD5".to_owned()], Some(IDENTIFIED))
    );
    assert_eq!(
        digest_call(server, "alice", "SHA-256", pass).await,
        (vec!["SHA-256".to_owned()], Some(IDENTIFIED))
    );
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
            alice_call(server, "s3cret-pass").await,
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
        assert_eq!(alice_call(server, "guess").await, 403, "attempt {attempt}");
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

/// `message` with the value of header `name` replaced by `value`.
fn with_header(message: &str, name: &str, value: &str) -> String {
    message
        .split("\r\n")
        .map(|line| match line.split_once(':') {
            Some((n, _)) if n.eq_ignore_ascii_case(name) => format!("{name}: {value}"),
            _ => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\r\n")
}

#[tokio::test]
async fn a_stranger_that_never_acks_gets_one_challenge_and_no_more() {
    // T1 of 10 ms: a stateful 407 would be sent again at 10, 30, 70 ms…
    // until 64·T1 (640 ms).
    let timers = TimerConfig {
        t1: Duration::from_millis(10),
        t2: Duration::from_millis(40),
        ..TimerConfig::default()
    };
    let (edge, _defense, _decisions) = start_with_timers(timers).await;
    let server = edge.local_addr(Transport::Udp).unwrap();
    let mut stranger = TestUa::udp_from("127.0.0.6:0".parse().unwrap(), server)
        .await
        .unwrap();
    // An INVITE as short as a real one gets (Contact is required): the
    // bare minimum a client could send.
    let local = stranger.local_addr();
    let invite = stranger
        .request("INVITE", &format!("sip:+441632960123@{server}"))
        .header("Contact", format!("<sip:testua@{local}>"));
    let sent = stranger.send(invite).await.unwrap();
    let mut received = Vec::new();
    while let Some(r) = stranger.recv(Duration::from_millis(1_000)).await.unwrap() {
        received.push(r);
    }
    let statuses: Vec<_> = received.iter().map(|r| r.status()).collect();
    assert_eq!(statuses, [Some(407)], "one 407, no 100, no retransmission");
    let bytes_out = received[0].text().len();
    assert!(
        bytes_out * 2 <= sent.len() * 3,
        "{bytes_out} bytes out for {} in",
        sent.len()
    );
    // The client's own retransmission gets the same answer again: the
    // same To tag, a fresh nonce.
    stranger.send_raw(&sent).await.unwrap();
    let again = stranger
        .recv(Duration::from_secs(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.status(), Some(407));
    assert_eq!(again.header("To"), received[0].header("To"));
    // Its ACK (RFC 3261 §17.1.1.3: the INVITE's branch, the 407's To) is
    // absorbed: nothing answers it.
    let invite = String::from_utf8(sent.to_vec()).unwrap();
    let to = received[0].header("To").unwrap();
    let ack = with_header(&invite.replacen("INVITE", "ACK", 1), "To", &to)
        .replace(" INVITE\r\n", " ACK\r\n");
    stranger.send_raw(ack.as_bytes()).await.unwrap();
    assert!(stranger.is_silent_for(Duration::from_millis(300)).await);
    // A request in a dialog that does not exist gets one 481 as well.
    let bye = stranger.request("BYE", &format!("sip:+441632960123@{server}"));
    let bye = String::from_utf8(bye.build().unwrap()).unwrap();
    let bye = with_header(&bye, "To", &format!("<sip:+441632960123@{server}>;tag=abc"));
    stranger.send_raw(bye.as_bytes()).await.unwrap();
    let refused = stranger
        .recv(Duration::from_secs(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(refused.status(), Some(481));
    assert!(stranger.is_silent_for(Duration::from_millis(300)).await);
    edge.shutdown(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn a_source_never_draws_more_than_half_again_what_it_sends() {
    let (edge, _defense, _decisions) = start_defended().await;
    let server = edge.local_addr(Transport::Udp).unwrap();
    let mut spoofed = TestUa::udp_from("127.0.0.8:0".parse().unwrap(), server)
        .await
        .unwrap();
    // Requests trimmed to the bare minimum, naming a user challenged with
    // both algorithms: each 407 is about twice the request's size.
    spoofed.set_user("both");
    let (mut bytes_in, mut bytes_out, mut answers) = (0, 0, 0);
    for _ in 0..40 {
        let bare = spoofed.request("OPTIONS", &format!("sip:{server}"));
        bytes_in += spoofed.send(bare).await.unwrap().len();
        if let Some(r) = spoofed.recv(Duration::from_millis(200)).await.unwrap() {
            assert_eq!(r.status(), Some(407));
            bytes_out += r.text().len();
            answers += 1;
        }
    }
    assert!(
        bytes_out * 2 <= bytes_in * 3 + 2 * 1024,
        "{bytes_out} bytes drawn by {bytes_in}"
    );
    assert!(answers < 40, "some answers withheld");
    assert!(answers * 2 > 40, "most answered: {answers}");
    edge.shutdown(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn a_scanner_hears_nothing_and_is_blocked_by_the_scanner_rule() {
    let (edge, defense, mut decisions) = start_defended().await;
    let server = edge.local_addr(Transport::Udp).unwrap();
    let mut scanner = TestUa::udp_from("127.0.0.7:0".parse().unwrap(), server)
        .await
        .unwrap();
    let options = scanner
        .request("OPTIONS", &format!("sip:100@{server}"))
        .header("User-Agent", "friendly-scanner");
    scanner.send(options).await.unwrap();
    assert!(scanner.is_silent_for(Duration::from_millis(500)).await);
    let decision = tokio::time::timeout(Duration::from_secs(2), decisions.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(decision.rule, BlockRule::Scanner);
    assert_eq!(decision.trigger, "friendly-scanner");
    assert!(defense.is_blocked("127.0.0.7".parse().unwrap()));
    // The customer's switch may run sipsak (check_sip): it is answered,
    // and never blocked.
    let mut monitor = TestUa::udp(server).await.unwrap();
    let options = monitor
        .request("OPTIONS", &format!("sip:{server}"))
        .header("User-Agent", "sipsak 0.9.8");
    assert_eq!(monitor.transact(options).await.unwrap().status(), Some(200));
    assert!(decisions.try_recv().is_err());
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
