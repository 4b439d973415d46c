//! Where a call goes: weights, failover (on failures, on silence, by the
//! carrier's reply rules), full and silent gateways, probes, outbound
//! proxies.

use super::*;

#[test]
fn weights_ten_and_one_share_calls_exactly() {
    let mut lab = Lab::start(2, |c| c.entries[1].weight = 10);
    let mut counts = [0usize; 2];
    for _ in 0..1_100 {
        lab.invite(NUMBER);
        // Whichever gateway got it answers 486 at once.
        let (g, inv) = either_invite(&mut lab);
        counts[g] += 1;
        lab.gateways[g].respond(&inv, 486, "Busy Here").unwrap();
        expect_status(&mut lab.caller, 486);
    }
    assert_eq!(counts, [1_000, 100]);
}

#[test]
fn failover_on_503_and_on_silence_but_not_on_486() {
    let mut lab = Lab::start(2, failover_pair);
    // 503 from the first gateway: the second gets the call, the caller
    // sees only the final answer.
    let sent = lab.invite(NUMBER);
    let first = expect_request(&mut lab.gateways[0], "INVITE");
    lab.gateways[0]
        .respond(&first, 503, "Service Unavailable")
        .unwrap();
    let second = expect_request(&mut lab.gateways[1], "INVITE");
    assert_ne!(first.header("Call-ID"), second.header("Call-ID"));
    let gw = &mut lab.gateways[1];
    gw.send(gateway_answer(gw.local_addr(), &second, 200, "OK", "g2"))
        .unwrap();
    let ok = expect_final(&mut lab.caller);
    assert_eq!(ok.status(), Some(200), "{}", ok.text());
    ack_and_hang_up(&mut lab.caller, &sent, &ok);
    expect_status(&mut lab.caller, 200);
    assert!(lab.channels_back_to_zero());

    // Weights 10 and 1: the pick starts with gateway 0 again; it stays
    // silent.
    lab.invite(NUMBER);
    let silent = expect_request(&mut lab.gateways[0], "INVITE");
    let world = lab.world.clone();
    let started = world.borrow().now();
    let moved = expect_request(&mut lab.gateways[1], "INVITE");
    let waited = world.borrow().now() - started;
    assert!(
        waited >= Duration::from_millis(800),
        "failed over after {waited:?}"
    );
    assert_ne!(silent.header("Call-ID"), moved.header("Call-ID"));
    lab.gateways[1].respond(&moved, 486, "Busy Here").unwrap();
    let busy = expect_final(&mut lab.caller);
    assert_eq!(busy.status(), Some(486));

    // 486 is the caller's answer, not failed over. Gateway 0, silent a
    // moment ago, now comes last, so gateway 1 gets the call first.
    lab.invite(NUMBER);
    let inv = expect_request(&mut lab.gateways[1], "INVITE");
    lab.gateways[1].respond(&inv, 486, "Busy Here").unwrap();
    assert_eq!(expect_final(&mut lab.caller).status(), Some(486));
    // Gateway 0 still hears the silent INVITE's retransmissions, nothing new.
    let silent_id = silent.header("Call-ID");
    let fresh =
        |r: &Received| r.method().as_deref() == Some("INVITE") && r.header("Call-ID") != silent_id;
    assert!(
        lab.gateways[0]
            .recv_until(Duration::from_millis(300), fresh)
            .unwrap()
            .is_none(),
        "486 was failed over"
    );
    assert!(lab.channels_back_to_zero());
}

#[test]
fn a_full_gateway_is_skipped_not_failed() {
    let mut lab = Lab::start(2, |c| {
        c.entries[1].weight = 10;
        c.entries[1].channels = 1;
    });
    connect(&mut lab, 0);
    // Gateway 0 would win the weighted pick but holds its one channel:
    // the next call goes to gateway 1.
    let (_a, _b) = connect(&mut lab, 1);
    assert_eq!(lab.board.channels_in_use(CARRIER), 2);
}

#[test]
fn an_outbound_proxy_gets_the_call_with_a_preloaded_route() {
    let mut lab = Lab::start(2, |c| {
        // Gateway 0 is reached through gateway 1's address, the proxy.
        let proxy = format!("127.0.0.3:{}", c.entries[2].port);
        c.entries[1].outbound_proxy = Some(proxy);
        c.entries[2].enabled = false;
    });
    let gw = lab.gateways[0].local_addr();
    let proxy = lab.gateways[1].local_addr();
    lab.invite(NUMBER);
    let at_proxy = expect_request(&mut lab.gateways[1], "INVITE");
    assert_eq!(at_proxy.uri(), Some(format!("sip:441632960123@{gw}")));
    assert_eq!(at_proxy.header("Route"), Some(format!("<sip:{proxy};lr>")));
    lab.gateways[1]
        .respond(&at_proxy, 486, "Busy Here")
        .unwrap();
    assert_eq!(expect_final(&mut lab.caller).status(), Some(486));
    assert!(lab.channels_back_to_zero());
}

