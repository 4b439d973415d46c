//! The four transaction machines driven through a pair of layers on a
//! virtual clock, with latency and loss knobs: exact retransmission
//! schedules and timeouts, in microseconds of real time.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::*;

const UAC: usize = 0;
const UAS: usize = 1;

/// Decides, per transmission in order, whether the network drops it.
type DropRule = Box<dyn FnMut(usize, &Transmit) -> bool>;

/// Two layers joined by an in-memory network.
struct Pair {
    start: Instant,
    now: Instant,
    layers: [TransactionLayer; 2],
    peers: [Peer; 2],
    latency: Duration,
    drop: DropRule,
    in_flight: Vec<(Instant, usize, Bytes)>,
    /// Every transmission: (ms since start, sender, first line).
    sent: Vec<(u64, usize, String)>,
    events: [Vec<Event>; 2],
}

fn peer(port: u16, transport: Transport) -> Peer {
    Peer {
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        transport,
        flow: transport.is_reliable().then_some(u64::from(port)),
    }
}

impl Pair {
    fn new(transport: Transport) -> Self {
        Self::with_limit(transport, 1000)
    }

    fn with_limit(transport: Transport, max: usize) -> Self {
        let start = Instant::now();
        Self {
            start,
            now: start,
            layers: [
                TransactionLayer::new(TimerConfig::default(), max),
                TransactionLayer::new(TimerConfig::default(), max),
            ],
            peers: [peer(5061, transport), peer(5060, transport)],
            latency: Duration::from_millis(0),
            drop: Box::new(|_, _| false),
            in_flight: Vec::new(),
            sent: Vec::new(),
            events: [Vec::new(), Vec::new()],
        }
    }

    fn ms(&self) -> u64 {
        (self.now - self.start).as_millis() as u64
    }

    /// Moves queued transmissions onto the wire and events into the lists.
    fn collect(&mut self) {
        for side in [UAC, UAS] {
            while let Some(t) = self.layers[side].poll_transmit() {
                let line = String::from_utf8_lossy(&t.data)
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                self.sent.push((self.ms(), side, line));
                if !(self.drop)(side, &t) {
                    self.in_flight
                        .push((self.now + self.latency, 1 - side, t.data));
                }
            }
            while let Some(e) = self.layers[side].poll_event() {
                self.events[side].push(e);
            }
        }
    }

    /// Runs the network and timers until `ms` after the start.
    fn run_until(&mut self, ms: u64) {
        let end = self.start + Duration::from_millis(ms);
        loop {
            self.collect();
            let next_arrival = self.in_flight.iter().map(|f| f.0).min();
            let next_timer = [UAC, UAS]
                .into_iter()
                .filter_map(|s| self.layers[s].poll_timeout())
                .min();
            let Some(next) = [next_arrival, next_timer].into_iter().flatten().min() else {
                break;
            };
            if next > end {
                break;
            }
            self.now = self.now.max(next);
            let (due, later): (Vec<_>, Vec<_>) =
                self.in_flight.drain(..).partition(|f| f.0 <= self.now);
            self.in_flight = later;
            for (_, to, data) in due {
                let from = self.peers[1 - to];
                self.layers[to].handle_message(self.now, from, data);
            }
            for side in [UAC, UAS] {
                self.layers[side].handle_timeout(self.now);
            }
        }
        self.now = end;
        self.collect();
    }

    /// Sends a request from the UAC.
    fn send(&mut self, data: &str) -> TxId {
        let to = self.peers[UAS];
        let id = self.layers[UAC]
            .send_request(self.now, to, Bytes::from(data.to_owned()))
            .unwrap();
        self.collect();
        id
    }

