//! Threat detection: counting what each source address does wrong, in
//! fixed memory, and deciding when to block it.
//!
//! Counts live in count-min sketches (a few rows of counters indexed by
//! independent hashes of the address): memory does not grow with the
//! number of sources, so a spoofed-source flood cannot exhaust it, and a
//! count can only be over-estimated, never missed. Each signal has its own
//! sketch and threshold per window; windows roll over by time.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::net::IpAddr;
use std::sync::Mutex;

/// What a source did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Signal {
    /// A digest attempt that failed (wrong password, unknown user, forged
    /// or replayed nonce, whitelist miss).
    AuthFailure,
    /// A request challenged with 407 (a stranger that never authenticates
    /// keeps collecting these).
    Challenged,
    /// Any request (flood detection).
    Request,
    /// A User-Agent of a known SIP scanner.
    Scanner,
}

/// Thresholds and durations (the `[firewall]` configuration).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThreatConfig {
    /// Detection on or off.
    pub enabled: bool,
    /// Failed digest attempts per window that block.
    pub auth_failures: u32,
    /// 407 challenges per window that block (strangers that never log in).
    pub challenges: u32,
    /// Requests per second that count as a flood.
    pub requests_per_second: u32,
    /// Window of the failure counters, seconds.
    pub window_s: u64,
    /// First block, seconds; doubled for each repeat up to the maximum.
    pub block_s: u64,
    /// Longest block, seconds.
    pub max_block_s: u64,
}

impl Default for ThreatConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            auth_failures: 20,
            challenges: 200,
            requests_per_second: 500,
            window_s: 60,
            block_s: 3600,
            max_block_s: 86_400,
        }
    }
}

/// A decision to block an address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockDecision {
    /// The address.
    pub address: IpAddr,
    /// Why, with the count: recorded with the block.
    pub reason: String,
    /// For how long.
    pub duration_s: u64,
}

/// User-Agent fragments of well-known SIP scanners (lowercase).
const SCANNERS: &[&str] = &[
    "friendly-scanner",
    "sipvicious",
    "sipcli",
    "vaxsipuseragent",
    "sip-scan",
    "sipsak",
    "sundayddr",
    "iwar",
    "pplsip",
    "smap",
];

/// True when `user_agent` names a known scanner.
pub fn is_scanner(user_agent: &[u8]) -> bool {
    let ua = String::from_utf8_lossy(user_agent).to_ascii_lowercase();
    SCANNERS.iter().any(|s| ua.contains(s))
}

const DEPTH: usize = 4;
const WIDTH: usize = 4096;

/// One count-min sketch with a time window.
#[derive(Debug)]
struct Sketch {
    counters: Vec<u32>,
    window_start: u64,
}

impl Sketch {
    fn new() -> Self {
        Self {
            counters: vec![0; DEPTH * WIDTH],
            window_start: 0,
        }
    }

    /// Adds one for `key` at `now` (a new window clears the counts) and
    /// returns the estimate.
    fn add(
        &mut self,
        seeds: &[std::hash::RandomState; DEPTH],
        key: IpAddr,
        now: u64,
        window: u64,
    ) -> u32 {
        if now >= self.window_start + window {
            self.counters.iter_mut().for_each(|c| *c = 0);
            self.window_start = now;
        }
        let mut estimate = u32::MAX;
        for (row, seed) in seeds.iter().enumerate() {
            let mut h = seed.build_hasher();
            match key {
                IpAddr::V4(v4) => h.write(&v4.octets()),
                IpAddr::V6(v6) => h.write(&v6.octets()),
            }
            let slot = row * WIDTH + (h.finish() as usize % WIDTH);
            self.counters[slot] = self.counters[slot].saturating_add(1);
            estimate = estimate.min(self.counters[slot]);
        }
        estimate
    }
}

/// Counts signals per source and decides blocks. Thread-safe; the lock is
/// held for a few counter updates only.
#[derive(Debug)]
pub struct ThreatDetector {
    config: ThreatConfig,
    seeds: [std::hash::RandomState; DEPTH],
    sketches: Mutex<HashMap<Signal, Sketch>>,
    /// How often each address was blocked, for doubling (bounded: only
    /// blocked addresses enter it, and it is cleared when it grows large).
    offences: Mutex<HashMap<IpAddr, u32>>,
}

impl ThreatDetector {
    /// A detector with `config`.
    pub fn new(config: ThreatConfig) -> Self {
        Self {
            config,
            seeds: std::array::from_fn(|_| std::hash::RandomState::new()),
            sketches: Mutex::new(HashMap::new()),
            offences: Mutex::new(HashMap::new()),
        }
    }

