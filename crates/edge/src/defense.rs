//! The firewall on the wire: the block list consulted before anything is
//! parsed (UDP datagrams are dropped, TCP/TLS connections refused), and the
//! threat detector that adds to it.
//!
//! A block decided here takes effect at once (it is added to the local list
//! before anything else) and is handed to the store through a channel, from
//! where it comes back with every other block when the list is reloaded.
//! Until a list loaded after the store recorded it shows it, a reload does
//! not drop it: a list read before the record (the first load at start-up,
//! racing the first packets; or any reload while the write is under way)
//! knows nothing of it.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use ipnet::IpNet;
use tokio::sync::mpsc;
use tollgate_policy::SharedSnapshot;
use tollgate_policy::threat::{BlockDecision, Signal, ThreatDetector};

/// Blocked addresses: single IPs in a hash set, networks in a short list.
#[derive(Debug, Default)]
struct BlockSet {
    ips: HashSet<IpAddr>,
    nets: Vec<IpNet>,
}

/// Unix milliseconds now.
pub(crate) fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Unix seconds now.
pub(crate) fn unix_now() -> u64 {
    unix_ms() / 1000
}

/// The edge's protection: block list, detector, and what never gets blocked.
#[derive(Debug)]
pub struct Defense {
    blocked: ArcSwap<BlockSet>,
    detector: ThreatDetector,
    trusted: Vec<IpNet>,
    snapshot: Arc<SharedSnapshot>,
    decisions: mpsc::UnboundedSender<BlockDecision>,
    /// Addresses that answered a challenge correctly, and when (Unix
    /// seconds): their next challenges are the normal digest handshake of
    /// a busy PBX, not a stranger that never logs in.
    authenticated: Mutex<HashMap<IpAddr, u64>>,
    /// Blocks decided here that no loaded list has confirmed yet.
    unconfirmed: Mutex<HashMap<IpAddr, Unconfirmed>>,
    /// Loads of the block list begun so far (see [`Defense::begin_load`]).
    loads: AtomicU64,
}

/// A block decided here, not yet seen in a loaded list.
#[derive(Debug)]
struct Unconfirmed {
    /// When it runs out (Unix seconds).
    until: u64,
    /// The number of loads begun when the store had recorded it: a list
    /// from a later load is authoritative about it (an operator may have
    /// lifted it).
    recorded: Option<u64>,
}

/// How long a successful digest login keeps an address's challenges from
/// counting as unanswered.
const AUTHENTICATED_FOR_S: u64 = 120;

/// Addresses remembered as authenticated; beyond it the table is cleared
/// (a source that logs in again is remembered again).
const MAX_AUTHENTICATED: usize = 100_000;

impl Defense {
    /// A defense that never blocks `trusted` networks nor addresses of
    /// enabled IP entries in `snapshot`, and sends its block decisions to
    /// `decisions` (for the store).
    pub fn new(
        detector: ThreatDetector,
        trusted: Vec<IpNet>,
        snapshot: Arc<SharedSnapshot>,
        decisions: mpsc::UnboundedSender<BlockDecision>,
    ) -> Self {
        Self {
            blocked: ArcSwap::from_pointee(BlockSet::default()),
            detector,
            trusted,
            snapshot,
            decisions,
            authenticated: Mutex::new(HashMap::new()),
            unconfirmed: Mutex::new(HashMap::new()),
            loads: AtomicU64::new(0),
        }
    }

    /// Records that `ip` answered a digest challenge correctly.
    pub fn authenticated(&self, ip: IpAddr) {
        let mut table = self
            .authenticated
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if table.len() >= MAX_AUTHENTICATED {
            table.clear();
        }
        table.insert(ip, unix_now());
    }

