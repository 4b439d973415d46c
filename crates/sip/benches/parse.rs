#![allow(missing_docs)] // criterion_group! generates undocumented items.
//! Hot-path benchmarks of the SIP core: INVITE parse with the typed views
//! the edge reads, framing alone, digest verification per algorithm, and
//! SDP codec filtering. Run with `cargo bench -p tollgate-sip`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tollgate_sip::digest::{self, Algorithm, Credentials, Hash};
use tollgate_sip::header::AuthValue;
use tollgate_sip::{Header, HeaderKind, Limits, check_request, parse_datagram, parse_stream, sdp};

const INVITE: &[u8] = include_bytes!("../tests/messages/valid-carrier-invite.sip");

/// Parse and read what the edge reads for every INVITE.
fn parse_hot(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse");
    g.throughput(Throughput::Elements(1));
    g.bench_function("invite_with_hot_views", |b| {
        b.iter(|| {
            let mut headers = [Header::EMPTY; 64];
            let msg = parse_datagram(black_box(INVITE), &mut headers).unwrap();
            let h = &msg.head;
            let uri = h.request_uri().unwrap().unwrap();
            let via = h.top_via().unwrap();
            let (from, to) = (h.from().unwrap(), h.to().unwrap());
            black_box((
                uri.user(),
                via.branch(),
                via.rport(),
                from.tag(),
                to.tag(),
                h.call_id().unwrap(),
                h.cseq().unwrap().seq,
                h.max_forwards().unwrap(),
                h.content_length(),
                h.value(HeaderKind::ProxyAuthorization),
                msg.body.len(),
            ));
        });
    });
    g.bench_function("invite_fully_validated", |b| {
        b.iter(|| {
            let mut headers = [Header::EMPTY; 64];
            let msg = parse_datagram(black_box(INVITE), &mut headers).unwrap();
            let req = check_request(&msg.head).unwrap();
            let auth = msg.head.value(HeaderKind::ProxyAuthorization).is_some();
            black_box((
                req.call_id,
                req.cseq.seq,
                req.from.tag(),
                req.uri.user(),
                auth,
            ));
        });
    });
    g.bench_function("invite_framing_only", |b| {
        b.iter(|| {
            let mut headers = [Header::EMPTY; 64];
            let msg = parse_datagram(black_box(INVITE), &mut headers).unwrap();
            black_box(msg.body.len());
        });
    });
    g.bench_function("invite_stream_framing", |b| {
        let limits = Limits::default();
        b.iter(|| {
            let mut headers = [Header::EMPTY; 64];
            black_box(parse_stream(black_box(INVITE), &mut headers, &limits).unwrap());
        });
    });
    g.finish();
}

/// Server-side verification of a Proxy-Authorization header.
fn digest_verify(c: &mut Criterion) {
    let mut g = c.benchmark_group("digest_verify");
    g.throughput(Throughput::Elements(1));
    for hash in Hash::ALL {
        let algorithm = Algorithm { hash, sess: false };
        let challenge = digest::Challenge {
            realm: b"tollgate".as_slice().into(),
            nonce: b"AAAAAGZ2a0QAAAAAAAAAKnBJ3sY2vR1_hWm0yVJ6u9o"
                .as_slice()
                .into(),
            algorithm,
            qop_auth: true,
            opaque: None,
            stale: false,
        };
        let value = digest::answer(
            &challenge,
            &digest::Answer {
                username: b"customer-trunk-17",
                password: b"Very$ecret-17",
                method: b"INVITE",
                uri: b"sip:+441632960123@203.0.113.5",
                cnonce: b"0a4f113b8c9d",
                nc: 1,
            },
        );
        let ha1 = digest::ha1(hash, b"customer-trunk-17", b"tollgate", b"Very$ecret-17");
        let auth = AuthValue::parse(value.as_bytes()).unwrap();
        let creds = Credentials::parse(&auth).unwrap();
        assert!(creds.verify(ha1.as_bytes(), b"INVITE"));
        g.bench_function(hash.name(), |b| {
            b.iter(|| black_box(&creds).verify(black_box(ha1.as_bytes()), b"INVITE"));
        });
        g.bench_function(format!("{}_with_header_parse", hash.name()), |b| {
            b.iter(|| {
                let auth = AuthValue::parse(black_box(value.as_bytes())).unwrap();
                let creds = Credentials::parse(&auth).unwrap();
                creds.verify(ha1.as_bytes(), b"INVITE")
            });
        });
    }
    g.finish();
}

/// Removing a restricted codec from the INVITE's offer.
fn sdp_filter(c: &mut Criterion) {
    let mut headers = [Header::EMPTY; 64];
    let body = parse_datagram(INVITE, &mut headers).unwrap().body.to_vec();
    let mut g = c.benchmark_group("sdp");
    g.throughput(Throughput::Elements(1));
    g.bench_function("remove_g729", |b| {
        b.iter(|| black_box(sdp::remove_codecs(black_box(&body), &["G729"])));
    });
    g.bench_function("list_codecs", |b| {
        b.iter(|| black_box(sdp::media(black_box(&body))));
    });
    g.finish();
}

criterion_group!(benches, parse_hot, digest_verify, sdp_filter);
criterion_main!(benches);
