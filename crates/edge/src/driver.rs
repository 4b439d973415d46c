//! The driver: one task that owns the transaction layer and the core, feeds
//! them received messages and timer expiries, and sends what they produce.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;
use tollgate_b2bua::{Bound, Core, Now, answer, build_answer};
use tollgate_sip::transaction::{Event, Received, TransactionLayer, Transmit, Transport};

use crate::config::EdgeConfig;
use crate::connections::Connections;
use crate::seams::{self, NotifyWaker};
use crate::stream::{self, Inbound, StreamContext};
use crate::udp;

/// What a request arriving during shutdown is told.
const RETRY_LATER: &[(&str, &str)] = &[("Retry-After", "30")];

/// Batches the driver takes from the queue per wake-up.
const BATCH: usize = 16;

/// The driver wakes for timers only on this grid. Under load deadlines fall
/// due every millisecond or so (mostly the 32 s lingers of finished
/// transactions, which only free memory), and waking for each of them cost
/// about as many wake-ups as the datagrams did; on the grid they are served
/// together, each at most this late, which no SIP timer (T1 = 500 ms) or
/// call timer minds.
const TIMER_GRID: Duration = Duration::from_millis(10);

/// A running edge: its bound addresses and the means to stop it.
#[derive(Debug)]
pub struct Edge {
    local: Vec<(Transport, SocketAddr)>,
    /// `Some(grace)` once shutdown has begun.
    stop: watch::Sender<Option<Duration>>,
    driver: JoinHandle<()>,
    connections: Arc<Connections>,
}

/// Where the driver sends from.
struct Senders {
    /// Each UDP socket, and whether it is IPv4 (looked up once: a
    /// message without a socket of its own picks one by family, and
    /// asking the socket would be a system call per message).
    udp: Vec<(Arc<UdpSocket>, bool)>,
    stream: StreamContext,
    tls_client: Option<tokio_rustls::TlsConnector>,
    /// `tollgate_send_failures_total{transport="udp"}`: datagrams the
    /// system refused.
    udp_failures: metrics::Counter,
    /// `tollgate_send_failures_total{transport="stream"}`: messages for a
    /// connection that could not be opened, or whose write queue was full.
    stream_failures: metrics::Counter,
}

impl Senders {
    async fn send(&self, t: Transmit) {
        match t.peer.transport {
            Transport::Udp => {
                let socket = t
                    .peer
                    .flow
                    .and_then(|i| self.udp.get(usize::try_from(i).ok()?))
                    .or_else(|| self.udp.iter().find(|(_, v4)| *v4 == t.peer.addr.is_ipv4()))
                    .map(|(s, _)| s);
                let Some(socket) = socket else {
                    return;
                };
                // Loopback and idle NICs take the datagram at once; wait for
                // room only when the socket buffer is full.
                let sent = match socket.try_send_to(&t.data, t.peer.addr) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        socket.send_to(&t.data, t.peer.addr).await
                    }
                    other => other,
                };
                if let Err(e) = sent {
                    self.udp_failures.increment(1);
                    tracing::debug!(to = %t.peer.addr, error = %e, "UDP send failed");
                }
            }
            transport => {
                let connections = &self.stream.connections;
                if let Some(writer) = connections.writer(t.peer.flow, transport, t.peer.addr) {
                    if writer.try_send(t.data).is_err() {
                        self.stream_failures.increment(1);
                        tracing::debug!(to = %t.peer.addr, "connection write queue full");
                    }
                    return;
                }
                // Opening a connection waits on the network (a gateway that
                // is down takes the whole connect timeout): never on the
                // driver.
                let Ok(tls) = self.tls_for(transport, t.peer.addr) else {
                    self.stream_failures.increment(1);
                    tracing::debug!(to = %t.peer.addr, "no TLS client configuration");
                    return;
                };
                let (ctx, failures) = (self.stream.clone(), self.stream_failures.clone());
                let (remote, data) = (t.peer.addr, t.data);
                tokio::spawn(async move {
                    // Another message may have opened it meanwhile.
                    let writer = match ctx.connections.writer(None, transport, remote) {
                        Some(w) => Some(w),
                        None => stream::connect(remote, transport, tls, ctx).await,
                    };
                    if writer.is_none_or(|w| w.try_send(data).is_err()) {
                        failures.increment(1);
                        tracing::debug!(to = %remote, "could not open a connection");
                    }
                });
            }
        }
    }

    /// What a new connection (RFC 3261 §18.2.2: the old one is gone, or a
    /// request starts one) to `remote` needs for TLS; an error when TLS is
    /// wanted and no client configuration exists.
    fn tls_for(
        &self,
        transport: Transport,
        remote: SocketAddr,
    ) -> Result<Option<stream::TlsTarget>, ()> {
        match transport {
            Transport::Tls => {
                let connector = self.tls_client.clone().ok_or(())?;
                let name = rustls_pki_types::ServerName::IpAddress(remote.ip().into());
                Ok(Some((connector, name)))
            }
            _ => Ok(None),
        }
    }
}

