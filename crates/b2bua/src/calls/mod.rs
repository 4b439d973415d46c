//! The B2BUA: every identified INVITE becomes a call with two legs.
//!
//! ```text
//!   caller ──A-leg──► Tollgate ──B-leg──► carrier gateway
//!          (Tollgate is UAS)     (Tollgate is UAC: own Call-ID, tags, CSeq)
//! ```
//!
//! [`Calls`] owns every call, the admission counters and the gateway
//! picker. It is driven by the core on the driver task: a new INVITE
//! ([`Calls::start`]), responses and timeouts of the client transactions it
//! started, CANCEL, in-dialog requests and its own timers (first reply /
//! PDD / ring timeouts, 2xx retransmission, maximum duration, and the
//! rounds of gateway health probes, see `probe.rs`). A call holds
//! its channels from admission until it ends by any path, and is then
//! forgotten at once; transactions still in flight for it (a BYE, a
//! CANCELled INVITE) carry what they need in their [`Role`].

mod attempt;
mod board;
mod carrier_auth;
mod dialog;
mod gateway;
mod leg;
mod local;
mod probe;

pub use board::CallBoard;

use std::borrow::Cow;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tollgate_policy::admission::{Admission, Breach, Limit, Scope};
use tollgate_policy::routing::GatewayPicker;
use tollgate_policy::{AccountId, CallInfo, CallState, EntryId, SharedSnapshot, Snapshot};
use tollgate_sip::ResponseHeaders;
use tollgate_sip::transaction::{IdMap, Peer, TimerConfig, TransactionLayer, TxId};

use crate::core::response_with;
use crate::meters::{LabelledCounter, LabelledGauge};
use crate::{Bound, Now};
use leg::Leg;
use local::Local;

/// How calls are handled: limits' response codes, durations, addresses.
#[derive(Clone, Debug)]
pub struct CallConfig {
    /// Longest call when its route sets none.
    pub max_duration: Duration,
    /// Status when a channel limit is reached.
    pub channel_limit_code: u16,
    /// Status when a calls-per-second limit is reached.
    pub cps_limit_code: u16,
    /// Status when a number fails the dial plan.
    pub dial_plan_code: u16,
    /// How long a call over a CPS limit may wait for the budget to refill
    /// (the caller gets 100 Trying each second meanwhile) before it is
    /// refused; zero refuses at once.
    pub cps_buffer: Duration,
    /// The address written in Via and Contact when the listener is bound to
    /// an unspecified address (0.0.0.0 or ::). Without it, the local
    /// address the system would use towards each peer is taken.
    pub advertise: Option<std::net::IpAddr>,
    /// The transaction timers (T1, T2 pace 2xx retransmissions).
    pub timers: TimerConfig,
    /// How often each gateway gets an OPTIONS probe; `None` (or zero):
    /// never, and only a gateway silent to an INVITE is taken for down.
    pub gateway_probe: Option<Duration>,
}

impl Default for CallConfig {
    fn default() -> Self {
        Self {
            max_duration: Duration::from_secs(4 * 3600),
            channel_limit_code: 503,
            cps_limit_code: 503,
            dial_plan_code: 403,
            cps_buffer: Duration::ZERO,
            advertise: None,
            timers: TimerConfig::default(),
            gateway_probe: None,
        }
    }
}

/// Which side of a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    /// The caller.
    A,
    /// The carrier gateway.
    B,
}

/// What a client transaction Tollgate started is for.
#[derive(Debug)]
enum Role {
    /// The current B-leg INVITE of a call.
    Invite(u64),
    /// A B-leg INVITE the call gave up on (cancelled, or timed out and
    /// failed over): a late provisional gets a CANCEL, a late 2xx an ACK
    /// and a BYE.
    Abandoned(Box<Abandoned>),
    /// A BYE (the call is already over); answered once if challenged.
    Bye {
        leg: Box<Leg>,
        retried: bool,
        creds: Option<Box<carrier_auth::Credentials>>,
    },
    /// A request whose answer needs nothing done: a CANCEL, or the PRACK
    /// of a reliable provisional to a relayed re-INVITE.
    Quiet,
    /// An in-dialog request relayed from the other side, whose server
    /// transaction waits for the answer.
    Relay(Box<Relay>),
    /// An OPTIONS probing a gateway's health.
    Probe(EntryId),
}

