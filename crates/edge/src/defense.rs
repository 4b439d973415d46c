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
//!
//! Every packet (or connection) a block drops counts as one of its hits, in
//! memory: [`Defense::take_hits`] hands the counts over for the store now
//! and then, never a write per packet. A block keeps its counter across
//! reloads of the list, so nothing counted is lost to a reload.

use std::collections::HashMap;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use ipnet::IpNet;
use tokio::sync::mpsc;
use tollgate_b2bua::Firewall;
use tollgate_policy::SharedSnapshot;
use tollgate_policy::threat::{BlockDecision, BlockRule, Signal, ThreatDetector};

/// One blocked address or network, as the store lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blocked {
    /// The store's spelling of it (an IP, or a CIDR): its hits are
    /// reported under this name.
    pub address: String,
    /// What it covers.
    pub net: IpNet,
    /// The rule that blocked it; none for an operator's block.
    pub rule: Option<BlockRule>,
}

impl FromStr for Blocked {
    type Err = ipnet::AddrParseError;

    /// An IP or a CIDR, blocked by an operator.
    fn from_str(address: &str) -> Result<Self, Self::Err> {
        let net = address
            .parse::<IpNet>()
            .or_else(|e| address.parse::<IpAddr>().map(IpNet::from).map_err(|_| e))?;
        Ok(Self {
            address: address.to_owned(),
            net,
            rule: None,
        })
    }
}

/// The packets one block dropped since they were last taken.
#[derive(Debug)]
struct Hits {
    address: String,
    rule: Option<BlockRule>,
    count: AtomicU64,
}

impl Hits {
    fn new(address: String, rule: Option<BlockRule>) -> Arc<Self> {
        Arc::new(Self {
            address,
            rule,
            count: AtomicU64::new(0),
        })
    }
}

/// Blocked addresses: single IPs in a hash map, networks in a short list,
/// each with its hit counter.
#[derive(Debug, Default)]
struct BlockSet {
    ips: HashMap<IpAddr, Arc<Hits>>,
    nets: Vec<(IpNet, Arc<Hits>)>,
}

impl BlockSet {
    /// The block covering `ip`, if any.
    fn covering(&self, ip: IpAddr) -> Option<&Arc<Hits>> {
        self.ips.get(&ip).or_else(|| {
            self.nets
                .iter()
                .find(|(n, _)| n.contains(&ip))
                .map(|(_, h)| h)
        })
    }

    /// The counter of the block of exactly `net`, if any.
    fn counter_of(&self, net: &IpNet) -> Option<&Arc<Hits>> {
        if net.prefix_len() == net.max_prefix_len() {
            self.ips.get(&net.addr())
        } else {
            self.nets.iter().find(|(n, _)| n == net).map(|(_, h)| h)
        }
    }

    fn insert(&mut self, net: IpNet, hits: Arc<Hits>) {
        if net.prefix_len() == net.max_prefix_len() {
            self.ips.insert(net.addr(), hits);
        } else {
            self.nets.push((net, hits));
        }
    }
}

