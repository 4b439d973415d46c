//! What the edge listens on and the limits it enforces.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tollgate_sip::transaction::{TimerConfig, Transport};

/// One listening socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Listen {
    /// UDP, TCP or TLS.
    pub transport: Transport,
    /// Address and port to bind (port 0 picks a free port).
    pub addr: SocketAddr,
}

/// Limits on stream (TCP/TLS) connections, so that a slow, idle or
/// garbage-sending peer cannot hold resources for long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamLimits {
    /// Largest message accepted; a larger one closes the connection.
    pub max_message_size: usize,
    /// A connection with no traffic for this long is closed.
    pub idle_timeout: Duration,
    /// A connection holding an incomplete message for this long is closed.
    pub partial_timeout: Duration,
    /// Open connections allowed from one IP address.
    pub max_connections_per_ip: usize,
    /// Open connections allowed in total.
    pub max_connections: usize,
}

impl Default for StreamLimits {
    fn default() -> Self {
        Self {
            max_message_size: 65_535,
            idle_timeout: Duration::from_secs(600),
            partial_timeout: Duration::from_secs(10),
            max_connections_per_ip: 64,
            max_connections: 20_000,
        }
    }
}

/// Everything [`crate::Edge::start`] needs.
#[derive(Clone, Debug)]
pub struct EdgeConfig {
    /// The listeners to bind.
    pub listen: Vec<Listen>,
    /// Transaction timers.
    pub timers: TimerConfig,
    /// Transactions allowed at once, lingering ones included, before new
    /// requests get 503. A call over UDP keeps about 100
    /// transaction-seconds (INVITE and BYE on both legs, most lingering
    /// 64·T1), so the default serves some 5,000 calls per second.
    pub max_transactions: usize,
    /// Stream connection limits.
    pub stream: StreamLimits,
    /// Server TLS configuration, required when a TLS listener is present.
    pub tls_server: Option<Arc<rustls::ServerConfig>>,
    /// Client TLS configuration for connections Tollgate opens.
    pub tls_client: Option<Arc<rustls::ClientConfig>>,
    /// Messages from stream connections (TCP, TLS) queued for the driver;
    /// beyond it their readers wait. UDP datagrams wait in their socket's
    /// buffer, which the driver reads itself.
    pub inbound_queue: usize,
    /// The receive buffer asked for each UDP listener, bytes; 0 keeps the
    /// system's default (see `udp::bind`).
    pub udp_receive_buffer: usize,
    /// Answer OPTIONS without a server transaction (see
    /// `TransactionLayer::set_stateless_options`).
    pub stateless_options: bool,
    /// The firewall: blocked sources are dropped before parsing.
    pub defense: Option<Arc<crate::Defense>>,
}

impl Default for EdgeConfig {
    fn default() -> Self {
        Self {
            listen: Vec::new(),
            timers: TimerConfig::default(),
            max_transactions: 500_000,
            stream: StreamLimits::default(),
            tls_server: None,
            tls_client: None,
            inbound_queue: 8_192,
            udp_receive_buffer: 4 << 20,
            stateless_options: true,
            defense: None,
        }
    }
}
