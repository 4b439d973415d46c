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

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

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
    /// User-Agent fragments of SIP scanners, matched without regard to
    /// case; empty turns the scanner rule off.
    pub scanner_user_agents: Vec<String>,
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
            scanner_user_agents: SCANNERS.iter().map(|&s| s.to_owned()).collect(),
        }
    }
}

/// The rule that blocked an address automatically.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BlockRule {
    /// A User-Agent on the `[firewall] scanner_user_agents` list.
    Scanner,
    /// Too many failed digest attempts in a window.
    AuthFailures,
    /// Too many 407 challenges never answered in a window.
    UnansweredChallenges,
    /// Too many requests in one second.
    Flood,
}

impl BlockRule {
    /// The rule's name, as the API and the metrics spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scanner => "scanner",
            Self::AuthFailures => "auth_failures",
            Self::UnansweredChallenges => "unanswered_challenges",
            Self::Flood => "flood",
        }
    }

    /// The rule named `name` (as [`BlockRule::as_str`] spells it).
    pub fn from_name(name: &str) -> Option<Self> {
        [
            Self::Scanner,
            Self::AuthFailures,
            Self::UnansweredChallenges,
            Self::Flood,
        ]
        .into_iter()
        .find(|r| r.as_str() == name)
    }
}

/// A decision to block an address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockDecision {
    /// The address.
    pub address: IpAddr,
    /// The rule that fired.
    pub rule: BlockRule,
    /// The value that tripped it: the count, or the scanner's User-Agent.
    pub trigger: String,
    /// Why, in words, with the trigger: recorded with the block.
    pub reason: String,
    /// For how long.
    pub duration_s: u64,
}

/// The longest User-Agent a block records as its trigger.
const MAX_TRIGGER: usize = 128;

/// `user_agent` as a block records it: printable ASCII, at most
/// [`MAX_TRIGGER`] bytes (it comes from the network).
fn printable(user_agent: &[u8]) -> String {
    user_agent
        .iter()
        .take(MAX_TRIGGER)
        .map(|&b| {
            if (0x20..0x7f).contains(&b) {
                char::from(b)
            } else {
                '?'
            }
        })
        .collect()
}

/// User-Agent fragments of well-known SIP scanners (lowercase): the
/// default of `[firewall] scanner_user_agents`.
pub const SCANNERS: &[&str] = &[
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

/// The scanner User-Agent fragments, matched without regard to ASCII case
/// and without allocating (every out-of-dialog request is looked at).
#[derive(Clone, Debug, Default)]
struct ScannerList {
    /// Lowercase fragments, empty ones left out.
    fragments: Vec<Vec<u8>>,
}

impl ScannerList {
    fn new(fragments: &[String]) -> Self {
        Self {
            fragments: fragments
                .iter()
                .filter(|f| !f.is_empty())
                .map(|f| f.to_ascii_lowercase().into_bytes())
                .collect(),
        }
    }

    /// True when some fragment occurs in `user_agent`.
    fn matches(&self, user_agent: &[u8]) -> bool {
        self.fragments.iter().any(|f| {
            user_agent
                .windows(f.len())
                .any(|w| w.eq_ignore_ascii_case(f))
        })
    }
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

    /// Adds `amount` for `key` at `now` (a new window clears the counts)
    /// and returns the estimate; an `amount` of 0 only reads it.
    fn add(
        &mut self,
        seeds: &[std::hash::RandomState; DEPTH],
        key: IpAddr,
        now: u64,
        window: u64,
        amount: u32,
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
            self.counters[slot] = self.counters[slot].saturating_add(amount);
            estimate = estimate.min(self.counters[slot]);
        }
        estimate
    }
}

/// What one sketch counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Tally {
    /// Occurrences of a signal.
    Signal(Signal),
    /// Bytes of requests that were not identified.
    BytesIn,
    /// Bytes of the answers sent to them.
    BytesOut,
}

/// What a source may draw in stateless answers beyond 1.5 times what it
/// sent, per window: room for the first challenge to a request of any
/// size.
const ANSWER_SLACK: u32 = 1024;

