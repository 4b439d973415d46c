//! Identification over the wire: the policy core answers an
//! IP-authenticated INVITE with the temporary 480, challenges strangers with
//! 407 (SHA-256 and MD5), accepts their digest retry and refuses a wrong
//! password with 403.

use std::sync::Arc;
use std::time::Duration;

use tollgate_edge::{Edge, EdgeConfig, Listen, PLACEHOLDER, PolicyCore, Transport};
use tollgate_policy::*;
use tollgate_sip::digest::{Algorithm, Answer, Challenge, answer};
use tollgate_sip::header::AuthValue;
use tollgate_testua::TestUa;

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

async fn start() -> Edge {
    let snapshot = Arc::new(SharedSnapshot::new(Snapshot::build(&configuration(), 1)));
    let auth = Authenticator::new(
        "tollgate",
        vec![Algorithm::SHA256, Algorithm::MD5],
        &[3; 32],
        300,
    );
    let config = EdgeConfig {
        listen: vec![Listen {
            transport: Transport::Udp,
            addr: "127.0.0.1:0".parse().unwrap(),
        }],
        ..EdgeConfig::default()
    };
    Edge::start(config, PolicyCore::new(snapshot, auth))
        .await
        .unwrap()
}

#[tokio::test]
async fn ip_authenticated_invite_reaches_the_placeholder() {
    let edge = start().await;
    let server = edge.local_addr(Transport::Udp).unwrap();
    let mut ua = TestUa::udp(server).await.unwrap();
    let r = ua
        .call("INVITE", &format!("sip:+441632960123@{server}"))
        .await
        .unwrap();
    assert_eq!(r.status(), Some(PLACEHOLDER.0), "{}", r.text());
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

#[tokio::test]
async fn strangers_are_challenged_and_digest_identifies_them() {
    let edge = start().await;
    let server = edge.local_addr(Transport::Udp).unwrap();
    assert_eq!(
        digest_call(server, 0, "s3cret-pass").await,
        PLACEHOLDER.0,
        "SHA-256"
    );
    assert_eq!(
        digest_call(server, 1, "s3cret-pass").await,
        PLACEHOLDER.0,
        "MD5"
    );
    assert_eq!(digest_call(server, 0, "wrong").await, 403);
    let mut stranger = TestUa::udp_from("127.0.0.2:0".parse().unwrap(), server)
        .await
        .unwrap();
    assert_eq!(
        stranger
            .call("OPTIONS", &format!("sip:{server}"))
            .await
            .unwrap()
            .status(),
        Some(407)
    );
    edge.shutdown(Duration::from_millis(100)).await;
}
