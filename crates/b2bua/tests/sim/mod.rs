//! A simulated network for the B2BUA: Tollgate's core on its transaction
//! layer at [`EDGE`], and UDP peers (callers, carrier gateways) that send
//! it raw SIP, on a virtual clock. No socket is opened and no real time
//! passes: a wait of 64·T1 or a four-hour call costs what its messages
//! cost. Every datagram takes [`World::latency`] one way, and a loss rule
//! may drop any of them.
//!
//! The world is shared (`Rc<RefCell<World>>`) by the peers ([`SimUa`]),
//! so that a test reads like one over sockets: a peer that waits for a
//! message runs the world (delivering datagrams and firing timers in
//! order) until it arrives or the wait runs out in virtual time.

// Shared by the call tests and the benches (`benches/lab/`), each of which
// uses a part of it.
#![allow(dead_code)]

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tollgate_b2bua::{Bound, CallBoard, CallConfig, Core, Now, PolicyCore};
use tollgate_policy::{Authenticator, SharedSnapshot, Snapshot};
use tollgate_sip::digest::Algorithm;
use tollgate_sip::transaction::{Peer, TransactionLayer, Transport};
use tollgate_sip::{MessageBuilder, heads_parsed};
pub(crate) use tollgate_testua::{Agent, Dialog, Received};

/// Where Tollgate listens.
pub(crate) const EDGE: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 5060);

/// The wall clock at the start of every simulation (2027-01-15).
const START_UNIX_MS: u64 = 1_800_000_000_000;

/// A datagram on the wire.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Packet {
    /// When it arrives.
    pub(crate) at: Instant,
    /// Sent before any other packet arriving at the same time.
    seq: u64,
    pub(crate) from: SocketAddr,
    pub(crate) to: SocketAddr,
    pub(crate) data: Bytes,
}

/// Decides which datagrams are lost.
pub(crate) type Loss = Box<dyn FnMut(&Packet) -> bool>;

/// Tollgate and the wire between it and its peers.
pub(crate) struct World {
    layer: TransactionLayer,
    core: PolicyCore,
    now: Now,
    wire: BinaryHeap<Reverse<Packet>>,
    sent: u64,
    inboxes: HashMap<SocketAddr, VecDeque<Received>>,
    /// Set by the core's waker: the API asked something of it.
    asked: Arc<AtomicBool>,
    /// One-way delay of every datagram.
    pub(crate) latency: Duration,
    /// Drops the datagrams for which it returns true.
    pub(crate) loss: Option<Loss>,
    /// Message heads Tollgate parsed, and datagrams it received, so far.
    pub(crate) parsed: u64,
    pub(crate) received: u64,
    /// Read around each of Tollgate's steps (a clock, an allocation
    /// count), to charge Tollgate alone with what it counts.
    pub(crate) meter: Option<fn() -> u64>,
    /// What `meter` counted in Tollgate's steps so far.
    pub(crate) metered: u64,
}

/// Wakes the simulated driver: the next step runs at once.
struct Flag(Arc<AtomicBool>);

impl std::task::Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

impl World {
    /// Tollgate with `calls`, reading `snapshot` and publishing on `board`,
    /// at virtual time zero. Digest challenges offer MD5.
    pub(crate) fn new(
        calls: CallConfig,
        snapshot: Arc<SharedSnapshot>,
        board: Arc<CallBoard>,
    ) -> Self {
        let auth = Authenticator::new("tollgate", vec![Algorithm::MD5], &[5; 32], 300);
        let timers = calls.timers;
        let mut core = PolicyCore::new(snapshot, auth, None, calls, board);
        let now = Now {
            at: Instant::now(),
            unix_ms: START_UNIX_MS,
        };
        core.bind(
            now,
            Bound {
                listeners: &[(Transport::Udp, EDGE)],
                source_toward: |_| None,
            },
        );
        let asked = Arc::new(AtomicBool::new(false));
        core.set_waker(std::task::Waker::from(Arc::new(Flag(asked.clone()))));
        Self {
            // Room for the lingering transactions of 1,000 calls a second.
            layer: TransactionLayer::new(timers, 500_000),
            core,
            now,
            wire: BinaryHeap::new(),
            sent: 0,
            inboxes: HashMap::new(),
            asked,
            latency: Duration::from_millis(1),
            loss: None,
            parsed: 0,
            received: 0,
            meter: None,
            metered: 0,
        }
    }

    /// The virtual time.
    pub(crate) fn now(&self) -> Instant {
        self.now.at
    }

    /// Puts `data` on the wire from `from` to `to`, unless it is lost.
    pub(crate) fn send(&mut self, from: SocketAddr, to: SocketAddr, data: Bytes) {
        self.sent += 1;
        let packet = Packet {
            at: self.now.at + self.latency,
            seq: self.sent,
            from,
            to,
            data,
        };
        if self.loss.as_mut().is_some_and(|lost| lost(&packet)) {
            return;
        }
        self.wire.push(Reverse(packet));
    }

