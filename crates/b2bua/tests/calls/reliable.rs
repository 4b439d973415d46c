//! Reliable provisional responses (RFC 3262) carried end to end.

use super::*;

#[test]
fn reliable_provisionals_and_prack_cross_end_to_end() {
    let mut lab = Lab::start(1, |_| {});
    let sent = reliable_invite(&mut lab, "Supported");
    let at_gw = expect_request(&mut lab.gateways[0], "INVITE");
    assert_eq!(at_gw.header("Supported").as_deref(), Some("100rel"));
    assert_ne!(sent.cseq(), at_gw.cseq(), "each leg has its own CSeq");
    let progress = reliable_183(&mut lab, 0, &at_gw, "rel", 41);
    assert_eq!(progress.header("RSeq").as_deref(), Some("41"));
    // The caller's PRACK names the 183 by its own INVITE's CSeq; the
    // carrier's names it by the B-leg INVITE's.
    let mut a = Dialog::from_answer(&sent, &progress);
    let at_gw_prack = prack(&mut lab, 0, &mut a, &sent, &progress);
    assert_eq!(
        at_gw_prack.header("RAck"),
        Some(format!("41 {} INVITE", at_gw.cseq().unwrap()))
    );
    assert!(at_gw_prack.header("To").unwrap().contains("tag=rel"));
    let gw = &mut lab.gateways[0];
    gw.send(gateway_answer(gw.local_addr(), &at_gw, 200, "OK", "rel"))
        .unwrap();
    expect_request(gw, "ACK");
    let ok = expect_status(&mut lab.caller, 200);
    assert_eq!(ok.cseq(), sent.cseq());
    ack_and_hang_up(&mut lab.caller, &sent, &ok);
    expect_request(&mut lab.gateways[0], "BYE");
    assert!(lab.channels_back_to_zero());
}

#[test]
fn each_forks_reliable_provisional_is_pracked_in_its_own_early_dialog() {
    let mut lab = Lab::start(1, |_| {});
    let sent = reliable_invite(&mut lab, "Supported");
    let at_gw = expect_request(&mut lab.gateways[0], "INVITE");
    // The carrier's proxy forked the INVITE: two phones each send a
    // reliable 183 in their own early dialog, with their own RSeq numbers.
    let first = reliable_183(&mut lab, 0, &at_gw, "f1", 100);
    assert_eq!(first.header("RSeq").as_deref(), Some("100"));
    let second = reliable_183(&mut lab, 0, &at_gw, "f2", 7);
    assert_eq!(
        second.header("RSeq").as_deref(),
        Some("101"),
        "the caller's one early dialog counts on from 100"
    );
    // The first fork's 183 sent again keeps the number the caller got.
    let again = reliable_183(&mut lab, 0, &at_gw, "f1", 100);
    assert_eq!(again.header("RSeq").as_deref(), Some("100"));
    // Each PRACK reaches the fork that sent the 183, with its own RSeq.
    let mut a = Dialog::from_answer(&sent, &first);
    let invite_cseq = at_gw.cseq().unwrap();
    for (progress, tag, rseq) in [(&second, "f2", 7), (&first, "f1", 100)] {
        let at_fork = prack(&mut lab, 0, &mut a, &sent, progress);
        assert!(
            at_fork
                .header("To")
                .unwrap()
                .ends_with(&format!("tag={tag}")),
            "{}",
            at_fork.text()
        );
        assert_eq!(
            at_fork.header("RAck"),
            Some(format!("{rseq} {invite_cseq} INVITE"))
        );
    }
}

#[test]
fn a_reliable_provisional_to_a_re_invite_is_pracked_by_tollgate() {
    let mut lab = Lab::start(1, |_| {});
    let (mut a, b) = connect(&mut lab, 0);
    let tag = b.local.rsplit("tag=").next().unwrap().to_owned();
    let reinvite = caller_offer(&mut lab.caller, &mut a, "INVITE");
    lab.caller.send(reinvite).unwrap();
    let gw = &mut lab.gateways[0];
    let at_gw = expect_request(gw, "INVITE");
    let reliable = gateway_answer(gw.local_addr(), &at_gw, 183, "Progress", &tag)
        .header("Require", "100rel")
        .header("RSeq", "5");
    gw.send(reliable).unwrap();
    // Tollgate acknowledges it on the carrier's side, in the dialog...
    let prack = expect_request(gw, "PRACK");
    let invite_cseq = at_gw.cseq().unwrap();
    assert_eq!(
        prack.header("RAck"),
        Some(format!("5 {invite_cseq} INVITE"))
    );
    assert_eq!(prack.header("Call-ID"), at_gw.header("Call-ID"));
    assert!(prack.header("To").unwrap().ends_with(&format!("tag={tag}")));
    assert!(prack.cseq() > at_gw.cseq());
    gw.respond(&prack, 200, "OK").unwrap();
    // ...and the caller gets an ordinary provisional, nothing to PRACK.
    let progress = expect_status(&mut lab.caller, 183);
    assert_eq!(progress.header("RSeq"), None);
    assert_eq!(progress.header("Require"), None);
    let gw = &mut lab.gateways[0];
    gw.send(gateway_answer(gw.local_addr(), &at_gw, 200, "OK", &tag))
        .unwrap();
    assert_eq!(expect_request(gw, "ACK").cseq(), at_gw.cseq());
    assert_eq!(expect_status(&mut lab.caller, 200).cseq(), Some(a.cseq));
}