    /// The UAS core answers its most recent request.
    fn answer(&mut self, id: TxId, code: u16) {
        let request = self.events[UAS]
            .iter()
            .rev()
            .find_map(|e| match e {
                Event::Request {
                    id: Some(i), data, ..
                } if *i == id => Some(data.clone()),
                _ => None,
            })
            .expect("request seen by the UAS");
        let mut headers = crate::header_array();
        let head = parse_datagram(&request, &mut headers).unwrap().head;
        let data = MessageBuilder::response_to(&head, code, "Reason", Some(b"uas"))
            .build()
            .unwrap();
        self.layers[UAS].respond(self.now, id, data.into()).unwrap();
        self.collect();
    }

    fn server_requests(&self) -> Vec<TxId> {
        self.events[UAS]
            .iter()
            .filter_map(|e| match e {
                Event::Request { id: Some(id), .. } => Some(*id),
                _ => None,
            })
            .collect()
    }

    /// Times (ms) at which `side` sent a message whose first line starts
    /// with `prefix`.
    fn sent_times(&self, side: usize, prefix: &str) -> Vec<u64> {
        self.sent
            .iter()
            .filter(|(_, s, line)| *s == side && line.starts_with(prefix))
            .map(|(t, _, _)| *t)
            .collect()
    }
}

fn request(method: &str, branch: &str) -> String {
    format!(
        "{method} sip:bob@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK{branch};rport\r\n\
         From: <sip:alice@127.0.0.1>;tag=a1\r\n\
         To: <sip:bob@127.0.0.1>\r\n\
         Call-ID: {branch}@test\r\n\
         CSeq: 1 {method}\r\n\
         Max-Forwards: 70\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

fn responses(events: &[Event]) -> Vec<u16> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Response { data, .. } => status_code(data),
            _ => None,
        })
        .collect()
}

fn drop_all_to_uas() -> DropRule {
    Box::new(|side, _| side == UAC)
}

#[test]
fn timer_e_doubles_to_t2_and_timer_f_times_out() {
    let mut p = Pair::new(Transport::Udp);
    p.drop = drop_all_to_uas();
    let id = p.send(&request("OPTIONS", "e1"));
    p.run_until(40_000);
    assert_eq!(
        p.sent_times(UAC, "OPTIONS"),
        [
            0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500
        ]
    );
    assert_eq!(p.events[UAC], [Event::TimedOut { id }]);
    assert!(p.layers[UAC].is_empty());
}

#[test]
fn timer_a_doubles_without_cap_and_timer_b_times_out() {
    let mut p = Pair::new(Transport::Udp);
    p.drop = drop_all_to_uas();
    let id = p.send(&request("INVITE", "a1"));
    p.run_until(40_000);
    assert_eq!(
        p.sent_times(UAC, "INVITE"),
        [0, 500, 1500, 3500, 7500, 15500, 31500]
    );
    assert_eq!(p.events[UAC], [Event::TimedOut { id }]);
    assert!(p.layers[UAC].is_empty());
}

#[test]
fn reliable_transports_never_retransmit() {
    let mut p = Pair::new(Transport::Tcp);
    p.drop = drop_all_to_uas();
    let id = p.send(&request("OPTIONS", "tcp1"));
    p.run_until(40_000);
    assert_eq!(p.sent_times(UAC, "OPTIONS"), [0]);
    assert_eq!(p.events[UAC], [Event::TimedOut { id }]);
}

