//! Limits and what the caller may send: channels, calls per second (and
//! the CPS buffer), restricted codecs, number rewriting.

use super::*;

#[test]
fn channel_limit_refuses_the_sixth_call_until_one_ends() {
    let mut lab = Lab::start(1, |c| c.entries[0].channels = 5);
    let mut dialogs = Vec::new();
    for _ in 0..5 {
        dialogs.push(connect(&mut lab, 0));
    }
    lab.invite(NUMBER);
    let refused = expect_final(&mut lab.caller);
    assert_eq!(refused.status(), Some(503));
    assert!(
        refused.text().contains("Channel limit reached"),
        "{}",
        refused.text()
    );
    let (mut a, _) = dialogs.pop().unwrap();
    let bye = lab.caller.in_dialog(&mut a, "BYE");
    lab.caller.send(bye).unwrap();
    let gw = &mut lab.gateways[0];
    let bye = expect_request(gw, "BYE");
    gw.respond(&bye, 200, "OK").unwrap();
    expect_status(&mut lab.caller, 200);
    assert_eq!(lab.board.channels_in_use(CUSTOMER), 4);
    dialogs.push(connect(&mut lab, 0));
    assert_eq!(lab.board.channels_in_use(CUSTOMER), 5);
}

#[test]
fn cps_limit_admits_ten_of_a_burst_of_thirty() {
    let mut lab = Lab::start(1, |c| c.accounts[0].cps = 10);
    let mut invites = Vec::new();
    for _ in 0..30 {
        invites.push(lab.invite(NUMBER));
    }
    let gw = &mut lab.gateways[0];
    let mut admitted = 0;
    while let Some(inv) = gw
        .recv_until(Duration::from_millis(500), |r| {
            r.method().as_deref() == Some("INVITE")
        })
        .unwrap()
    {
        admitted += 1;
        gw.respond(&inv, 486, "Busy Here").unwrap();
    }
    // Non-2xx finals are retransmitted until ACKed: count calls, not
    // messages.
    let mut refused = std::collections::HashSet::new();
    while let Some(r) = lab
        .caller
        .recv_until(Duration::from_millis(500), |r| {
            r.status().is_some_and(|c| c >= 200)
        })
        .unwrap()
    {
        if r.status() == Some(503) {
            assert!(r.text().contains("CPS limit reached"));
            refused.insert(r.header("Call-ID"));
        }
    }
    assert!((9..=11).contains(&admitted), "{admitted} admitted");
    assert_eq!(admitted + refused.len(), 30);
    assert!(lab.channels_back_to_zero());
}

#[test]
fn over_cps_with_a_buffer_a_call_waits_for_budget() {
    let calls = CallConfig {
        timers: timers(),
        cps_buffer: Duration::from_secs(2),
        ..CallConfig::default()
    };
    let mut lab = Lab::start_with(1, calls, |c| c.accounts[0].cps = 2);
    let world = lab.world.clone();
    let started = world.borrow().now();
    for _ in 0..4 {
        lab.invite(NUMBER);
    }
    // Two go at once; the others wait for the bucket (2 per second) and
    // are told 100 Trying meanwhile.
    let gw = &mut lab.gateways[0];
    let mut arrivals = Vec::new();
    for _ in 0..4 {
        let inv = expect_request(gw, "INVITE");
        arrivals.push(world.borrow().now() - started);
        gw.respond(&inv, 486, "Busy Here").unwrap();
    }
    assert!(arrivals[1] < Duration::from_millis(300), "{arrivals:?}");
    assert!(arrivals[2] >= Duration::from_millis(400), "{arrivals:?}");
    assert!(arrivals[3] < Duration::from_secs(2), "{arrivals:?}");
    let trying = lab
        .caller
        .recv_until(WAIT, |r| r.status() == Some(100))
        .unwrap();
    assert!(trying.is_some(), "waiting calls hear 100 Trying");
    // A burst beyond what the buffer can absorb is refused in the end.
    for _ in 0..8 {
        lab.invite(NUMBER);
    }
    let refused = lab
        .caller
        .recv_until(Duration::from_secs(4), |r| r.status() == Some(503))
        .unwrap()
        .expect("refused after the buffer");
    assert!(refused.text().contains("CPS limit reached"));
}

