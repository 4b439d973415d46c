//! What a call is: its legs, the B-leg INVITE in flight, the plan of
//! carriers and gateways still to try, what the caller asked of reliable
//! provisionals, the deadlines, and what each client transaction a call
//! started is for ([`Role`]). The state, not the steps: those live in the
//! rooms named for them.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tollgate_policy::admission::{Limit, Scope};
use tollgate_policy::{AccountId, CallInfo, CallState, EntryId};
use tollgate_sip::ResponseHeaders;
use tollgate_sip::transaction::{Peer, TxId};

use super::Ctx;
use super::carrier_auth::Credentials;
use super::leg::Leg;
use super::relay::Relayed;
use super::timers::Timers;
use crate::core::{reply, response_with};

/// Which side of a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Side {
    /// The caller.
    A,
    /// The carrier gateway.
    B,
}

/// What a client transaction Tollgate started is for.
#[derive(Debug)]
pub(super) enum Role {
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
        creds: Option<Box<Credentials>>,
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
pub(super) struct Abandoned {
    pub(super) leg: Leg,
    pub(super) branch: String,
    pub(super) cseq: u32,
    pub(super) cancel_sent: bool,
    /// The INVITE had no offer: a late 2xx brings one.
    pub(super) late_offer: bool,
}

#[derive(Debug)]
pub(super) struct Relay {
    pub(super) call: u64,
    /// The side the request came from.
    pub(super) from: Side,
    pub(super) server: TxId,
    /// What the request carries to the far side, read when it came.
    pub(super) request: Box<Relayed>,
    /// What its responses copy from it.
    pub(super) reply: ResponseHeaders,
    /// It already carries an answer to the carrier's challenge.
    pub(super) retried: bool,
}

/// An early dialog of the B-leg (one per fork): the gateway's To, with its
/// tag, and its Contact.
pub(super) type EarlyDialog = (String, Option<String>);

/// The B-leg INVITE in flight.
#[derive(Debug)]
pub(super) struct Outgoing {
    pub(super) tx: TxId,
    pub(super) branch: String,
    pub(super) cseq: u32,
    pub(super) carrier: AccountId,
    /// Any response at all (100 included) arrived.
    pub(super) replied: bool,
    /// A provisional above 100 arrived.
    pub(super) ringing: bool,
    /// The challenge was answered once already.
    pub(super) auth_tried: bool,
    /// It carried credentials for a nonce the gateway gave earlier.
    pub(super) preemptive: bool,
    /// The early dialog a provisional response set up: the gateway's To
    /// (with its tag) and Contact, for UPDATE or INFO before the answer.
    pub(super) early: Option<EarlyDialog>,
    /// This gateway's reliable provisionals as the caller got them (the
    /// latest [`MAX_RELIABLES`]), for the caller's PRACKs.
    pub(super) reliables: Vec<Reliable1xx>,
}

/// The reliable provisionals of one gateway remembered for PRACKs: far
/// more than an INVITE gets (one or two per fork).
pub(super) const MAX_RELIABLES: usize = 16;

/// A reliable provisional response relayed to the caller.
#[derive(Debug)]
pub(super) struct Reliable1xx {
    /// The RSeq the caller got.
    pub(super) caller_rseq: u32,
    /// The gateway's own RSeq.
    pub(super) rseq: u32,
    /// The early dialog (fork) it came from: its To (with the tag) and
    /// Contact.
    pub(super) fork: EarlyDialog,
}

impl Outgoing {
    /// The caller's RSeq for this gateway's reliable provisional `rseq`
    /// from the early dialog `fork`. The caller sees one early dialog
    /// whichever gateway or fork sends them, and its RSeq must grow by one
    /// with each new provisional there (RFC 3262 §7.1): the first passes
    /// unchanged, each new one after it takes `last` (the last RSeq the
    /// caller got) plus one, and a retransmission keeps its number.
    pub(super) fn caller_rseq(&mut self, rseq: u32, fork: EarlyDialog, last: Option<u32>) -> u32 {
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
    pub(super) fn pracked(&self, caller_rseq: u32) -> (u32, Option<EarlyDialog>) {
        self.reliables
            .iter()
            .find(|r| r.caller_rseq == caller_rseq)
            .map_or((caller_rseq, None), |r| (r.rseq, Some(r.fork.clone())))
    }
}

/// What few calls need, boxed so that the others do not carry it.
#[derive(Debug, Default)]
pub(super) struct Rare {
    /// Other forks of the answered B-leg INVITE that answered too, by To
    /// tag: each a dialog the call does not want, hung up once (see
    /// `Calls::on_fork_2xx`).
    pub(super) forks_hung_up: Vec<String>,
    /// The ACK of the latest INVITE or re-INVITE that had no offer.
    pub(super) owed_ack: Option<OwedAck>,
}

/// An INVITE or re-INVITE without an offer (the first INVITE's late offer,
/// or a relayed re-INVITE) was answered with one: the answering side's ACK
/// must carry the other side's answer, which comes in that side's ACK (RFC
/// 3261 §13.2.2.4, §14.1).
#[derive(Debug)]
pub(super) enum OwedAck {
    /// The answer waits for the ACK of side `near`; the far side's `offer`
    /// is kept; `cseq` is its INVITE's.
    Waits { near: Side, cseq: u32, offer: Bytes },
    /// The ACK as sent to side `far`, for its 2xx's retransmissions.
    Acked { far: Side, cseq: u32, ack: Bytes },
}

/// A 2xx Tollgate retransmits to a caller until the ACK (RFC 3261 §13.3.1.4).
#[derive(Debug)]
pub(super) struct Unacked {
    pub(super) data: Bytes,
    pub(super) peer: Peer,
    /// The wait before the next retransmission.
    pub(super) interval: Duration,
}

/// What the carriers still on the plan are.
#[derive(Debug, Default)]
pub(super) struct Plan {
    pub(super) carriers: VecDeque<AccountId>,
    /// The current carrier and its gateways still to try.
    pub(super) current: Option<AccountId>,
    pub(super) gateways: VecDeque<EntryId>,
    /// The last failure seen from a carrier: what the caller gets when
    /// every candidate failed.
    pub(super) last_failure: (u16, Cow<'static, str>),
    /// The last RSeq the caller got, whichever gateway's provisional it
    /// was.
    pub(super) caller_rseq: Option<u32>,
}

/// One call.
#[derive(Debug)]
pub(super) struct Call {
    /// The row the API sees, shared with the board (one copy per call);
    /// from ringing on, the board keeps the state and answer time itself.
    pub(super) info: Arc<CallInfo>,
    pub(super) a: Leg,
    /// What every response to the caller's INVITE copies from it, our
    /// To tag included.
    pub(super) a_reply: ResponseHeaders,
    pub(super) a_server: TxId,
    /// The caller's Max-Forwards (at least 1).
    pub(super) a_max_forwards: u8,
    /// The B-leg of the current attempt (a dialog once answered).
    pub(super) b: Option<Leg>,
    pub(super) out: Option<Box<Outgoing>>,
    pub(super) answered: bool,
    /// Channels held on the caller's side (entry or user, account, route).
    pub(super) held: Vec<Scope>,
    /// Channels held on the current gateway and its carrier.
    pub(super) gateway_held: Vec<Scope>,
    /// Where the call may still go; dropped at the answer.
    pub(super) plan: Option<Box<Plan>>,
    /// The offer for the carrier (codec-filtered) and its type.
    pub(super) offer: Option<Box<(String, Bytes)>>,
    /// The caller's restricted codecs: kept out of every SDP between
    /// the legs.
    pub(super) restricted: Box<[String]>,
    pub(super) unacked: Option<Box<Unacked>>,
    /// The caller's INVITE had no offer (a late offer): any 2xx to the
    /// B-leg INVITE brings one.
    pub(super) late_offer: bool,
    /// The CSeq of the B-leg INVITE that was answered (its ACK's).
    pub(super) b_invite_cseq: u32,
    /// What few calls need: forks hung up, an ACK owed with an answer.
    pub(super) rare: Option<Box<Rare>>,
    /// What the current gateway's challenges are answered with.
    pub(super) creds: Option<Box<Credentials>>,
    /// What the caller said of reliable provisional responses.
    pub(super) reliable: Reliable,
    pub(super) max_duration: Duration,
    /// Its deadlines.
    pub(super) timers: Timers,
    /// The deadline its entry in the calls' timer heap is for.
    pub(super) armed: Option<Instant>,
    /// Over a CPS limit, waiting for the budget (the CPS buffer).
    pub(super) waiting: Option<Box<Waiting>>,
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
pub(super) enum Reliable {
    /// Not mentioned: the carrier is not offered them.
    No,
    /// `Supported: 100rel`.
    Supported,
    /// `Require: 100rel`.
    Required,
}

impl Reliable {
    /// What the INVITE `head` says.
    pub(super) fn of(head: &tollgate_sip::Head<'_, '_>) -> Self {
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
    pub(super) fn header(self) -> Option<(&'static str, &'static str)> {
        match self {
            Self::No => None,
            Self::Supported => Some(("Supported", RELIABLE_TAG)),
            Self::Required => Some(("Require", RELIABLE_TAG)),
        }
    }
}

/// A call waiting for CPS budget before it is admitted.
#[derive(Debug)]
pub(super) struct Waiting {
    pub(super) limits: Vec<Limit>,
    /// Refused after this.
    pub(super) until: Instant,
    /// The next 100 Trying to the caller.
    pub(super) next_trying: Instant,
}

impl Call {
    /// The plan, made anew (empty) if the call had dropped it.
    pub(super) fn plan(&mut self) -> &mut Plan {
        self.plan.get_or_insert_with(Box::default)
    }