#[test]
fn retransmitted_requests_are_absorbed_and_answered_again() {
    let mut p = Pair::new(Transport::Udp);
    p.send(&request("OPTIONS", "r1"));
    p.run_until(2_000);
    // The UAS saw three copies (0, 500, 1500 ms) but the core only one.
    let ids = p.server_requests();
    assert_eq!(ids.len(), 1);
    assert_eq!(p.layers[UAS].awaiting_final(), 1);
    assert_eq!(p.layers[UAC].awaiting_final(), 1);
    p.answer(ids[0], 200);
    p.run_until(2_100);
    assert_eq!(responses(&p.events[UAC]), [200]);
    assert_eq!(p.layers[UAS].awaiting_final(), 0);
    assert_eq!(p.layers[UAC].awaiting_final(), 0);
    assert_eq!(p.layers[UAS].len(), 1, "Completed lingers");
    // The UAC is now Completed and absorbs a repeated 200; the UAS repeats
    // its 200 if the request is retransmitted (simulated by resending it).
    let uas = p.peers[UAS];
    p.layers[UAS].handle_message(p.now, p.peers[UAC], Bytes::from(request("OPTIONS", "r1")));
    p.collect();
    assert_eq!(p.sent_times(UAS, "SIP/2.0 200"), [2000, 2100]);
    p.run_until(2_200);
    assert_eq!(responses(&p.events[UAC]), [200], "duplicate 200 absorbed");
    assert_eq!(uas, p.peers[UAS]);
    // Timers K (T4 = 5 s) and J (64·T1 = 32 s) end both transactions.
    p.run_until(2_000 + 32_000);
    assert!(p.layers[UAC].is_empty() && p.layers[UAS].is_empty());
}

#[test]
fn non_invite_proceeding_retransmits_every_t2() {
    let mut p = Pair::new(Transport::Udp);
    p.send(&request("OPTIONS", "p1"));
    p.run_until(100);
    let id = p.server_requests()[0];
    p.answer(id, 180);
    p.drop = drop_all_to_uas();
    p.run_until(20_000);
    // The 1xx came at 100 ms: Timer E still fires at 500 ms, and from then
    // on is reset to T2 = 4 s (RFC 3261 §17.1.2.2).
    assert_eq!(
        p.sent_times(UAC, "OPTIONS"),
        [0, 500, 4500, 8500, 12500, 16500]
    );
}

#[test]
fn invite_server_sends_100_trying_after_200ms() {
    let mut p = Pair::new(Transport::Udp);
    p.send(&request("INVITE", "t1"));
    p.run_until(450);
    assert_eq!(p.sent_times(UAS, "SIP/2.0 100"), [200]);
    assert_eq!(responses(&p.events[UAC]), [100]);
    // The 100 stopped Timer A: no retransmission at 500 ms.
    p.run_until(5_000);
    assert_eq!(p.sent_times(UAC, "INVITE"), [0]);
}

#[test]
fn no_100_trying_when_the_core_answers_first() {
    let mut p = Pair::new(Transport::Udp);
    p.send(&request("INVITE", "t2"));
    p.run_until(50);
    let id = p.server_requests()[0];
    p.answer(id, 180);
    p.run_until(1_000);
    assert!(p.sent_times(UAS, "SIP/2.0 100").is_empty());
    assert_eq!(responses(&p.events[UAC]), [180]);
}

#[test]
fn non_2xx_final_is_retransmitted_until_ack() {
    let mut p = Pair::new(Transport::Udp);
    p.send(&request("INVITE", "g1"));
    p.run_until(10);
    let id = p.server_requests()[0];
    // Lose every ACK: the UAS retransmits the 486 by Timer G.
    p.drop = Box::new(|side, t| side == UAC && t.data.starts_with(b"ACK"));
    p.answer(id, 486);
    p.run_until(10_000);
    assert_eq!(
        p.sent_times(UAS, "SIP/2.0 486"),
        [10, 510, 1510, 3510, 7510]
    );
    // Each retransmitted 486 made the UAC resend its ACK, reported once.
    assert_eq!(p.sent_times(UAC, "ACK").len(), 5);
    assert_eq!(responses(&p.events[UAC]), [486]);
    // Timer H: no ACK ever arrives, 64·T1 after the 486.
    p.run_until(40_000);
    assert!(p.events[UAS].contains(&Event::TimedOut { id }));
    assert!(p.layers[UAS].is_empty());
    // Timer D (32 s) ended the client transaction too.
    assert!(p.layers[UAC].is_empty());
}