impl Edge {
    /// Binds every listener and starts the edge with `core`.
    pub async fn start(config: EdgeConfig, core: impl Core) -> io::Result<Self> {
        let (inbound_tx, inbound_rx) = mpsc::channel(config.inbound_queue);
        let (stop, stop_rx) = watch::channel(None);
        let (closed, closed_rx) = watch::channel(false);
        let stream_ctx = StreamContext {
            inbound: inbound_tx.clone(),
            connections: Arc::new(Connections::new(
                config.stream.max_connections_per_ip,
                config.stream.max_connections,
            )),
            limits: config.stream,
            shutdown: closed_rx.clone(),
            defense: config.defense.clone(),
        };
        let mut local = Vec::new();
        let mut udp_sockets = Vec::new();
        for listen in &config.listen {
            match listen.transport {
                Transport::Udp => {
                    let socket = Arc::new(udp::bind(listen.addr, config.udp_receive_buffer)?);
                    local.push((Transport::Udp, socket.local_addr()?));
                    udp_sockets.push(socket);
                }
                transport => {
                    let tls = match transport {
                        Transport::Tls => Some(tokio_rustls::TlsAcceptor::from(
                            config.tls_server.clone().ok_or_else(|| {
                                io::Error::new(
                                    io::ErrorKind::InvalidInput,
                                    "TLS listener without a certificate",
                                )
                            })?,
                        )),
                        _ => None,
                    };
                    let listener = TcpListener::bind(listen.addr).await?;
                    local.push((transport, listener.local_addr()?));
                    tokio::spawn(stream::accept_loop(
                        listener,
                        transport,
                        tls,
                        stream_ctx.clone(),
                        stop_rx.clone(),
                    ));
                }
            }
        }
        drop(inbound_tx);
        let connections = stream_ctx.connections.clone();
        let receiver = udp::UdpReceiver::new(udp_sockets.clone(), config.defense.clone());
        let senders = Senders {
            udp: udp_sockets
                .into_iter()
                .map(|s| {
                    let v4 = s.local_addr().is_ok_and(|a| a.is_ipv4());
                    (s, v4)
                })
                .collect(),
            stream: stream_ctx,
            tls_client: config
                .tls_client
                .clone()
                .map(tokio_rustls::TlsConnector::from),
            udp_failures: metrics::counter!("tollgate_send_failures_total", "transport" => "udp"),
            stream_failures: metrics::counter!("tollgate_send_failures_total", "transport" => "stream"),
        };
        let mut core = core;
        core.bind(
            seams::now(),
            Bound {
                listeners: &local,
                source_toward: seams::source_toward,
            },
        );
        let mut layer = TransactionLayer::new(config.timers, config.max_transactions);
        layer.set_stateless_options(config.stateless_options);
        let driver = tokio::spawn(drive(
            layer, core, receiver, inbound_rx, senders, stop_rx, closed,
        ));
        Ok(Self {
            local,
            stop,
            driver,
            connections,
        })
    }

    /// The bound addresses, in listener order.
    pub fn local_addrs(&self) -> &[(Transport, SocketAddr)] {
        &self.local
    }

    /// The first bound address of `transport`.
    pub fn local_addr(&self, transport: Transport) -> Option<SocketAddr> {
        self.local
            .iter()
            .find(|(t, _)| *t == transport)
            .map(|(_, a)| *a)
    }

    /// How many TCP and TLS connections are open.
    pub fn open_connections(&self) -> usize {
        self.connections.len()
    }

    /// Stops accepting, answers new requests 503 while transactions still
    /// waiting for a final response finish (at most `grace`), then closes
    /// everything.
    pub async fn shutdown(self, grace: Duration) {
        // Refused only when the driver has ended already: nothing to stop.
        let _ = self.stop.send(Some(grace));
        // Past the grace period (and a second more), the driver is left to
        // end with the runtime.
        let _ = tokio::time::timeout(grace + Duration::from_secs(1), self.driver).await;
    }
}