#[derive(Debug)]
struct Abandoned {
    leg: Leg,
    branch: String,
    cseq: u32,
    cancel_sent: bool,
    /// The INVITE had no offer: a late 2xx brings one.
    late_offer: bool,
}

#[derive(Debug)]
struct Relay {
    call: u64,
    /// The side the request came from.
    from: Side,
    server: TxId,
    /// The request as received, to build the response from.
    request: Bytes,
    /// It already carries an answer to the carrier's challenge.
    retried: bool,
}

/// An early dialog of the B-leg (one per fork): the gateway's To, with its
/// tag, and its Contact.
type EarlyDialog = (String, Option<String>);

/// The B-leg INVITE in flight.
#[derive(Debug)]
struct Outgoing {
    tx: TxId,
    branch: String,
    cseq: u32,
    carrier: AccountId,
    /// Any response at all (100 included) arrived.
    replied: bool,
    /// A provisional above 100 arrived.
    ringing: bool,
    /// The challenge was answered once already.
    auth_tried: bool,
    /// It carried credentials for a nonce the gateway gave earlier.
    preemptive: bool,
    /// The early dialog a provisional response set up: the gateway's To
    /// (with its tag) and Contact, for UPDATE or INFO before the answer.
    early: Option<EarlyDialog>,
    /// When the current wait (first reply, PDD, ring) runs out.
    deadline: Instant,
    /// This gateway's reliable provisionals as the caller got them (the
    /// latest [`MAX_RELIABLES`]), for the caller's PRACKs.
    reliables: Vec<Reliable1xx>,
}

/// The reliable provisionals of one gateway remembered for PRACKs: far
/// more than an INVITE gets (one or two per fork).
const MAX_RELIABLES: usize = 16;

/// A reliable provisional response relayed to the caller.
#[derive(Debug)]
struct Reliable1xx {
    /// The RSeq the caller got.
    caller_rseq: u32,
    /// The gateway's own RSeq.
    rseq: u32,
    /// The early dialog (fork) it came from: its To (with the tag) and
    /// Contact.
    fork: EarlyDialog,
}

impl Outgoing {
    /// The caller's RSeq for this gateway's reliable provisional `rseq`
    /// from the early dialog `fork`. The caller sees one early dialog
    /// whichever gateway or fork sends them, and its RSeq must grow by one
    /// with each new provisional there (RFC 3262 §7.1): the first passes
    /// unchanged, each new one after it takes `last` (the last RSeq the
    /// caller got) plus one, and a retransmission keeps its number.
    fn caller_rseq(&mut self, rseq: u32, fork: EarlyDialog, last: Option<u32>) -> u32 {
        if let Some(known) = self
            .reliables
            .iter()
            .find(|r| r.rseq == rseq && r.fork.0 == fork.0)
        {
            return known.caller_rseq;
        }
        let caller_rseq = last.map_or(rseq, |l| l.wrapping_add(1));
        if self.reliables.len() == MAX_RELIABLES {
            self.reliables.remove(0);
        }
        self.reliables.push(Reliable1xx {
            caller_rseq,
            rseq,
            fork,
        });
        caller_rseq
    }

    /// What the caller's PRACK naming `caller_rseq` acknowledges: the
    /// gateway's RSeq, and the early dialog it came from (`None` for an
    /// RSeq the caller never got, which passes as it is).
    fn pracked(&self, caller_rseq: u32) -> (u32, Option<EarlyDialog>) {
        self.reliables
            .iter()
            .find(|r| r.caller_rseq == caller_rseq)
            .map_or((caller_rseq, None), |r| (r.rseq, Some(r.fork.clone())))
    }
}

/// What few calls need, boxed so that the others do not carry it.
#[derive(Debug, Default)]
struct Rare {
    /// Other forks of the answered B-leg INVITE that answered too, by To
    /// tag: each a dialog the call does not want, hung up once (see
    /// `Calls::on_fork_2xx`).
    forks_hung_up: Vec<String>,
    /// The ACK of the latest INVITE or re-INVITE that had no offer.
    owed_ack: Option<OwedAck>,
}