#[test]
fn a_stateless_answer_goes_out_once_and_keeps_no_state() {
    let mut p = Pair::new(Transport::Udp);
    // Every ACK is lost (a spoofed source never sends one).
    p.drop = Box::new(|side, t| side == UAC && t.data.starts_with(b"ACK"));
    p.send(&request("INVITE", "sl1"));
    p.run_until(10);
    let first = p.server_requests()[0];
    let invite = p.events[UAS]
        .iter()
        .find_map(|e| match e {
            Event::Request { data, .. } => Some(data.clone()),
            _ => None,
        })
        .unwrap();
    let mut headers = crate::header_array();
    let head = parse_datagram(&invite, &mut headers).unwrap().head;
    let tag = stateless_tag(&head);
    let answer = MessageBuilder::response_to(&head, 407, "Proxy Auth", Some(tag.as_bytes()))
        .build()
        .unwrap();
    p.layers[UAS].respond_statelessly(first, Some(answer.into()));
    assert!(p.layers[UAS].is_empty(), "no transaction is kept");
    // Past 64·T1: one 407, no 100 Trying, no retransmission, no timeout.
    p.run_until(40_000);
    assert_eq!(p.sent_times(UAS, "SIP/2.0 407"), [10]);
    assert!(p.sent_times(UAS, "SIP/2.0 100").is_empty());
    assert!(
        !p.events[UAS]
            .iter()
            .any(|e| matches!(e, Event::TimedOut { .. }))
    );
    // A retransmitted INVITE is a new request for the core, and the ACK
    // of the answer reaches it without a transaction.
    p.layers[UAS].handle_message(p.now, p.peers[UAC], Bytes::from(request("INVITE", "sl1")));
    p.collect();
    let ids = p.server_requests();
    assert_eq!(ids.len(), 2);
    assert_ne!(ids[1], first);
    // Dropped without an answer: nothing goes out, not even 100 Trying.
    p.layers[UAS].respond_statelessly(ids[1], None);
    p.run_until(41_000);
    assert_eq!(p.sent_times(UAS, "SIP/2.0").len(), 1);
    assert!(p.layers[UAS].is_empty());
}

#[test]
fn ack_stops_retransmissions_and_timer_i_ends_the_transaction() {
    let mut p = Pair::new(Transport::Udp);
    p.send(&request("INVITE", "g2"));
    p.run_until(10);
    let id = p.server_requests()[0];
    p.answer(id, 503);
    p.run_until(3_000);
    assert_eq!(p.sent_times(UAS, "SIP/2.0 503"), [10]);
    assert_eq!(p.sent_times(UAC, "ACK"), [10]);
    // The ACK was absorbed by the transaction, not passed to the core.
    assert!(
        !p.events[UAS]
            .iter()
            .any(|e| matches!(e, Event::Request { id: None, .. }))
    );
    assert_eq!(p.layers[UAS].len(), 1);
    p.run_until(10 + 5_000);
    assert!(p.layers[UAS].is_empty(), "Timer I (T4) ended it");
    assert!(!p.events[UAS].contains(&Event::TimedOut { id }));
}

#[test]
fn two_hundred_goes_to_accepted_and_retransmissions_reach_the_core() {
    let mut p = Pair::new(Transport::Udp);
    p.send(&request("INVITE", "ok1"));
    p.run_until(10);
    let id = p.server_requests()[0];
    p.answer(id, 200);
    p.run_until(20);
    // The core retransmits its 2xx (the transaction does not, RFC 6026).
    p.answer(id, 200);
    p.run_until(30);
    assert_eq!(responses(&p.events[UAC]), [200, 200]);
    assert!(p.sent_times(UAC, "ACK").is_empty(), "2xx ACK is the core's");
    // A retransmitted INVITE in Accepted is absorbed silently.
    p.layers[UAS].handle_message(p.now, p.peers[UAC], Bytes::from(request("INVITE", "ok1")));
    p.collect();
    assert_eq!(p.server_requests().len(), 1);
    // Timers L and M end both sides after 64·T1.
    p.run_until(10 + 32_000);
    assert!(p.layers[UAC].is_empty() && p.layers[UAS].is_empty());
    // A 2xx after that is a stray: dropped.
    p.answer_stray_ok();
}

