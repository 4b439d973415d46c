//! Starting an edge for a test, and TLS material made at test time.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tollgate_b2bua::OptionsCore;
use tollgate_edge::{Edge, EdgeConfig, Listen, StreamLimits, Transport};

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
