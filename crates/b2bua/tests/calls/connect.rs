//! Calls that connect, end and fail: the basic flow, CANCEL, BYE from
//! either side, hang-ups by the API, maximum duration, digest callers.

use super::*;

#[test]
fn ip_authenticated_call_connects_and_hides_each_side_from_the_other() {
    let mut lab = Lab::start(1, |_| {});
    let sent = lab.invite(NUMBER);
    let gw_addr = lab.gateways[0].local_addr();
    let gw = &mut lab.gateways[0];
    let at_gw = expect_request(gw, "INVITE");
    let text = at_gw.text();
    assert!(
        !text.contains("127.0.0.2"),
        "caller address leaked:\n{text}"
    );
    assert_ne!(at_gw.header("Call-ID"), sent.header("Call-ID"));
    assert_eq!(at_gw.uri(), Some(format!("sip:441632960123@{gw_addr}")));
    assert!(at_gw.body().contains("PCMA"), "no restriction configured");
    assert_eq!(at_gw.header("Max-Forwards").as_deref(), Some("69"));
    gw.send(gateway_answer(
        gw.local_addr(),
        &at_gw,
        180,
        "Ringing",
        "gwtag",
    ))
    .unwrap();
    let ringing = expect_status(&mut lab.caller, 180);
    assert!(ringing.header("To").unwrap().contains("tag="));
    assert_eq!(lab.board.list()[0].state, CallState::Ringing);
    let gw = &mut lab.gateways[0];
    gw.send(gateway_answer(gw.local_addr(), &at_gw, 200, "OK", "gwtag"))
        .unwrap();
    expect_request(gw, "ACK");
    let ok = expect_status(&mut lab.caller, 200);
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

    ack_and_hang_up(&mut lab.caller, &sent, &ok);
    expect_status(&mut lab.caller, 200);
    let gw = &mut lab.gateways[0];
    let bye = expect_request(gw, "BYE");
    assert_eq!(bye.header("Call-ID"), at_gw.header("Call-ID"));
    gw.respond(&bye, 200, "OK").unwrap();
    assert!(lab.channels_back_to_zero());
    assert!(
        lab.caller.is_silent_for(Duration::from_millis(300)),
        "2xx retransmissions stopped by the ACK"
    );
}

#[test]
fn callee_hang_up_is_relayed_and_releases_the_channel() {
    let mut lab = Lab::start(1, |_| {});
    let (_, mut b) = connect(&mut lab, 0);
    let gw = &mut lab.gateways[0];
    let bye = gw.in_dialog(&mut b, "BYE");
    gw.send(bye).unwrap();
    expect_status(gw, 200);
    let bye = lab.end_with_callers_bye();
    assert!(!bye.text().contains("127.0.0.3"));
}

#[test]
fn cancel_before_answer_reaches_the_carrier_and_releases_the_channel() {
    let mut lab = Lab::start(1, |_| {});
    let (sent, at_gw, _) = provisional_call(&mut lab, 180, "t1");
    assert_eq!(lab.board.channels_in_use(CUSTOMER), 1);
    lab.caller.send(cancel_of(&sent)).unwrap();
    expect_status(&mut lab.caller, 487);
    let gw = &mut lab.gateways[0];
    let cancel = expect_request(gw, "CANCEL");
    assert_eq!(cancel.header("Call-ID"), at_gw.header("Call-ID"));
    gw.respond(&cancel, 200, "OK").unwrap();
    gw.send(SimUa::response(&at_gw, 487, "Request Terminated", "t1"))
        .unwrap();
    expect_request(gw, "ACK");
    assert!(lab.channels_back_to_zero());
}

#[test]
fn an_answer_crossing_the_cancel_is_acknowledged_and_hung_up() {
    answer_crossing_the_cancel(false);
}

#[test]
fn an_offer_crossing_the_cancel_is_declined_in_the_ack() {
    answer_crossing_the_cancel(true);
}

#[test]
fn a_carrier_failure_reaches_the_caller_and_releases_the_channel() {
    let mut lab = Lab::start(1, |_| {});
    let answer = failed_call(&mut lab, 0, 486);
    assert_eq!(answer.status(), Some(486), "486 is never failed over");
    assert!(lab.channels_back_to_zero());
}

