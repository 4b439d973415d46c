//! Inside the dialogs: re-INVITEs, late offers and their ACKs, 2xx
//! retransmissions, forks, early-dialog UPDATE and INFO.

use super::*;

#[test]
fn a_re_invite_is_relayed_with_each_legs_own_cseq() {
    let mut lab = Lab::start(1, |c| c.entries[0].restricted_codecs = vec!["PCMA".into()]);
    let (mut a, mut b) = connect(&mut lab, 0);
    // The caller re-INVITEs (hold, say): the carrier gets it in its own
    // dialog, with its own CSeq, codecs still restricted.
    let reinvite = lab
        .caller
        .in_dialog(&mut a, "INVITE")
        .header(
            "Contact",
            format!("<sip:caller@{}>", lab.caller.local_addr()),
        )
        .body("application/sdp", SDP.replace("0 8 101", "8 0 101"));
    lab.caller.send(reinvite).unwrap();
    let gw = &mut lab.gateways[0];
    let at_gw = expect_request(gw, "INVITE");
    assert_eq!(at_gw.header("Call-ID").as_deref(), Some(b.call_id.as_str()));
    assert_eq!(
        at_gw.cseq(),
        Some(2),
        "the B-leg's CSeq space: INVITE 1, now 2"
    );
    assert!(!at_gw.body().contains("PCMA"), "{}", at_gw.body());
    let tag = b.local.rsplit("tag=").next().unwrap().to_owned();
    gw.send(gateway_answer(gw.local_addr(), &at_gw, 200, "OK", &tag))
        .unwrap();
    let ack = expect_request(gw, "ACK");
    assert_eq!(ack.cseq(), Some(2));
    let ok = expect_status(&mut lab.caller, 200);
    assert_eq!(ok.cseq(), a.cseq.into());
    assert_eq!(ok.body(), ANSWER);
    let ack = lab.caller.in_dialog(&mut a, "ACK");
    lab.caller.send(ack).unwrap();

    // The carrier sends INFO the other way: relayed, answered back.
    let gw = &mut lab.gateways[0];
    let info = gw
        .in_dialog(&mut b, "INFO")
        .body("application/dtmf-relay", "Signal=5\r\nDuration=160\r\n");
    gw.send(info).unwrap();
    let at_caller = expect_request(&mut lab.caller, "INFO");
    assert_eq!(at_caller.body(), "Signal=5\r\nDuration=160\r\n");
    assert_eq!(
        at_caller.header("Call-ID").as_deref(),
        Some(a.call_id.as_str())
    );
    lab.caller.respond(&at_caller, 200, "OK").unwrap();
    let answered = expect_final(&mut lab.gateways[0]);
    assert_eq!(answered.status(), Some(200));
    assert_eq!(answered.cseq(), Some(b.cseq));

    // An in-dialog request for a dialog that does not exist gets 481.
    let mut stranger = a.clone();
    stranger.call_id = "no-such-call@testua".into();
    let bye = lab.caller.in_dialog(&mut stranger, "BYE");
    lab.caller.send(bye).unwrap();
    assert_eq!(expect_final(&mut lab.caller).status(), Some(481));
}

#[test]
fn a_late_offer_the_call_drops_is_declined_in_the_ack_before_the_bye() {
    let mut lab = Lab::start(1, |_| {});
    let (_, at_gw) = late_offer_invite(&mut lab);
    let gw_addr = lab.gateways[0].local_addr();
    let gw = &mut lab.gateways[0];
    gw.send(recorded_answer(&at_gw, gw_addr, "phone", "late"))
        .unwrap();
    expect_status(&mut lab.caller, 200);
    // A second fork answers with an offer of its own: its ACK must answer
    // that offer before the BYE, and declines it.
    let gw = &mut lab.gateways[0];
    gw.send(recorded_answer(&at_gw, gw_addr, "fork2", "fork2"))
        .unwrap();
    declines_the_offer(&expect_ack_and_bye(gw, &at_gw, "fork2", "fork2"));
    // The caller never acknowledges the answer (64·T1): the call ends, and
    // the carrier, still owed the ACK of its offer, gets it before the BYE.
    declines_the_offer(&expect_ack_and_bye(gw, &at_gw, "phone", "late"));
    lab.end_with_callers_bye();
}