impl Pair {
    fn answer_stray_ok(&mut self) {
        let before = self.events[UAC].len();
        let stray = String::from(
            "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bKok1;rport\r\n\
             From: <sip:alice@127.0.0.1>;tag=a1\r\nTo: <sip:bob@127.0.0.1>;tag=uas\r\n\
             Call-ID: ok1@test\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
        );
        self.layers[UAC].handle_message(self.now, self.peers[UAS], Bytes::from(stray));
        self.collect();
        assert_eq!(self.events[UAC].len(), before);
    }
}

#[test]
fn cancel_is_answered_and_reported_while_the_invite_proceeds() {
    let mut p = Pair::new(Transport::Udp);
    p.send(&request("INVITE", "c1"));
    p.run_until(300);
    let invite = p.server_requests()[0];
    p.send(&request("CANCEL", "c1"));
    p.run_until(310);
    assert_eq!(responses(&p.events[UAC]), [100, 200]);
    assert!(p.events[UAS].contains(&Event::Cancelled { invite }));
    p.answer(invite, 487);
    p.run_until(320);
    assert_eq!(responses(&p.events[UAC]), [100, 200, 487]);
    assert_eq!(p.sent_times(UAC, "ACK"), [310]);
}

#[test]
fn cancel_after_the_final_response_or_for_nothing() {
    let mut p = Pair::new(Transport::Udp);
    p.send(&request("INVITE", "c2"));
    p.run_until(10);
    let invite = p.server_requests()[0];
    p.answer(invite, 486);
    p.run_until(20);
    p.send(&request("CANCEL", "c2"));
    p.run_until(30);
    assert_eq!(responses(&p.events[UAC]), [486, 200]);
    assert!(!p.events[UAS].contains(&Event::Cancelled { invite }));
    p.send(&request("CANCEL", "nothing"));
    p.run_until(40);
    assert_eq!(responses(&p.events[UAC]), [486, 200, 481]);
}

#[test]
fn late_response_after_timeout_is_dropped() {
    let mut p = Pair::new(Transport::Udp);
    p.drop = drop_all_to_uas();
    let id = p.send(&request("OPTIONS", "late"));
    p.run_until(33_000);
    assert_eq!(p.events[UAC], [Event::TimedOut { id }]);
    let late = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bKlate;rport\r\n\
                From: <sip:alice@127.0.0.1>;tag=a1\r\nTo: <sip:bob@127.0.0.1>;tag=x\r\n\
                Call-ID: late@test\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    p.layers[UAC].handle_message(p.now, p.peers[UAS], Bytes::from(late));
    p.collect();
    assert_eq!(p.events[UAC].len(), 1);
}

#[test]
fn loss_and_latency_still_complete_the_transaction() {
    let mut p = Pair::new(Transport::Udp);
    p.latency = Duration::from_millis(80);
    let mut sent_by_uac = 0;
    // The first two copies of the request are lost.
    p.drop = Box::new(move |side, _| {
        if side == UAC {
            sent_by_uac += 1;
            sent_by_uac <= 2
        } else {
            false
        }
    });
    p.send(&request("OPTIONS", "lossy"));
    p.run_until(1_600);
    let id = p.server_requests()[0];
    p.answer(id, 200);
    p.run_until(2_000);
    assert_eq!(responses(&p.events[UAC]), [200]);
    assert_eq!(p.sent_times(UAC, "OPTIONS"), [0, 500, 1500]);
}

#[test]
fn capacity_limit_answers_503_statelessly() {
    let mut p = Pair::with_limit(Transport::Udp, 2);
    for b in ["cap1", "cap2", "cap3"] {
        let data = Bytes::from(request("OPTIONS", b));
        p.layers[UAS].handle_message(p.now, p.peers[UAC], data);
    }
    p.collect();
    assert_eq!(p.server_requests().len(), 2);
    assert_eq!(p.sent_times(UAS, "SIP/2.0 503"), [0]);
    assert_eq!(p.layers[UAS].len(), 2);
}