    /// The caller's RSeq for the current gateway's reliable provisional
    /// `rseq`, from the early dialog of its latest provisional (see
    /// [`Outgoing::caller_rseq`]), remembered for the gateways after it.
    pub(super) fn caller_rseq(&mut self, rseq: u32) -> Option<u32> {
        let last = self.plan().caller_rseq;
        let out = self.out.as_mut()?;
        let fork = out.early.clone()?;
        let caller = out.caller_rseq(rseq, fork, last);
        self.plan().caller_rseq = Some(last.map_or(caller, |l| l.max(caller)));
        Some(caller)
    }

    pub(super) fn deadline(&self) -> Option<Instant> {
        self.timers.next()
    }
}

/// Sends a response to the caller's INVITE: `code`, our To tag, Contact
/// when it establishes or confirms a dialog, `body` with its type.
pub(super) fn respond_a(
    cx: &mut Ctx<'_>,
    call: &Call,
    code: u16,
    reason: &str,
    extra: &[(&str, &str)],
    body: Option<(&str, &[u8])>,
) -> Option<Bytes> {
    let data = response_with(&call.a_reply, code, reason, extra, body)?;
    reply(cx.layer, cx.now, call.a_server, data.clone());
    Some(data)
}

/// What the caller and carrier see of a call's state.
pub(super) fn set_state(call: &mut Call, state: CallState) {
    Arc::make_mut(&mut call.info).state = state;
}

pub(super) fn other_side(side: Side) -> Side {
    match side {
        Side::A => Side::B,
        Side::B => Side::A,
    }
}

pub(super) fn leg_of(call: &Call, side: Side) -> &Leg {
    match side {
        Side::A => &call.a,
        // The B-leg exists whenever a request can come from it.
        Side::B => call.b.as_ref().unwrap_or(&call.a),
    }
}

pub(super) fn leg_mut(call: &mut Call, side: Side) -> Option<&mut Leg> {
    match side {
        Side::A => Some(&mut call.a),
        Side::B => call.b.as_mut(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A held call is its `Call` and two `Leg`s inline, plus their texts:
    /// 100,000 of them have to fit in a few hundred megabytes. A field
    /// added inline (rather than boxed, for what only some calls need)
    /// shows here first. The timer table (five deadlines inline, one
    /// per kind, instead of three of them in boxes) costs 56 bytes.
    #[test]
    fn a_held_call_stays_small() {
        let (call, leg) = (std::mem::size_of::<Call>(), std::mem::size_of::<Leg>());
        assert!(call <= 464, "Call is {call} bytes");
        assert!(leg <= 96, "Leg is {leg} bytes");
    }
}