#[test]
fn a_silent_gateway_is_tried_last_for_a_while() {
    let mut lab = Lab::start(2, failover_pair);
    // Gateway 0 (weight 10) stays silent: the call moves to gateway 1
    // after the first-reply timeout.
    let first = failed_call_after_silence(&mut lab);
    assert_eq!(first, Some(486));
    // The next call would go to gateway 0 by weight; it goes to gateway 1
    // at once instead.
    busy_at_once(&mut lab, 1);
}

#[test]
fn probes_take_a_silent_gateway_down_until_it_answers_again() {
    let calls = CallConfig {
        timers: timers(),
        gateway_probe: Some(Duration::from_millis(300)),
        ..CallConfig::default()
    };
    let mut lab = Lab::start_with(2, calls, failover_pair);
    let gw0 = lab.gateways[0].local_addr();
    let probe = expect_request(&mut lab.gateways[0], "OPTIONS");
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
    assert!(answer_probes_until(&mut lab.gateways[1], 405, gw0_down));
    assert_eq!(board.gateway_up(101), Some(true));
    // The next call goes to gateway 1 at once, though gateway 0 weighs ten
    // times more.
    busy_at_once(&mut lab, 1);
    // Gateway 0 answers its probes again: it is up, and the next call is
    // its by weight.
    let gw0_up = || board.gateway_up(100) == Some(true);
    assert!(answer_probes_until(&mut lab.gateways[0], 200, gw0_up));
    busy_at_once(&mut lab, 0);
    // A 503 to a probe is a refusal: down again at once.
    assert!(answer_probes_until(&mut lab.gateways[0], 503, gw0_down));
    assert!(lab.channels_back_to_zero());
}

#[test]
fn without_probes_no_gateway_hears_an_options() {
    let mut lab = Lab::start(1, |_| {});
    let heard = lab.gateways[0]
        .recv_until(Duration::from_millis(700), |r| {
            r.method().as_deref() == Some("OPTIONS")
        })
        .unwrap();
    assert!(heard.is_none());
    assert_eq!(lab.board.gateway_up(100), None);
}

#[test]
fn a_carriers_reply_rules_fail_over_and_replace() {
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
    });
    // 486 fails over here, against the default.
    lab.invite(NUMBER);
    let first = expect_request(&mut lab.gateways[0], "INVITE");
    lab.gateways[0].respond(&first, 486, "Busy Here").unwrap();
    // 503 goes to the caller, as the rule rewrites it.
    let second = expect_request(&mut lab.gateways[1], "INVITE");
    lab.gateways[1]
        .respond(&second, 503, "Service Unavailable")
        .unwrap();
    let answer = expect_final(&mut lab.caller);
    assert_eq!(answer.status(), Some(480));
    assert!(
        answer
            .text()
            .starts_with("SIP/2.0 480 Carrier Unavailable\r\n"),
        "{}",
        answer.text()
    );
    assert!(lab.channels_back_to_zero());
}

/// The INVITE that reached one of two gateways, and which.
fn either_invite(lab: &mut Lab) -> (usize, Received) {
    let addrs: Vec<SocketAddr> = lab.gateways.iter().map(SimUa::local_addr).collect();
    let [g0, g1] = addrs[..] else {
        panic!("two gateways expected");
    };
    let is_invite = |r: &Received| r.method().as_deref() == Some("INVITE");
    let mut world = lab.world.borrow_mut();
    let limit = world.now() + WAIT;
    loop {
        for (i, addr) in [(0, g0), (1, g1)] {
            if let Some(r) = world.recv_until(addr, Duration::ZERO, is_invite) {
                return (i, r);
            }
        }
        assert!(world.step(limit), "no INVITE arrived at either gateway");
    }
}

/// Places a call whose INVITE must reach gateway `g` first, at once (no
/// other gateway tried before it), and is answered 486 there.
fn busy_at_once(lab: &mut Lab, g: usize) {
    lab.invite(NUMBER);
    let invite = lab.gateways[g]
        .recv_until(Duration::from_millis(500), |r| {
            r.method().as_deref() == Some("INVITE")
        })
        .unwrap()
        .expect("the INVITE at once");
    lab.gateways[g].respond(&invite, 486, "Busy Here").unwrap();
    assert_eq!(expect_final(&mut lab.caller).status(), Some(486));
}

/// Answers each OPTIONS that reaches gateway `ua` with `code` until `done`
/// holds; false when it still does not after ten seconds.
fn answer_probes_until(ua: &mut SimUa, code: u16, done: impl Fn() -> bool) -> bool {
    let until = ua.now() + Duration::from_secs(10);
    while !done() {
        if ua.now() > until {
            return false;
        }
        let probe = ua.recv(Duration::from_millis(20)).unwrap();
        if let Some(probe) = probe.filter(|p| p.method().as_deref() == Some("OPTIONS")) {
            ua.respond(&probe, code, "Probe Answer").unwrap();
        }
    }
    true
}

/// A call that gateway 0 ignores and gateway 1 then answers 486; the
/// caller's final status.
fn failed_call_after_silence(lab: &mut Lab) -> Option<u16> {
    lab.invite(NUMBER);
    expect_request(&mut lab.gateways[0], "INVITE");
    let moved = expect_request(&mut lab.gateways[1], "INVITE");
    lab.gateways[1].respond(&moved, 486, "Busy Here").unwrap();
    expect_final(&mut lab.caller).status()
}
