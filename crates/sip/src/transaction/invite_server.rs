//! INVITE server transaction (RFC 3261 §17.2.1, with the RFC 6026
//! Accepted state).
//!
//! ```text
//!              INVITE received: Proceeding (100 Trying after 200 ms)
//!     1xx from core │ send                2xx from core
//!                   ▼                    ──────────────► Accepted ──L──► Terminated
//!              Proceeding ─ 300-699 from core ─► Completed ──ACK──► Confirmed ──I──► Terminated
//!                                               │  G: resend final (UDP)
//!                                               └──H──► Terminated (no ACK: TimedOut event)
//! ```

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{Event, Out, Peer, TimerConfig, TxError, TxId};
use crate::builder::MessageBuilder;
use crate::parse::parse_datagram;

#[derive(Debug)]
enum State {
    Proceeding {
        trying_at: Option<Instant>,
    },
    Completed {
        resend_at: Option<Instant>,
        interval: Duration,
        give_up_at: Instant,
    },
    Accepted {
        until: Instant,
    },
    Confirmed {
        until: Instant,
    },
    Terminated,
}

/// One INVITE server transaction.
#[derive(Debug)]
pub(crate) struct InviteServer {
    id: TxId,
    reply_to: Peer,
    request: Bytes,
    config: TimerConfig,
    state: State,
    last_response: Option<Bytes>,
}

impl InviteServer {
    pub(crate) fn new(
        id: TxId,
        reply_to: Peer,
        request: Bytes,
        config: TimerConfig,
        now: Instant,
    ) -> Self {
        Self {
            id,
            reply_to,
            request,
            config,
            state: State::Proceeding {
                trying_at: Some(now + config.trying_after),
            },
            last_response: None,
        }
    }

    /// Where this transaction's responses go.
    pub(crate) fn reply_to(&self) -> Peer {
        self.reply_to
    }

    pub(crate) fn deadline(&self) -> Option<Instant> {
        match self.state {
            State::Proceeding { trying_at } => trying_at,
            State::Completed {
                resend_at,
                give_up_at,
                ..
            } => Some(resend_at.map_or(give_up_at, |r| r.min(give_up_at))),
            State::Accepted { until } | State::Confirmed { until } => Some(until),
            State::Terminated => None,
        }
    }

    pub(crate) fn is_terminated(&self) -> bool {
        matches!(self.state, State::Terminated)
    }

    /// True while no final response has been sent.
    pub(crate) fn awaits_final(&self) -> bool {
        matches!(self.state, State::Proceeding { .. })
    }

    /// True until a final response is sent: a CANCEL still has an effect.
    pub(crate) fn is_proceeding(&self) -> bool {
        matches!(self.state, State::Proceeding { .. })
    }

    /// A retransmitted INVITE: repeat the last provisional or final
    /// response (RFC 3261 §17.2.1).
    pub(crate) fn on_retransmission(&mut self, out: &mut Out<'_>) {
        if let (State::Proceeding { .. } | State::Completed { .. }, Some(last)) =
            (&self.state, &self.last_response)
        {
            out.send(self.reply_to, last.clone());
        }
    }

    /// The ACK for a non-2xx final response.
    pub(crate) fn on_ack(&mut self, now: Instant) {
        if let State::Completed { .. } = self.state {
            let linger = self.config.linger(self.reply_to.transport.is_reliable());
            self.state = if linger.is_zero() {
                State::Terminated
            } else {
                State::Confirmed {
                    until: now + linger,
                }
            };
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
            (State::Proceeding { .. }, 100..=199) => {
                self.state = State::Proceeding { trying_at: None };
            }
            (State::Proceeding { .. }, 200..=299) => {
                // RFC 6026: the core retransmits its 2xx; the transaction
                // only lingers (Timer L) to absorb INVITE retransmissions.
                self.state = State::Accepted {
                    until: now + self.config.timeout(),
                };
            }
            // A 2xx retransmission by the core, or a 2xx of another fork.
            (State::Accepted { .. }, 200..=299) => {}
            (State::Proceeding { .. }, 300..=699) => {
                let reliable = self.reply_to.transport.is_reliable();
                self.state = State::Completed {
                    resend_at: (!reliable).then(|| now + self.config.t1),
                    interval: self.config.t1,
                    give_up_at: now + self.config.timeout(),
                };
            }
            _ => return Err(TxError::InvalidState),
        }
        if code >= 200 {
            // Lingering transactions are many (one per call for 32 s on
            // UDP): keep only what the remaining states use.
            self.request = Bytes::new();
        }
        // Accepted repeats nothing: the core retransmits its own 2xx.
        self.last_response = (!matches!(self.state, State::Accepted { .. })).then(|| data.clone());
        out.send(self.reply_to, data);
        Ok(())
    }

    pub(crate) fn on_timer(&mut self, now: Instant, out: &mut Out<'_>) {
        match self.state {
            State::Proceeding {
                trying_at: Some(at),
            } if at <= now => {
                self.state = State::Proceeding { trying_at: None };
                // Built from the request as stamped on arrival.
                if let Some(trying) = trying_for(&self.request) {
                    self.last_response = Some(trying.clone());
                    out.send(self.reply_to, trying);
                }
            }
            State::Completed { give_up_at, .. } if give_up_at <= now => {
                self.state = State::Terminated;
                out.event(Event::TimedOut { id: self.id });
            }
            State::Completed {
                resend_at: Some(at),
                interval,
                give_up_at,
            } if at <= now => {
                if let Some(last) = &self.last_response {
                    out.send(self.reply_to, last.clone());
                }
                let interval = self.config.backoff(interval);
                self.state = State::Completed {
                    resend_at: Some(now + interval),
                    interval,
                    give_up_at,
                };
            }
            State::Accepted { until } | State::Confirmed { until } if until <= now => {
                self.state = State::Terminated;
            }
            _ => {}
        }
    }
}

/// 100 Trying for a request, built from its own headers.
fn trying_for(request: &[u8]) -> Option<Bytes> {
    let mut headers = crate::header_array();
    let msg = parse_datagram(request, &mut headers).ok()?;
    MessageBuilder::response_to(&msg.head, 100, "Trying", None)
        .build()
        .ok()
        .map(Bytes::from)
}