/// The driver loop.
async fn drive(
    mut layer: TransactionLayer,
    mut core: impl Core,
    mut udp: udp::UdpReceiver,
    mut inbound: mpsc::Receiver<Vec<Inbound>>,
    senders: Senders,
    mut stop: watch::Receiver<Option<Duration>>,
    closed: watch::Sender<bool>,
) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut drain_until: Option<tokio::time::Instant> = None;
    let asked = Arc::new(Notify::new());
    core.set_waker(std::task::Waker::from(Arc::new(NotifyWaker(asked.clone()))));
    let origin = tokio::time::Instant::now();
    loop {
        let next_timer = [layer.poll_timeout(), core.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
            .map(tokio::time::Instant::from_std);
        let wake = [next_timer, drain_until]
            .into_iter()
            .flatten()
            .min()
            .map(|at| on_grid(origin, at));
        tokio::select! {
            n = inbound.recv_many(&mut batch, BATCH) => {
                if n == 0 {
                    break;
                }
                let now = seams::now();
                for msg in batch.drain(..).flatten() {
                    layer.handle_message_with(now.at, msg.peer, msg.data, |layer, event, parsed| {
                        dispatch(now, event, parsed, layer, &mut core, drain_until.is_some());
                    });
                }
            }
            () = udp.readable() => {
                let now = seams::now();
                udp.read(|peer, data| {
                    layer.handle_message_with(now.at, peer, data, |layer, event, parsed| {
                        dispatch(now, event, parsed, layer, &mut core, drain_until.is_some());
                    });
                });
            }
            _ = sleep_until(wake) => {
                layer.handle_timeout(std::time::Instant::now());
            }
            () = asked.notified() => {
                core.handle_asked(seams::now(), &mut layer);
            }
            _ = stop.changed(), if drain_until.is_none() => {
                let grace = stop.borrow().unwrap_or_default();
                drain_until = Some(tokio::time::Instant::now() + grace);
            }
        }
        let now = seams::now();
        core.handle_timeout(now, &mut layer);
        while let Some(event) = layer.poll_event() {
            dispatch(
                now,
                event,
                None,
                &mut layer,
                &mut core,
                drain_until.is_some(),
            );
        }
        while let Some(t) = layer.poll_transmit() {
            senders.send(t).await;
        }
        // Counting the transactions still waiting walks every live one:
        // only worth it while shutting down.
        if drain_until.is_some_and(|until| {
            tokio::time::Instant::now() >= until || layer.awaiting_final() == 0
        }) {
            break;
        }
    }
    // Refused only when no connection task is left to tell.
    let _ = closed.send(true);
}

/// Hands one event to the core (with what the layer read of its message,
/// when it has that), or, while `draining`, refuses a new request.
fn dispatch(
    now: Now,
    event: Event,
    parsed: Option<&Received<'_, '_>>,
    layer: &mut TransactionLayer,
    core: &mut impl Core,
    draining: bool,
) {
    match (event, parsed) {
        // Shutting down: new requests are refused, not started.
        (
            Event::Request {
                id: Some(id), data, ..
            },
            _,
        ) if draining => {
            answer(
                now.at,
                layer,
                id,
                &data,
                503,
                "Service Unavailable",
                RETRY_LATER,
            );
        }
        (
            Event::Request {
                id: None,
                peer,
                data,
            },
            _,
        ) if draining && !data.starts_with(b"ACK ") => {
            if let Some(resp) = build_answer(&data, 503, "Service Unavailable", RETRY_LATER) {
                layer.respond_stateless(peer, resp);
            }
        }
        (event, Some(msg)) => core.on_parsed_event(now, event, msg, layer),
        (event, None) => core.on_event(now, event, layer),
    }
}

/// The first point of the [`TIMER_GRID`] that starts at `origin` that is
/// not before `at` (`at` itself when it is before `origin`: already due).
fn on_grid(origin: tokio::time::Instant, at: tokio::time::Instant) -> tokio::time::Instant {
    let grid = TIMER_GRID.as_nanos();
    let since = at.saturating_duration_since(origin).as_nanos();
    // Less than one cell, counted from `at`: no uptime overflows it.
    let late = (grid - since % grid) % grid;
    at + Duration::from_nanos(u64::try_from(late).unwrap_or_default())
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timers_wake_on_the_grid_never_early() {
        let origin = tokio::time::Instant::now();
        let ms = Duration::from_millis;
        assert_eq!(on_grid(origin, origin), origin);
        assert_eq!(on_grid(origin, origin + ms(1)), origin + TIMER_GRID);
        assert_eq!(on_grid(origin, origin + TIMER_GRID), origin + TIMER_GRID);
        assert_eq!(
            on_grid(origin, origin + TIMER_GRID + Duration::from_nanos(1)),
            origin + TIMER_GRID * 2
        );
        // Deadlines within one cell share one wake-up.
        assert_eq!(
            on_grid(origin, origin + ms(32_001)),
            on_grid(origin, origin + ms(32_009))
        );
        // Past deadlines are due at once.
        assert_eq!(on_grid(origin + ms(5), origin), origin);
        // Years of uptime later, still on the grid.
        let years = Duration::from_secs(3 * 365 * 86_400);
        assert_eq!(
            on_grid(origin, origin + years + ms(3)),
            origin + years + TIMER_GRID
        );
    }
}
