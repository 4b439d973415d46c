//! The calls' own timers, next to the transaction layer's: each call's
//! deadlines, one heap entry per call at its earliest, and the rounds of
//! gateway probes. The driver asks [`Calls::poll_timeout`] when to wake and
//! calls [`Calls::handle_timeout`] on every wake-up.

use std::cmp::Reverse;
use std::time::{Duration, Instant};

use tollgate_policy::SharedSnapshot;
use tollgate_sip::transaction::TransactionLayer;

use super::call::*;
use super::{Calls, Ctx};
use crate::Now;

impl Calls {
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

    /// Runs the call's first due timer; a call with another one due comes
    /// round again in the same [`Calls::handle_timeout`] pass.
    fn on_call_timer(&mut self, cx: &mut Ctx<'_>, id: u64, mut call: Box<Call>) {
        match call.timers.expire(cx.now) {
            Some(Timer::MaxDuration) => self.hang_up(cx, call, "max_duration"),
            Some(Timer::Admission) if call.waiting.is_some() => self.retry_admission(cx, id, call),
            // The caller never acknowledged the answer: the call cannot
            // work, end both legs.
            Some(Timer::AckGiveUp) if call.unacked.is_some() => self.hang_up(cx, call, "no_ack"),
            Some(Timer::Retransmit) => {
                if let Some(u) = &mut call.unacked {
                    cx.layer.respond_stateless(u.peer, u.data.clone());
                    u.interval = (u.interval * 2).min(self.config.timers.t2);
                    call.timers.set(Timer::Retransmit, cx.now + u.interval);
                }
                self.keep(id, call);
            }
            Some(Timer::Reply) if call.out.is_some() => {
                // First reply, PDD or ring timeout: fail over like a 408. A
                // gateway that said nothing at all is taken for down.
                if call.out.as_ref().is_some_and(|o| !o.replied) {
                    self.gateway_silent(&call, cx.now);
                }
                self.abandon_attempt(cx, &mut call);
                call.plan().last_failure = (408, "Request Timeout".into());
                self.next_attempt(cx, id, call);
            }
            // Nothing due, or a timer whose state is gone.
            _ => self.keep(id, call),
        }
    }
}

/// The deadlines a call can have, in the order they are run when several
/// fall due at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Timer {
    /// The route's (or the server's) maximum duration of an answered call.
    MaxDuration,
    /// A call waiting for CPS budget tries admission again.
    Admission,
    /// The side that sent the INVITE (the caller, or either side for a
    /// relayed re-INVITE) never ACKed its 2xx: 64·T1 after it was first sent.
    AckGiveUp,
    /// That 2xx goes again (T1, doubling up to T2) until the ACK.
    Retransmit,
    /// The B-leg INVITE's wait: first reply, then PDD, then ring.
    Reply,
}

impl Timer {
    const ALL: [Self; 5] = [
        Self::MaxDuration,
        Self::Admission,
        Self::AckGiveUp,
        Self::Retransmit,
        Self::Reply,
    ];
}

/// One call's deadlines, a slot per [`Timer`].
#[derive(Debug, Default)]
pub(super) struct Timers([Option<Instant>; Timer::ALL.len()]);

impl Timers {
    /// Sets `timer` to fire at `at`.
    pub(super) fn set(&mut self, timer: Timer, at: Instant) {
        self.0[timer as usize] = Some(at);
    }

    /// Stops `timer`.
    pub(super) fn stop(&mut self, timer: Timer) {
        self.0[timer as usize] = None;
    }

    /// The earliest deadline.
    pub(super) fn next(&self) -> Option<Instant> {
        self.0.iter().flatten().min().copied()
    }

    /// The first timer (in [`Timer`] order) due at `now`, stopped.
    fn expire(&mut self, now: Instant) -> Option<Timer> {
        let timer = Timer::ALL
            .into_iter()
            .find(|&t| self.0[t as usize].is_some_and(|at| at <= now))?;
        self.stop(timer);
        Some(timer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_timers_expire_one_at_a_time_in_their_order() {
        let start = Instant::now();
        let ms = |n| start + Duration::from_millis(n);
        let mut timers = Timers::default();
        assert_eq!((timers.next(), timers.expire(ms(1_000))), (None, None));
        timers.set(Timer::Reply, ms(30));
        timers.set(Timer::Retransmit, ms(20));
        timers.set(Timer::MaxDuration, ms(50));
        assert_eq!(timers.next(), Some(ms(20)));
        assert_eq!(timers.expire(ms(19)), None);
        // Both due: the 2xx retransmission first, then the reply timer.
        assert_eq!(timers.expire(ms(40)), Some(Timer::Retransmit));
        assert_eq!(timers.expire(ms(40)), Some(Timer::Reply));
        assert_eq!(timers.expire(ms(40)), None);
        timers.stop(Timer::MaxDuration);
        assert_eq!(timers.next(), None);
    }
}
