//! RFC 3261 §17 timer values, derived from T1, T2 and T4.

use std::time::Duration;

/// The base timer values and the limits of the transaction layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerConfig {
    /// T1, the round-trip estimate (RFC 3261 default 500 ms).
    pub t1: Duration,
    /// T2, the longest retransmit interval for non-INVITE requests and
    /// INVITE responses (default 4 s).
    pub t2: Duration,
    /// T4, how long a message may remain in the network (default 5 s).
    pub t4: Duration,
    /// How long an INVITE server transaction waits for the core's first
    /// response before sending 100 Trying itself (RFC 3261 §17.2.1: 200 ms).
    pub trying_after: Duration,
}

impl Default for TimerConfig {
    fn default() -> Self {
        Self {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
            trying_after: Duration::from_millis(200),
        }
    }
}

impl TimerConfig {
    /// 64·T1: the transaction timeout (timers B, F, H, J, L, M).
    pub fn timeout(&self) -> Duration {
        self.t1 * 64
    }

    /// Timer D: how long a client INVITE transaction absorbs retransmitted
    /// final responses (at least 32 s on unreliable transports, 0 otherwise).
    pub fn timer_d(&self, reliable: bool) -> Duration {
        if reliable {
            Duration::ZERO
        } else {
            self.timeout().max(Duration::from_secs(32))
        }
    }

    /// Timers I and K: T4 on unreliable transports, 0 otherwise.
    pub fn linger(&self, reliable: bool) -> Duration {
        if reliable { Duration::ZERO } else { self.t4 }
    }

    /// Timer J: 64·T1 on unreliable transports, 0 otherwise.
    pub fn timer_j(&self, reliable: bool) -> Duration {
        if reliable {
            Duration::ZERO
        } else {
            self.timeout()
        }
    }

    /// The next retransmit interval after `current`, doubling up to T2
    /// (timers E and G).
    pub fn backoff(&self, current: Duration) -> Duration {
        (current * 2).min(self.t2)
    }
}