/// Counts signals per source and decides blocks. Thread-safe; the lock is
/// held for a few counter updates only.
#[derive(Debug)]
pub struct ThreatDetector {
    config: ThreatConfig,
    scanners: ScannerList,
    seeds: [std::hash::RandomState; DEPTH],
    sketches: Mutex<HashMap<Tally, Sketch>>,
    /// How often each address was blocked, for doubling (bounded: only
    /// blocked addresses enter it, and it is cleared when it grows large).
    offences: Mutex<HashMap<IpAddr, u32>>,
}

impl ThreatDetector {
    /// A detector with `config`.
    pub fn new(config: ThreatConfig) -> Self {
        Self {
            scanners: ScannerList::new(&config.scanner_user_agents),
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
        let (limit, window, rule, what) = match signal {
            Signal::AuthFailure => (
                self.config.auth_failures,
                self.config.window_s,
                BlockRule::AuthFailures,
                "failed digest attempts",
            ),
            Signal::Challenged => (
                self.config.challenges,
                self.config.window_s,
                BlockRule::UnansweredChallenges,
                "unanswered challenges",
            ),
            Signal::Request => (
                self.config.requests_per_second,
                1,
                BlockRule::Flood,
                "requests in one second",
            ),
            Signal::Scanner => (
                1,
                self.config.window_s,
                BlockRule::Scanner,
                "requests from a SIP scanner",
            ),
        };
        let count = {
            let mut sketches = self
                .sketches
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            sketches
                .entry(Tally::Signal(signal))
                .or_insert_with(Sketch::new)
                .add(&self.seeds, address, now, window, 1)
        };
        // Trigger once, when the count reaches the limit.
        (count == limit)
            .then(|| self.block(address, rule, count.to_string(), format!("{count} {what}")))
    }

    /// Counts a request of `request_len` bytes from `address` that was
    /// not identified, and decides whether its `answer_len`-byte stateless
    /// answer may go: only while everything answered to the address in
    /// this window stays within 1.5 times what it sent (plus
    /// [`ANSWER_SLACK`]), so a spoofed source never aims more than that at
    /// its victim, whatever it sends. An answer that goes is counted.
    /// Applies whether or not detection is on.
    pub fn may_answer(
        &self,
        address: IpAddr,
        request_len: usize,
        answer_len: usize,
        now: u64,
    ) -> bool {
        let clamp = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        let window = self.config.window_s;
        let mut sketches = self
            .sketches
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let sent = sketches
            .entry(Tally::BytesIn)
            .or_insert_with(Sketch::new)
            .add(&self.seeds, address, now, window, clamp(request_len));
        let out = sketches.entry(Tally::BytesOut).or_insert_with(Sketch::new);
        let answered = out.add(&self.seeds, address, now, window, 0);
        let allowed = u64::from(sent) * 3 / 2 + u64::from(ANSWER_SLACK);
        let fits = u64::from(answered) + answer_len as u64 <= allowed;
        if fits {
            out.add(&self.seeds, address, now, window, clamp(answer_len));
        }
        fits
    }

    /// True when `user_agent` is on the scanner list (and detection is on).
    pub fn is_scanner(&self, user_agent: &[u8]) -> bool {
        self.config.enabled && self.scanners.matches(user_agent)
    }

    /// Records a request from a scanner that sent `user_agent`: a block
    /// whose trigger is the User-Agent, the first time in a window.
    pub fn observe_scanner(
        &self,
        address: IpAddr,
        user_agent: &[u8],
        now: u64,
    ) -> Option<BlockDecision> {
        let mut decision = self.observe(address, Signal::Scanner, now)?;
        decision.trigger = printable(user_agent);
        decision.reason = format!("a SIP scanner (User-Agent: {})", decision.trigger);
        Some(decision)
    }

    fn block(
        &self,
        address: IpAddr,
        rule: BlockRule,
        trigger: String,
        reason: String,
    ) -> BlockDecision {
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
            rule,
            trigger,
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
        assert_eq!(
            (block.rule, block.trigger.as_str()),
            (BlockRule::AuthFailures, "20")
        );
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
        assert!(d.is_scanner(b"friendly-scanner"));
        assert!(d.is_scanner(b"SIPVicious 0.3"));
        assert!(!d.is_scanner(b"Sonus SBC 7.2"));
        let scan = d
            .observe_scanner(ip("192.0.2.11"), b"friendly-scanner\x01", 5)
            .unwrap();
        assert_eq!(scan.rule, BlockRule::Scanner);
        assert_eq!(scan.trigger, "friendly-scanner?");
        assert_eq!(scan.reason, "a SIP scanner (User-Agent: friendly-scanner?)");
        let flood = (0..100)
            .find_map(|_| d.observe(ip("192.0.2.12"), Signal::Request, 6))
            .unwrap();
        assert_eq!(
            (flood.rule, flood.trigger.as_str()),
            (BlockRule::Flood, "100")
        );
    }

    #[test]
    fn the_scanner_list_is_the_operators() {
        let custom = ThreatDetector::new(ThreatConfig {
            scanner_user_agents: vec!["Nessus".into()],
            ..ThreatConfig::default()
        });
        assert!(custom.is_scanner(b"nessus SIP check"));
        assert!(
            !custom.is_scanner(b"sipsak 0.9.8"),
            "sipsak is off the list"
        );
        let none = ThreatDetector::new(ThreatConfig {
            scanner_user_agents: Vec::new(),
            ..ThreatConfig::default()
        });
        assert!(!none.is_scanner(b"friendly-scanner"));
        let a = ip("192.0.2.13");
        let challenged = (0..300)
            .find_map(|_| none.observe(a, Signal::Challenged, 7))
            .unwrap();
        assert_eq!(challenged.rule, BlockRule::UnansweredChallenges);
        assert_eq!(challenged.trigger, "200");
        for rule in [
            BlockRule::Scanner,
            BlockRule::AuthFailures,
            BlockRule::UnansweredChallenges,
            BlockRule::Flood,
        ] {
            assert_eq!(BlockRule::from_name(rule.as_str()), Some(rule));
        }
    }

    #[test]
    fn memory_is_fixed_under_a_spoofed_flood() {
        let d = ThreatDetector::new(ThreatConfig::default());
        for n in 0..200_000u32 {
            let _ = d.observe(IpAddr::V4(n.into()), Signal::Request, 7);
        }
        let sketches = d.sketches.lock().unwrap();
        assert_eq!(sketches.len(), 1);
        assert_eq!(
            sketches[&Tally::Signal(Signal::Request)].counters.len(),
            DEPTH * WIDTH
        );
    }

    #[test]
    fn a_source_draws_at_most_half_again_what_it_sends() {
        let d = ThreatDetector::new(ThreatConfig {
            enabled: false,
            ..ThreatConfig::default()
        });
        let victim = ip("192.0.2.20");
        // Minimal requests drawing answers twice their size: the slack
        // lets the first few through, then 1.5 times what came in.
        let (mut bytes_in, mut bytes_out, mut answered) = (0, 0, 0);
        for _ in 0..1_000 {
            bytes_in += 300;
            if d.may_answer(victim, 300, 600, 50) {
                bytes_out += 600;
                answered += 1;
            }
        }
        assert!(bytes_out <= bytes_in * 3 / 2 + ANSWER_SLACK as usize);
        assert!(
            bytes_out >= bytes_in * 3 / 2 - 600,
            "{bytes_out} of {bytes_in}"
        );
        assert!(answered > 700, "{answered}");
        // Real requests, answered by smaller answers: every one goes, and
        // another address has its own budget.
        let client = ip("192.0.2.21");
        assert!((0..1_000).all(|_| d.may_answer(client, 700, 500, 50)));
        assert!(d.may_answer(ip("192.0.2.22"), 250, 400, 50), "the first");
        // A new window starts afresh.
        assert!(d.may_answer(victim, 300, 600, 50 + 60));
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
