//! TCP and TLS: accepting, connecting, and one task per connection that
//! frames the byte stream into messages (RFC 3261 §18.3), answers RFC 5626
//! keep-alives, writes what the driver queues, and closes the connection on
//! a framing error, an oversized message, a peer stuck mid-message or long
//! idleness.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tollgate_sip::transaction::{Peer, Transport};
use tollgate_sip::{Limits, Status, StreamItem, parse_stream};

use crate::config::StreamLimits;
use crate::connections::Connections;

/// A message a connection task framed, on its way to the driver.
#[derive(Debug)]
pub(crate) struct Inbound {
    pub(crate) peer: Peer,
    pub(crate) data: Bytes,
}

/// What every connection task shares.
#[derive(Clone)]
pub(crate) struct StreamContext {
    pub(crate) inbound: mpsc::Sender<Vec<Inbound>>,
    pub(crate) connections: Arc<Connections>,
    pub(crate) limits: StreamLimits,
    pub(crate) shutdown: watch::Receiver<bool>,
    pub(crate) defense: Option<Arc<crate::Defense>>,
}

/// Accepts connections on `listener` until shutdown begins.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    transport: Transport,
    tls: Option<tokio_rustls::TlsAcceptor>,
    ctx: StreamContext,
    mut stop: watch::Receiver<Option<std::time::Duration>>,
) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.changed() => return,
        };
        let (tcp, remote) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if ctx
            .defense
            .as_ref()
            .is_some_and(|d| d.drop_blocked(remote.ip()))
        {
            continue;
        }
        let Ok((id, writes)) = ctx.connections.admit(transport, remote) else {
            tracing::debug!(%remote, "connection refused: limit reached");
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let ctx = ctx.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let peer = Peer {
                addr: remote,
                transport,
                flow: Some(id),
            };
            match tls {
                None => run_connection(tcp, peer, writes, &ctx).await,
                Some(acceptor) => {
                    let handshake =
                        tokio::time::timeout(ctx.limits.partial_timeout, acceptor.accept(tcp));
                    match handshake.await {
                        Ok(Ok(stream)) => run_connection(stream, peer, writes, &ctx).await,
                        _ => tracing::debug!(%remote, "TLS handshake failed or timed out"),
                    }
                }
            }
            ctx.connections.remove(id);
        });
    }
}

/// How to wrap a new outgoing connection in TLS: the connector and the
/// name to verify.
pub(crate) type TlsTarget = (
    tokio_rustls::TlsConnector,
    rustls_pki_types::ServerName<'static>,
);

/// Opens a connection to `remote` and starts its task; returns the writer.
pub(crate) async fn connect(
    remote: SocketAddr,
    transport: Transport,
    tls: Option<TlsTarget>,
    ctx: StreamContext,
) -> Option<mpsc::Sender<Bytes>> {
    let tcp = tokio::time::timeout(ctx.limits.partial_timeout, TcpStream::connect(remote))
        .await
        .ok()?
        .ok()?;
    let _ = tcp.set_nodelay(true);
    let (id, writes) = ctx.connections.admit(transport, remote).ok()?;
    let writer = ctx.connections.writer(Some(id), transport, remote);
    let peer = Peer {
        addr: remote,
        transport,
        flow: Some(id),
    };
    tokio::spawn(async move {
        match tls {
            None => run_connection(tcp, peer, writes, &ctx).await,
            Some((connector, name)) => {
                if let Ok(stream) = connector.connect(name, tcp).await {
                    run_connection(stream, peer, writes, &ctx).await;
                }
            }
        }
        ctx.connections.remove(id);
    });
    writer
}

/// How long a connection that sent garbage stays open to receive the
/// answers to what it sent before the garbage.
const LINGER_AFTER_ERROR: Duration = Duration::from_millis(500);

/// What framing the buffer produced.
enum Framed {
    Message(usize),
    Ping(usize),
    Pong(usize),
    NeedMore,
    Broken,
}

fn frame(buf: &[u8], limits: &Limits) -> Framed {
    let mut headers = tollgate_sip::header_array();
    match parse_stream(buf, &mut headers, limits) {
        Ok(Status::Complete(StreamItem::Message(m))) => Framed::Message(m.wire_len()),
        Ok(Status::Complete(StreamItem::KeepAlive { ping: true, len })) => Framed::Ping(len),
        Ok(Status::Complete(StreamItem::KeepAlive { ping: false, len })) => Framed::Pong(len),
        Ok(Status::Partial) => Framed::NeedMore,
        Err(_) => Framed::Broken,
    }
}

/// Reads, frames and writes one connection until it closes.
async fn run_connection<S>(
    stream: S,
    peer: Peer,
    mut writes: mpsc::Receiver<Bytes>,
    ctx: &StreamContext,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (mut reader, mut writer) = tokio::io::split(stream);
    let limits = Limits {
        max_message_size: ctx.limits.max_message_size,
    };
    let mut shutdown = ctx.shutdown.clone();
    let mut buf = BytesMut::with_capacity(8192);
    let mut last_activity = Instant::now();
    let mut partial_since: Option<Instant> = None;
    // Set after a framing error: reading stops, answers to the messages
    // framed before it are still written, then the connection closes.
    let mut closing_at: Option<Instant> = None;
    loop {
        let deadline = match (closing_at, partial_since) {
            (Some(at), _) => at,
            (None, Some(since)) => {
                (since + ctx.limits.partial_timeout).min(last_activity + ctx.limits.idle_timeout)
            }
            (None, None) => last_activity + ctx.limits.idle_timeout,
        };
        tokio::select! {
            read = reader.read_buf(&mut buf), if closing_at.is_none() => {
                match read {
                    Ok(0) | Err(_) => return,
                    Ok(_) => last_activity = Instant::now(),
                }
                // Blocked since the connection opened: close it unread.
                if ctx.defense.as_ref().is_some_and(|d| d.drop_blocked(peer.addr.ip())) {
                    metrics::counter!("tollgate_blocked_drops_total", "transport" => "stream").increment(1);
                    return;
                }
                loop {
                    match frame(&buf, &limits) {
                        Framed::Message(len) => {
                            let data = buf.split_to(len).freeze();
                            if ctx.inbound.send(vec![Inbound { peer, data }]).await.is_err() {
                                return;
                            }
                        }
                        Framed::Ping(len) => {
                            let _ = buf.split_to(len);
                            if writer.write_all(b"\r\n").await.is_err() {
                                return;
                            }
                        }
                        Framed::Pong(len) => {
                            let _ = buf.split_to(len);
                        }
                        Framed::NeedMore => break,
                        Framed::Broken => {
                            tracing::debug!(remote = %peer.addr, "closing connection: framing error");
                            closing_at = Some(Instant::now() + LINGER_AFTER_ERROR);
                            buf.clear();
                            break;
                        }
                    }
                }
                partial_since = if buf.is_empty() { None } else { partial_since.or(Some(last_activity)) };
            }
            data = writes.recv() => {
                let Some(data) = data else { return };
                if writer.write_all(&data).await.is_err() {
                    return;
                }
                last_activity = Instant::now();
            }
            _ = tokio::time::sleep_until(deadline) => {
                if closing_at.is_none() {
                    tracing::debug!(remote = %peer.addr, "closing connection: idle or stuck mid-message");
                }
                return;
            }
            _ = shutdown.changed() => return,
        }
    }
}