#[test]
fn malformed_requests_get_stateless_answers() {
    let mut p = Pair::new(Transport::Udp);
    let bad_cseq = request("OPTIONS", "bad").replace("CSeq: 1 OPTIONS", "CSeq: 1 INVITE");
    let short_body = request("OPTIONS", "short").replace("Content-Length: 0", "Content-Length: 99");
    let version = request("OPTIONS", "v7").replace("SIP/2.0\r\nVia", "SIP/7.0\r\nVia");
    let bad_ack = request("ACK", "badack").replace("CSeq: 1 ACK", "CSeq: x ACK");
    for data in [
        bad_cseq,
        short_body,
        version,
        bad_ack,
        "garbage\r\n\r\n".to_owned(),
    ] {
        p.layers[UAS].handle_message(p.now, p.peers[UAC], Bytes::from(data));
    }
    p.collect();
    let answers: Vec<_> = p.sent.iter().map(|(_, _, l)| l.clone()).collect();
    assert_eq!(
        answers,
        [
            "SIP/2.0 400 CSeq method does not match the request",
            "SIP/2.0 400 Bad Request",
            "SIP/2.0 505 Version Not Supported"
        ]
    );
    assert!(p.layers[UAS].is_empty());
    assert!(p.events[UAS].is_empty());
}

#[test]
fn rfc2543_requests_match_without_a_branch() {
    let mut p = Pair::new(Transport::Udp);
    let old = request("OPTIONS", "x").replace(";branch=z9hG4bKx", "");
    for _ in 0..3 {
        p.layers[UAS].handle_message(p.now, p.peers[UAC], Bytes::from(old.clone()));
    }
    p.collect();
    assert_eq!(p.server_requests().len(), 1);
}

#[test]
fn ack_for_a_2xx_goes_to_the_core_without_a_transaction() {
    let mut p = Pair::new(Transport::Udp);
    p.layers[UAS].handle_message(p.now, p.peers[UAC], Bytes::from(request("ACK", "ack2xx")));
    p.collect();
    assert!(matches!(
        p.events[UAS][..],
        [Event::Request { id: None, .. }]
    ));
    assert!(p.layers[UAS].is_empty());
}

#[test]
fn responses_go_back_to_the_source_port_even_without_rport() {
    let mut layer = TransactionLayer::new(TimerConfig::default(), 10);
    let now = Instant::now();
    // Via says port 5061 and asks for no rport; the request came from 40000.
    let source = peer(40000, Transport::Udp);
    let without = request("OPTIONS", "v2").replace(";rport", "");
    layer.handle_message(now, source, Bytes::from(without.clone()));
    let Some(Event::Request { id: Some(id), .. }) = layer.poll_event() else {
        panic!("request expected");
    };
    let mut headers = crate::header_array();
    let head = parse_datagram(without.as_bytes(), &mut headers)
        .unwrap()
        .head;
    let resp = MessageBuilder::response_to(&head, 200, "OK", Some(b"t"))
        .build()
        .unwrap();
    layer.respond(now, id, resp.into()).unwrap();
    assert_eq!(layer.poll_transmit().unwrap().peer, source);
}

#[test]
fn core_misuse_is_reported() {
    let mut p = Pair::new(Transport::Udp);
    p.send(&request("OPTIONS", "m1"));
    p.run_until(1);
    let id = p.server_requests()[0];
    p.answer(id, 200);
    let again = Bytes::from_static(b"SIP/2.0 200 OK\r\n\r\n");
    assert_eq!(
        p.layers[UAS].respond(p.now, id, again.clone()),
        Err(TxError::InvalidState)
    );
    assert_eq!(
        p.layers[UAS].respond(p.now, TxId(999), again),
        Err(TxError::Unknown)
    );
    let no_branch = request("OPTIONS", "x").replace(";branch=z9hG4bKx", "");
    assert_eq!(
        p.layers[UAC].send_request(p.now, p.peers[UAS], Bytes::from(no_branch)),
        Err(TxError::BadMessage)
    );
}

