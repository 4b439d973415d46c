//! Non-INVITE server transaction (RFC 3261 §17.2.2).
//!
//! ```text
//!   request ─► Trying ─1xx─► Proceeding ─final─► Completed ──J──► Terminated
//!                 └──────────── final ─────────────┘  (retransmitted requests
//!                                                       get the last response)
//! ```

use std::time::Instant;

use bytes::Bytes;

use super::{Out, Peer, TimerConfig, TxError};

#[derive(Debug)]
enum State {
    Trying,
    Proceeding,
    Completed { until: Instant },
    Terminated,
}

/// One non-INVITE server transaction.
#[derive(Debug)]
pub(crate) struct NonInviteServer {
    reply_to: Peer,
    config: TimerConfig,
    state: State,
    last_response: Option<Bytes>,
}

impl NonInviteServer {
    pub(crate) fn new(reply_to: Peer, config: TimerConfig) -> Self {
        Self {
            reply_to,
            config,
            state: State::Trying,
            last_response: None,
        }
    }

    /// Where this transaction's responses go.
    pub(crate) fn reply_to(&self) -> Peer {
        self.reply_to
    }

    pub(crate) fn deadline(&self) -> Option<Instant> {
        match self.state {
            State::Completed { until } => Some(until),
            _ => None,
        }
    }

    pub(crate) fn is_terminated(&self) -> bool {
        matches!(self.state, State::Terminated)
    }

    /// True while no final response has been sent.
    pub(crate) fn awaits_final(&self) -> bool {
        matches!(self.state, State::Trying | State::Proceeding)
    }

    /// A retransmitted request: repeat the last response, if any.
    pub(crate) fn on_retransmission(&mut self, out: &mut Out<'_>) {
        if let (State::Proceeding | State::Completed { .. }, Some(last)) =
            (&self.state, &self.last_response)
        {
            out.send(self.reply_to, last.clone());
        }
    }

    pub(crate) fn respond(
        &mut self,
        now: Instant,
        code: u16,
        data: Bytes,
        out: &mut Out<'_>,
    ) -> Result<(), TxError> {
        match (&self.state, code) {
            (State::Trying | State::Proceeding, 100..=199) => self.state = State::Proceeding,
            (State::Trying | State::Proceeding, 200..=699) => {
                let j = self.config.timer_j(self.reply_to.transport.is_reliable());
                self.state = if j.is_zero() {
                    State::Terminated
                } else {
                    State::Completed { until: now + j }
                };
            }
            _ => return Err(TxError::InvalidState),
        }
        self.last_response = Some(data.clone());
        out.send(self.reply_to, data);
        Ok(())
    }

    pub(crate) fn on_timer(&mut self, now: Instant) {
        if matches!(self.state, State::Completed { until } if until <= now) {
            self.state = State::Terminated;
        }
    }
}
