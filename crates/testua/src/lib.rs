//! A SIP user agent for tests, over real loopback sockets.
//!
//! ```no_run
//! # async fn demo(server: std::net::SocketAddr) -> std::io::Result<()> {
//! use tollgate_testua::TestUa;
//! let mut ua = TestUa::udp(server).await?;
//! let answer = ua.call("OPTIONS", &format!("sip:{server}")).await?;
//! assert_eq!(answer.status(), Some(200));
//! # Ok(()) }
//! ```
//!
//! It frames what it receives exactly as the edge does (datagrams, or
//! Content-Length framing on TCP and TLS), builds requests with a correct
//! Via for its own address and transport, and can answer requests it
//! receives. Every wait has a timeout, so a broken server fails a test
//! instead of hanging it.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::{TcpStream, UdpSocket};
use tollgate_sip::digest::{Answer, Challenge, answer};
use tollgate_sip::header::AuthValue;
use tollgate_sip::transaction::{MAX_HEADERS, Transport};
use tollgate_sip::{
    Head, Header, Limits, MessageBuilder, Method, Status, StreamItem, parse_datagram, parse_stream,
};

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

/// A received message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// The whole message as received.
    pub data: Bytes,
}

impl Received {
    /// Runs `f` on the parsed head. Panics if the message does not parse:
    /// the UA only hands out messages that framed.
    pub fn with_head<R>(&self, f: impl FnOnce(&Head<'_, '_>) -> R) -> R {
        let mut headers = [Header::EMPTY; MAX_HEADERS];
        let msg = parse_datagram(&self.data, &mut headers).expect("received message parses");
        f(&msg.head)
    }

    /// The status code, for a response.
    pub fn status(&self) -> Option<u16> {
        self.with_head(|h| h.status_line().map(|s| s.code))
    }

    /// The method, for a request.
    pub fn method(&self) -> Option<String> {
        self.with_head(|h| h.method().map(|m| m.to_string()))
    }

    /// The first value of header `name` (any case), as text.
    pub fn header(&self, name: &str) -> Option<String> {
        self.with_head(|h| {
            let kind = tollgate_sip::HeaderKind::from_name(name.as_bytes());
            let value = match kind {
                tollgate_sip::HeaderKind::Other => h.value_by_name(name.as_bytes()),
                kind => h.value(kind),
            };
            value.map(|v| String::from_utf8_lossy(v).into_owned())
        })
    }

    /// Every value of header `name` (any case), in order.
    pub fn headers(&self, name: &str) -> Vec<String> {
        self.with_head(|h| {
            h.headers()
                .iter()
                .filter(|x| x.name.eq_ignore_ascii_case(name.as_bytes()))
                .map(|x| String::from_utf8_lossy(x.value).into_owned())
                .collect()
        })
    }

    /// The message as (lossy) text, for assertion messages.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.data).into_owned()
    }

    /// The body, as text.
    pub fn body(&self) -> String {
        let mut headers = [Header::EMPTY; MAX_HEADERS];
        let msg = parse_datagram(&self.data, &mut headers).expect("received message parses");
        String::from_utf8_lossy(msg.body).into_owned()
    }

    /// The Request-URI, for a request.
    pub fn uri(&self) -> Option<String> {
        self.with_head(|h| {
            h.request_line()
                .map(|l| String::from_utf8_lossy(l.uri).into_owned())
        })
    }

    /// The Contact URI, without brackets.
    pub fn contact_uri(&self) -> Option<String> {
        let contact = self.header("Contact")?;
        let inner = match (contact.find('<'), contact.find('>')) {
            (Some(a), Some(b)) if a < b => &contact[a + 1..b],
            _ => contact.split(';').next().unwrap_or_default(),
        };
        Some(inner.trim().to_owned())
    }

    /// The CSeq number.
    pub fn cseq(&self) -> Option<u32> {
        self.with_head(|h| h.cseq().ok().map(|c| c.seq))
    }
}