#[test]
fn max_duration_ends_both_legs() {
    let mut lab = Lab::start(1, |c| c.routes[0].max_duration_s = 1);
    let (_a, _b) = connect(&mut lab, 0);
    let world = lab.world.clone();
    let started = world.borrow().now();
    let bye_a = expect_request(&mut lab.caller, "BYE");
    let bye_b = expect_request(&mut lab.gateways[0], "BYE");
    assert!((world.borrow().now() - started) >= Duration::from_millis(800));
    lab.caller.respond(&bye_a, 200, "OK").unwrap();
    lab.gateways[0].respond(&bye_b, 200, "OK").unwrap();
    assert!(lab.channels_back_to_zero());
}

#[test]
fn an_unanswered_bye_still_ends_the_call() {
    let mut lab = Lab::start(1, |_| {});
    let (mut a, _) = connect(&mut lab, 0);
    let bye = lab.caller.in_dialog(&mut a, "BYE");
    lab.caller.send(bye).unwrap();
    expect_status(&mut lab.caller, 200);
    // The gateway never answers the BYE.
    expect_request(&mut lab.gateways[0], "BYE");
    assert!(lab.channels_back_to_zero());
}

#[test]
fn the_api_can_hang_up_a_live_call() {
    let mut lab = Lab::start(1, |_| {});
    connect(&mut lab, 0);
    let calls = lab.board.list();
    assert_eq!(calls.len(), 1);
    assert!(calls[0].answered.is_some());
    assert!(lab.board.hang_up(calls[0].id));
    assert!(!lab.board.hang_up(calls[0].id + 1));
    let bye = expect_request(&mut lab.gateways[0], "BYE");
    lab.gateways[0].respond(&bye, 200, "OK").unwrap();
    lab.end_with_callers_bye();
}

#[test]
fn digest_authenticated_call_with_sha256() {
    digest_call(0);
}

#[test]
fn digest_authenticated_call_with_md5() {
    digest_call(1);
}

#[test]
fn a_required_extension_tollgate_lacks_gets_420() {
    let mut lab = Lab::start(1, |_| {});
    let uri = lab.uri(NUMBER);
    let invite = lab
        .caller
        .request("INVITE", &uri)
        .header("Require", "100rel, timer")
        .body("application/sdp", SDP);
    lab.caller.send(invite).unwrap();
    let refused = expect_final(&mut lab.caller);
    assert_eq!(refused.status(), Some(420));
    assert_eq!(
        refused.header("Unsupported").as_deref(),
        Some("timer"),
        "100rel is carried end to end"
    );
    nothing_reached_the_carrier(lab);
}

#[test]
fn an_identified_callers_options_learns_the_methods_and_100rel() {
    let mut lab = Lab::start(1, |_| {});
    let uri = format!("sip:{}", lab.server);
    let ok = lab.caller.call("OPTIONS", &uri).unwrap();
    assert_eq!(ok.status(), Some(200));
    assert_eq!(ok.header("Supported").as_deref(), Some("100rel"));
    assert!(ok.header("Allow").unwrap().contains("INVITE"));
}

#[test]
fn an_invite_out_of_hops_gets_483() {
    let mut lab = Lab::start(1, |_| {});
    let uri = lab.uri(NUMBER);
    let invite = lab.caller.request("INVITE", &uri).build().unwrap();
    let text = String::from_utf8(invite)
        .unwrap()
        .replace("Max-Forwards: 70", "Max-Forwards: 0");
    lab.caller.send_raw(text.as_bytes()).unwrap();
    assert_eq!(expect_final(&mut lab.caller).status(), Some(483));
    nothing_reached_the_carrier(lab);
}

/// Ends a test whose call was refused before routing: the gateway heard
/// nothing and no channel is held.
fn nothing_reached_the_carrier(mut lab: Lab) {
    assert!(lab.gateways[0].is_silent_for(Duration::from_millis(200)));
    assert!(lab.channels_back_to_zero());
}

/// Places a call that gateway `g` answers with `code`; returns the
/// caller's final answer.
fn failed_call(lab: &mut Lab, g: usize, code: u16) -> Received {
    lab.invite(NUMBER);
    let gw = &mut lab.gateways[g];
    let at_gw = expect_request(gw, "INVITE");
    gw.respond(&at_gw, code, "Failed").unwrap();
    expect_final(&mut lab.caller)
}

