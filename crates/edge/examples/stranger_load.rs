//! What a stranger's INVITEs draw from a running `tollgate serve`: a
//! bounded number of INVITEs from one source address that no entry
//! knows, never acknowledged (as from a spoofed source), then a wait past
//! the server's 64·T1 for anything still on its way. Reports the bytes
//! sent and received, the answers by status, and bytes out ÷ bytes in:
//! the amplification a spoofed source could aim at a victim; and the
//! server's CPU time per INVITE.
//!
//! Usage: `stranger_load SERVER_ADDR SERVER_PID [INVITES] [RATE] [WAIT_S]`.
//! The INVITEs alternate between one with an SDP offer (as SIPp's) and
//! one without a body. Bounded by count and time; loopback targets only.

mod support;

use std::collections::BTreeMap;
use std::net::UdpSocket;
use std::time::{Duration, Instant};

/// An INVITE number `n` from `local` to `server`, with an offer or not.
fn invite(n: u64, local: std::net::SocketAddr, server: std::net::SocketAddr) -> String {
    let body = if n.is_multiple_of(2) {
        format!(
            "v=0\r\no=user1 53655765 2353687637 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\n\
             t=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n",
            ip = local.ip()
        )
    } else {
        String::new()
    };
    let content_type = if body.is_empty() {
        ""
    } else {
        "Content-Type: application/sdp\r\n"
    };
    format!(
        "INVITE sip:+15551234567@{server} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bK-s{n};rport\r\n\
         From: <sip:stranger@{local}>;tag={n}SIPpTag\r\nTo: <sip:+15551234567@{server}>\r\n\
         Call-ID: {n}-stranger@{ip}\r\nCSeq: 1 INVITE\r\nContact: <sip:sipp@{local}>\r\n\
         Max-Forwards: 70\r\n{content_type}Content-Length: {len}\r\n\r\n{body}",
        ip = local.ip(),
        len = body.len()
    )
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (server, pid) = support::server_and_pid(&mut args);
    let invites: u64 = args.next().map_or(2_000, |a| a.parse().expect("INVITES"));
    let rate: u64 = args.next().map_or(500, |a| a.parse().expect("RATE"));
    let wait_s: u64 = args.next().map_or(5, |a| a.parse().expect("WAIT_S"));
    assert!(invites <= 1_000_000 && rate > 0 && wait_s <= 120, "bounded");

    let socket = UdpSocket::bind("127.0.0.2:0").expect("bind 127.0.0.2");
    socket.connect(server).expect("connect");
    socket
        .set_read_timeout(Some(Duration::from_millis(50)))
        .expect("timeout");
    let local = socket.local_addr().expect("local addr");
    let receiver = {
        let socket = socket.try_clone().expect("clone");
        // Sending takes invites/rate seconds; answers may come until the
        // wait after it ends.
        let until = Instant::now() + Duration::from_secs(invites / rate + 1 + wait_s);
        std::thread::spawn(move || {
            let mut by_status = BTreeMap::<String, u64>::new();
            let mut bytes = 0u64;
            let mut buf = [0u8; 65_536];
            while Instant::now() < until {
                if let Ok(n) = socket.recv(&mut buf) {
                    bytes += n as u64;
                    let status = String::from_utf8_lossy(buf.get(8..11).unwrap_or_default());
                    *by_status.entry(status.into_owned()).or_default() += 1;
                }
            }
            (bytes, by_status)
        })
    };
    let cpu_before = support::cpu_seconds(pid);
    let start = Instant::now();
    let mut bytes_in = 0u64;
    for n in 0..invites {
        let due = start + Duration::from_micros(n * 1_000_000 / rate);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let msg = invite(n, local, server);
        if socket.send(msg.as_bytes()).is_ok() {
            bytes_in += msg.len() as u64;
        }
    }
    let (bytes_out, by_status) = receiver.join().expect("receiver");
    let cpu = support::cpu_seconds(pid) - cpu_before;
    let answers: u64 = by_status.values().sum();
    println!("stranger INVITEs sent: {invites} ({bytes_in} bytes), never ACKed");
    println!("answers received: {answers} ({bytes_out} bytes) {by_status:?}");
    println!(
        "407s per INVITE: {:.2}; bytes out / bytes in: {:.2}",
        by_status.get("407").copied().unwrap_or(0) as f64 / invites.max(1) as f64,
        bytes_out as f64 / bytes_in.max(1) as f64
    );
    println!(
        "server CPU {cpu:.2} s: {:.1} us per INVITE",
        cpu * 1e6 / invites.max(1) as f64
    );
}