    /// When something next happens: a datagram arrives, a timer fires, or
    /// (now) the API asked for something.
    fn next_event(&mut self) -> Option<Instant> {
        if self.asked.load(Ordering::SeqCst) {
            return Some(self.now.at);
        }
        [
            self.wire.peek().map(|p| p.0.at),
            self.layer.poll_timeout(),
            self.core.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Runs the next event if it happens by `limit`; false when none does.
    pub(crate) fn step(&mut self, limit: Instant) -> bool {
        let Some(at) = self.next_event().filter(|&at| at <= limit) else {
            return false;
        };
        self.advance_to(at);
        let parsed = heads_parsed();
        let mut woken = self.asked.load(Ordering::SeqCst)
            || [self.layer.poll_timeout(), self.core.poll_timeout()]
                .into_iter()
                .flatten()
                .any(|t| t <= at);
        while self.wire.peek().is_some_and(|p| p.0.at <= self.now.at) {
            let Some(Reverse(packet)) = self.wire.pop() else {
                break;
            };
            if packet.to == EDGE {
                self.received += 1;
                woken = true;
                self.receive(packet);
            } else {
                self.inboxes
                    .entry(packet.to)
                    .or_default()
                    .push_back(Received { data: packet.data });
            }
        }
        // Only datagrams to peers arrived: the driver was not woken.
        if !woken {
            return true;
        }
        // What the driver does on a wake-up: the layer's timers when due,
        // the API's requests when woken for them, the core's timers always.
        let start = self.meter.map(|m| m());
        let (now, layer, core) = (self.now, &mut self.layer, &mut self.core);
        if layer.poll_timeout().is_some_and(|at| at <= now.at) {
            layer.handle_timeout(now.at);
        }
        if self.asked.swap(false, Ordering::SeqCst) {
            core.handle_asked(now, layer);
        }
        core.handle_timeout(now, layer);
        while let Some(event) = layer.poll_event() {
            core.on_event(now, event, layer);
        }
        self.charge(start);
        self.flush();
        self.parsed += heads_parsed() - parsed;
        true
    }

    /// Adds what the meter counted since `start` to [`World::metered`].
    fn charge(&mut self, start: Option<u64>) {
        if let (Some(meter), Some(start)) = (self.meter, start) {
            self.metered += meter() - start;
        }
    }

    /// Everything that reached `addr` and was not read yet.
    pub(crate) fn take_inbox(&mut self, addr: SocketAddr) -> Vec<Received> {
        self.inboxes
            .get_mut(&addr)
            .map(|inbox| inbox.drain(..).collect())
            .unwrap_or_default()
    }

    /// Runs every event up to `limit`, then stands at `limit`.
    pub(crate) fn run_until(&mut self, limit: Instant) {
        while self.step(limit) {}
        self.advance_to(limit);
    }

    fn advance_to(&mut self, at: Instant) {
        if at > self.now.at {
            self.now = self.now.after(at - self.now.at);
        }
    }

    /// Tollgate reads a datagram.
    fn receive(&mut self, packet: Packet) {
        let peer = Peer {
            addr: packet.from,
            transport: Transport::Udp,
            flow: None,
        };
        let start = self.meter.map(|m| m());
        let (now, core) = (self.now, &mut self.core);
        self.layer
            .handle_message_with(
                now.at,
                peer,
                packet.data,
                |layer, event, parsed| match parsed {
                    Some(msg) => core.on_parsed_event(now, event, msg, layer),
                    None => core.on_event(now, event, layer),
                },
            );
        self.charge(start);
        self.flush();
    }

    /// Puts what Tollgate sent on the wire.
    fn flush(&mut self) {
        while let Some(t) = self.layer.poll_transmit() {
            self.send(EDGE, t.peer.addr, t.data);
        }
    }

    /// The next message at `addr` for which `f` holds (others are
    /// dropped), running the world for up to `wait`.
    pub(crate) fn recv_until(
        &mut self,
        addr: SocketAddr,
        wait: Duration,
        mut f: impl FnMut(&Received) -> bool,
    ) -> Option<Received> {
        let limit = self.now.at + wait;
        loop {
            while let Some(r) = self.inboxes.get_mut(&addr).and_then(VecDeque::pop_front) {
                if f(&r) {
                    return Some(r);
                }
            }
            if !self.step(limit) {
                self.advance_to(limit);
                return None;
            }
        }
    }
}

/// A shared world.
pub(crate) type Shared = Rc<RefCell<World>>;

/// A peer of Tollgate on the simulated network: an [`Agent`] whose
/// messages the world carries. Its methods mirror `TestUa`'s, returning
/// `Result`s that cannot fail, so a test reads the same over either.
pub(crate) struct SimUa {
    agent: Agent,
    world: Shared,
}

impl SimUa {
    /// A UDP peer at `addr`.
    pub(crate) fn new(world: &Shared, addr: SocketAddr) -> Self {
        Self {
            agent: Agent::new(addr, Transport::Udp),
            world: world.clone(),
        }
    }

    /// The virtual time.
    pub(crate) fn now(&self) -> Instant {
        self.world.borrow().now()
    }

    /// The peer's address.
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.agent.local_addr()
    }

    /// Names `user` in the From of its requests from now on.
    pub(crate) fn set_user(&mut self, user: &str) {
        self.agent.set_user(user);
    }

    /// A fresh request (see [`Agent::request`]).
    pub(crate) fn request(&mut self, method: &str, uri: &str) -> MessageBuilder {
        self.agent.request(method, uri)
    }

    /// A request inside `dialog` (see [`Agent::in_dialog`]).
    pub(crate) fn in_dialog(&mut self, dialog: &mut Dialog, method: &str) -> MessageBuilder {
        self.agent.in_dialog(dialog, method)
    }

    /// A response to `request` (see [`Agent::response`]).
    pub(crate) fn response(
        request: &Received,
        code: u16,
        reason: &str,
        tag: &str,
    ) -> MessageBuilder {
        Agent::response(request, code, reason, tag)
    }

    /// Builds `message` and sends it to Tollgate; returns what was sent.
    pub(crate) fn send(&mut self, message: MessageBuilder) -> Result<Bytes, Infallible> {
        let data = Bytes::from(message.build().expect("the test's message builds"));
        self.send_raw(&data)?;
        Ok(data)
    }

    /// Sends bytes as they are.
    pub(crate) fn send_raw(&mut self, data: &[u8]) -> Result<(), Infallible> {
        let from = self.local_addr();
        self.world
            .borrow_mut()
            .send(from, EDGE, Bytes::copy_from_slice(data));
        Ok(())
    }

    /// Answers `request` with `code`, a fresh To tag when it has none.
    pub(crate) fn respond(
        &mut self,
        request: &Received,
        code: u16,
        reason: &str,
    ) -> Result<(), Infallible> {
        let tag = format!("{:016x}", rand::random::<u64>());
        self.send(Self::response(request, code, reason, &tag))
            .map(drop)
    }

    /// The next message for which `f` holds (others dropped), or `None`
    /// after `wait` of virtual time.
    pub(crate) fn recv_until(
        &mut self,
        wait: Duration,
        f: impl FnMut(&Received) -> bool,
    ) -> Result<Option<Received>, Infallible> {
        let addr = self.local_addr();
        Ok(self.world.borrow_mut().recv_until(addr, wait, f))
    }

    /// The next message, or `None` after `wait`.
    pub(crate) fn recv(&mut self, wait: Duration) -> Result<Option<Received>, Infallible> {
        self.recv_until(wait, |_| true)
    }

    /// Sends `request` and waits up to five seconds for its final response
    /// (provisional responses are skipped).
    pub(crate) fn transact(&mut self, request: MessageBuilder) -> Result<Received, Infallible> {
        self.send(request)?;
        let fin = self.recv_until(Duration::from_secs(5), |r| {
            r.status().is_some_and(|c| c >= 200)
        })?;
        Ok(fin.expect("a final response within 5 s"))
    }

    /// A fresh `method` request to `uri` and its final response.
    pub(crate) fn call(&mut self, method: &str, uri: &str) -> Result<Received, Infallible> {
        let request = self.request(method, uri);
        self.transact(request)
    }

    /// True when nothing arrives within `wait`.
    pub(crate) fn is_silent_for(&mut self, wait: Duration) -> bool {
        matches!(self.recv(wait), Ok(None))
    }
}

/// Runs `world` until `f` holds, for at most `limit` of virtual time.
pub(crate) fn eventually(world: &Shared, limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = world.borrow().now() + limit;
    loop {
        if f() {
            return true;
        }
        if !world.borrow_mut().step(end) {
            world.borrow_mut().run_until(end);
            return f();
        }
    }
}

/// Runs `world` for `d` of virtual time.
pub(crate) fn sleep(world: &Shared, d: Duration) {
    let end = world.borrow().now() + d;
    world.borrow_mut().run_until(end);
}

/// A fresh snapshot holder and board for a world.
pub(crate) fn parts() -> (Arc<SharedSnapshot>, Arc<CallBoard>) {
    (
        Arc::new(SharedSnapshot::new(Snapshot::default())),
        Arc::new(CallBoard::new()),
    )
}
