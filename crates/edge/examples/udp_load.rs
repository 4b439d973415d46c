//! A bounded UDP load generator for the edge: sends OPTIONS to a running
//! `tollgate serve` with a fixed window of requests in flight, counts the
//! 200s, and reports requests per second and the server's CPU time per
//! request (read from /proc for the given pid).
//!
//! Usage: `udp_load SERVER_ADDR SERVER_PID [REQUESTS] [WINDOW] [MAX_SECONDS]`.
//! Bounded by count and by time; targets must be loopback addresses.

mod support;

use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

fn main() {
    let mut args = std::env::args().skip(1);
    let (server, pid) = support::server_and_pid(&mut args);
    let total: u64 = args
        .next()
        .map_or(200_000, |a| a.parse().expect("REQUESTS"));
    let window: u64 = args.next().map_or(256, |a| a.parse().expect("WINDOW"));
    let max_secs: u64 = args.next().map_or(60, |a| a.parse().expect("MAX_SECONDS"));

    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket.connect(server).expect("connect");
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let local = socket.local_addr().expect("local addr");
    let answered = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    // Nanoseconds from `start` to the latest answer: the rate is measured
    // up to it, not up to the end of the wait for stragglers.
    let last_answer = Arc::new(AtomicU64::new(0));

    let receiver = {
        let socket = socket.try_clone().expect("clone");
        let (answered, done, last_answer) = (answered.clone(), done.clone(), last_answer.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while !done.load(Ordering::Relaxed) {
                if socket
                    .recv(&mut buf)
                    .is_ok_and(|n| buf[..n].starts_with(b"SIP/2.0 200"))
                {
                    answered.fetch_add(1, Ordering::Relaxed);
                    last_answer.store(start.elapsed().as_nanos() as u64, Ordering::Relaxed);
                }
            }
        })
    };

    let cpu_before = support::cpu_seconds(pid);
    let deadline = start + Duration::from_secs(max_secs);
    let mut sent = 0u64;
    while sent < total && Instant::now() < deadline {
        if sent - answered.load(Ordering::Relaxed) >= window {
            std::hint::spin_loop();
            continue;
        }
        let msg = format!(
            "OPTIONS sip:{server} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK{sent}x;rport\r\n\
             Max-Forwards: 70\r\nFrom: <sip:load@{local}>;tag=l{sent}\r\nTo: <sip:{server}>\r\n\
             Call-ID: {sent}@load\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        );
        if socket.send(msg.as_bytes()).is_ok() {
            sent += 1;
        }
    }
    // Let the last answers arrive.
    let settle = Instant::now() + Duration::from_secs(2);
    while answered.load(Ordering::Relaxed) < sent && Instant::now() < settle {
        std::thread::sleep(Duration::from_millis(5));
    }
    let elapsed = (last_answer.load(Ordering::Relaxed) as f64 / 1e9).max(1e-9);
    let cpu = support::cpu_seconds(pid) - cpu_before;
    done.store(true, Ordering::Relaxed);
    receiver.join().expect("receiver");
    let ok = answered.load(Ordering::Relaxed);
    println!(
        "sent {sent}, answered 200: {ok} ({:.2}% lost)",
        100.0 * (sent - ok.min(sent)) as f64 / sent.max(1) as f64
    );
    println!(
        "elapsed {elapsed:.2} s: {:.0} requests/s answered",
        ok as f64 / elapsed
    );
    println!(
        "server CPU {cpu:.2} s: {:.2} us per request",
        cpu * 1e6 / ok.max(1) as f64
    );
}
