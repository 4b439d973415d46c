//! [`TestUa`]: an [`Agent`] on a real loopback socket (UDP, TCP or TLS).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::{TcpStream, UdpSocket};
use tollgate_sip::digest::{Answer, Challenge, answer};
use tollgate_sip::header::AuthValue;
use tollgate_sip::transaction::Transport;
use tollgate_sip::{Limits, MessageBuilder, Status, StreamItem, parse_datagram, parse_stream};

use crate::agent::{Agent, random_token};
use crate::message::{Dialog, Received};

/// How long [`TestUa::transact`] waits for a final response.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(5);

/// A byte stream the UA can use (TCP or TLS).
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

enum Channel {
    Udp(UdpSocket),
    Stream {
        reader: ReadHalf<Box<dyn Io>>,
        writer: WriteHalf<Box<dyn Io>>,
        buf: BytesMut,
    },
}

/// A test user agent bound to one server address.
pub struct TestUa {
    channel: Channel,
    agent: Agent,
    remote: SocketAddr,
}

fn loopback_for(remote: SocketAddr) -> SocketAddr {
    if remote.is_ipv4() {
        SocketAddr::from(([127, 0, 0, 1], 0))
    } else {
        SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, 0))
    }
}

impl TestUa {
    /// A UA on a fresh UDP socket of `server`'s address family.
    pub async fn udp(server: SocketAddr) -> io::Result<Self> {
        Self::udp_from(loopback_for(server), server).await
    }

    /// A UA on a fresh UDP socket bound to `local` (another loopback
    /// address, say, to be a different source).
    pub async fn udp_from(local: SocketAddr, server: SocketAddr) -> io::Result<Self> {
        let socket = UdpSocket::bind(local).await?;
        Ok(Self {
            agent: Agent::new(socket.local_addr()?, Transport::Udp),
            channel: Channel::Udp(socket),
            remote: server,
        })
    }