#[test]
fn stateless_options_create_no_transaction() {
    let mut p = Pair::new(Transport::Udp);
    p.layers[UAS].set_stateless_options(true);
    let data = Bytes::from(request("OPTIONS", "sl1"));
    p.layers[UAS].handle_message(p.now, p.peers[UAC], data.clone());
    p.layers[UAS].handle_message(p.now, p.peers[UAC], data);
    p.collect();
    assert!(p.layers[UAS].is_empty());
    assert!(matches!(
        p.events[UAS][..],
        [
            Event::Request { id: None, .. },
            Event::Request { id: None, .. }
        ]
    ));
    // INVITE still gets its transaction.
    p.layers[UAS].handle_message(p.now, p.peers[UAC], Bytes::from(request("INVITE", "sl2")));
    assert_eq!(p.layers[UAS].len(), 1);
}

#[test]
fn proceeding_server_repeats_its_provisional_response() {
    let mut p = Pair::new(Transport::Udp);
    p.send(&request("OPTIONS", "prov"));
    p.run_until(100);
    let id = p.server_requests()[0];
    p.answer(id, 180);
    // The UAC's Timer E retransmission at 500 ms reaches the UAS, which is
    // in Proceeding: it repeats the 180 and tells the core nothing new.
    p.run_until(600);
    assert_eq!(p.sent_times(UAS, "SIP/2.0 180"), [100, 500]);
    assert_eq!(p.server_requests().len(), 1);
    // RFC 3261 §17.1.2.2: a client in Proceeding passes every provisional
    // response up, repeats included.
    assert_eq!(responses(&p.events[UAC]), [180, 180]);
}

#[test]
fn requests_reach_the_core_with_their_top_via_stamped_once() {
    let mut layer = TransactionLayer::new(TimerConfig::default(), 10);
    let now = Instant::now();
    // The sender says 127.0.0.1:5061 and asks for rport; the packet comes
    // from elsewhere (a NAT).
    let source = peer(40000, Transport::Udp);
    let source = Peer {
        addr: SocketAddr::from(([127, 0, 0, 9], 40000)),
        ..source
    };
    layer.handle_message(now, source, Bytes::from(request("OPTIONS", "st1")));
    let Some(Event::Request {
        id: Some(id), data, ..
    }) = layer.poll_event()
    else {
        panic!("the request reaches the core");
    };
    let text = std::str::from_utf8(&data).unwrap();
    assert!(
        text.contains(
            "Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bKst1;rport=40000;received=127.0.0.9\r\n"
        ),
        "{text}"
    );
    // A response built from it leaves exactly as built.
    let mut headers = crate::header_array();
    let head = parse_datagram(&data, &mut headers).unwrap().head;
    let ok = Bytes::from(
        MessageBuilder::response_to(&head, 200, "OK", Some(b"t1"))
            .build()
            .unwrap(),
    );
    layer.respond(now, id, ok.clone()).unwrap();
    let sent = layer.poll_transmit().unwrap();
    assert_eq!(sent.peer.addr, source.addr);
    assert_eq!(sent.data, ok);
}