#[test]
fn an_offerless_re_invite_gets_its_answer_in_the_far_ack() {
    let mut lab = Lab::start(1, |_| {});
    let (mut a, b) = connect(&mut lab, 0);
    let tag = b.local.rsplit("tag=").next().unwrap().to_owned();
    // The caller re-INVITEs without an offer: the carrier's 2xx brings one.
    let at_gw = offerless_reinvite(&mut lab, &mut a, &tag);
    let ok = expect_status(&mut lab.caller, 200);
    assert_eq!(ok.body(), ANSWER, "the carrier's offer reaches the caller");
    let gw = &mut lab.gateways[0];
    assert!(
        gw.recv_until(Duration::from_millis(200), |r| r.method().as_deref()
            == Some("ACK"))
            .unwrap()
            .is_none(),
        "the carrier's ACK waits for the caller's answer"
    );
    let ack = lab
        .caller
        .in_dialog(&mut a, "ACK")
        .body("application/sdp", SDP);
    lab.caller.send(ack).unwrap();
    let gw = &mut lab.gateways[0];
    let ack = expect_request(gw, "ACK");
    assert_eq!((ack.cseq(), ack.body().as_str()), (at_gw.cseq(), SDP));
    // Its 2xx sent again gets the same ACK again, answer included.
    gw.send(gateway_answer(gw.local_addr(), &at_gw, 200, "OK", &tag))
        .unwrap();
    assert_eq!(expect_request(gw, "ACK").data, ack.data);
    // Another offerless re-INVITE whose answer the caller never sends: when
    // the call ends (no ACK within 64·T1) the carrier first gets its ACK,
    // declining its offer, then the BYE.
    let at_gw = offerless_reinvite(&mut lab, &mut a, &tag);
    let gw = &mut lab.gateways[0];
    let ack = expect_request(gw, "ACK");
    assert_eq!(ack.cseq(), at_gw.cseq());
    declines_the_offer(&ack);
    expect_request(gw, "BYE");
    lab.end_with_callers_bye();
}

#[test]
fn a_late_offer_is_answered_in_the_callers_ack() {
    let mut lab = Lab::start(1, |_| {});
    let (sent, at_gw) = late_offer_invite(&mut lab);
    let gw = &mut lab.gateways[0];
    gw.send(gateway_answer(gw.local_addr(), &at_gw, 200, "OK", "late"))
        .unwrap();
    let ok = expect_status(&mut lab.caller, 200);
    assert_eq!(ok.body(), ANSWER, "the carrier's offer reaches the caller");
    assert!(
        lab.gateways[0]
            .recv_until(Duration::from_millis(200), |r| r.method().as_deref()
                == Some("ACK"))
            .unwrap()
            .is_none(),
        "the B-leg ACK waits for the caller's answer"
    );
    let mut a = Dialog::from_answer(&sent, &ok);
    let ack = lab
        .caller
        .in_dialog(&mut a, "ACK")
        .body("application/sdp", SDP);
    lab.caller.send(ack).unwrap();
    let ack = expect_request(&mut lab.gateways[0], "ACK");
    assert_eq!(ack.body(), SDP);
    // The carrier did not hear that ACK: the same ACK, answer included,
    // goes out again.
    let gw = &mut lab.gateways[0];
    gw.send(gateway_answer(gw.local_addr(), &at_gw, 200, "OK", "late"))
        .unwrap();
    let again = expect_request(gw, "ACK");
    assert_eq!(again.data, ack.data);
}

