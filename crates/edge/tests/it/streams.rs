//! TCP and TLS connection handling: keep-alives, framing errors, limits.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tollgate_edge::{StreamLimits, Transport};
use tollgate_testua::TestUa;

use crate::support::{addr, certs, eventually, start};

#[tokio::test]
async fn ping_gets_a_pong_and_messages_after_it_still_work() {
    let certs = certs();
    let edge = start("127.0.0.1", &certs, StreamLimits::default()).await;
    let server = addr(&edge, Transport::Tcp);
    let mut tcp = TcpStream::connect(server).await.unwrap();
    tcp.write_all(b"\r\n\r\n").await.unwrap();
    let mut pong = [0u8; 2];
    tokio::time::timeout(Duration::from_secs(2), tcp.read_exact(&mut pong))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&pong, b"\r\n");
    drop(tcp);
    let mut ua = TestUa::tcp(server).await.unwrap();
    ua.send_raw(b"\r\n\r\n").await.unwrap();
    let ok = ua.call("OPTIONS", &format!("sip:{server}")).await.unwrap();
    assert_eq!(ok.status(), Some(200));
    edge.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_message_split_in_many_writes_is_framed() {
    let certs = certs();
    let edge = start("127.0.0.1", &certs, StreamLimits::default()).await;
    let server = addr(&edge, Transport::Tcp);
    let mut ua = TestUa::tcp(server).await.unwrap();
    let msg = ua
        .request("OPTIONS", &format!("sip:{server}"))
        .build()
        .unwrap();
    for chunk in msg.chunks(7) {
        ua.send_raw(chunk).await.unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let ok = ua.recv(Duration::from_secs(2)).await.unwrap().unwrap();
    assert_eq!(ok.status(), Some(200));
    edge.shutdown(Duration::from_secs(1)).await;
}

async fn closed(tcp: &mut TcpStream) -> bool {
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(Duration::from_secs(3), tcp.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

#[tokio::test]
async fn framing_errors_close_the_connection() {
    let certs = certs();
    let edge = start("127.0.0.1", &certs, StreamLimits::default()).await;
    let server = addr(&edge, Transport::Tcp);
    for bad in [
        &b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: -5\r\n\r\n"[..],
        b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP x\r\n\r\n",
        b"this is not SIP at all\r\n\r\n",
    ] {
        let mut tcp = TcpStream::connect(server).await.unwrap();
        tcp.write_all(bad).await.unwrap();
        assert!(closed(&mut tcp).await, "{}", String::from_utf8_lossy(bad));
    }
    edge.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn oversized_slow_and_idle_peers_are_cut_off() {
    let certs = certs();
    let limits = StreamLimits {
        max_message_size: 4096,
        partial_timeout: Duration::from_millis(300),
        idle_timeout: Duration::from_millis(600),
        ..StreamLimits::default()
    };
    let edge = start("127.0.0.1", &certs, limits).await;
    let server = addr(&edge, Transport::Tcp);
    // Endless headers: closed once the maximum size is buffered.
    let mut big = TcpStream::connect(server).await.unwrap();
    big.write_all(b"OPTIONS sip:a@b SIP/2.0\r\n").await.unwrap();
    big.write_all(&b"X-Filler: 0123456789\r\n".repeat(300))
        .await
        .unwrap();
    assert!(closed(&mut big).await);
    // Half a message, then silence: closed after the partial timeout.
    let mut slow = TcpStream::connect(server).await.unwrap();
    slow.write_all(b"OPTIONS sip:a@b SIP/2.0\r\nVia: ")
        .await
        .unwrap();
    assert!(closed(&mut slow).await);
    // Nothing at all: closed after the idle timeout.
    let mut idle = TcpStream::connect(server).await.unwrap();
    assert!(closed(&mut idle).await);
    assert!(eventually(Duration::from_secs(2), || edge.open_connections() == 0).await);
    edge.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn connections_per_address_are_limited() {
    let certs = certs();
    let limits = StreamLimits {
        max_connections_per_ip: 3,
        ..StreamLimits::default()
    };
    let edge = start("127.0.0.1", &certs, limits).await;
    let server = addr(&edge, Transport::Tcp);
    let mut kept = Vec::new();
    for _ in 0..3 {
        kept.push(TcpStream::connect(server).await.unwrap());
    }
    assert!(eventually(Duration::from_secs(2), || edge.open_connections() == 3).await);
    let mut extra = TcpStream::connect(server).await.unwrap();
    assert!(closed(&mut extra).await, "the fourth connection is refused");
    drop(kept);
    assert!(eventually(Duration::from_secs(2), || edge.open_connections() == 0).await);
    let mut ua = TestUa::tcp(server).await.unwrap();
    let ok = ua.call("OPTIONS", &format!("sip:{server}")).await.unwrap();
    assert_eq!(ok.status(), Some(200));
    edge.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn tls_rejects_a_client_that_does_not_trust_the_server() {
    let certs = certs();
    let edge = start("127.0.0.1", &certs, StreamLimits::default()).await;
    let server = addr(&edge, Transport::Tls);
    let stranger = crate::support::certs();
    assert!(
        TestUa::tls(server, stranger.client, "127.0.0.1")
            .await
            .is_err()
    );
    edge.shutdown(Duration::from_secs(1)).await;
}