    /// True when `ip` logged in successfully within
    /// [`AUTHENTICATED_FOR_S`].
    fn recently_authenticated(&self, ip: IpAddr, now: u64) -> bool {
        self.authenticated
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&ip)
            .is_some_and(|&at| now.saturating_sub(at) < AUTHENTICATED_FOR_S)
    }

    /// True when traffic from `ip` must be dropped unread.
    pub fn is_blocked(&self, ip: IpAddr) -> bool {
        let set = self.blocked.load();
        set.ips.contains(&ip) || set.nets.iter().any(|n| n.contains(&ip))
    }

    /// Replaces the block list with `addresses`, a list current now.
    pub fn replace(&self, addresses: impl IntoIterator<Item = IpNet>) {
        self.replace_loaded(self.begin_load(), addresses);
    }

    /// Starts a load of the block list from the store: call it before
    /// reading, and hand the number it returns to
    /// [`Defense::replace_loaded`] with what was read.
    pub fn begin_load(&self) -> u64 {
        self.loads.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Replaces the block list with `addresses`, read by load `load`. Blocks
    /// decided here that the list does not show stay, unless they ran out
    /// or the store had recorded them before the load began.
    pub fn replace_loaded(&self, load: u64, addresses: impl IntoIterator<Item = IpNet>) {
        let mut set = BlockSet::default();
        for net in addresses {
            if net.prefix_len() == net.max_prefix_len() {
                set.ips.insert(net.addr());
            } else {
                set.nets.push(net);
            }
        }
        let now = unix_now();
        self.unconfirmed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|ip, u| {
                let keep = !set.ips.contains(ip)
                    && u.until > now
                    && u.recorded.is_none_or(|recorded| load <= recorded);
                if keep {
                    set.ips.insert(*ip);
                }
                keep
            });
        self.blocked.store(Arc::new(set));
    }

    /// The store recorded the block of `ip` decided here.
    pub fn recorded(&self, ip: IpAddr) {
        let loads = self.loads.load(Ordering::SeqCst);
        if let Some(u) = self
            .unconfirmed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_mut(&ip)
        {
            u.recorded = Some(loads);
        }
    }

    /// Records what `ip` did; blocks it when a threshold is crossed, unless
    /// it is trusted, belongs to an enabled IP entry (a customer's switch
    /// or a carrier gateway: their volume is governed by CPS limits, not by
    /// the firewall) or logged in by digest recently.
    pub fn observe(&self, ip: IpAddr, signal: Signal) {
        let now = unix_now();
        let Some(decision) = self.detector.observe(ip, signal, now) else {
            return;
        };
        let snapshot = self.snapshot.load();
        // A source that logs in by digest answers a challenge on every
        // call and sends as much as its CPS limit allows: neither counts
        // against it. Failed logins and scanners still do.
        let logged_in = matches!(signal, Signal::Challenged | Signal::Request)
            && self.recently_authenticated(ip, now);
        if logged_in
            || self.trusted.iter().any(|n| n.contains(&ip))
            || snapshot.is_gateway_address(ip)
            || !snapshot.egress_candidates(ip).is_empty()
        {
            return;
        }
        self.unconfirmed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                ip,
                Unconfirmed {
                    until: now.saturating_add(decision.duration_s),
                    recorded: None,
                },
            );
        let set = self.blocked.load();
        let mut ips = set.ips.clone();
        ips.insert(ip);
        self.blocked.store(Arc::new(BlockSet {
            ips,
            nets: set.nets.clone(),
        }));
        tracing::warn!(%ip, reason = %decision.reason, duration_s = decision.duration_s, "blocking");
        metrics::counter!("tollgate_blocks_total", "event" => "created").increment(1);
        let _ = self.decisions.send(decision);
    }
}

#[cfg(test)]
mod tests {
    use tollgate_policy::threat::ThreatConfig;
    use tollgate_policy::{Configuration, Snapshot};

    use super::*;

    /// A defense blocking after two challenges, and the address it blocked.
    fn blocked(ip: &str) -> (Defense, IpAddr) {
        let snapshot = Arc::new(SharedSnapshot::new(Snapshot::build(
            &Configuration::default(),
            1,
        )));
        let detector = ThreatDetector::new(ThreatConfig {
            challenges: 2,
            ..ThreatConfig::default()
        });
        let (tx, _) = mpsc::unbounded_channel();
        let defense = Defense::new(detector, Vec::new(), snapshot, tx);
        let ip: IpAddr = ip.parse().unwrap();
        for _ in 0..10 {
            defense.observe(ip, Signal::Challenged);
        }
        assert!(defense.is_blocked(ip));
        (defense, ip)
    }

    #[test]
    fn a_list_read_before_the_store_recorded_a_block_does_not_lift_it() {
        let (defense, ip) = blocked("192.0.2.7");
        // The first load at start-up, read before the block was recorded.
        let early = defense.begin_load();
        defense.replace([]);
        assert!(defense.is_blocked(ip), "not recorded yet");
        defense.recorded(ip);
        defense.replace_loaded(early, []);
        assert!(defense.is_blocked(ip), "read before the record");
        // Recorded, then lifted by an operator: the next load says so.
        let later = defense.begin_load();
        defense.replace_loaded(later, []);
        assert!(!defense.is_blocked(ip));
    }

    #[test]
    fn a_block_confirmed_by_a_load_is_the_stores_from_then_on() {
        let (defense, ip) = blocked("192.0.2.8");
        defense.replace([IpNet::from(ip)]);
        assert!(defense.is_blocked(ip));
        defense.replace([]);
        assert!(!defense.is_blocked(ip), "lifted in the store");
    }
}