#[test]
fn a_retransmitted_answer_is_acknowledged_again() {
    let mut lab = Lab::start(1, |_| {});
    lab.invite(NUMBER);
    let gw = &mut lab.gateways[0];
    let at_gw = expect_request(gw, "INVITE");
    let ok = gateway_answer(gw.local_addr(), &at_gw, 200, "OK", "gwtag");
    gw.send(ok).unwrap();
    let first = expect_request(gw, "ACK");
    for _ in 0..2 {
        let ok = gateway_answer(gw.local_addr(), &at_gw, 200, "OK", "gwtag");
        gw.send(ok).unwrap();
        let again = expect_request(gw, "ACK");
        assert_eq!(
            again.header("CSeq"),
            at_gw.header("CSeq").map(|c| c.replace("INVITE", "ACK"))
        );
        assert_eq!(again.header("Call-ID"), first.header("Call-ID"));
        assert_eq!(again.header("To"), first.header("To"));
    }
    // A 2xx whose From tag names no dialog of Tollgate's gets nothing.
    let from = at_gw.header("From").unwrap();
    let tag = from.split("tag=").nth(1).unwrap().to_owned();
    let forged = Received {
        data: at_gw.text().replace(&tag, "00000000000000001").into(),
    };
    gw.send(gateway_answer(gw.local_addr(), &forged, 200, "OK", "gwtag"))
        .unwrap();
    assert!(gw.is_silent_for(Duration::from_millis(300)));
}

#[test]
fn a_second_fork_answering_is_acknowledged_and_hung_up() {
    let mut lab = Lab::start(1, |_| {});
    let (mut a, b, at_gw) = connect_with_invite(&mut lab, 0);
    let first_tag = b.local.rsplit_once(";tag=").unwrap().1.to_owned();
    let gw_addr = lab.gateways[0].local_addr();
    let gw = &mut lab.gateways[0];
    // The carrier forked the INVITE and a second phone answered too: a
    // dialog of its own (its tag, its Contact), with a Record-Route.
    let fork2 = || recorded_answer(&at_gw, gw_addr, "fork2", "fork2");
    gw.send(fork2()).unwrap();
    expect_ack_and_bye(gw, &at_gw, "fork2", "fork2");
    // Its answer sent again (the ACK crossed it) is acknowledged again;
    // the fork is not hung up twice.
    gw.send(fork2()).unwrap();
    let again = expect_request(gw, "ACK");
    assert!(again.header("To").unwrap().ends_with("tag=fork2"));
    assert!(gw.is_silent_for(Duration::from_millis(300)));
    // The caller never hears of the fork, and its call goes on with the
    // first answer's dialog.
    assert!(lab.caller.is_silent_for(Duration::from_millis(300)));
    assert_eq!(lab.board.list()[0].state, CallState::Answered);
    let bye = lab.caller.in_dialog(&mut a, "BYE");
    lab.caller.send(bye).unwrap();
    expect_status(&mut lab.caller, 200);
    let gw = &mut lab.gateways[0];
    let bye = expect_request(gw, "BYE");
    assert!(
        bye.header("To")
            .unwrap()
            .ends_with(&format!("tag={first_tag}"))
    );
    gw.respond(&bye, 200, "OK").unwrap();
    assert!(lab.channels_back_to_zero());
}

#[test]
fn a_relayed_re_invite_answer_is_retransmitted_until_acked() {
    let mut lab = Lab::start(1, |_| {});
    let (_a, mut b) = connect(&mut lab, 0);
    // The carrier re-INVITEs; the caller answers; the carrier's ACK is
    // late, so Tollgate repeats the 200 until it comes.
    let gw = &mut lab.gateways[0];
    let reinvite = gw
        .in_dialog(&mut b, "INVITE")
        .header("Contact", format!("<sip:gw@{}>", gw.local_addr()))
        .body("application/sdp", ANSWER);
    gw.send(reinvite).unwrap();
    let at_caller = expect_request(&mut lab.caller, "INVITE");
    let tag = at_caller.header("To").unwrap();
    let tag = tag.rsplit("tag=").next().unwrap().to_owned();
    let ok = SimUa::response(&at_caller, 200, "OK", &tag)
        .header(
            "Contact",
            format!("<sip:caller@{}>", lab.caller.local_addr()),
        )
        .body("application/sdp", SDP);
    lab.caller.send(ok).unwrap();
    expect_request(&mut lab.caller, "ACK");
    let gw = &mut lab.gateways[0];
    let first = expect_status(gw, 200);
    let again = expect_status(gw, 200);
    assert_eq!(first.data, again.data, "the same 2xx, retransmitted");
    let ack = gw.in_dialog(&mut b, "ACK");
    gw.send(ack).unwrap();
    // Drain what was in flight, then silence.
    sim::sleep(&lab.world, Duration::from_millis(100));
    while gw.recv(Duration::from_millis(10)).unwrap().is_some() {}
    assert!(gw.is_silent_for(Duration::from_millis(500)));
}

