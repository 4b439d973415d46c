//! Tollgate answering a carrier's digest challenges: on INVITE, BYE and
//! relayed requests, in advance with a nonce it was given, and once only.

use super::*;

#[test]
fn a_401_is_answered_with_authorization_in_md5_and_sha_512_256() {
    let mut lab = Lab::start(1, gateway_credentials);
    for (token, hash) in [("MD5", Hash::Md5), ("SHA-512-256", Hash::Sha512_256)] {
        lab.invite(NUMBER);
        let gw = &mut lab.gateways[0];
        let first = expect_request(gw, "INVITE");
        let nonce = format!("n-{token}");
        let challenge = SimUa::response(&first, 401, "Unauthorized", "ch").header(
            "WWW-Authenticate",
            format!("Digest realm=\"carrier\", nonce=\"{nonce}\", algorithm={token}, qop=\"auth\""),
        );
        gw.send(challenge).unwrap();
        let retry = expect_request(gw, "INVITE");
        assert!(retry.header("Proxy-Authorization").is_none());
        check_credentials_in(&retry, "Authorization", hash, "INVITE", &nonce);
        gw.respond(&retry, 486, "Busy Here").unwrap();
        assert_eq!(expect_final(&mut lab.caller).status(), Some(486));
    }
}

#[test]
fn carrier_challenges_are_answered_on_invite_and_bye() {
    let mut lab = Lab::start(1, gateway_credentials);
    let sent = lab.invite(NUMBER);
    let gw = &mut lab.gateways[0];
    let first = expect_request(gw, "INVITE");
    gw.send(challenge_for(&first, "n1")).unwrap();
    expect_request(gw, "ACK");
    let retry = expect_request(gw, "INVITE");
    assert_eq!(retry.header("Call-ID"), first.header("Call-ID"));
    assert_eq!(retry.cseq(), first.cseq().map(|c| c + 1));
    check_credentials(&retry, "INVITE", "n1");
    gw.send(gateway_answer(gw.local_addr(), &retry, 200, "OK", "g1"))
        .unwrap();
    let ack = expect_request(gw, "ACK");
    assert_eq!(ack.cseq(), retry.cseq());
    let ok = expect_status(&mut lab.caller, 200);
    ack_and_hang_up(&mut lab.caller, &sent, &ok);
    let gw = &mut lab.gateways[0];
    let bye = expect_request(gw, "BYE");
    assert!(bye.cseq() > retry.cseq(), "BYE after the challenged CSeq");
    gw.send(challenge_for(&bye, "n2")).unwrap();
    let bye2 = expect_request(gw, "BYE");
    assert_eq!(bye2.cseq(), bye.cseq().map(|c| c + 1));
    check_credentials(&bye2, "BYE", "n2");
    gw.respond(&bye2, 200, "OK").unwrap();
    assert!(lab.channels_back_to_zero());
}

#[test]
fn a_carriers_nonce_answers_its_next_challenge_in_advance() {
    let mut lab = Lab::start(1, gateway_credentials);
    lab.invite(NUMBER);
    let gw = &mut lab.gateways[0];
    let first = expect_request(gw, "INVITE");
    assert!(first.header("Proxy-Authorization").is_none());
    gw.send(challenge_for(&first, "n1")).unwrap();
    let retry = expect_request(gw, "INVITE");
    check_credentials(&retry, "INVITE", "n1");
    gw.respond(&retry, 486, "Busy Here").unwrap();
    assert_eq!(expect_final(&mut lab.caller).status(), Some(486));

    // The next call carries the answer to n1 with the next nonce-count.
    lab.invite(NUMBER);
    let gw = &mut lab.gateways[0];
    let second = expect_request(gw, "INVITE");
    check_credentials(&second, "INVITE", "n1");
    let value = second.header("Proxy-Authorization").unwrap();
    let auth = AuthValue::parse(value.as_bytes()).unwrap();
    let creds = tollgate_sip::digest::Credentials::parse(&auth).unwrap();
    assert_eq!(creds.nonce_count(), Some(2));
    // Refused all the same: the one after waits for a challenge again.
    gw.respond(&second, 403, "Forbidden").unwrap();
    expect_final(&mut lab.caller);
    lab.invite(NUMBER);
    let third = expect_request(&mut lab.gateways[0], "INVITE");
    assert!(third.header("Proxy-Authorization").is_none());
}

#[test]
fn a_second_challenge_or_none_to_answer_fails_over() {
    let mut lab = Lab::start(2, |c| {
        c.accounts[1].carrier.gateway_failover = 1;
        c.entries[1].weight = 5;
        c.entries[2].weight = 1;
    });
    lab.invite(NUMBER);
    let first = expect_request(&mut lab.gateways[0], "INVITE");
    lab.gateways[0].send(challenge_for(&first, "n")).unwrap();
    let moved = expect_request(&mut lab.gateways[1], "INVITE");
    lab.gateways[1]
        .respond(&moved, 480, "Temporarily Unavailable")
        .unwrap();
    assert_eq!(expect_final(&mut lab.caller).status(), Some(480));
    assert!(lab.channels_back_to_zero());
}

