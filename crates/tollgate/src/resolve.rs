//! Background resolution of the hostnames IP entries use (hickory, system
//! resolver configuration and hosts file): looked up when they appear,
//! again when their TTL runs out (bounded to 30 s – 1 h), the last good
//! addresses kept when a lookup fails, the error shown on the entry. The
//! per-message path never waits for DNS: it reads the snapshot, into which
//! the results are folded.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use hickory_resolver::TokioResolver;
use tokio::sync::watch;
use tollgate_policy::{HostStatus, HostTable, Snapshot};
use tollgate_store::{HostFeed, Store};

/// Shortest and longest time between two lookups of a name.
const MIN_TTL: Duration = Duration::from_secs(30);
const MAX_TTL: Duration = Duration::from_secs(3600);
/// How soon a failed lookup is retried.
const RETRY: Duration = Duration::from_secs(30);

/// Unix seconds now (the store's clock, in its unit for `checked_at`).
fn unix_now() -> u64 {
    u64::try_from(tollgate_store::now_ms() / 1000).unwrap_or(0)
}

/// Starts the resolver; returns the shared table (for the API) and the
/// feed for the snapshot refresher.
pub(crate) fn spawn(store: Store) -> (Arc<ArcSwap<HostTable>>, HostFeed) {
    let table = Arc::new(ArcSwap::from_pointee(HostTable::new()));
    let (changed, changes) = watch::channel(0u64);
    let resolver = TokioResolver::builder_tokio().and_then(|mut b| {
        b.options_mut().timeout = Duration::from_secs(2);
        b.options_mut().attempts = 2;
        b.build()
    });
    let shared = table.clone();
    tokio::spawn(async move {
        let mut config_changes = store.subscribe();
        let mut due: HashMap<String, Instant> = HashMap::new();
        loop {
            let names = match store.load().await {
                Ok((config, _)) => Snapshot::hostnames(&config),
                Err(_) => Vec::new(),
            };
            let mut next = shared.load().as_ref().clone();
            let mut dirty = false;
            // Forget names no entry uses any more.
            let before = next.len();
            next.retain(|name, _| names.contains(name));
            due.retain(|name, _| names.contains(name));
            dirty |= next.len() != before;
            let now = Instant::now();
            for name in &names {
                if due.get(name).is_some_and(|at| *at > now) {
                    continue;
                }
                let status = next.entry(name.clone()).or_default();
                let (addresses, error, wait) = match &resolver {
                    Ok(r) => match r.lookup_ip(name.as_str()).await {
                        Ok(lookup) => {
                            let mut addrs: Vec<_> = lookup.iter().collect();
                            addrs.sort();
                            addrs.dedup();
                            let ttl = lookup
                                .valid_until()
                                .saturating_duration_since(Instant::now());
                            (addrs, None, ttl.clamp(MIN_TTL, MAX_TTL))
                        }
                        Err(e) => (status.addresses.clone(), Some(e.to_string()), RETRY),
                    },
                    Err(e) => (
                        status.addresses.clone(),
                        Some(format!("no resolver: {e}")),
                        RETRY,
                    ),
                };
                if addresses.is_empty() && error.is_none() {
                    *status = HostStatus {
                        addresses,
                        error: Some("the name has no addresses".into()),
                        checked_at: unix_now(),
                    };
                } else {
                    *status = HostStatus {
                        addresses,
                        error,
                        checked_at: unix_now(),
                    };
                }
                due.insert(name.clone(), Instant::now() + wait);
                dirty = true;
            }
            if dirty {
                shared.store(Arc::new(next));
                changed.send_modify(|v| *v += 1);
            }
            let wake = due.values().min().copied().unwrap_or(now + MAX_TTL);
            tokio::select! {
                c = config_changes.changed() => if c.is_err() { return },
                () = tokio::time::sleep_until(wake.into()) => {}
            }
        }
    });
    (table.clone(), HostFeed { table, changes })
}
