//! Parses the benchmark INVITE N times (first argument, default 100000):
//! the fixed workload for counting instructions with callgrind, which is
//! repeatable on a noisy machine where wall-clock timings are not. See
//! `scripts/bench-parse-instructions`.

use std::hint::black_box;

use tollgate_sip::{Header, HeaderKind, check_request, parse_datagram};

const INVITE: &[u8] = include_bytes!("../tests/messages/valid-carrier-invite.sip");

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    for _ in 0..n {
        let mut headers = [Header::EMPTY; 64];
        let msg = parse_datagram(black_box(INVITE), &mut headers).expect("benchmark INVITE parses");
        let req = check_request(&msg.head).expect("benchmark INVITE is valid");
        let auth = msg.head.value(HeaderKind::ProxyAuthorization).is_some();
        black_box((
            req.call_id,
            req.cseq.seq,
            req.from.tag(),
            req.uri.user(),
            auth,
        ));
    }
}
