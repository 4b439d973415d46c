//! A blocked flood against a running `tollgate serve`: one blocked source
//! sends at a fixed rate (100,000 packets/s by default) while a customer's
//! switch keeps probing with OPTIONS; reports the flood actually sent, the
//! server's CPU per dropped packet, and the customer's answers and latency.
//!
//! Usage: `blocked_flood SERVER_ADDR SERVER_PID FLOOD_SOURCE [RATE] [SECONDS]`
//! (FLOOD_SOURCE must already be blocked; the customer probes from
//! 127.0.0.1). Bounded by time; loopback targets only.

mod support;

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

fn main() {
    let mut args = std::env::args().skip(1);
    let (server, pid) = support::server_and_pid(&mut args);
    let flood_source: SocketAddr = format!("{}:0", args.next().expect("FLOOD_SOURCE"))
        .parse()
        .expect("FLOOD_SOURCE is an IP");
    assert!(
        flood_source.ip().is_loopback(),
        "the flood comes from loopback"
    );
    let rate: u64 = args.next().map_or(100_000, |a| a.parse().expect("RATE"));
    let seconds: u64 = args.next().map_or(5, |a| a.parse().expect("SECONDS"));

    let stop = Arc::new(AtomicBool::new(false));
    let flood = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let socket = UdpSocket::bind(flood_source).expect("bind flood source");
            let packet = b"INVITE sip:+441632960123@edge SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.9;branch=z9hG4bKflood\r\n\r\n";
            let start = Instant::now();
            let mut sent = 0u64;
            while !stop.load(Ordering::Relaxed) {
                // Pace in 1 ms slices to hold the rate.
                let due = rate * start.elapsed().as_micros() as u64 / 1_000_000;
                while sent < due {
                    let _ = socket.send_to(packet, server);
                    sent += 1;
                }
                std::thread::sleep(Duration::from_micros(200));
            }
            (sent, start.elapsed())
        })
    };

    let customer = UdpSocket::bind("127.0.0.1:0").expect("bind customer");
    customer
        .set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    let local = customer.local_addr().expect("local");
    let cpu_before = support::cpu_seconds(pid);
    let started = Instant::now();
    let (mut asked, mut answered) = (0u32, 0u32);
    let mut latencies = Vec::new();
    let mut buf = [0u8; 4096];
    while started.elapsed() < Duration::from_secs(seconds) {
        asked += 1;
        let msg = format!(
            "OPTIONS sip:{server} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKc{asked};rport\r\n\
             Max-Forwards: 70\r\nFrom: <sip:probe@{local}>;tag=p{asked}\r\nTo: <sip:{server}>\r\n\
             Call-ID: {asked}@probe\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        );
        let t = Instant::now();
        customer.send_to(msg.as_bytes(), server).expect("send");
        if customer
            .recv_from(&mut buf)
            .is_ok_and(|(n, _)| buf[..n].starts_with(b"SIP/2.0 "))
        {
            answered += 1;
            latencies.push(t.elapsed());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    stop.store(true, Ordering::Relaxed);
    let (sent, flood_time) = flood.join().expect("flood thread");
    let cpu = support::cpu_seconds(pid) - cpu_before;
    latencies.sort();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
    };
    println!(
        "flood: {sent} packets in {:.2} s = {:.0}/s from a blocked source",
        flood_time.as_secs_f64(),
        sent as f64 / flood_time.as_secs_f64()
    );
    println!(
        "server CPU {cpu:.2} s over the run: {:.2} us per flood packet (upper bound: includes the probes)",
        cpu * 1e6 / sent.max(1) as f64
    );
    println!(
        "customer: {answered}/{asked} probes answered, latency p50 {:?} p99 {:?}",
        pct(0.5).unwrap_or_default(),
        pct(0.99).unwrap_or_default()
    );
}