#[test]
fn handle_message_with_hands_over_its_parse_in_queue_order() {
    let mut layer = TransactionLayer::new(TimerConfig::default(), 10);
    let now = Instant::now();
    let source = peer(5061, Transport::Udp);
    // Queued before: delivered first, without a parse.
    layer.handle_message(now, source, Bytes::from(request("OPTIONS", "q1")));
    // Sent-by matches the source and no rport: delivered as received.
    let plain = request("OPTIONS", "q2").replace(";rport", "");
    let mut seen = Vec::new();
    layer.handle_message_with(now, source, Bytes::from(plain), |_, event, parsed| {
        let Event::Request { data, .. } = event else {
            panic!("a request");
        };
        let call_id = parsed.map(|r| {
            assert_eq!(r.message.head.call_id().unwrap(), r.checked.call_id());
            r.checked.call_id().to_vec()
        });
        seen.push((data.starts_with(b"OPTIONS"), call_id));
    });
    assert_eq!(
        seen,
        [(true, None), (true, Some(b"q2@test".to_vec()))],
        "the earlier event first, then this message's with its parse"
    );
    assert!(
        layer.poll_event().is_none(),
        "every queued event was handed over"
    );
    // `rport` makes the layer stamp the Via: what comes with the request
    // is read from the stamped copy the core gets, top Via included.
    let mut stamped = Vec::new();
    layer.handle_message_with(
        now,
        source,
        Bytes::from(request("OPTIONS", "q3")),
        |_, event, parsed| {
            let (Event::Request { data, .. }, Some(r)) = (event, parsed) else {
                panic!("a request with what was read of it");
            };
            let Checked::Request(req) = r.checked else {
                panic!("a request");
            };
            let via = r.message.head.value(HeaderKind::Via).unwrap();
            assert!(
                data.as_ptr_range().contains(&via.as_ptr()),
                "read from the core's copy"
            );
            assert_eq!(r.checked.call_id(), b"q3@test");
            stamped.push((
                req.top_via.rport(),
                String::from_utf8_lossy(via).into_owned(),
            ));
        },
    );
    assert_eq!(
        stamped,
        [(
            crate::header::Rport::Value(5061),
            "SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bKq3;rport=5061;received=127.0.0.1".to_owned()
        )]
    );
    // A response to a client transaction comes with its parse.
    let gateway = peer(5070, Transport::Udp);
    let invite = request("INVITE", "q4");
    let id = layer
        .send_request(now, gateway, Bytes::from(invite.clone()))
        .unwrap();
    let mut headers = crate::header_array();
    let head = parse_datagram(invite.as_bytes(), &mut headers)
        .unwrap()
        .head;
    let ringing = MessageBuilder::response_to(&head, 180, "Ringing", Some(b"g1"))
        .build()
        .unwrap();
    let mut codes = Vec::new();
    layer.handle_message_with(now, gateway, Bytes::from(ringing), |_, event, parsed| {
        assert!(matches!(event, Event::Response { id: got, .. } if got == id));
        codes.push(parsed.map(|r| match r.checked {
            Checked::Response(resp) => (resp.code, r.checked.to().tag().map(<[u8]>::to_vec)),
            Checked::Request(_) => panic!("a response"),
        }));
    });
    assert_eq!(codes, [Some((180, Some(b"g1".to_vec())))]);
}

#[test]
fn send_built_request_takes_the_given_branch_and_method() {
    let mut layer = TransactionLayer::new(TimerConfig::default(), 10);
    let now = Instant::now();
    let gateway = peer(5070, Transport::Udp);
    let bye = Bytes::from(request("BYE", "b1"));
    for (method, branch) in [(Method::Ack, &b"z9hG4bKb1"[..]), (Method::Bye, b"z9hG4bK")] {
        assert_eq!(
            layer.send_built_request(now, gateway, bye.clone(), method, branch),
            Err(TxError::BadMessage),
            "no transaction for an ACK or a bare cookie"
        );
    }
    let id = layer
        .send_built_request(now, gateway, bye.clone(), Method::Bye, b"z9hG4bKb1")
        .unwrap();
    assert_eq!(layer.poll_transmit().map(|t| t.data), Some(bye.clone()));
    // The response finds the transaction by that branch and method.
    let mut headers = crate::header_array();
    let head = parse_datagram(&bye, &mut headers).unwrap().head;
    let ok = MessageBuilder::response_to(&head, 200, "OK", Some(b"g1"))
        .build()
        .unwrap();
    layer.handle_message(now, gateway, Bytes::from(ok));
    assert!(matches!(layer.poll_event(), Some(Event::Response { id: got, .. }) if got == id));
}