#[test]
fn after_a_failover_the_callers_rseq_keeps_growing() {
    let mut lab = Lab::start(2, failover_pair);
    let sent = reliable_invite(&mut lab, "Supported");
    let first = expect_request(&mut lab.gateways[0], "INVITE");
    let progress = reliable_183(&mut lab, 0, &first, "g1", 900);
    assert_eq!(progress.header("RSeq").as_deref(), Some("900"));
    let mut a = Dialog::from_answer(&sent, &progress);
    prack(&mut lab, 0, &mut a, &sent, &progress);
    lab.gateways[0]
        .respond(&first, 503, "Service Unavailable")
        .unwrap();
    // The second gateway starts its own numbers lower; the caller, in the
    // same early dialog with Tollgate, sees them follow on from 900.
    let second = expect_request(&mut lab.gateways[1], "INVITE");
    let progress = reliable_183(&mut lab, 1, &second, "g2", 7);
    assert_eq!(progress.header("RSeq").as_deref(), Some("901"));
    let at_gw = prack(&mut lab, 1, &mut a, &sent, &progress);
    assert_eq!(
        at_gw.header("RAck"),
        Some(format!("7 {} INVITE", second.cseq().unwrap()))
    );
}

#[test]
fn required_100rel_is_required_of_the_carrier_and_unasked_rseq_is_not_relayed() {
    let mut lab = Lab::start(1, |_| {});
    reliable_invite(&mut lab, "Require");
    let gw = &mut lab.gateways[0];
    let at_gw = expect_request(gw, "INVITE");
    assert_eq!(at_gw.header("Require").as_deref(), Some("100rel"));
    gw.respond(&at_gw, 486, "Busy Here").unwrap();
    assert_eq!(expect_final(&mut lab.caller).status(), Some(486));
    // A caller that did not ask gets no RSeq, whatever the carrier sends.
    lab.invite(NUMBER);
    let gw = &mut lab.gateways[0];
    let at_gw = expect_request(gw, "INVITE");
    assert_eq!(at_gw.header("Supported"), None);
    assert_eq!(at_gw.header("Require"), None);
    let reliable = gateway_answer(gw.local_addr(), &at_gw, 183, "Progress", "unasked")
        .header("Require", "100rel")
        .header("RSeq", "7");
    gw.send(reliable).unwrap();
    let progress = expect_status(&mut lab.caller, 183);
    assert_eq!(progress.header("RSeq"), None);
    assert_eq!(progress.header("Require"), None);
}

/// The caller's INVITE asking for reliable provisionals with `header`
/// (Supported or Require), its CSeq kept ahead of the B-leg's.
fn reliable_invite(lab: &mut Lab, header: &str) -> Received {
    let uri = lab.uri(NUMBER);
    for _ in 0..2 {
        let _ = lab.caller.request("OPTIONS", &uri);
    }
    let contact = format!("<sip:caller@{}>", lab.caller.local_addr());
    let invite = lab
        .caller
        .request("INVITE", &uri)
        .header("Contact", contact)
        .header(header, "100rel")
        .body("application/sdp", SDP);
    Received {
        data: lab.caller.send(invite).unwrap(),
    }
}

/// Gateway `g` answers `invite` with a reliable 183 (To tag `tag`, RSeq
/// `rseq`); returns the 183 the caller got.
fn reliable_183(lab: &mut Lab, g: usize, invite: &Received, tag: &str, rseq: u32) -> Received {
    let gw = &mut lab.gateways[g];
    let reliable = gateway_answer(gw.local_addr(), invite, 183, "Progress", tag)
        .header("Require", "100rel")
        .header("RSeq", rseq.to_string());
    gw.send(reliable).unwrap();
    let progress = expect_status(&mut lab.caller, 183);
    assert_eq!(progress.header("Require").as_deref(), Some("100rel"));
    progress
}

/// The caller PRACKs `progress` in its early dialog `a` (its INVITE was
/// `sent`); gateway `g` answers 200. Returns the PRACK the gateway got.
fn prack(
    lab: &mut Lab,
    g: usize,
    a: &mut Dialog,
    sent: &Received,
    progress: &Received,
) -> Received {
    let rseq = progress.header("RSeq").unwrap();
    let rack = format!("{rseq} {} INVITE", sent.cseq().unwrap());
    let prack = lab.caller.in_dialog(a, "PRACK").header("RAck", rack);
    lab.caller.send(prack).unwrap();
    let gw = &mut lab.gateways[g];
    let at_gw = expect_request(gw, "PRACK");
    gw.send(SimUa::response(&at_gw, 200, "OK", "")).unwrap();
    let pracked = expect_status(&mut lab.caller, 200);
    assert_eq!(pracked.cseq(), Some(a.cseq), "the 200 answers the PRACK");
    at_gw
}
