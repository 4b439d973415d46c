//! The firewall on the wire: the block list consulted before anything is
//! parsed (UDP datagrams are dropped, TCP/TLS connections refused), and the
//! threat detector that adds to it.
//!
//! A block decided here takes effect at once (it is added to the local list
//! before anything else) and is handed to the store through a channel, from
//! where it comes back with every other block when the list is reloaded.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Arc;
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

/// Unix seconds now.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The edge's protection: block list, detector, and what never gets blocked.
#[derive(Debug)]
pub struct Defense {
    blocked: ArcSwap<BlockSet>,
    detector: ThreatDetector,
    trusted: Vec<IpNet>,
    snapshot: Arc<SharedSnapshot>,
    decisions: mpsc::UnboundedSender<BlockDecision>,
}

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
        }
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
    /// it is trusted or belongs to an enabled IP entry.
    pub fn observe(&self, ip: IpAddr, signal: Signal) {
        let Some(decision) = self.detector.observe(ip, signal, unix_now()) else {
            return;
        };
        if self.trusted.iter().any(|n| n.contains(&ip))
            || !self.snapshot.load().egress_candidates(ip).is_empty()
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
