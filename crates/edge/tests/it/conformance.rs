//! Every message of the conformance corpus sent to a running edge over UDP
//! and over TCP. What the parser does with each file is pinned by the
//! `tollgate-sip` corpus tests; here the expected answer is derived from the
//! same library and checked on the wire, together with the class rules of
//! the corpus README (a valid message is never answered 400) and the rule
//! that the server keeps answering afterwards.

use std::path::Path;
use std::time::Duration;

use tollgate_edge::{Listen, StreamLimits, Transport};
use tollgate_sip::{Limits, Method, Status, check_request, parse_datagram, parse_stream};
use tollgate_testua::TestUa;

use crate::support::{addr, certs, start_on};

/// What the server must do with one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    Answer(u16),
    Silence,
    Closed,
}

/// The answer the options core gives a message that framed.
fn expected_for_message(data: &[u8], datagram: bool) -> Expect {
    let mut headers = tollgate_sip::header_array();
    let msg = match parse_datagram(data, &mut headers) {
        Ok(m) => m,
        Err(e) => {
            return match e.status() {
                Some(code) if datagram => Expect::Answer(code),
                _ => Expect::Silence,
            };
        }
    };
    let Some(line) = msg.head.request_line() else {
        return Expect::Silence;
    };
    if line.method == Method::Ack {
        return Expect::Silence;
    }
    match check_request(&msg.head) {
        Err(r) => r.status.map_or(Expect::Silence, Expect::Answer),
        Ok(req) => match req.method {
            Method::Options => Expect::Answer(200),
            Method::Extension(_) => Expect::Answer(501),
            _ => Expect::Answer(403),
        },
    }
}

fn expected(data: &[u8], transport: Transport) -> Expect {
    if transport == Transport::Udp {
        return expected_for_message(data, true);
    }
    let mut headers = tollgate_sip::header_array();
    match parse_stream(data, &mut headers, &Limits::default()) {
        Err(_) => Expect::Closed,
        Ok(Status::Partial) => Expect::Silence,
        Ok(Status::Complete(tollgate_sip::StreamItem::Message(m))) => {
            expected_for_message(&data[..m.wire_len()], false)
        }
        Ok(Status::Complete(tollgate_sip::StreamItem::KeepAlive { .. })) => Expect::Silence,
    }
}

async fn check_file(
    server: std::net::SocketAddr,
    transport: Transport,
    file: &str,
    class: &str,
    data: &[u8],
) {
    let want = expected(data, transport);
    // RFC 3261 §18.3: a stream needs Content-Length to frame a message, so
    // an RFC 2543-style message without it is accepted on UDP only.
    let framable = transport == Transport::Udp || expected(data, Transport::Udp) == want;
    if matches!(class, "valid" | "compat") && framable {
        assert!(
            matches!(want, Expect::Answer(200 | 403 | 501) | Expect::Silence),
            "{file}: a {class} message must not be refused ({want:?})"
        );
    }
    let mut ua = match transport {
        Transport::Udp => TestUa::udp(server).await.unwrap(),
        _ => TestUa::tcp(server).await.unwrap(),
    };
    ua.send_raw(data).await.unwrap();
    match want {
        Expect::Answer(code) => {
            let got = ua.recv(Duration::from_secs(3)).await;
            let got = got.unwrap_or_else(|e| panic!("{file} over {transport:?}: {e}"));
            let got = got
                .unwrap_or_else(|| panic!("{file} over {transport:?}: no answer, wanted {code}"));
            assert_eq!(
                got.status(),
                Some(code),
                "{file} over {transport:?}: {}",
                got.text()
            );
        }
        Expect::Silence => {
            let got = ua.recv(Duration::from_millis(300)).await;
            assert!(
                matches!(got, Ok(None)),
                "{file} over {transport:?}: expected silence, got {got:?}"
            );
        }
        Expect::Closed => {
            let got = ua.recv(Duration::from_secs(3)).await;
            assert!(
                got.is_err(),
                "{file} over {transport:?}: expected the connection closed, got {got:?}"
            );
        }
    }
}

/// Each file goes to a fresh edge: the corpus reuses Via branches across
/// files, and a reused branch is (rightly) a retransmission to the server.
async fn run_corpus(transport: Transport) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let Some(dir) = tollgate_sip::corpus::locate(&root) else {
        return;
    };
    let certs = certs();
    let manifest = tollgate_sip::corpus::manifest(&dir);
    assert_eq!(manifest.len(), 62);
    for (file, class) in &manifest {
        let listen = Listen {
            transport,
            addr: "127.0.0.1:0".parse().unwrap(),
        };
        let edge = start_on(vec![listen], &certs, StreamLimits::default()).await;
        let server = addr(&edge, transport);
        let data = tollgate_sip::corpus::wire_bytes(&dir, file).unwrap();
        check_file(server, transport, file, class, &data).await;
        // Still healthy after the message.
        let mut ua = match transport {
            Transport::Udp => TestUa::udp(server).await.unwrap(),
            _ => TestUa::tcp(server).await.unwrap(),
        };
        let ok = ua.call("OPTIONS", &format!("sip:{server}")).await.unwrap();
        assert_eq!(ok.status(), Some(200), "after {file}");
        edge.shutdown(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn corpus_over_udp() {
    run_corpus(Transport::Udp).await;
}

#[tokio::test]
async fn corpus_over_tcp() {
    run_corpus(Transport::Tcp).await;
}
