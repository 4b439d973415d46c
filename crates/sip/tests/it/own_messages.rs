//! The project's own test messages (`tests/messages/`, listed with their
//! expected outcome in `MANIFEST.tsv`), one of each class.

use tollgate_sip::validate::unsupported_options;
use tollgate_sip::{Header, HeaderKind, Method};

use crate::support::{HEADERS, Outcome, judge_datagram, judge_stream};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/messages");

#[test]
fn every_own_message_gets_its_outcome() {
    let manifest = std::fs::read_to_string(format!("{DIR}/MANIFEST.tsv")).unwrap();
    let mut seen = 0;
    for line in manifest.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (file, outcome) = (cols[0], Outcome::parse(cols[1]));
        let data = std::fs::read(format!("{DIR}/{file}")).unwrap();
        let mut headers = [Header::EMPTY; HEADERS];
        let msg = judge_datagram(file, &data, &mut headers, outcome);
        judge_stream(file, &data, msg.as_ref());
        seen += 1;
    }
    let on_disk = std::fs::read_dir(DIR)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "sip")
        })
        .count();
    assert_eq!(seen, on_disk, "every .sip file is listed in MANIFEST.tsv");
}

#[test]
fn the_carrier_invite_reads_as_expected() {
    let data = std::fs::read(format!("{DIR}/valid-carrier-invite.sip")).unwrap();
    let mut headers = [Header::EMPTY; HEADERS];
    let m = tollgate_sip::parse_datagram(&data, &mut headers).unwrap();
    let req = tollgate_sip::check_request(&m.head).unwrap();
    assert_eq!(req.method, Method::Invite);
    assert_eq!(req.uri.user(), Some(&b"+441632960123"[..]));
    assert_eq!(req.from.tag(), Some(&b"as6b8f2c1d"[..]));
    assert_eq!(req.to.tag(), None);
    assert_eq!(req.max_forwards, Some(69));
    assert_eq!(req.top_via.rport(), tollgate_sip::header::Rport::Requested);
    assert_eq!(m.head.user_agent(), Some(&b"Sonus SBC 7.2"[..]));
    let allow: Vec<_> = m
        .head
        .tokens(HeaderKind::Allow)
        .map(Result::unwrap)
        .collect();
    assert_eq!(allow.len(), 10);
    assert_eq!(
        unsupported_options(
            &m.head,
            HeaderKind::Supported,
            &["timer", "100rel", "replaces"]
        ),
        Vec::<&[u8]>::new()
    );
    assert!(m.head.has_option(HeaderKind::Supported, "100REL"));
    assert!(!m.head.has_option(HeaderKind::Require, "100rel"));
}

#[test]
fn rseq_and_rack_read_as_rfc_3262_writes_them() {
    let head = |text: &str, f: &dyn Fn(&tollgate_sip::Head<'_, '_>)| {
        let mut headers = [Header::EMPTY; HEADERS];
        let m = tollgate_sip::parse_datagram(text.as_bytes(), &mut headers).unwrap();
        f(&m.head);
    };
    let common = "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKr1\r\n\
                  From: <sip:a@192.0.2.1>;tag=1\r\nTo: <sip:b@192.0.2.2>;tag=2\r\n\
                  Call-ID: r1@192.0.2.1\r\n";
    head(
        &format!(
            "SIP/2.0 183 Progress\r\n{common}CSeq: 7 INVITE\r\nRequire: 100rel\r\nRSeq: 914\r\n\r\n"
        ),
        &|h| {
            assert_eq!(h.rseq(), Ok(914));
            assert!(h.has_option(HeaderKind::Require, "100rel"));
        },
    );
    head(
        &format!(
            "PRACK sip:b@192.0.2.2 SIP/2.0\r\n{common}CSeq: 8 PRACK\r\nRAck: 914 7 INVITE\r\n\r\n"
        ),
        &|h| {
            let rack = h.rack().unwrap();
            assert_eq!(
                (rack.rseq, rack.cseq.seq, rack.cseq.method),
                (914, 7, Method::Invite)
            );
            assert!(h.rseq().is_err(), "a PRACK has no RSeq");
        },
    );
    head(
        &format!("SIP/2.0 183 Progress\r\n{common}CSeq: 7 INVITE\r\nRSeq: 0\r\n\r\n"),
        &|h| assert!(h.rseq().is_err(), "RSeq starts at 1"),
    );
}
