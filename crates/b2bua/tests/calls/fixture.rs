//! The configuration every call test starts from, over sockets (the
//! edge's wiring tests include this file) or in simulated time: customer 1
//! with IP entry 1 (127.0.0.2) and SIP user alice, carrier 10 with one
//! ingress entry per gateway, a route between them; the SDP both sides
//! offer and answer; fast transaction timers.

// The edge's wiring tests use a part of it.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use tollgate_policy::*;
use tollgate_sip::MessageBuilder;
use tollgate_sip::transaction::TimerConfig;
use tollgate_testua::{Agent, Received};

pub(crate) const CUSTOMER: AccountId = 1;

pub(crate) const CARRIER: AccountId = 10;

pub(crate) const NUMBER: &str = "+441632960123";

pub(crate) const SDP: &str = "v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n\
m=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n";

pub(crate) const ANSWER: &str = "v=0\r\no=- 2 2 IN IP4 192.0.2.20\r\ns=-\r\nc=IN IP4 192.0.2.20\r\nt=0 0\r\n\
m=audio 5000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

/// The configuration: customer 1 with IP entry 1 (127.0.0.2) and user
/// alice; carrier 10 with one ingress entry per gateway (ids 100…); route 1
/// from the customer to the carrier.
pub(crate) fn configuration(gateways: &[SocketAddr]) -> Configuration {
    let account = |id, name: &str, kind| Account {
        id,
        name: name.into(),
        kind,
        ..Account::default()
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

pub(crate) fn timers() -> TimerConfig {
    TimerConfig {
        t1: Duration::from_millis(50),
        t2: Duration::from_millis(400),
        ..TimerConfig::default()
    }
}

/// A gateway's (at `gw`) answer to `invite`: Contact and, for 2xx and 183,
/// SDP.
pub(crate) fn gateway_answer(
    gw: SocketAddr,
    invite: &Received,
    code: u16,
    reason: &str,
    tag: &str,
) -> MessageBuilder {
    let b = Agent::response(invite, code, reason, tag).header("Contact", format!("<sip:gw@{gw}>"));
    if code == 200 || code == 183 {
        b.body("application/sdp", ANSWER)
    } else {
        b
    }
}

/// Publishes [`configuration`] for `gateways`, changed by `tweak`, on
/// `snapshot`; returns it.
pub(crate) fn publish(
    snapshot: &SharedSnapshot,
    gateways: &[SocketAddr],
    tweak: impl FnOnce(&mut Configuration),
) -> Configuration {
    let mut config = configuration(gateways);
    tweak(&mut config);
    snapshot.publish(Snapshot::build(&config, 2));
    config
}

/// A caller's INVITE (`invite`, fresh from its UA at `from`) with its
/// Contact and the offer `sdp`.
pub(crate) fn with_offer(invite: MessageBuilder, from: SocketAddr, sdp: &str) -> MessageBuilder {
    invite
        .header("Contact", format!("<sip:caller@{from}>"))
        .body("application/sdp", sdp)
}
