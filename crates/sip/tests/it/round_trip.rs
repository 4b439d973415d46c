//! Property: any request or response the builder writes parses back to the
//! same values, over datagrams and streams alike.

use proptest::prelude::*;
use tollgate_sip::{
    Header, HeaderKind, Limits, MessageBuilder, Method, Status, StreamItem, check_request,
    check_response, parse_datagram, parse_stream,
};

fn method() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("INVITE".to_owned()),
        Just("OPTIONS".to_owned()),
        Just("BYE".to_owned()),
        "[A-Z][A-Z0-9._-]{0,12}",
    ]
}

fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9-]{0,8}[a-z0-9](\\.[a-z][a-z0-9]{0,8}){0,3}",
        any::<[u8; 4]>().prop_map(|o| std::net::Ipv4Addr::from(o).to_string()),
        any::<[u16; 8]>().prop_map(|s| format!("[{}]", std::net::Ipv6Addr::from(s))),
    ]
}

/// A SIP URI with optional user, port and parameters.
fn sip_uri() -> impl Strategy<Value = String> {
    (
        proptest::option::of("\\+?[a-zA-Z0-9_.!~*'()-]{1,16}"),
        host(),
        proptest::option::of(any::<u16>()),
        proptest::collection::vec(
            (
                "[a-z][a-z0-9-]{0,8}",
                proptest::option::of("[a-zA-Z0-9.-]{1,8}"),
            ),
            0..3,
        ),
    )
        .prop_map(|(user, host, port, params)| {
            let mut s = String::from("sip:");
            if let Some(u) = user {
                s.push_str(&u);
                s.push('@');
            }
            s.push_str(&host);
            if let Some(p) = port {
                s.push_str(&format!(":{p}"));
            }
            for (name, value) in params {
                s.push(';');
                s.push_str(&name);
                if let Some(v) = value {
                    s.push('=');
                    s.push_str(&v);
                }
            }
            s
        })
}

/// Extension headers: names that are always `Other`, values of printable
/// ASCII without edge white space.
fn extra_headers() -> impl Strategy<Value = Vec<(String, String)>> {
    proptest::collection::vec(
        ("X-[A-Za-z0-9-]{1,12}", "([!-~]([ -~]{0,38}[!-~])?)?"),
        0..8,
    )
}

#[derive(Debug, Clone)]
struct Request {
    method: String,
    uri: String,
    branch: String,
    from_tag: String,
    call_id: String,
    seq: u32,
    extra: Vec<(String, String)>,
    body: Vec<u8>,
}

fn request() -> impl Strategy<Value = Request> {
    (
        method(),
        sip_uri(),
        "[a-zA-Z0-9.-]{1,20}",
        "[a-zA-Z0-9]{1,12}",
        "[a-zA-Z0-9.@-]{1,40}",
        any::<u32>(),
        extra_headers(),
        proptest::collection::vec(any::<u8>(), 0..300),
    )
        .prop_map(
            |(method, uri, branch, from_tag, call_id, seq, extra, body)| Request {
                method,
                uri,
                branch,
                from_tag,
                call_id,
                seq,
                extra,
                body,
            },
        )
}

fn build(r: &Request) -> Vec<u8> {
    let mut b = MessageBuilder::request(Method::from_token(r.method.as_bytes()), r.uri.as_bytes())
        .header(
            "Via",
            format!(
                "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK{};rport",
                r.branch
            ),
        )
        .header(
            "From",
            format!("\"Caller\" <sip:caller@example.com>;tag={}", r.from_tag),
        )
        .header("To", format!("<{}>", r.uri))
        .header("Call-ID", &r.call_id)
        .header("CSeq", format!("{} {}", r.seq, r.method))
        .header("Max-Forwards", "70");
    for (name, value) in &r.extra {
        b = b.header(name, value);
    }
    if !r.body.is_empty() {
        b = b.body("application/octet-stream", r.body.clone());
    }
    b.build().expect("valid inputs build")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn built_requests_parse_back(r in request()) {
        let bytes = build(&r);
        let mut headers = [Header::EMPTY; 32];
        let m = parse_datagram(&bytes, &mut headers).expect("parses");
        let v = check_request(&m.head).expect("valid");
        prop_assert_eq!(v.method.as_bytes(), r.method.as_bytes());
        prop_assert_eq!(m.head.request_line().unwrap().uri, r.uri.as_bytes());
        let branch = format!("z9hG4bK{}", r.branch);
        prop_assert_eq!(v.top_via.branch().unwrap(), branch.as_bytes());
        prop_assert_eq!(v.from.tag().unwrap(), r.from_tag.as_bytes());
        prop_assert_eq!(v.to.uri_text, r.uri.as_bytes());
        prop_assert_eq!(v.call_id, r.call_id.as_bytes());
        prop_assert_eq!(v.cseq.seq, r.seq);
        prop_assert_eq!(m.body, &r.body[..]);
        let extra: Vec<(&[u8], &[u8])> = m.head.headers().iter()
            .filter(|h| h.kind == HeaderKind::Other)
            .map(|h| (h.name, h.value))
            .collect();
        let want: Vec<(&[u8], &[u8])> = r.extra.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())).collect();
        prop_assert_eq!(extra, want);

        let mut stream_headers = [Header::EMPTY; 32];
        match parse_stream(&bytes, &mut stream_headers, &Limits::default()) {
            Ok(Status::Complete(StreamItem::Message(s))) => {
                prop_assert_eq!(s.wire_len(), bytes.len());
                prop_assert_eq!(s.body, &r.body[..]);
            }
            other => prop_assert!(false, "stream framing: {:?}", other),
        }
    }

    #[test]
    fn built_responses_parse_back(r in request(), code in 100u16..700, to_tag in "[a-z0-9]{1,10}") {
        let req_bytes = build(&r);
        let mut headers = [Header::EMPTY; 32];
        let req = parse_datagram(&req_bytes, &mut headers).unwrap();
        let resp = MessageBuilder::response_to(&req.head, code, "Reason Phrase", Some(to_tag.as_bytes()))
            .build()
            .unwrap();
        let mut resp_headers = [Header::EMPTY; 32];
        let m = parse_datagram(&resp, &mut resp_headers).unwrap();
        let v = check_response(&m.head).expect("valid response");
        prop_assert_eq!(v.code, code);
        prop_assert_eq!(v.to.tag().unwrap(), to_tag.as_bytes());
        prop_assert_eq!(v.cseq.seq, r.seq);
        prop_assert_eq!(v.call_id, r.call_id.as_bytes());
        prop_assert_eq!(v.top_via.branch(), req.head.top_via().unwrap().branch());
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        tollgate_sip::fuzzing::parse_and_inspect(&data);
        tollgate_sip::fuzzing::round_trip(&data);
        tollgate_sip::fuzzing::stream_chunks(&data, &[3, 1, 17]);
    }
}
