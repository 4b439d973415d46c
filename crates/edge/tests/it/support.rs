//! Starting an edge for a test, and TLS material made at test time.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tollgate_b2bua::{Core, Now, answer, build_answer};
use tollgate_edge::{Edge, EdgeConfig, Listen, StreamLimits, Transport};
use tollgate_sip::Method;
use tollgate_sip::transaction::{Event, TransactionLayer};

/// Test certificates: a CA and a server certificate for `localhost`,
/// 127.0.0.1 and ::1.
pub(crate) struct Certs {
    pub(crate) server: Arc<rustls::ServerConfig>,
    pub(crate) client: Arc<rustls::ClientConfig>,
}

pub(crate) fn certs() -> Certs {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ])
    .unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    let chain = format!("{}{}", cert.pem(), ca.pem());
    Certs {
        server: tollgate_edge::server_config(chain.as_bytes(), key.serialize_pem().as_bytes())
            .unwrap(),
        client: tollgate_edge::client_config(ca.pem().as_bytes()).unwrap(),
    }
}

/// Listeners on every transport of one loopback address, port 0.
pub(crate) fn listeners(host: &str) -> Vec<Listen> {
    [Transport::Udp, Transport::Tcp, Transport::Tls]
        .into_iter()
        .map(|transport| Listen {
            transport,
            addr: format!("{host}:0").parse().unwrap(),
        })
        .collect()
}

/// An edge with the options core on UDP, TCP and TLS of `host`.
pub(crate) async fn start(host: &str, certs: &Certs, stream: StreamLimits) -> Edge {
    start_on(listeners(host), certs, stream).await
}

/// An edge with the options core on `listen`.
pub(crate) async fn start_on(listen: Vec<Listen>, certs: &Certs, stream: StreamLimits) -> Edge {
    let config = EdgeConfig {
        listen,
        tls_server: Some(certs.server.clone()),
        tls_client: Some(certs.client.clone()),
        stream,
        ..EdgeConfig::default()
    };
    Edge::start(config, OptionsCore).await.unwrap()
}

/// Waits until `f` holds, polling, for at most `limit`.
pub(crate) async fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < end {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    f()
}

pub(crate) fn addr(edge: &Edge, transport: Transport) -> SocketAddr {
    edge.local_addr(transport).unwrap()
}

/// A core for the transport tests: OPTIONS is answered 200 (a keep-alive
/// probe must work), a method Tollgate does not know 501, every other
/// request 403.
#[derive(Debug, Default)]
pub(crate) struct OptionsCore;

/// What OPTIONS advertises.
const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS";

/// The headers of a 200 to OPTIONS.
const OPTIONS_HEADERS: &[(&str, &str)] = &[("Allow", ALLOW), ("Accept", "application/sdp")];

impl Core for OptionsCore {
    fn on_event(&mut self, now: Now, event: Event, layer: &mut TransactionLayer) {
        let now = now.at;
        match event {
            Event::Request {
                id: Some(id), data, ..
            } => {
                let method = data.split(|&b| b == b' ').next().unwrap_or_default();
                match Method::from_token(method) {
                    Method::Options => answer(now, layer, id, &data, 200, "OK", OPTIONS_HEADERS),
                    Method::Extension(_) => {
                        answer(
                            now,
                            layer,
                            id,
                            &data,
                            501,
                            "Not Implemented",
                            &[("Allow", ALLOW)],
                        );
                    }
                    _ => answer(now, layer, id, &data, 403, "Forbidden", &[]),
                }
            }
            // OPTIONS handed over without a transaction: answered at once.
            Event::Request {
                id: None,
                peer,
                data,
            } if data.starts_with(b"OPTIONS ") => {
                if let Some(resp) = build_answer(&data, 200, "OK", OPTIONS_HEADERS) {
                    layer.respond_stateless(peer, resp);
                }
            }
            // Every INVITE is answered at once, so a CANCEL never finds one
            // still proceeding; ACKs, responses and timeouts need nothing.
            Event::Cancelled { .. }
            | Event::Request { id: None, .. }
            | Event::Response { .. }
            | Event::TimedOut { .. } => {}
        }
    }
}