#[test]
fn update_and_info_cross_in_the_early_dialog() {
    let mut lab = Lab::start(1, |_| {});
    let (sent, at_gw, progress) = provisional_call(&mut lab, 183, "early");
    // Caller → carrier: UPDATE in the early dialog.
    let mut a = Dialog::from_answer(&sent, &progress);
    let update = caller_offer(&mut lab.caller, &mut a, "UPDATE");
    lab.caller.send(update).unwrap();
    let gw = &mut lab.gateways[0];
    let at_gw_update = expect_request(gw, "UPDATE");
    assert!(at_gw_update.header("To").unwrap().contains("tag=early"));
    assert_eq!(at_gw_update.cseq(), Some(2));
    gw.send(SimUa::response(&at_gw_update, 200, "OK", "early").body("application/sdp", ANSWER))
        .unwrap();
    let updated = expect_status(&mut lab.caller, 200);
    assert_eq!(updated.cseq(), a.cseq.into());
    // Carrier → caller: INFO in the early dialog.
    let mut b = Dialog::from_invite(&at_gw, "early");
    let info = gw
        .in_dialog(&mut b, "INFO")
        .body("application/dtmf-relay", "Signal=1\r\n");
    gw.send(info).unwrap();
    let at_caller = expect_request(&mut lab.caller, "INFO");
    lab.caller.respond(&at_caller, 200, "OK").unwrap();
    assert_eq!(
        expect_status(&mut lab.gateways[0], 200).cseq(),
        Some(b.cseq)
    );
    // The answer: the ACK carries the INVITE's CSeq, not the UPDATE's.
    let gw = &mut lab.gateways[0];
    gw.send(gateway_answer(gw.local_addr(), &at_gw, 200, "OK", "early"))
        .unwrap();
    let ack = expect_request(gw, "ACK");
    assert_eq!(ack.cseq(), at_gw.cseq());
    let ok = expect_status(&mut lab.caller, 200);
    ack_and_hang_up(&mut lab.caller, &sent, &ok);
    assert!(lab.channels_back_to_zero());
}

/// The caller re-INVITEs without an offer in dialog `a`; gateway 0 answers
/// 200 (To tag `tag`) with an offer. Returns the re-INVITE it got.
fn offerless_reinvite(lab: &mut Lab, a: &mut Dialog, tag: &str) -> Received {
    let contact = format!("<sip:caller@{}>", lab.caller.local_addr());
    let reinvite = lab.caller.in_dialog(a, "INVITE").header("Contact", contact);
    lab.caller.send(reinvite).unwrap();
    let gw = &mut lab.gateways[0];
    let at_gw = expect_request(gw, "INVITE");
    assert!(at_gw.body().is_empty(), "no offer to pass on");
    gw.send(gateway_answer(gw.local_addr(), &at_gw, 200, "OK", tag))
        .unwrap();
    at_gw
}

/// A relayed request the far side never answers gets 408 from Tollgate
/// when its transaction gives up (64·T1), built from what the request
/// said when it came; the call goes on.
#[test]
fn a_relayed_request_never_answered_gets_408() {
    let mut lab = Lab::start(1, |_| {});
    let (mut a, _) = connect(&mut lab, 0);
    let info = lab
        .caller
        .in_dialog(&mut a, "INFO")
        .body("application/dtmf-relay", "Signal=5\r\nDuration=160\r\n");
    lab.caller.send(info).unwrap();
    // The gateway hears it (and its retransmissions) and says nothing.
    expect_request(&mut lab.gateways[0], "INFO");
    let answer = lab
        .caller
        .recv_until(Duration::from_secs(10), |r| {
            r.status().is_some_and(|c| c >= 200)
        })
        .unwrap()
        .expect("a final answer to the INFO");
    assert_eq!(answer.status(), Some(408), "{}", answer.text());
    assert_eq!(answer.cseq(), Some(a.cseq));
    assert_eq!(answer.header("To").as_deref(), Some(a.remote.as_str()));
    assert_eq!(lab.board.len(), 1, "the call goes on");
}
