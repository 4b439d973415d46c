//! INVITE client transaction (RFC 3261 §17.1.1, with the RFC 6026
//! Accepted state).
//!
//! ```text
//!   send ─► Calling ─1xx─► Proceeding ─2xx─► Accepted ──M──► Terminated
//!             │ A: resend (UDP)   │              (2xx retransmissions go to the core)
//!             │                   └─300-699─► Completed (ACK sent) ──D──► Terminated
//!             └──B──► Terminated (TimedOut event)
//! ```

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{Event, Out, Peer, TimerConfig, TxId};
use crate::builder::MessageBuilder;
use crate::header::HeaderKind;
use crate::method::Method;
use crate::parse::parse_datagram;

#[derive(Debug)]
enum State {
    Calling {
        resend_at: Option<Instant>,
        interval: Duration,
        give_up_at: Instant,
    },
    Proceeding,
    Completed {
        until: Instant,
    },
    Accepted {
        until: Instant,
    },
    Terminated,
}

/// One INVITE client transaction.
#[derive(Debug)]
pub(crate) struct InviteClient {
    id: TxId,
    peer: Peer,
    request: Bytes,
    config: TimerConfig,
    state: State,
    ack: Option<Bytes>,
}

impl InviteClient {
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
            state: State::Calling {
                resend_at: (!reliable).then(|| now + config.t1),
                interval: config.t1,
                give_up_at: now + config.timeout(),
            },
            ack: None,
        }
    }

    pub(crate) fn deadline(&self) -> Option<Instant> {
        match self.state {
            State::Calling {
                resend_at,
                give_up_at,
                ..
            } => Some(resend_at.map_or(give_up_at, |r| r.min(give_up_at))),
            State::Completed { until } | State::Accepted { until } => Some(until),
            State::Proceeding | State::Terminated => None,
        }
    }

    pub(crate) fn is_terminated(&self) -> bool {
        matches!(self.state, State::Terminated)
    }

    /// True while no final response has arrived.
    pub(crate) fn awaits_final(&self) -> bool {
        matches!(self.state, State::Calling { .. } | State::Proceeding)
    }

    pub(crate) fn on_response(&mut self, now: Instant, code: u16, data: Bytes, out: &mut Out<'_>) {
        match (&self.state, code) {
            (State::Calling { .. } | State::Proceeding, 100..=199) => {
                self.state = State::Proceeding;
            }
            (State::Calling { .. } | State::Proceeding | State::Accepted { .. }, 200..=299) => {
                if !matches!(self.state, State::Accepted { .. }) {
                    self.state = State::Accepted {
                        until: now + self.config.timeout(),
                    };
                }
            }
            (State::Calling { .. } | State::Proceeding, 300..=699) => {
                self.ack = ack_for(&self.request, &data);
                if let Some(ack) = &self.ack {
                    out.send(self.peer, ack.clone());
                }
                let d = self.config.timer_d(self.peer.transport.is_reliable());
                self.state = if d.is_zero() {
                    State::Terminated
                } else {
                    State::Completed { until: now + d }
                };
            }
            (State::Completed { .. }, 300..=699) => {
                // A retransmitted final response: the ACK was lost.
                if let Some(ack) = &self.ack {
                    out.send(self.peer, ack.clone());
                }
                return;
            }
            _ => return,
        }
        if code >= 200 {
            // Lingering transactions are many: the request is never resent
            // once a final response has arrived.
            self.request = Bytes::new();
        }
        out.event(Event::Response { id: self.id, data });
    }

    pub(crate) fn on_timer(&mut self, now: Instant, out: &mut Out<'_>) {
        match self.state {
            State::Calling { give_up_at, .. } if give_up_at <= now => {
                self.state = State::Terminated;
                out.event(Event::TimedOut { id: self.id });
            }
            State::Calling {
                resend_at: Some(at),
                interval,
                give_up_at,
            } if at <= now => {
                out.send(self.peer, self.request.clone());
                // Timer A doubles without the T2 cap (RFC 3261 §17.1.1.2).
                let interval = interval * 2;
                self.state = State::Calling {
                    resend_at: Some(now + interval),
                    interval,
                    give_up_at,
                };
            }
            State::Completed { until } | State::Accepted { until } if until <= now => {
                self.state = State::Terminated;
            }
            _ => {}
        }
    }
}

/// The ACK for a non-2xx final response (RFC 3261 §17.1.1.3): Request-URI,
/// Call-ID, From, CSeq number, top Via and Route of the INVITE; To of the
/// response.
fn ack_for(request: &[u8], response: &[u8]) -> Option<Bytes> {
    let mut req_headers = crate::header_array();
    let req = parse_datagram(request, &mut req_headers).ok()?.head;
    let mut resp_headers = crate::header_array();
    let resp = parse_datagram(response, &mut resp_headers).ok()?.head;
    let uri = req.request_line()?.uri;
    let seq = req.cseq().ok()?.seq;
    let mut b = MessageBuilder::request(Method::Ack, uri).header(
        "Via",
        req.value(HeaderKind::Via)?.split(|&c| c == b',').next()?,
    );
    for route in req.values(HeaderKind::Route) {
        b = b.header("Route", route);
    }
    b.header("From", req.value(HeaderKind::From)?)
        .header("To", resp.value(HeaderKind::To)?)
        .header("Call-ID", req.value(HeaderKind::CallId)?)
        .header("CSeq", format!("{seq} ACK"))
        .header("Max-Forwards", "70")
        .build()
        .ok()
        .map(Bytes::from)
}