    /// Records `signal` from `address` at `now` (Unix seconds). Returns a
    /// block when a threshold is crossed; the caller has already excluded
    /// trusted addresses and those of enabled IP entries.
    pub fn observe(&self, address: IpAddr, signal: Signal, now: u64) -> Option<BlockDecision> {
        if !self.config.enabled {
            return None;
        }
        let (limit, window, what) = match signal {
            Signal::AuthFailure => (
                self.config.auth_failures,
                self.config.window_s,
                "failed digest attempts",
            ),
            Signal::Challenged => (
                self.config.challenges,
                self.config.window_s,
                "unanswered challenges",
            ),
            Signal::Request => (self.config.requests_per_second, 1, "requests in one second"),
            Signal::Scanner => (1, self.config.window_s, "requests from a SIP scanner"),
        };
        let count = {
            let mut sketches = self
                .sketches
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            sketches.entry(signal).or_insert_with(Sketch::new).add(
                &self.seeds,
                address,
                now,
                window,
            )
        };
        // Trigger once, when the count reaches the limit.
        (count == limit).then(|| self.block(address, format!("{count} {what}")))
    }

    fn block(&self, address: IpAddr, reason: String) -> BlockDecision {
        let mut offences = self
            .offences
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if offences.len() > 100_000 {
            offences.clear();
        }
        let n = offences.entry(address).or_insert(0);
        let duration_s = self
            .config
            .block_s
            .saturating_mul(1u64 << (*n).min(20))
            .min(self.config.max_block_s);
        *n += 1;
        BlockDecision {
            address,
            reason,
            duration_s,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn twenty_failures_block_once() {
        let d = ThreatDetector::new(ThreatConfig::default());
        for i in 1..20 {
            assert_eq!(
                d.observe(ip("192.0.2.1"), Signal::AuthFailure, 1000),
                None,
                "{i}"
            );
        }
        let block = d
            .observe(ip("192.0.2.1"), Signal::AuthFailure, 1000)
            .unwrap();
        assert_eq!(block.reason, "20 failed digest attempts");
        assert_eq!(block.duration_s, 3600);
        assert_eq!(
            d.observe(ip("192.0.2.1"), Signal::AuthFailure, 1000),
            None,
            "only once"
        );
        // Another address is untouched.
        assert_eq!(d.observe(ip("192.0.2.2"), Signal::AuthFailure, 1000), None);
    }

    #[test]
    fn windows_forget_and_repeat_offenders_stay_out_longer() {
        let d = ThreatDetector::new(ThreatConfig {
            auth_failures: 3,
            block_s: 100,
            max_block_s: 250,
            ..ThreatConfig::default()
        });
        let a = ip("2001:db8::1");
        let mut durations = Vec::new();
        for round in 0..3u64 {
            let now = 10_000 + round * 60;
            for _ in 0..3 {
                if let Some(b) = d.observe(a, Signal::AuthFailure, now) {
                    durations.push(b.duration_s);
                }
            }
        }
        assert_eq!(durations, [100, 200, 250]);
    }

    #[test]
    fn floods_and_scanners() {
        let d = ThreatDetector::new(ThreatConfig {
            requests_per_second: 100,
            ..ThreatConfig::default()
        });
        let a = ip("192.0.2.9");
        let blocked = (0..150)
            .filter_map(|_| d.observe(a, Signal::Request, 5))
            .count();
        assert_eq!(blocked, 1);
        // 99 per second, every second, never blocks.
        let b = ip("192.0.2.10");
        assert!(
            (0..10u64).all(|s| (0..99).all(|_| d.observe(b, Signal::Request, 100 + s).is_none()))
        );
        assert!(is_scanner(b"friendly-scanner"));
        assert!(is_scanner(b"SIPVicious 0.3"));
        assert!(!is_scanner(b"Sonus SBC 7.2"));
        assert!(d.observe(ip("192.0.2.11"), Signal::Scanner, 5).is_some());
    }

    #[test]
    fn memory_is_fixed_under_a_spoofed_flood() {
        let d = ThreatDetector::new(ThreatConfig::default());
        for n in 0..200_000u32 {
            let _ = d.observe(IpAddr::V4(n.into()), Signal::Request, 7);
        }
        let sketches = d.sketches.lock().unwrap();
        assert_eq!(sketches.len(), 1);
        assert_eq!(sketches[&Signal::Request].counters.len(), DEPTH * WIDTH);
    }

    #[test]
    fn disabled_detection_never_blocks() {
        let d = ThreatDetector::new(ThreatConfig {
            enabled: false,
            ..ThreatConfig::default()
        });
        assert!((0..100).all(|_| d.observe(ip("192.0.2.1"), Signal::AuthFailure, 1).is_none()));
    }
}