/// An INVITE or re-INVITE without an offer (the first INVITE's late offer,
/// or a relayed re-INVITE) was answered with one: the answering side's ACK
/// must carry the other side's answer, which comes in that side's ACK (RFC
/// 3261 §13.2.2.4, §14.1).
#[derive(Debug)]
enum OwedAck {
    /// The answer waits for the ACK of side `near`; the far side's `offer`
    /// is kept; `cseq` is its INVITE's.
    Waits { near: Side, cseq: u32, offer: Bytes },
    /// The ACK as sent to side `far`, for its 2xx's retransmissions.
    Acked { far: Side, cseq: u32, ack: Bytes },
}

/// A 2xx Tollgate retransmits to a caller until the ACK (RFC 3261 §13.3.1.4).
#[derive(Debug)]
struct Unacked {
    data: Bytes,
    peer: Peer,
    next: Instant,
    interval: Duration,
    give_up: Instant,
}

/// What the carriers still on the plan are.
#[derive(Debug, Default)]
struct Plan {
    carriers: VecDeque<AccountId>,
    /// The current carrier and its gateways still to try.
    current: Option<AccountId>,
    gateways: VecDeque<EntryId>,
    /// The last failure seen from a carrier: what the caller gets when
    /// every candidate failed.
    last_failure: (u16, Cow<'static, str>),
    /// The last RSeq the caller got, whichever gateway's provisional it
    /// was.
    caller_rseq: Option<u32>,
}

/// One call.
#[derive(Debug)]
struct Call {
    /// The row the API sees, shared with the board (one copy per call);
    /// from ringing on, the board keeps the state and answer time itself.
    info: Arc<CallInfo>,
    a: Leg,
    /// What every response to the caller's INVITE copies from it, our
    /// To tag included.
    a_reply: ResponseHeaders,
    a_server: TxId,
    /// The caller's Max-Forwards (at least 1).
    a_max_forwards: u8,
    /// The B-leg of the current attempt (a dialog once answered).
    b: Option<Leg>,
    out: Option<Box<Outgoing>>,
    answered: bool,
    /// Channels held on the caller's side (entry or user, account, route).
    held: Vec<Scope>,
    /// Channels held on the current gateway and its carrier.
    gateway_held: Vec<Scope>,
    /// Where the call may still go; dropped at the answer.
    plan: Option<Box<Plan>>,
    /// The offer for the carrier (codec-filtered) and its type.
    offer: Option<Box<(String, Bytes)>>,
    /// The caller's restricted codecs: kept out of every SDP between
    /// the legs.
    restricted: Box<[String]>,
    unacked: Option<Box<Unacked>>,
    /// The caller's INVITE had no offer (a late offer): any 2xx to the
    /// B-leg INVITE brings one.
    late_offer: bool,
    /// The CSeq of the B-leg INVITE that was answered (its ACK's).
    b_invite_cseq: u32,
    /// What few calls need: forks hung up, an ACK owed with an answer.
    rare: Option<Box<Rare>>,
    /// What the current gateway's challenges are answered with.
    creds: Option<Box<carrier_auth::Credentials>>,
    /// What the caller said of reliable provisional responses.
    reliable: Reliable,
    max_duration: Duration,
    ends_at: Option<Instant>,
    armed: Option<Instant>,
    /// Over a CPS limit, waiting for the budget (the CPS buffer).
    waiting: Option<Box<Waiting>>,
}

/// The option tag of reliable provisional responses (RFC 3262).
pub(crate) const RELIABLE_TAG: &str = "100rel";

/// The option tags Tollgate accepts in a caller's Require: `100rel`,
/// carried end to end.
pub(crate) const SUPPORTED_OPTIONS: &[&str] = &[RELIABLE_TAG];

/// [`SUPPORTED_OPTIONS`] as a Supported header value.
pub(crate) const SUPPORTED: &str = RELIABLE_TAG;

/// Reliable provisional responses (RFC 3262) as the caller's INVITE asked
/// for them. Tollgate carries them end to end: the B-leg INVITE says the
/// same, the carrier's reliable 1xx reaches the caller with its RSeq, and
/// the caller's PRACK reaches the carrier with the B-leg's CSeq in its
/// RAck.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reliable {
    /// Not mentioned: the carrier is not offered them.
    No,
    /// `Supported: 100rel`.
    Supported,
    /// `Require: 100rel`.
    Required,
}

impl Reliable {
    /// What the INVITE `head` says.
    fn of(head: &tollgate_sip::Head<'_, '_>) -> Self {
        use tollgate_sip::HeaderKind;
        if head.has_option(HeaderKind::Require, RELIABLE_TAG) {
            Self::Required
        } else if head.has_option(HeaderKind::Supported, RELIABLE_TAG) {
            Self::Supported
        } else {
            Self::No
        }
    }

