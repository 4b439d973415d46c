//! RFC 4475 and RFC 5118 torture messages: one test per corpus file.
//!
//! Each test states what Tollgate does with the message (see
//! `support::Outcome`), checks that this fits the expectation class the
//! corpus manifest gives the file, and then checks what the application
//! layer needs from it (the typed views, the 415/420/406 helpers…).

use std::collections::HashMap;

use tollgate_sip::validate::{accepts, body_type_accepted, unsupported_options};
use tollgate_sip::{Header, HeaderKind, Host, Message, Method, Uri, digest, header::Contact, sdp};

use crate::support::{HEADERS, Outcome, conformance_dir, judge_datagram, judge_stream};

/// Reads MANIFEST.tsv: file → expectation class.
fn manifest(dir: &std::path::Path) -> HashMap<String, String> {
    tollgate_sip::corpus::manifest(dir).into_iter().collect()
}

/// The outcomes each manifest class allows.
fn class_allows(class: &str, outcome: Outcome) -> bool {
    match class {
        "valid" | "compat" => outcome == Outcome::Ok,
        "invalid" | "transaction" => outcome != Outcome::Ok,
        "application" => true,
        other => panic!("unknown expectation class {other:?}"),
    }
}

fn run(file: &str, expected: &str, extra: fn(&Message<'_, '_>)) {
    let Some(dir) = conformance_dir() else {
        return;
    };
    let classes = manifest(&dir);
    let class = classes
        .get(file)
        .unwrap_or_else(|| panic!("{file} is not in MANIFEST.tsv"));
    let expected = Outcome::parse(expected);
    assert!(
        class_allows(class, expected),
        "{file}: outcome {expected:?} does not fit class {class}"
    );
    let data = tollgate_sip::corpus::wire_bytes(&dir, file).expect("corpus file readable");
    let mut headers = [Header::EMPTY; HEADERS];
    let msg = judge_datagram(file, &data, &mut headers, expected);
    judge_stream(file, &data, msg.as_ref());
    if let Some(m) = msg {
        extra(&m);
    }
}

fn nothing(_: &Message<'_, '_>) {}

macro_rules! corpus {
    ($($test:ident: $file:literal => $outcome:literal $(, $extra:expr)?;)*) => {
        $(
            #[test]
            fn $test() {
                #[allow(unused_variables)]
                let extra: fn(&Message<'_, '_>) = nothing;
                $(let extra: fn(&Message<'_, '_>) = $extra;)?
                run($file, $outcome, extra);
            }
        )*
        const COVERED: &[&str] = &[$($file),*];
    };
}

