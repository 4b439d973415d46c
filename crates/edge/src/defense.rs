//! The firewall on the wire: the block list consulted before anything is
//! parsed (UDP datagrams are dropped, TCP/TLS connections refused), and the
//! threat detector that adds to it.
//!
//! A block decided here takes effect at once (it is added to the local list
//! before anything else) and is handed to the store through a channel, from
//! where it comes back with every other block when the list is reloaded.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
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

    /// Replaces the block list (from the store's firewall table).
    pub fn replace(&self, addresses: impl IntoIterator<Item = IpNet>) {
        let mut set = BlockSet::default();
        for net in addresses {
            if net.prefix_len() == net.max_prefix_len() {
                set.ips.insert(net.addr());
            } else {
                set.nets.push(net);
            }
        }
        self.blocked.store(Arc::new(set));
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