/// What [`Defense::take_hits`] hands over: per block (the store's spelling
/// of its address), the packets it dropped since the last time.
pub type BlockHits = Vec<(String, u64)>;

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
    /// The rule that decided it.
    rule: BlockRule,
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

    /// True when `ip` logged in successfully within
    /// [`AUTHENTICATED_FOR_S`].
    fn recently_authenticated(&self, ip: IpAddr, now: u64) -> bool {
        self.authenticated
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&ip)
            .is_some_and(|&at| now.saturating_sub(at) < AUTHENTICATED_FOR_S)
    }

    /// True when traffic from `ip` must be dropped unread. A trusted
    /// address never is, whatever block covers it (an operator's
    /// `0.0.0.0/0` does not lock out the monitoring or the other nodes).
    pub fn is_blocked(&self, ip: IpAddr) -> bool {
        self.blocked.load().covering(ip).is_some() && !self.is_trusted(ip)
    }

    /// True when traffic from `ip` must be dropped unread (see
    /// [`Defense::is_blocked`]); the drop counts as a hit of the block.
    pub fn drop_blocked(&self, ip: IpAddr) -> bool {
        let set = self.blocked.load();
        let Some(hits) = set.covering(ip) else {
            return false;
        };
        if self.is_trusted(ip) {
            return false;
        }
        hits.count.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// True when `ip` is in the `[firewall] trusted` networks.
    fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|n| n.contains(&ip))
    }

    /// The hits counted since the last call, per block that has any, and
    /// `tollgate_firewall_hits_total{rule}` advanced by them. Blocks lifted
    /// meanwhile are not reported: their rows are gone.
    pub fn take_hits(&self) -> BlockHits {
        let set = self.blocked.load();
        let all = set.ips.values().chain(set.nets.iter().map(|(_, h)| h));
        let mut taken = Vec::new();
        for hits in all {
            let n = hits.count.swap(0, Ordering::Relaxed);
            if n > 0 {
                let rule = hits.rule.map_or("manual", BlockRule::as_str);
                metrics::counter!("tollgate_firewall_hits_total", "rule" => rule).increment(n);
                taken.push((hits.address.clone(), n));
            }
        }
        taken
    }

    /// Replaces the block list with `blocks`, a list current now.
    pub fn replace(&self, blocks: impl IntoIterator<Item = Blocked>) {
        self.replace_loaded(self.begin_load(), blocks);
    }

    /// Starts a load of the block list from the store: call it before
    /// reading, and hand the number it returns to
    /// [`Defense::replace_loaded`] with what was read.
    pub fn begin_load(&self) -> u64 {
        self.loads.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Replaces the block list with `blocks`, read by load `load`. Blocks
    /// decided here that the list does not show stay, unless they ran out
    /// or the store had recorded them before the load began. A block in
    /// both lists keeps its counter of hits.
    pub fn replace_loaded(&self, load: u64, blocks: impl IntoIterator<Item = Blocked>) {
        let old = self.blocked.load();
        let mut set = BlockSet::default();
        for b in blocks {
            let hits = old
                .counter_of(&b.net)
                .cloned()
                .unwrap_or_else(|| Hits::new(b.address, b.rule));
            set.insert(b.net, hits);
        }
        let now = unix_now();
        self.unconfirmed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|ip, u| {
                let keep = !set.ips.contains_key(ip)
                    && u.until > now
                    && u.recorded.is_none_or(|recorded| load <= recorded);
                if keep {
                    let hits = old.ips.get(ip).cloned();
                    set.ips.insert(
                        *ip,
                        hits.unwrap_or_else(|| Hits::new(ip.to_string(), Some(u.rule))),
                    );
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

    /// Sources never blocked: trusted networks, and addresses of enabled
    /// IP entries (a customer's switch or a carrier gateway: their volume
    /// is governed by CPS limits, not by the firewall).
    fn is_exempt(&self, ip: IpAddr) -> bool {
        let snapshot = self.snapshot.load();
        self.is_trusted(ip)
            || snapshot.is_gateway_address(ip)
            || !snapshot.egress_candidates(ip).is_empty()
    }

    /// Blocks `decision.address` here at once and sends the decision on
    /// to the store.
    fn enforce(&self, decision: BlockDecision, now: u64) {
        let ip = decision.address;
        self.unconfirmed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                ip,
                Unconfirmed {
                    until: now.saturating_add(decision.duration_s),
                    rule: decision.rule,
                    recorded: None,
                },
            );
        let set = self.blocked.load();
        let mut ips = set.ips.clone();
        // A block of it already listed keeps counting in its counter.
        ips.entry(ip)
            .or_insert_with(|| Hits::new(ip.to_string(), Some(decision.rule)));
        self.blocked.store(Arc::new(BlockSet {
            ips,
            nets: set.nets.clone(),
        }));
        tracing::warn!(
            %ip,
            rule = decision.rule.as_str(),
            trigger = %decision.trigger,
            duration_s = decision.duration_s,
            "blocking"
        );
        metrics::counter!("tollgate_blocks_total", "event" => "created").increment(1);
        if self.decisions.send(decision).is_err() {
            // No store writer (a read-only server, or shutting down): the
            // block holds here but is not recorded.
            metrics::counter!("tollgate_blocks_total", "event" => "unrecorded").increment(1);
        }
    }
}

/// The firewall as the B2BUA reaches it; the edge's receive path uses it
/// too (`observe`).
impl Firewall for Defense {
    /// Records that `ip` answered a digest challenge correctly.
    fn authenticated(&self, ip: IpAddr) {
        let mut table = self
            .authenticated
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if table.len() >= MAX_AUTHENTICATED {
            table.clear();
        }
        table.insert(ip, unix_now());
    }

    /// Records what `ip` did; blocks it when a threshold is crossed, unless
    /// it is exempt (see [`Defense::is_exempt`]) or, for challenges and
    /// plain requests, logged in by digest recently.
    fn observe(&self, ip: IpAddr, signal: Signal) {
        let now = unix_now();
        let Some(decision) = self.detector.observe(ip, signal, now) else {
            return;
        };
        // A source that logs in by digest answers a challenge on every
        // call and sends as much as its CPS limit allows: neither counts
        // against it. Failed logins and scanners still do.
        let logged_in = matches!(signal, Signal::Challenged | Signal::Request)
            && self.recently_authenticated(ip, now);
        if !logged_in && !self.is_exempt(ip) {
            self.enforce(decision, now);
        }
    }

    /// True when a request from `ip` that says `user_agent` comes from a
    /// scanner on the `[firewall] scanner_user_agents` list, and `ip` is
    /// not exempt: the request is to be dropped unanswered (a scanner must
    /// not learn that a SIP server is here), and the source is blocked at
    /// once, the User-Agent recorded as what tripped the rule.
    fn is_scanner(&self, ip: IpAddr, user_agent: &[u8]) -> bool {
        if !self.detector.is_scanner(user_agent) || self.is_exempt(ip) {
            return false;
        }
        let now = unix_now();
        if let Some(decision) = self.detector.observe_scanner(ip, user_agent, now) {
            self.enforce(decision, now);
        }
        true
    }

    /// True when the `answer_len`-byte stateless answer to a request of
    /// `request_len` bytes from `ip` that was not identified may go: what
    /// a source draws stays within 1.5 times what it sends (see
    /// [`ThreatDetector::may_answer`]).
    fn may_answer(&self, ip: IpAddr, request_len: usize, answer_len: usize) -> bool {
        self.detector
            .may_answer(ip, request_len, answer_len, unix_now())
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
        defense.replace([ip.to_string().parse().unwrap()]);
        assert!(defense.is_blocked(ip));
        defense.replace([]);
        assert!(!defense.is_blocked(ip), "lifted in the store");
    }

    #[test]
    fn a_trusted_address_is_never_blocked() {
        let snapshot = Arc::new(SharedSnapshot::new(Snapshot::build(
            &Configuration::default(),
            1,
        )));
        let (tx, _) = mpsc::unbounded_channel();
        let trusted = vec!["192.0.2.0/24".parse().unwrap()];
        let detector = ThreatDetector::new(ThreatConfig::default());
        let defense = Defense::new(detector, trusted, snapshot, tx);
        defense.replace(["0.0.0.0/0".parse().unwrap()]);
        assert!(!defense.drop_blocked("192.0.2.7".parse().unwrap()));
        assert!(defense.drop_blocked("198.51.100.7".parse().unwrap()));
        assert_eq!(defense.take_hits(), [("0.0.0.0/0".to_owned(), 1)]);
    }

    #[test]
    fn every_drop_is_a_hit_of_its_block_and_reloads_lose_none() {
        let (defense, ip) = blocked("192.0.2.9");
        let net: Blocked = "198.51.100.0/24".parse().unwrap();
        let listed = |rule| Blocked {
            rule,
            ..ip.to_string().parse().unwrap()
        };
        defense.replace([listed(Some(BlockRule::UnansweredChallenges)), net.clone()]);
        for _ in 0..3 {
            assert!(defense.drop_blocked(ip));
        }
        assert!(defense.drop_blocked("198.51.100.77".parse().unwrap()));
        assert!(!defense.drop_blocked("203.0.113.1".parse().unwrap()));
        // A reload between the drops and the flush keeps the counts.
        defense.replace([listed(Some(BlockRule::UnansweredChallenges)), net]);
        assert!(defense.drop_blocked(ip));
        let mut hits = defense.take_hits();
        hits.sort();
        assert_eq!(
            hits,
            [
                ("192.0.2.9".to_owned(), 4),
                ("198.51.100.0/24".to_owned(), 1)
            ]
        );
        assert!(defense.take_hits().is_empty(), "taken once");
        assert!(defense.is_blocked(ip), "a query counts nothing");
        assert!(defense.take_hits().is_empty());
    }
}