/// One side of a dialog a test UA holds, to send requests inside it.
#[derive(Clone, Debug)]
pub struct Dialog {
    /// Call-ID.
    pub call_id: String,
    /// Our From value (with our tag).
    pub local: String,
    /// The peer's value (with its tag).
    pub remote: String,
    /// The Request-URI of our requests: the peer's Contact.
    pub target: String,
    /// The CSeq of our last request.
    pub cseq: u32,
}

impl Dialog {
    /// The caller's dialog from its INVITE and the 2xx it got.
    pub fn from_answer(invite: &Received, ok: &Received) -> Self {
        Self {
            call_id: invite.header("Call-ID").unwrap_or_default(),
            local: invite.header("From").unwrap_or_default(),
            remote: ok.header("To").unwrap_or_default(),
            target: ok.contact_uri().unwrap_or_default(),
            cseq: invite.cseq().unwrap_or_default(),
        }
    }

    /// The callee's dialog from the INVITE it received and the To tag it
    /// answers with.
    pub fn from_invite(invite: &Received, tag: &str) -> Self {
        Self {
            call_id: invite.header("Call-ID").unwrap_or_default(),
            local: format!("{};tag={tag}", invite.header("To").unwrap_or_default()),
            remote: invite.header("From").unwrap_or_default(),
            target: invite.contact_uri().unwrap_or_default(),
            cseq: 0,
        }
    }
}

/// A test user agent bound to one server address.
pub struct TestUa {
    channel: Channel,
    transport: Transport,
    local: SocketAddr,
    remote: SocketAddr,
    cseq: u32,
    /// The user of this UA's From URI.
    user: String,
}

fn random_token() -> String {
    format!("{:016x}", rand::random::<u64>())
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
            local: socket.local_addr()?,
            channel: Channel::Udp(socket),
            transport: Transport::Udp,
            remote: server,
            cseq: 0,
            user: "testua".into(),
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
            transport,
            local,
            remote,
            cseq: 0,
            user: "testua".into(),
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
        self.local
    }

    /// Names `user` in the From of the requests this UA builds from now on
    /// (`testua` at first), as a phone names its account.
    pub fn set_user(&mut self, user: &str) {
        user.clone_into(&mut self.user);
    }

    /// The transport in use.
    pub fn transport(&self) -> Transport {
        self.transport
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
        self.cseq += 1;
        MessageBuilder::request(Method::from_token(method.as_bytes()), uri.as_bytes())
            .header("Via", self.via())
            .header("Max-Forwards", "70")
            .header(
                "From",
                format!("<sip:{}@{}>;tag={}", self.user, self.local, random_token()),
            )
            .header("To", format!("<{uri}>"))
            .header("Call-ID", format!("{}@testua", random_token()))
            .header("CSeq", format!("{} {method}", self.cseq))
    }

    /// A Via for this UA's address and transport, with a fresh branch and
    /// rport.
    fn via(&self) -> String {
        format!(
            "SIP/2.0/{} {};branch=z9hG4bK{};rport",
            self.transport.via_token(),
            self.local,
            random_token()
        )
    }

    /// A request inside `dialog` (the next CSeq, or the INVITE's for ACK),
    /// with this UA's Via.
    pub fn in_dialog(&mut self, dialog: &mut Dialog, method: &str) -> MessageBuilder {
        if method != "ACK" {
            dialog.cseq += 1;
        }
        MessageBuilder::request(
            Method::from_token(method.as_bytes()),
            dialog.target.as_bytes(),
        )
        .header("Via", self.via())
        .header("Max-Forwards", "70")
        .header("From", &dialog.local)
        .header("To", &dialog.remote)
        .header("Call-ID", &dialog.call_id)
        .header("CSeq", format!("{} {method}", dialog.cseq))
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
                    let mut headers = [Header::EMPTY; MAX_HEADERS];
                    if parse_datagram(&data, &mut headers).is_ok() {
                        return Ok(Received { data });
                    }
                }
            }
            Channel::Stream { reader, buf, .. } => loop {
                let framed = {
                    let mut headers = [Header::EMPTY; MAX_HEADERS];
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
        request
            .with_head(|head| MessageBuilder::response_to(head, code, reason, Some(tag.as_bytes())))
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
            let contact = format!("<sip:{}@{}>", ua.user, ua.local);
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
                    username: self.user.as_bytes(),
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
