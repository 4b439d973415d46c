//! Non-INVITE client transaction (RFC 3261 §17.1.2).
//!
//! ```text
//!   send ─► Trying ─1xx─► Proceeding ─final─► Completed ──K──► Terminated
//!             │ E: resend, T1 doubling to T2 (UDP); T2 in Proceeding
//!             └──F──► Terminated (TimedOut event)
//! ```

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{Event, Out, Peer, TimerConfig, TxId};

#[derive(Debug)]
enum State {
    Trying,
    Proceeding,
    Completed { until: Instant },
    Terminated,
}

/// One non-INVITE client transaction.
#[derive(Debug)]
pub(crate) struct NonInviteClient {
    id: TxId,
    peer: Peer,
    request: Bytes,
    config: TimerConfig,
    state: State,
    resend_at: Option<Instant>,
    interval: Duration,
    give_up_at: Instant,
}

impl NonInviteClient {
    /// Starts the transaction and sends the request.
    pub(crate) fn start(
        id: TxId,
        peer: Peer,
        request: Bytes,
        config: TimerConfig,
        now: Instant,
        out: &mut Out<'_>,
    ) -> Self {
        out.send(peer, request.clone());
        let reliable = peer.transport.is_reliable();
        Self {
            id,
            peer,
            request,
            config,
            state: State::Trying,
            resend_at: (!reliable).then(|| now + config.t1),
            interval: config.t1,
            give_up_at: now + config.timeout(),
        }
    }

    pub(crate) fn deadline(&self) -> Option<Instant> {
        match self.state {
            State::Trying | State::Proceeding => Some(
                self.resend_at
                    .map_or(self.give_up_at, |r| r.min(self.give_up_at)),
            ),
            State::Completed { until } => Some(until),
            State::Terminated => None,
        }
    }

    pub(crate) fn is_terminated(&self) -> bool {
        matches!(self.state, State::Terminated)
    }

    /// True while no final response has arrived.
    pub(crate) fn awaits_final(&self) -> bool {
        matches!(self.state, State::Trying | State::Proceeding)
    }

    pub(crate) fn on_response(&mut self, now: Instant, code: u16, data: Bytes, out: &mut Out<'_>) {
        match (&self.state, code) {
            (State::Trying | State::Proceeding, 100..=199) => self.state = State::Proceeding,
            (State::Trying | State::Proceeding, 200..=699) => {
                // Never resent from here on; Completed may last T4.
                self.request = Bytes::new();
                let k = self.config.linger(self.peer.transport.is_reliable());
                self.state = if k.is_zero() {
                    State::Terminated
                } else {
                    State::Completed { until: now + k }
                };
            }
            _ => return,
        }
        out.event(Event::Response { id: self.id, data });
    }

    pub(crate) fn on_timer(&mut self, now: Instant, out: &mut Out<'_>) {
        match self.state {
            State::Trying | State::Proceeding if self.give_up_at <= now => {
                self.state = State::Terminated;
                out.event(Event::TimedOut { id: self.id });
            }
            State::Trying | State::Proceeding if self.resend_at.is_some_and(|at| at <= now) => {
                out.send(self.peer, self.request.clone());
                // Timer E: doubling up to T2, and T2 once a provisional
                // response has arrived (RFC 3261 §17.1.2.2).
                self.interval = match self.state {
                    State::Proceeding => self.config.t2,
                    _ => self.config.backoff(self.interval),
                };
                self.resend_at = Some(now + self.interval);
            }
            State::Completed { until } if until <= now => self.state = State::Terminated,
            _ => {}
        }
    }
}