    /// The header the B-leg INVITE carries, when any.
    fn header(self) -> Option<(&'static str, &'static str)> {
        match self {
            Self::No => None,
            Self::Supported => Some(("Supported", RELIABLE_TAG)),
            Self::Required => Some(("Require", RELIABLE_TAG)),
        }
    }
}

/// A call waiting for CPS budget before it is admitted.
#[derive(Debug)]
struct Waiting {
    limits: Vec<Limit>,
    /// Refused after this.
    until: Instant,
    /// The next admission attempt.
    next_try: Instant,
    /// The next 100 Trying to the caller.
    next_trying: Instant,
}

/// How often a waiting call tries admission again.
const WAIT_RETRY: Duration = Duration::from_millis(20);

impl Call {
    /// The plan, made anew (empty) if the call had dropped it.
    fn plan(&mut self) -> &mut Plan {
        self.plan.get_or_insert_with(Box::default)
    }

    /// The caller's RSeq for the current gateway's reliable provisional
    /// `rseq`, from the early dialog of its latest provisional (see
    /// [`Outgoing::caller_rseq`]), remembered for the gateways after it.
    fn caller_rseq(&mut self, rseq: u32) -> Option<u32> {
        let last = self.plan().caller_rseq;
        let out = self.out.as_mut()?;
        let fork = out.early.clone()?;
        let caller = out.caller_rseq(rseq, fork, last);
        self.plan().caller_rseq = Some(last.map_or(caller, |l| l.max(caller)));
        Some(caller)
    }