    fn stream(
        io: Box<dyn Io>,
        transport: Transport,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> Self {
        let (reader, writer) = tokio::io::split(io);
        Self {
            channel: Channel::Stream {
                reader,
                writer,
                buf: BytesMut::with_capacity(8192),
            },
            agent: Agent::new(local, transport),
            remote,
        }
    }

    /// A UA on a new TCP connection to `server`.
    pub async fn tcp(server: SocketAddr) -> io::Result<Self> {
        let tcp = TcpStream::connect(server).await?;
        let local = tcp.local_addr()?;
        Ok(Self::stream(Box::new(tcp), Transport::Tcp, local, server))
    }

    /// A UA on the next connection `listener` accepts: it plays a server
    /// (a carrier gateway the edge connects to).
    pub async fn tcp_accept(listener: &tokio::net::TcpListener) -> io::Result<Self> {
        let (tcp, remote) = listener.accept().await?;
        let local = tcp.local_addr()?;
        Ok(Self::stream(Box::new(tcp), Transport::Tcp, local, remote))
    }

    /// A UA on the next TLS connection `listener` accepts, presenting
    /// `config`'s certificate.
    pub async fn tls_accept(
        listener: &tokio::net::TcpListener,
        config: Arc<rustls::ServerConfig>,
    ) -> io::Result<Self> {
        let (tcp, remote) = listener.accept().await?;
        let local = tcp.local_addr()?;
        let tls = tokio_rustls::TlsAcceptor::from(config).accept(tcp).await?;
        Ok(Self::stream(Box::new(tls), Transport::Tls, local, remote))
    }

    /// A UA on a new TLS connection to `server`, verifying its certificate
    /// for `server_name` with `config`.
    pub async fn tls(
        server: SocketAddr,
        config: Arc<rustls::ClientConfig>,
        server_name: &str,
    ) -> io::Result<Self> {
        let tcp = TcpStream::connect(server).await?;
        let local = tcp.local_addr()?;
        let name = rustls_pki_types::ServerName::try_from(server_name.to_owned())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let tls = tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await?;
        Ok(Self::stream(Box::new(tls), Transport::Tls, local, server))
    }

    /// The UA's own address.
    pub fn local_addr(&self) -> SocketAddr {
        self.agent.local_addr()
    }

    /// Names `user` in the From of the requests this UA builds from now on
    /// (`testua` at first), as a phone names its account.
    pub fn set_user(&mut self, user: &str) {
        self.agent.set_user(user);
    }

    /// The transport in use.
    pub fn transport(&self) -> Transport {
        self.agent.transport()
    }

    /// Sends bytes as they are.
    pub async fn send_raw(&mut self, data: &[u8]) -> io::Result<()> {
        match &mut self.channel {
            Channel::Udp(socket) => socket.send_to(data, self.remote).await.map(drop),
            Channel::Stream { writer, .. } => {
                writer.write_all(data).await?;
                writer.flush().await
            }
        }
    }

    /// A request with Via (this UA's address and transport, a fresh branch,
    /// rport), From (fresh tag), To, Call-ID, CSeq and Max-Forwards filled
    /// in. Add headers and a body, then [`TestUa::send`] it.
    pub fn request(&mut self, method: &str, uri: &str) -> MessageBuilder {
        self.agent.request(method, uri)
    }

    /// A request inside `dialog` (the next CSeq, or the INVITE's for ACK),
    /// with this UA's Via.
    pub fn in_dialog(&mut self, dialog: &mut Dialog, method: &str) -> MessageBuilder {
        self.agent.in_dialog(dialog, method)
    }

    /// Builds and sends a message.
    pub async fn send(&mut self, message: MessageBuilder) -> io::Result<Bytes> {
        let data = Bytes::from(
            message
                .build()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?,
        );
        self.send_raw(&data).await?;
        Ok(data)
    }

    /// The next message, or `None` after `wait`. On a stream, a framing
    /// error or a closed connection is an error.
    pub async fn recv(&mut self, wait: Duration) -> io::Result<Option<Received>> {
        match tokio::time::timeout(wait, self.recv_inner()).await {
            Ok(r) => r.map(Some),
            Err(_) => Ok(None),
        }
    }

    async fn recv_inner(&mut self) -> io::Result<Received> {
        match &mut self.channel {
            Channel::Udp(socket) => {
                let mut buf = vec![0u8; 65_535];
                loop {
                    let (n, _) = socket.recv_from(&mut buf).await?;
                    let data = Bytes::copy_from_slice(&buf[..n]);
                    let mut headers = tollgate_sip::header_array();
                    if parse_datagram(&data, &mut headers).is_ok() {
                        return Ok(Received { data });
                    }
                }
            }
            Channel::Stream { reader, buf, .. } => loop {
                let framed = {
                    let mut headers = tollgate_sip::header_array();
                    match parse_stream(buf, &mut headers, &Limits::default()) {
                        Ok(Status::Complete(StreamItem::Message(m))) => Some(m.wire_len()),
                        Ok(Status::Complete(StreamItem::KeepAlive { len, .. })) => {
                            let _ = buf.split_to(len);
                            continue;
                        }
                        Ok(Status::Partial) => None,
                        Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
                    }
                };
                if let Some(len) = framed {
                    return Ok(Received {
                        data: buf.split_to(len).freeze(),
                    });
                }
                if reader.read_buf(buf).await? == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
            },
        }
    }

    /// Sends a request and waits for its final response (provisional
    /// responses are skipped), up to [`DEFAULT_WAIT`].
    pub async fn transact(&mut self, request: MessageBuilder) -> io::Result<Received> {
        self.send(request).await?;
        self.recv_until(DEFAULT_WAIT, |r| r.status().is_some_and(|c| c >= 200))
            .await?
            .ok_or_else(|| io::ErrorKind::TimedOut.into())
    }

    /// Sends a fresh `method` request to `uri` and waits for its final
    /// response: [`TestUa::request`] and [`TestUa::transact`] in one.
    pub async fn call(&mut self, method: &str, uri: &str) -> io::Result<Received> {
        let request = self.request(method, uri);
        self.transact(request).await
    }

    /// Answers a received request with `code`, as a UAS would.
    pub async fn respond(&mut self, request: &Received, code: u16, reason: &str) -> io::Result<()> {
        let response = Self::response(request, code, reason, &random_token());
        self.send(response).await.map(drop)
    }

    /// A response to `request` with To tag `tag` (kept when the request
    /// has one); add headers or a body, then [`TestUa::send`] it.
    pub fn response(request: &Received, code: u16, reason: &str, tag: &str) -> MessageBuilder {
        Agent::response(request, code, reason, tag)
    }

    /// Receives until a message for which `f` holds arrives (others are
    /// dropped), or `None` after `wait`.
    pub async fn recv_until(
        &mut self,
        wait: Duration,
        mut f: impl FnMut(&Received) -> bool,
    ) -> io::Result<Option<Received>> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.recv(left).await? {
                Some(r) if f(&r) => return Ok(Some(r)),
                Some(_) => continue,
                None => return Ok(None),
            }
        }
    }

    /// True when nothing arrives within `wait`.
    pub async fn is_silent_for(&mut self, wait: Duration) -> bool {
        matches!(self.recv(wait).await, Ok(None))
    }

    /// A phone's call to `uri` through a digest login as this UA's user
    /// (see [`TestUa::set_user`]): an INVITE with a Contact and `sdp`, its
    /// 407, then the INVITE again answering the challenge in `algorithm`
    /// (`MD5`, `SHA-256`) with `password`.
    pub async fn digest_call(
        &mut self,
        uri: &str,
        sdp: &str,
        algorithm: &str,
        password: &str,
    ) -> io::Result<DigestCall> {
        let invite = |ua: &mut Self| {
            let contact = format!("<sip:{}@{}>", ua.agent.user(), ua.local_addr());
            ua.request("INVITE", uri)
                .header("Contact", contact)
                .body("application/sdp", sdp)
        };
        let first = invite(self);
        let challenged = self.transact(first).await?;
        let values = challenged.headers("Proxy-Authenticate");
        let parsed: Vec<AuthValue<'_>> = values
            .iter()
            .filter_map(|v| AuthValue::parse(v.as_bytes()).ok())
            .collect();
        let challenges: Vec<Challenge<'_>> = parsed
            .iter()
            .filter_map(|v| Challenge::parse(v).ok())
            .collect();
        let offered = challenges
            .iter()
            .map(|c| c.algorithm.hash.name().to_owned())
            .collect();
        let chosen = challenges
            .iter()
            .find(|c| c.algorithm.hash.name() == algorithm);
        let credentials = chosen.map(|c| {
            answer(
                c,
                &Answer {
                    username: self.agent.user().as_bytes(),
                    password: password.as_bytes(),
                    method: b"INVITE",
                    uri: uri.as_bytes(),
                    cnonce: b"7e57ca11",
                    nc: 1,
                },
            )
        });
        let retry = match credentials {
            Some(credentials) => {
                let again = invite(self).header("Proxy-Authorization", credentials);
                Some(self.transact(again).await?)
            }
            None => None,
        };
        Ok(DigestCall {
            challenged,
            offered,
            retry,
        })
    }
}

/// What [`TestUa::digest_call`] saw.
pub struct DigestCall {
    /// The answer to the first INVITE (a 407, when all goes as planned).
    pub challenged: Received,
    /// The algorithms its challenges offered, in order.
    pub offered: Vec<String>,
    /// The final answer to the INVITE with credentials; none when the
    /// algorithm asked for was not offered.
    pub retry: Option<Received>,
}

impl DigestCall {
    /// The offered algorithms and the retry's status, to compare whole.
    pub fn outcome(&self) -> (Vec<String>, Option<u16>) {
        let status = self.retry.as_ref().and_then(Received::status);
        (self.offered.clone(), status)
    }
}
