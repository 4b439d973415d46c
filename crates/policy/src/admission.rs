//! Admission: the live counters behind channel (concurrent call) and CPS
//! (calls per second) limits.
//!
//! A call is admitted only when every scope it touches has room: the
//! identified IP entry or SIP user, its account, the route and, when the
//! B-leg is sent, the carrier gateway. Channels are held from the INVITE
//! until the call ends by any path; CPS is a token bucket per scope whose
//! capacity is one second's worth of calls. A limit of 0 means unlimited
//! and costs nothing. Time is passed in (milliseconds), so tests run on a
//! simulated clock.

use std::collections::HashMap;

use crate::model::{AccountId, EntryId, RouteId, UserId};

/// What a limit applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    /// An IP authentication entry (the caller's switch).
    Entry(EntryId),
    /// A SIP user.
    User(UserId),
    /// A customer or carrier account.
    Account(AccountId),
    /// A route.
    Route(RouteId),
    /// A carrier gateway (an ingress entry), counted apart from the same
    /// entry's use as a caller.
    Gateway(EntryId),
}

/// The limits of one scope; 0 = unlimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    /// Whose limit.
    pub scope: Scope,
    /// Concurrent calls.
    pub channels: u32,
    /// Calls per second.
    pub cps: u32,
}

/// Which limit refused a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Breach {
    /// Every channel of this scope is in use.
    Channels(Scope),
    /// This scope's calls-per-second budget is spent.
    Cps(Scope),
}

/// A token bucket: `tokens` at `at_ms`, refilled at `cps` per second up to
/// `cps`.
#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    at_ms: u64,
}

impl Bucket {
    fn full(cps: u32, now_ms: u64) -> Self {
        Self {
            tokens: f64::from(cps),
            at_ms: now_ms,
        }
    }

    /// The tokens available at `now_ms`.
    fn level(&self, cps: u32, now_ms: u64) -> f64 {
        let elapsed = now_ms.saturating_sub(self.at_ms) as f64 / 1000.0;
        (self.tokens + elapsed * f64::from(cps)).min(f64::from(cps))
    }
}

/// Channel counters and CPS buckets. Owned by the one task that handles
/// calls, so it needs no lock.
#[derive(Debug, Default)]
pub struct Admission {
    channels: HashMap<Scope, u32>,
    buckets: HashMap<Scope, Bucket>,
}

impl Admission {
    /// An empty set of counters.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether a call could be admitted under `limits` at `now_ms`, without
    /// taking anything.
    pub fn check(&self, limits: &[Limit], now_ms: u64) -> Result<(), Breach> {
        for l in limits {
            if l.channels > 0 && self.in_use(l.scope) >= l.channels {
                return Err(Breach::Channels(l.scope));
            }
        }
        for l in limits.iter().filter(|l| l.cps > 0) {
            let level = self
                .buckets
                .get(&l.scope)
                .map_or(f64::from(l.cps), |b| b.level(l.cps, now_ms));
            if level < 1.0 {
                return Err(Breach::Cps(l.scope));
            }
        }
        Ok(())
    }

    /// Admits a call under `limits`: all or nothing. On success one channel
    /// of every scope is held (release it with [`Admission::release`]) and
    /// one token of every CPS-limited scope is spent.
    pub fn admit(&mut self, limits: &[Limit], now_ms: u64) -> Result<(), Breach> {
        self.check(limits, now_ms)?;
        for l in limits {
            *self.channels.entry(l.scope).or_default() += 1;
            if l.cps > 0 {
                let bucket = self
                    .buckets
                    .entry(l.scope)
                    .or_insert_with(|| Bucket::full(l.cps, now_ms));
                bucket.tokens = bucket.level(l.cps, now_ms) - 1.0;
                bucket.at_ms = now_ms;
            }
        }
        Ok(())
    }

    /// Gives back the channels a call held on `scopes`.
    pub fn release(&mut self, scopes: impl IntoIterator<Item = Scope>) {
        for scope in scopes {
            if let Some(n) = self.channels.get_mut(&scope) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.channels.remove(&scope);
                }
            }
        }
    }

    /// Channels in use on `scope`.
    pub fn in_use(&self, scope: Scope) -> u32 {
        self.channels.get(&scope).copied().unwrap_or(0)
    }

    /// Channels in use on every scope that has any.
    pub fn usage(&self) -> impl Iterator<Item = (Scope, u32)> + '_ {
        self.channels.iter().map(|(s, n)| (*s, *n))
    }

    /// Forgets buckets that have been full for a while, so scopes that
    /// stopped calling cost no memory. Call it now and then.
    pub fn sweep(&mut self, now_ms: u64) {
        self.buckets
            .retain(|_, b| now_ms.saturating_sub(b.at_ms) < 60_000);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENTRY: Scope = Scope::Entry(1);
    const ACCOUNT: Scope = Scope::Account(1);

    fn limits(channels: u32, cps: u32) -> [Limit; 2] {
        [
            Limit {
                scope: ENTRY,
                channels,
                cps,
            },
            Limit {
                scope: ACCOUNT,
                channels: 0,
                cps: 0,
            },
        ]
    }

    #[test]
    fn channels_are_held_until_released() {
        let mut a = Admission::new();
        for _ in 0..5 {
            a.admit(&limits(5, 0), 0).unwrap();
        }
        assert_eq!(a.admit(&limits(5, 0), 0), Err(Breach::Channels(ENTRY)));
        assert_eq!(a.in_use(ACCOUNT), 5, "a refused call takes nothing");
        a.release([ENTRY, ACCOUNT]);
        a.admit(&limits(5, 0), 0).unwrap();
        for _ in 0..5 {
            a.release([ENTRY, ACCOUNT]);
        }
        assert_eq!(a.usage().count(), 0, "every counter back to zero");
    }

    #[test]
    fn a_full_account_refuses_even_when_the_entry_has_room() {
        let mut a = Admission::new();
        let l = [
            Limit {
                scope: ENTRY,
                channels: 10,
                cps: 0,
            },
            Limit {
                scope: ACCOUNT,
                channels: 1,
                cps: 0,
            },
        ];
        a.admit(&l, 0).unwrap();
        assert_eq!(a.admit(&l, 0), Err(Breach::Channels(ACCOUNT)));
        assert_eq!(a.in_use(ENTRY), 1);
    }

    #[test]
    fn cps_bucket_admits_one_second_worth_then_refills() {
        let mut a = Admission::new();
        let admitted = (0..30)
            .filter(|i| a.admit(&limits(0, 10), i * 3).is_ok())
            .count();
        assert_eq!(admitted, 10, "a burst of 30 within 90 ms admits 10");
        assert_eq!(a.admit(&limits(0, 10), 100), Err(Breach::Cps(ENTRY)));
        a.admit(&limits(0, 10), 200).unwrap();
        // After a quiet second the bucket is full again, no fuller.
        let later = (0..30)
            .filter(|_| a.admit(&limits(0, 10), 5_000).is_ok())
            .count();
        assert_eq!(later, 10);
    }

    #[test]
    fn zero_means_unlimited() {
        let mut a = Admission::new();
        for _ in 0..10_000 {
            a.admit(&limits(0, 0), 0).unwrap();
        }
        assert_eq!(a.in_use(ENTRY), 10_000);
    }
}