#[test]
fn restricted_codecs_are_removed_and_nothing_left_is_488() {
    let mut lab = Lab::start(1, |c| c.entries[0].restricted_codecs = vec!["PCMA".into()]);
    let (mut a, _) = {
        let sent = lab.invite(NUMBER);
        let gw = &mut lab.gateways[0];
        let at_gw = expect_request(gw, "INVITE");
        let body = at_gw.body();
        assert!(!body.contains("PCMA") && body.contains("PCMU"), "{body}");
        assert!(body.contains("m=audio 4000 RTP/AVP 0 101"), "{body}");
        // The carrier offers PCMA back in its answer: the caller never
        // sees it.
        let answer = ANSWER.replace("RTP/AVP 0\r\n", "RTP/AVP 8 0\r\na=rtpmap:8 PCMA/8000\r\n");
        let ok = SimUa::response(&at_gw, 200, "OK", "g")
            .header("Contact", format!("<sip:gw@{}>", gw.local_addr()))
            .body("application/sdp", answer);
        gw.send(ok).unwrap();
        let ok = expect_status(&mut lab.caller, 200);
        let body = ok.body();
        assert!(!body.contains("PCMA"), "{body}");
        assert!(body.contains("m=audio 5000 RTP/AVP 0\r\n"), "{body}");
        (Dialog::from_answer(&sent, &ok), ())
    };
    let ack = lab.caller.in_dialog(&mut a, "ACK");
    lab.caller.send(ack).unwrap();
    let bye = lab.caller.in_dialog(&mut a, "BYE");
    lab.caller.send(bye).unwrap();
    expect_status(&mut lab.caller, 200);
    assert!(lab.channels_back_to_zero());

    let mut config = lab.config.clone();
    config.entries[0].restricted_codecs = vec!["PCMA".into(), "PCMU".into()];
    lab.snapshot.publish(Snapshot::build(&config, 3));
    lab.invite(NUMBER);
    assert_eq!(expect_final(&mut lab.caller).status(), Some(488));
    assert!(lab.channels_back_to_zero());
}

#[test]
fn numbers_are_rewritten_for_the_carrier() {
    let mut lab = Lab::start(1, |c| {
        let e = &mut c.entries[0];
        e.tech_prefix = "777".into();
        e.strip_digits = 2;
        e.cli_prefix = "+1".into();
        c.accounts[1].carrier.tech_prefix = "9#".into();
    });
    let gw_addr = lab.gateways[0].local_addr();
    // Tech prefix 777 identifies the account and is removed, 2 digits are
    // stripped, the rest must be E.164.
    lab.invite("77700441632960123");
    let gw = &mut lab.gateways[0];
    let at_gw = expect_request(gw, "INVITE");
    assert_eq!(at_gw.uri(), Some(format!("sip:9#441632960123@{gw_addr}")));
    assert!(
        at_gw.header("From").unwrap().contains("sip:+1testua@"),
        "{}",
        at_gw.text()
    );
    gw.respond(&at_gw, 486, "Busy Here").unwrap();
    expect_final(&mut lab.caller);
    lab.invite("7770012345");
    let refused = expect_final(&mut lab.caller);
    assert_eq!(refused.status(), Some(403));
    assert!(refused.text().contains("Blocked by dial plan"));
    let mut config = lab.config.clone();
    config.routes[0].dial_string = vec!["33".into()];
    lab.snapshot.publish(Snapshot::build(&config, 3));
    lab.invite("77700441632960123");
    let refused = expect_final(&mut lab.caller);
    assert_eq!(refused.status(), Some(404));
    assert!(refused.text().contains("No route"));
    assert!(lab.channels_back_to_zero());
}