/// The caller cancels a ringing call (its INVITE with an offer, or
/// without: `late_offer`), and the carrier's 200 crosses the CANCEL.
fn answer_crossing_the_cancel(late_offer: bool) {
    let mut lab = Lab::start(1, |_| {});
    let (sent, at_gw) = if late_offer {
        let (sent, at_gw) = late_offer_invite(&mut lab);
        let gw = &mut lab.gateways[0];
        gw.send(gateway_answer(
            gw.local_addr(),
            &at_gw,
            180,
            "Ringing",
            "t1",
        ))
        .unwrap();
        expect_status(&mut lab.caller, 180);
        (sent, at_gw)
    } else {
        let (sent, at_gw, _) = provisional_call(&mut lab, 180, "t1");
        (sent, at_gw)
    };
    lab.caller.send(cancel_of(&sent)).unwrap();
    let terminated = expect_status(&mut lab.caller, 487);
    let to = terminated.header("To").unwrap();
    let ack = same_hop(&sent, tollgate_sip::Method::Ack, &to);
    lab.caller.send(ack).unwrap();
    let gw_addr = lab.gateways[0].local_addr();
    let gw = &mut lab.gateways[0];
    let cancel = expect_request(gw, "CANCEL");
    gw.respond(&cancel, 200, "OK").unwrap();
    // The phone was picked up as the CANCEL travelled: the carrier answers
    // the INVITE after all (with an offer, when the INVITE had none).
    gw.send(recorded_answer(&at_gw, gw_addr, "phone", "t1"))
        .unwrap();
    let ack = expect_ack_and_bye(gw, &at_gw, "phone", "t1");
    if late_offer {
        declines_the_offer(&ack);
    } else {
        assert!(ack.body().is_empty(), "{}", ack.text());
    }
    // The caller acknowledged its 487 and hears nothing more.
    assert!(lab.caller.is_silent_for(Duration::from_millis(300)));
    assert!(lab.channels_back_to_zero());
}

/// A digest-authenticated call with challenge `which` (0 = SHA-256,
/// 1 = MD5) from 127.0.0.4, naming alice in its From.
fn digest_call(which: usize) {
    let mut lab = Lab::start(1, |_| {});
    let mut ua = SimUa::new(&lab.world, "127.0.0.4:5064".parse().unwrap());
    ua.set_user("alice");
    let uri = lab.uri(NUMBER);
    Lab::invite_from(&mut ua, &uri, SDP);
    let challenged = expect_final(&mut ua);
    assert_eq!(challenged.status(), Some(407));
    let ack = ua.request("ACK", &uri);
    ua.send(ack).unwrap();
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
        data: ua.send(request).unwrap(),
    };
    let gw = &mut lab.gateways[0];
    let at_gw = expect_request(gw, "INVITE");
    assert!(!at_gw.text().contains("Proxy-Authorization"));
    gw.send(gateway_answer(gw.local_addr(), &at_gw, 200, "OK", "g"))
        .unwrap();
    let ok = expect_status(&mut ua, 200);
    assert_eq!(lab.board.list()[0].user_id, Some(1));
    ack_and_hang_up(&mut ua, &sent, &ok);
    expect_status(&mut ua, 200);
    assert!(lab.channels_back_to_zero());
}

/// The 200 to the caller is lost on the wire: Tollgate sends it again (T1
/// later) until the caller's ACK, then stops.
#[test]
fn a_lost_answer_to_the_caller_is_sent_again_until_acked() {
    let mut lab = Lab::start(1, |_| {});
    let caller = lab.caller.local_addr();
    let lost = Rc::new(std::cell::Cell::new(0));
    let counted = lost.clone();
    lab.world.borrow_mut().loss = Some(Box::new(move |p: &sim::Packet| {
        let first_ok = p.to == caller && p.data.starts_with(b"SIP/2.0 200") && counted.get() == 0;
        if first_ok {
            counted.set(1);
        }
        first_ok
    }));
    let world = lab.world.clone();
    let started = world.borrow().now();
    connect(&mut lab, 0);
    let waited = world.borrow().now() - started;
    assert_eq!(lost.get(), 1, "the first 200 was lost");
    assert!(
        waited >= timers().t1,
        "the 200 came again after T1: {waited:?}"
    );
    assert_eq!(lab.board.list()[0].state, CallState::Answered);
    let again = lab
        .caller
        .recv_until(Duration::from_secs(2), |r| r.status() == Some(200))
        .unwrap();
    assert!(again.is_none(), "the ACK stops the retransmissions");
}