corpus! {
    wsinv: "rfc4475/wsinv.dat" => "ok", |m| {
        let h = &m.head;
        assert_eq!(h.to().unwrap().tag(), Some(&b"1918181833n"[..]));
        assert_eq!(h.from().unwrap().tag(), Some(&b"98asjd8"[..]));
        assert_eq!(h.max_forwards().unwrap(), 68);
        assert_eq!(h.cseq().unwrap().seq, 9);
        let vias: Vec<_> = h.vias().map(Result::unwrap).collect();
        assert_eq!(vias.len(), 3);
        assert_eq!(vias[1].branch(), Some(&b"z9hG4bK9ikj8"[..]));
        assert_eq!(vias[2].host, Host::Ipv4("192.168.255.111".parse().unwrap()));
        assert_eq!(m.body.len(), 150);
        let contact = h.contacts().next().unwrap().unwrap();
        let Contact::Address(a) = contact else { panic!("wildcard") };
        assert_eq!(a.params.get(b"q"), Some(Some(&b"0.33"[..])));
        assert_eq!(h.value(HeaderKind::Subject), Some(&b""[..]));
    };
    intmeth: "rfc4475/intmeth.dat" => "ok", |m| {
        assert!(m.head.method().unwrap().is_extension());
        let uri = m.head.request_uri().unwrap().unwrap();
        let sip = uri.as_sip().unwrap();
        assert_eq!(sip.user, Some(&b"1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"[..]));
        assert_eq!(sip.password, Some(&b"&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"[..]));
    };
    esc01: "rfc4475/esc01.dat" => "ok", |m| {
        let uri = m.head.request_uri().unwrap().unwrap();
        assert_eq!(uri.user(), Some(&b"sips%3Auser%40example.com"[..]));
        assert_eq!(m.head.call_id().unwrap(), b"esc01.239409asdfakjkn23onasd0-3234");
    };
    escnull: "rfc4475/escnull.dat" => "ok", |m| {
        assert_eq!(m.head.contacts().count(), 2);
    };
    esc02: "rfc4475/esc02.dat" => "ok", |m| {
        assert_eq!(m.head.method(), Some(Method::Extension(b"RE%47IST%45R")));
        assert_eq!(m.head.count(HeaderKind::Contact), 2, "C%6Fntact is not Contact");
    };
    lwsdisp: "rfc4475/lwsdisp.dat" => "ok", |m| {
        assert_eq!(m.head.from().unwrap().display_name, Some(&b"caller"[..]));
    };
    longreq: "rfc4475/longreq.dat" => "ok", |m| {
        assert_eq!(m.head.vias().count(), 34);
    };
    dblreq: "rfc4475/dblreq.dat" => "ok", |m| {
        assert_eq!(m.head.method(), Some(Method::Register));
        assert!(m.body.is_empty());
    };
    semiuri: "rfc4475/semiuri.dat" => "ok", |m| {
        let uri = m.head.request_uri().unwrap().unwrap();
        assert_eq!(uri.user(), Some(&b"user;par=u%40example.net"[..]));
        assert_eq!(m.head.accept().count(), 6);
    };
    transports: "rfc4475/transports.dat" => "ok", |m| {
        let t: Vec<_> = m.head.vias().map(|v| v.unwrap().transport).collect();
        assert_eq!(t, vec![&b"UDP"[..], b"SCTP", b"TLS", b"UNKNOWN", b"TCP"]);
    };
    mpart01: "rfc4475/mpart01.dat" => "ok", |m| {
        assert!(m.head.content_type().unwrap().is("multipart", "mixed"));
        assert!(m.body.contains(&0));
    };
    unreason: "rfc4475/unreason.dat" => "ok", |m| {
        let line = m.head.status_line().unwrap();
        assert_eq!(line.code, 200);
        assert!(std::str::from_utf8(line.reason).is_ok());
    };
    noreason: "rfc4475/noreason.dat" => "ok", |m| {
        assert_eq!(m.head.status_line().unwrap().reason, b"");
    };
    badinv01: "rfc4475/badinv01.dat" => "reject 400";
    clerr: "rfc4475/clerr.dat" => "framing 400";
    ncl: "rfc4475/ncl.dat" => "framing 400";
    scalar02: "rfc4475/scalar02.dat" => "reject 400";
    scalarlg: "rfc4475/scalarlg.dat" => "drop";
    quotbal: "rfc4475/quotbal.dat" => "reject 400";
    ltgtruri: "rfc4475/ltgtruri.dat" => "reject 400";
    lwsruri: "rfc4475/lwsruri.dat" => "reject 400";
    lwsstart: "rfc4475/lwsstart.dat" => "reject 400";
    trws: "rfc4475/trws.dat" => "reject 400";
    escruri: "rfc4475/escruri.dat" => "reject 400";
    baddate: "rfc4475/baddate.dat" => "reject 400";
    regbadct: "rfc4475/regbadct.dat" => "reject 400";
    badaspec: "rfc4475/badaspec.dat" => "reject 400";
    baddn: "rfc4475/baddn.dat" => "reject 400";
    badvers: "rfc4475/badvers.dat" => "reject 505";
    mismatch01: "rfc4475/mismatch01.dat" => "reject 400";
    mismatch02: "rfc4475/mismatch02.dat" => "reject 400";
    bigcode: "rfc4475/bigcode.dat" => "drop";
    badbranch: "rfc4475/badbranch.dat" => "reject 400";
    insuf: "rfc4475/insuf.dat" => "reject 400";
    unkscm: "rfc4475/unkscm.dat" => "reject 416";
    novelsc: "rfc4475/novelsc.dat" => "reject 416";
    unksm2: "rfc4475/unksm2.dat" => "ok", |m| {
        assert!(matches!(m.head.to().unwrap().uri, Uri::Other { scheme: b"isbn", .. }));
        assert!(matches!(m.head.from().unwrap().uri, Uri::Other { scheme: b"http", .. }));
        let Contact::Address(c) = m.head.contacts().next().unwrap().unwrap() else { panic!() };
        assert!(matches!(c.uri, Uri::Other { scheme: b"name", .. }));
    };
    bext01: "rfc4475/bext01.dat" => "ok", |m| {
        assert_eq!(
            unsupported_options(&m.head, HeaderKind::Require, &["100rel", "timer"]),
            vec![&b"nothingSupportsThis"[..], b"nothingSupportsThisEither"]
        );
        assert_eq!(unsupported_options(&m.head, HeaderKind::ProxyRequire, &[]).len(), 2);
    };
    invut: "rfc4475/invut.dat" => "ok", |m| {
        assert!(!body_type_accepted(&m.head, m.body, &[("application", "sdp")]));
    };
    regaut01: "rfc4475/regaut01.dat" => "ok", |m| {
        let value = m.head.auth_values(HeaderKind::Authorization).next().unwrap().unwrap();
        assert_eq!(
            digest::Credentials::parse(&value).unwrap_err(),
            digest::CredentialsError::NotDigest
        );
    };
    multi01: "rfc4475/multi01.dat" => "reject 400";
    mcl01: "rfc4475/mcl01.dat" => "framing 400";
    bcast: "rfc4475/bcast.dat" => "ok", |m| {
        let second = m.head.vias().nth(1).unwrap().unwrap();
        assert_eq!(second.host, Host::Ipv4("255.255.255.255".parse().unwrap()));
    };
    zeromf: "rfc4475/zeromf.dat" => "ok", |m| {
        assert_eq!(m.head.max_forwards().unwrap(), 0);
    };
    cparam01: "rfc4475/cparam01.dat" => "ok", |m| {
        let Contact::Address(c) = m.head.contacts().next().unwrap().unwrap() else { panic!() };
        assert!(c.params.contains(b"unknownparam"));
        assert!(c.uri.as_sip().unwrap().params.is_empty());
    };
    cparam02: "rfc4475/cparam02.dat" => "ok", |m| {
        let Contact::Address(c) = m.head.contacts().next().unwrap().unwrap() else { panic!() };
        assert!(c.uri.as_sip().unwrap().params.contains(b"unknownparam"));
    };
    regescrt: "rfc4475/regescrt.dat" => "ok", |m| {
        let Contact::Address(c) = m.head.contacts().next().unwrap().unwrap() else { panic!() };
        assert_eq!(c.uri.as_sip().unwrap().headers, Some(&b"Route=%3Csip:sip.example.com%3E"[..]));
    };
    sdp01: "rfc4475/sdp01.dat" => "ok", |m| {
        assert!(!accepts(&m.head, "application", "sdp"));
    };
    inv2543: "rfc4475/inv2543.dat" => "ok", |m| {
        assert_eq!(m.head.content_length(), None);
        assert!(m.head.max_forwards().is_err());
        assert_eq!(m.head.top_via().unwrap().branch(), None);
        assert_eq!(m.head.from().unwrap().tag(), None);
        assert!(!m.body.is_empty());
    };
    test_dat: "rfc4475/test.dat" => "drop";
    ipv6_good: "rfc5118/ipv6-good.dat" => "ok", |m| {
        let uri = m.head.request_uri().unwrap().unwrap();
        assert_eq!(uri.as_sip().unwrap().host.ip(), Some("2001:db8::10".parse().unwrap()));
    };
    ipv6_bad: "rfc5118/ipv6-bad.dat" => "reject 400";
    port_ambiguous: "rfc5118/port-ambiguous.dat" => "ok", |m| {
        let uri = m.head.request_uri().unwrap().unwrap();
        let sip = uri.as_sip().unwrap();
        assert_eq!(sip.port, None);
        assert_eq!(sip.host.ip(), Some("2001:db8::10:5070".parse().unwrap()));
    };
    port_unambiguous: "rfc5118/port-unambiguous.dat" => "ok", |m| {
        let uri = m.head.request_uri().unwrap().unwrap();
        assert_eq!(uri.as_sip().unwrap().port, Some(5070));
    };
    via_received_with_delim: "rfc5118/via-received-param-with-delim.dat" => "ok", |m| {
        assert_eq!(m.head.top_via().unwrap().received(), Some(&b"[2001:db8::9:255]"[..]));
    };
    via_received_no_delim: "rfc5118/via-received-param-no-delim.dat" => "ok", |m| {
        assert_eq!(m.head.top_via().unwrap().received(), Some(&b"2001:db8::9:255"[..]));
    };
    ipv6_in_sdp: "rfc5118/ipv6-in-sdp.dat" => "ok", |m| {
        let media = sdp::media(m.body);
        assert_eq!(media[0].kind, b"audio");
    };
    mult_ip_in_header: "rfc5118/mult-ip-in-header.dat" => "ok", |m| {
        let vias: Vec<_> = m.head.vias().map(Result::unwrap).collect();
        assert_eq!(vias.len(), 3);
        assert_eq!(vias[0].port, Some(6050));
        assert_eq!(vias[2].received(), Some(&b"192.0.2.200"[..]));
    };
    mult_ip_in_sdp: "rfc5118/mult-ip-in-sdp.dat" => "ok", |m| {
        assert_eq!(sdp::media(m.body).len(), 2);
    };
    ipv4_mapped_ipv6: "rfc5118/ipv4-mapped-ipv6.dat" => "ok", |m| {
        let top = m.head.top_via().unwrap();
        assert_eq!(top.host.ip(), Some("::ffff:192.0.2.10".parse().unwrap()));
        assert_eq!(top.port, Some(19823));
    };
    ipv6_three_colons: "rfc5118/ipv6-bug-abnf-3-colons.dat" => "ok", |m| {
        let uri = m.head.request_uri().unwrap().unwrap();
        assert_eq!(uri.as_sip().unwrap().host, Host::Ipv6(b"2001:db8:::192.0.2.1"));
    };
    ipv6_two_colons: "rfc5118/ipv6-correct-abnf-2-colons.dat" => "ok", |m| {
        let uri = m.head.request_uri().unwrap().unwrap();
        assert_eq!(uri.as_sip().unwrap().host.ip(), Some("2001:db8::c000:201".parse().unwrap()));
    };
}

#[test]
fn every_manifest_file_has_a_test() {
    let Some(dir) = conformance_dir() else {
        return;
    };
    let mut missing: Vec<_> = manifest(&dir)
        .into_keys()
        .filter(|f| !COVERED.contains(&f.as_str()))
        .collect();
    missing.sort();
    assert!(
        missing.is_empty(),
        "corpus files without a test: {missing:?}"
    );
    assert_eq!(COVERED.len(), 62);
}
