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
//! started, CANCEL, in-dialog requests, hang-ups the API asks for, and its
//! own timers (`timers.rs`: first reply / PDD / ring timeouts, the
//! admission retry of a call waiting for CPS budget, 2xx retransmission
//! and the give-up when no ACK comes, maximum duration; and the rounds of
//! gateway health probes, see `probe.rs`). A call holds
//! its channels from admission until it ends by any path, and is then
//! forgotten at once; transactions still in flight for it (a BYE, a
//! CANCELled INVITE) carry what they need in their [`Role`].

mod admission;
mod answer;
mod attempt;
mod board;
mod call;
mod carrier_auth;
mod dialog;
mod gateway;
mod leg;
mod local;
mod probe;
mod relay;
mod timers;

pub use board::CallBoard;
pub(crate) use call::{SUPPORTED, SUPPORTED_OPTIONS};

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tollgate_policy::admission::{Admission, Scope};
use tollgate_policy::routing::GatewayPicker;
use tollgate_policy::{AccountId, EntryId, Snapshot};
use tollgate_sip::transaction::{IdMap, Received, TimerConfig, TransactionLayer, TxId};

use crate::core::{reply, response_with};
use crate::meters::{LabelledCounter, LabelledGauge};
use crate::{Bound, Now};
use call::{Call, Role, Side};
use leg::Facts;
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
    /// Boxed: a call is some 460 bytes (see `a_held_call_stays_small`),
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

    /// Publishes the call's row.
    fn show(&self, call: &Call) {
        self.board.put(call.info.clone());
    }

    /// A response for a client transaction a call started.
    pub(crate) fn on_response(
        &mut self,
        cx: &mut Ctx<'_>,
        tx: TxId,
        data: &Bytes,
        received: &Received<'_, '_>,
    ) {
        // The layer validated the response: it has what Facts needs.
        let Some(facts) = Facts::of(data, received) else {
            return;
        };
        let Some(role) = self.by_client.remove(&tx) else {
            if (200..300).contains(&facts.code()) {
                self.on_stray_2xx(cx, received, &facts);
            }
            return;
        };
        let code = facts.code();
        let provisional = code < 200;
        match role {
            Role::Invite(id) => self.on_invite_response(cx, tx, id, facts),
            Role::Abandoned(ab) => self.on_abandoned_response(cx, tx, ab, facts),
            Role::Bye {
                leg,
                retried,
                creds,
            } => match (code, creds) {
                (401 | 407, Some(creds)) if !retried => {
                    // A challenge with nothing to answer: the BYE is not retried.
                    if let Some(challenge) = facts.challenge {
                        self.send_bye_with(cx, *leg, Some(creds), Some(challenge));
                    }
                }
                (_, creds) if provisional => {
                    self.by_client.insert(
                        tx,
                        Role::Bye {
                            leg,
                            retried,
                            creds,
                        },
                    );
                }
                _ => {}
            },
            Role::Quiet => {
                if provisional {
                    self.by_client.insert(tx, Role::Quiet);
                }
            }
            Role::Relay(relay) => self.on_relay_response(cx, tx, relay, facts),
            Role::Probe(gateway) if provisional => {
                self.by_client.insert(tx, Role::Probe(gateway));
            }
            Role::Probe(gateway) => self.on_probe_result(cx.now, gateway, Some(code)),
        }
    }

    /// A client transaction got no final response in time.
    pub(crate) fn on_timed_out(&mut self, cx: &mut Ctx<'_>, tx: TxId) {
        match self.by_client.remove(&tx) {
            Some(Role::Invite(id)) => {
                if let Some(call) = self.calls.remove(&id) {
                    if call.answered {
                        self.keep(id, call);
                    } else {
                        self.gateway_silent(&call, cx.now);
                        self.attempt_failed(cx, id, call, 408, "Request Timeout".into());
                    }
                }
            }
            Some(Role::Relay(relay)) => {
                if let Some(resp) = response_with(&relay.reply, 408, "Request Timeout", &[], None) {
                    reply(cx.layer, cx.now, relay.server, resp);
                }
            }
            Some(Role::Probe(gateway)) => self.on_probe_result(cx.now, gateway, None),
            // A BYE that timed out: the call ended when it was sent.
            _ => {}
        }
    }
}