    fn deadline(&self) -> Option<Instant> {
        [
            self.waiting.as_ref().map(|w| w.next_try),
            self.out.as_ref().map(|o| o.deadline),
            self.unacked.as_ref().map(|u| u.next.min(u.give_up)),
            self.ends_at,
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

/// What every step of a call works with: the time, the transaction layer
/// its messages go out through, and the policy snapshot the event is
/// decided on (one snapshot for the whole event).
pub(crate) struct Ctx<'a> {
    /// The monotonic time of the event.
    pub(crate) now: Instant,
    /// The wall-clock time of the event (Unix milliseconds).
    pub(crate) unix_ms: u64,
    pub(crate) layer: &'a mut TransactionLayer,
    pub(crate) snap: &'a Snapshot,
}

impl<'a> Ctx<'a> {
    /// The context of one event handled at `now`.
    pub(crate) fn new(now: Now, layer: &'a mut TransactionLayer, snap: &'a Snapshot) -> Self {
        Self {
            now: now.at,
            unix_ms: now.unix_ms,
            layer,
            snap,
        }
    }
}

/// Every call, and what deciding on them needs.
#[derive(Debug)]
pub(crate) struct Calls {
    config: CallConfig,
    board: Arc<CallBoard>,
    admission: Admission,
    picker: GatewayPicker,
    local: Local,
    tags: leg::Tags,
    /// Boxed: a call is some 400 bytes (see `a_held_call_stays_small`),
    /// and a map of them grows by doubling.
    calls: IdMap<u64, Box<Call>>,
    next_id: u64,
    /// Caller INVITE server transactions.
    by_server: IdMap<TxId, u64>,
    by_client: IdMap<TxId, Role>,
    timers: BinaryHeap<Reverse<(Instant, u64)>>,
    last_sweep: Option<Instant>,
    /// Gateways that did not answer at all (or whose probe failed), until
    /// when they come last.
    down: HashMap<EntryId, Instant>,
    /// The gateways' health probes.
    probes: probe::Probes,
    /// The last reusable challenge of each gateway that challenged an
    /// INVITE: the next INVITE to it carries the answer in advance.
    carrier_nonces: HashMap<EntryId, carrier_auth::CarrierNonce>,
    /// The channels-in-use gauge of each account seen, so a call does not
    /// look it up (and format its label) in the metrics registry.
    channel_gauges: LabelledGauge<AccountId>,
    /// `tollgate_calls_attempted_total`.
    attempted: metrics::Counter,
    /// `tollgate_calls_answered_total`.
    answered: metrics::Counter,
    /// `tollgate_calls_ended_total` by outcome.
    ended: LabelledCounter<&'static str>,
    /// `tollgate_calls_failed_total` by the caller's final status.
    failed: LabelledCounter<u16>,
    /// `tollgate_gateway_up` by gateway, as its probes found it.
    gateway_up: LabelledGauge<EntryId>,
}

/// How long a gateway that did not answer an INVITE at all is tried only
/// after the others.
const GATEWAY_DOWN_FOR: Duration = Duration::from_secs(30);

impl Calls {
    pub(crate) fn new(config: CallConfig, board: Arc<CallBoard>) -> Self {
        Self {
            local: Local::new(config.advertise),
            probes: probe::Probes::new(config.gateway_probe),
            tags: leg::Tags::default(),
            config,
            board,
            admission: Admission::new(),
            picker: GatewayPicker::new(),
            calls: IdMap::default(),
            next_id: 0,
            by_server: IdMap::default(),
            by_client: IdMap::default(),
            timers: BinaryHeap::new(),
            last_sweep: None,
            down: HashMap::new(),
            carrier_nonces: HashMap::new(),
            channel_gauges: LabelledGauge::new("tollgate_channels_in_use", "account"),
            attempted: metrics::counter!("tollgate_calls_attempted_total"),
            answered: metrics::counter!("tollgate_calls_answered_total"),
            ended: LabelledCounter::new("tollgate_calls_ended_total", "outcome"),
            failed: LabelledCounter::new("tollgate_calls_failed_total", "code"),
            gateway_up: LabelledGauge::new("tollgate_gateway_up", "gateway"),
        }
    }

    /// The edge's listeners, told at `now`, when it starts: gateway
    /// probes start from then.
    pub(crate) fn bind(&mut self, now: Instant, bound: Bound<'_>) {
        self.local.bind(bound);
        self.probes.start(now);
    }

    /// Sets what wakes the driver when the API asks for a hang-up.
    pub(crate) fn set_waker(&self, waker: std::task::Waker) {
        self.board.set_waker(waker);
    }

    /// The response to a limit breach.
    fn breach_answer(&self, breach: Breach) -> (u16, &'static str) {
        match breach {
            Breach::Channels(_) => (self.config.channel_limit_code, "Channel limit reached"),
            Breach::Cps(_) => (self.config.cps_limit_code, "CPS limit reached"),
        }
    }

    /// The call and side whose dialog a request with `call_id` and our
    /// `tag` (its To tag) belongs to.
    fn dialog_of(&self, call_id: &str, tag: &str) -> Option<(u64, Side)> {
        let id = self.tags.call_of(tag)?;
        let call = self.calls.get(&id)?;
        if call.a.is_dialog(call_id, tag) {
            Some((id, Side::A))
        } else if call.b.as_ref().is_some_and(|b| b.is_dialog(call_id, tag)) {
            Some((id, Side::B))
        } else {
            None
        }
    }

    /// Puts `call` back after handling an event, re-arming its timer.
    fn keep(&mut self, id: u64, mut call: Box<Call>) {
        let deadline = call.deadline();
        if deadline != call.armed {
            call.armed = deadline;
            if let Some(at) = deadline {
                self.timers.push(Reverse((at, id)));
            }
        }
        self.calls.insert(id, call);
        // Ended calls and moved deadlines leave stale entries, each due
        // (and dropped) only when its time comes: hours away for a
        // maximum duration. Rebuild from the live calls before they
        // outnumber them.
        if self.timers.len() > 2 * self.calls.len() + 1024 {
            self.timers = self
                .calls
                .iter()
                .filter_map(|(&id, c)| c.armed.map(|at| Reverse((at, id))))
                .collect();
        }
    }

    /// Ends `call`: its channels are released and it is forgotten. What is
    /// still to send (BYE, CANCEL, the caller's final answer) was sent by
    /// the caller of this function.
    fn finish(&mut self, call: Box<Call>, outcome: &'static str) {
        self.admission
            .release(call.held.iter().chain(&call.gateway_held).copied());
        self.publish_channels(call.info.account_id);
        if let Some(carrier) = call
            .out
            .as_ref()
            .map(|o| o.carrier)
            .or(call.info.carrier_id)
        {
            self.publish_channels(carrier);
        }
        self.by_server.remove(&call.a_server);
        self.board.remove(call.info.id);
        self.ended.increment(outcome);
    }

    /// Sets the channels-in-use gauge of `account`.
    fn publish_channels(&mut self, account: AccountId) {
        let n = self.admission.in_use(Scope::Account(account));
        self.board.set_channels(account, n);
        self.channel_gauges.set(account, f64::from(n));
    }

    /// Answers the caller's INVITE with a final failure and ends the call.
    fn fail(&mut self, cx: &mut Ctx<'_>, call: Box<Call>, code: u16, reason: &str) {
        respond_a(cx, &call, code, reason, &[], None);
        self.failed.increment(code);
        self.finish(call, "failed");
    }

    /// When [`Calls::handle_timeout`] is next due: a call's timer or the
    /// next round of gateway probes.
    pub(crate) fn poll_timeout(&mut self) -> Option<Instant> {
        let probes = self.probes.next_round();
        while let Some(&Reverse((at, id))) = self.timers.peek() {
            if self.calls.get(&id).and_then(|c| c.armed) == Some(at) {
                return Some(probes.map_or(at, |p| p.min(at)));
            }
            self.timers.pop();
        }
        probes
    }

    /// Runs due call timers and gateway probe rounds.
    pub(crate) fn handle_timeout(
        &mut self,
        now: Now,
        layer: &mut TransactionLayer,
        shared: &SharedSnapshot,
    ) {
        // Called on every wake-up of the driver: the common case, nothing
        // due, costs two comparisons.
        let due = self
            .timers
            .peek()
            .is_some_and(|&Reverse((at, _))| at <= now.at);
        let probes_due = self.probes.due(now.at);
        if !due && !probes_due {
            return;
        }
        let snap = shared.load();
        let cx = &mut Ctx::new(now, layer, &snap);
        if probes_due {
            self.probe_round(cx);
        }
        while let Some(&Reverse((at, id))) = self.timers.peek() {
            if at > cx.now {
                break;
            }
            self.timers.pop();
            // A stale deadline (the call moved on, or ended) costs a lookup.
            if self.calls.get(&id).and_then(|c| c.armed) != Some(at) {
                continue;
            }
            let Some(mut call) = self.calls.remove(&id) else {
                continue;
            };
            call.armed = None;
            self.on_call_timer(cx, id, call);
        }
        if self
            .last_sweep
            .is_none_or(|t| cx.now.duration_since(t) > Duration::from_secs(60))
        {
            self.admission.sweep(cx.unix_ms);
            self.down.retain(|_, until| *until > cx.now);
            self.last_sweep = Some(cx.now);
        }
    }

    /// Hangs up the calls the API asked to.
    pub(crate) fn handle_asked(
        &mut self,
        now: Now,
        layer: &mut TransactionLayer,
        shared: &SharedSnapshot,
    ) {
        let hangups = self.board.take_hangups();
        if hangups.is_empty() {
            return;
        }
        let snap = shared.load();
        let cx = &mut Ctx::new(now, layer, &snap);
        for id in hangups {
            if let Some(call) = self.calls.remove(&id) {
                self.hang_up(cx, call, "hung_up");
            }
        }
    }

    fn on_call_timer(&mut self, cx: &mut Ctx<'_>, id: u64, mut call: Box<Call>) {
        if call.ends_at.is_some_and(|t| t <= cx.now) {
            self.hang_up(cx, call, "max_duration");
            return;
        }
        if call.waiting.as_ref().is_some_and(|w| w.next_try <= cx.now) {
            self.retry_admission(cx, id, call);
            return;
        }
        if let Some(u) = &mut call.unacked {
            if u.give_up <= cx.now {
                // The caller never acknowledged the answer: the call cannot
                // work, end both legs.
                self.hang_up(cx, call, "no_ack");
                return;
            }
            if u.next <= cx.now {
                cx.layer.respond_stateless(u.peer, u.data.clone());
                u.interval = (u.interval * 2).min(self.config.timers.t2);
                u.next = cx.now + u.interval;
            }
        }
        if call.out.as_ref().is_some_and(|o| o.deadline <= cx.now) {
            // First reply, PDD or ring timeout: fail over like a 408. A
            // gateway that said nothing at all is taken for down.
            if call.out.as_ref().is_some_and(|o| !o.replied) {
                self.gateway_silent(&call, cx.now);
            }
            self.abandon_attempt(cx, &mut call);
            call.plan().last_failure = (408, "Request Timeout".into());
            self.next_attempt(cx, id, call);
            return;
        }
        self.keep(id, call);
    }

    /// A call waiting for CPS budget tries admission again: admitted, it
    /// goes on to the carriers; out of time, it is refused.
    fn retry_admission(&mut self, cx: &mut Ctx<'_>, id: u64, mut call: Box<Call>) {
        let Some(mut w) = call.waiting.take() else {
            return;
        };
        match self.admission.admit(&w.limits, cx.unix_ms) {
            Ok(()) => {
                call.held = w.limits.iter().map(|l| l.scope).collect();
                self.publish_channels(call.info.account_id);
                self.next_attempt(cx, id, call);
            }
            Err(Breach::Cps(_)) if cx.now < w.until => {
                if w.next_trying <= cx.now {
                    if let Some(trying) = response_with(&call.a_reply, 100, "Trying", &[], None) {
                        let _ = cx.layer.respond(cx.now, call.a_server, trying);
                    }
                    w.next_trying = cx.now + Duration::from_secs(1);
                }
                w.next_try = cx.now + WAIT_RETRY;
                call.waiting = Some(w);
                self.keep(id, call);
            }
            Err(breach) => {
                let (code, reason) = self.breach_answer(breach);
                self.fail(cx, call, code, reason);
            }
        }
    }

    /// Ends a call from Tollgate's side: BYE on answered legs, CANCEL (and
    /// 487 to the caller) before the answer.
    fn hang_up(&mut self, cx: &mut Ctx<'_>, mut call: Box<Call>, why: &'static str) {
        if call.answered {
            self.send_bye(cx, &mut call, Side::A);
            self.send_bye(cx, &mut call, Side::B);
            self.finish(call, why);
        } else {
            self.abandon_attempt(cx, &mut call);
            respond_a(cx, &call, 487, "Request Terminated", &[], None);
            self.finish(call, why);
        }
    }

    /// Marks the call's current gateway as down for [`GATEWAY_DOWN_FOR`].
    fn gateway_silent(&mut self, call: &Call, now: Instant) {
        if let Some(gw) = call.info.gateway_id {
            tracing::info!(
                gateway = gw,
                "gateway did not answer an INVITE: tried last for 30 s"
            );
            self.down.insert(gw, now + GATEWAY_DOWN_FOR);
        }
    }

    /// Retransmits the 2xx `data` (to an INVITE or re-INVITE) to `peer`
    /// over UDP until its ACK (RFC 3261 §13.3.1.4); the transaction layer
    /// leaves that to the dialog. `data` is the 2xx as first sent: built
    /// from the request as delivered, its Via is already stamped.
    fn retransmit_until_ack(&self, now: Instant, call: &mut Call, data: Bytes, peer: Peer) {
        if peer.transport.is_reliable() {
            return;
        }
        let t1 = self.config.timers.t1;
        call.unacked = Some(Box::new(Unacked {
            data,
            peer,
            next: now + t1,
            interval: t1,
            give_up: now + self.config.timers.timeout(),
        }));
    }

    /// Publishes the call's row.
    fn show(&self, call: &Call) {
        self.board.put(call.info.clone());
    }
}

/// Sends a response to the caller's INVITE: `code`, our To tag, Contact
/// when it establishes or confirms a dialog, `body` with its type.
fn respond_a(
    cx: &mut Ctx<'_>,
    call: &Call,
    code: u16,
    reason: &str,
    extra: &[(&str, &str)],
    body: Option<(&str, &[u8])>,
) -> Option<Bytes> {
    let data = response_with(&call.a_reply, code, reason, extra, body)?;
    let _ = cx.layer.respond(cx.now, call.a_server, data.clone());
    Some(data)
}

/// What the caller and carrier see of a call's state.
fn set_state(call: &mut Call, state: CallState) {
    Arc::make_mut(&mut call.info).state = state;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A held call is its `Call` and two `Leg`s inline, plus their texts:
    /// 100,000 of them have to fit in a few hundred megabytes. A field
    /// added inline (rather than boxed, for what only some calls need)
    /// shows here first.
    #[test]
    fn a_held_call_stays_small() {
        let (call, leg) = (std::mem::size_of::<Call>(), std::mem::size_of::<Leg>());
        assert!(call <= 408, "Call is {call} bytes");
        assert!(leg <= 96, "Leg is {leg} bytes");
    }
}