#[test]
fn a_re_invite_the_carrier_challenges_is_answered_by_tollgate() {
    let mut lab = Lab::start(1, gateway_credentials);
    let (mut a, b) = connect(&mut lab, 0);
    let reinvite = caller_offer(&mut lab.caller, &mut a, "INVITE");
    lab.caller.send(reinvite).unwrap();
    let gw = &mut lab.gateways[0];
    let first = expect_request(gw, "INVITE");
    gw.send(challenge_for(&first, "n3")).unwrap();
    let retry = expect_request(gw, "INVITE");
    assert_eq!(retry.cseq(), first.cseq().map(|c| c + 1));
    check_credentials(&retry, "INVITE", "n3");
    let tag = b.local.rsplit("tag=").next().unwrap().to_owned();
    gw.send(gateway_answer(gw.local_addr(), &retry, 200, "OK", &tag))
        .unwrap();
    let answer = expect_final(&mut lab.caller);
    assert_eq!(answer.status(), Some(200), "the caller never sees the 407");
}

/// Gives the carrier's gateway the credentials its challenges get.
fn gateway_credentials(c: &mut Configuration) {
    c.entries[1].username = "carrier-user".into();
    c.entries[1].password = Some("gw-secret".into());
}

/// A 407 challenge for `request`.
fn challenge_for(request: &Received, nonce: &str) -> tollgate_sip::MessageBuilder {
    SimUa::response(request, 407, "Proxy Authentication Required", "ch").header(
        "Proxy-Authenticate",
        format!("Digest realm=\"carrier\", nonce=\"{nonce}\", algorithm=SHA-256, qop=\"auth\""),
    )
}

/// Checks `request`'s Proxy-Authorization for user `carrier-user`
/// (SHA-256).
fn check_credentials(request: &Received, method: &str, nonce: &str) {
    check_credentials_in(request, "Proxy-Authorization", Hash::Sha256, method, nonce);
}

/// A relayed request is read once, when it arrives: relaying it, the
/// carrier's challenge to it (answered by Tollgate), the answer carried
/// back and the ACKs on both legs cost the B2BUA no parse of its own. The
/// transaction layer reads each message it receives once, each request
/// whose Via it stamps (the caller's ask for rport) once more, and builds
/// its ACK to a failure (RFC 3261 §17.1.1.3) by reading the INVITE and the
/// failure.
#[test]
fn a_relayed_re_invite_and_its_answers_are_each_read_once() {
    let mut lab = Lab::start(1, gateway_credentials);
    let (mut a, b) = connect(&mut lab, 0);
    let counts = |lab: &Lab| {
        let world = lab.world.borrow();
        (world.parsed, world.received)
    };
    sim::sleep(&lab.world, Duration::from_millis(10));
    let (parsed, received) = counts(&lab);
    let reinvite = caller_offer(&mut lab.caller, &mut a, "INVITE");
    lab.caller.send(reinvite).unwrap();
    let gw = &mut lab.gateways[0];
    let first = expect_request(gw, "INVITE");
    gw.send(challenge_for(&first, "n4")).unwrap();
    let retry = expect_request(gw, "INVITE");
    check_credentials(&retry, "INVITE", "n4");
    let tag = b.local.rsplit("tag=").next().unwrap().to_owned();
    gw.send(gateway_answer(gw.local_addr(), &retry, 200, "OK", &tag))
        .unwrap();
    expect_request(gw, "ACK");
    let ok = expect_status(&mut lab.caller, 200);
    assert_eq!(ok.body(), ANSWER);
    let ack = lab.caller.in_dialog(&mut a, "ACK");
    lab.caller.send(ack).unwrap();
    sim::sleep(&lab.world, Duration::from_millis(10));
    let (now_parsed, now_received) = counts(&lab);
    // In: the re-INVITE, the 407, the 200 and the caller's ACK; the two
    // requests carry rport; the layer's ACK to the 407 reads two heads.
    assert_eq!(now_received - received, 4);
    assert_eq!(now_parsed - parsed, 4 + 2 + 2);
}

/// A 407 to Tollgate's BYE with no challenge it can answer ends there:
/// no second BYE, and the call is over all the same.
#[test]
fn a_bye_refused_without_a_usable_challenge_is_not_sent_again() {
    let mut lab = Lab::start(1, gateway_credentials);
    let (mut a, _) = connect(&mut lab, 0);
    let bye = lab.caller.in_dialog(&mut a, "BYE");
    lab.caller.send(bye).unwrap();
    expect_status(&mut lab.caller, 200);
    let gw = &mut lab.gateways[0];
    let bye = expect_request(gw, "BYE");
    gw.respond(&bye, 407, "Proxy Authentication Required")
        .unwrap();
    let again = gw
        .recv_until(Duration::from_secs(1), |r| {
            r.method().as_deref() == Some("BYE")
        })
        .unwrap();
    assert!(
        again.is_none(),
        "a second BYE: {:?}",
        again.map(|r| r.text())
    );
    assert!(lab.channels_back_to_zero());
}
