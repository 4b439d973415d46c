//! The compiled, immutable view of the configuration the hot path reads.
//!
//! [`Snapshot::build`] turns the whole [`Configuration`] into lookup
//! structures once: a hash of single source IPs and a prefix trie of CIDRs
//! to the enabled egress entries of active accounts, SIP users by name, and
//! each carrier's ingress gateways. [`SharedSnapshot`] publishes a new one
//! atomically: readers never lock, a write rebuilds and swaps.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use ipnet::IpNet;
use prefix_trie::joint::map::JointPrefixMap;

use crate::address::Address;
use crate::model::{
    Account, AccountId, AccountStatus, Configuration, Direction, IpAuthEntry, SipUser,
};
use crate::routing::CompiledRoute;

/// Index into the snapshot's entry list.
type Slot = u32;

/// What is known of one hostname of an IP entry: resolved in the
/// background, never on the per-message path.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct HostStatus {
    /// The addresses of the last successful lookup (kept when a later one
    /// fails).
    #[schema(value_type = Vec<String>)]
    pub addresses: Vec<IpAddr>,
    /// Why the latest lookup failed, if it did.
    pub error: Option<String>,
    /// Unix seconds of the latest lookup.
    pub checked_at: u64,
}

/// Every hostname used by an IP entry, with its status.
pub type HostTable = HashMap<String, HostStatus>;

/// The compiled configuration.
#[derive(Debug, Default)]
pub struct Snapshot {
    version: u64,
    accounts: HashMap<AccountId, Account>,
    entries: Vec<IpAuthEntry>,
    exact: HashMap<IpAddr, Vec<Slot>>,
    networks: JointPrefixMap<IpNet, Vec<Slot>>,
    users: HashMap<String, SipUser>,
    gateways: HashMap<AccountId, Vec<Slot>>,
    gateway_addresses: HashMap<crate::model::EntryId, Vec<IpAddr>>,
    gateway_ips: std::collections::HashSet<IpAddr>,
    routes: HashMap<AccountId, Vec<CompiledRoute>>,
}

impl Snapshot {
    /// Compiles `config`. `version` identifies it (the store's change
    /// counter), so a reader can tell which configuration it decided on.
    pub fn build(config: &Configuration, version: u64) -> Self {
        Self::build_with_hosts(config, version, &HostTable::new())
    }

    /// Like [`Snapshot::build`], folding in the addresses `hosts` resolved
    /// for the hostnames of ingress entries.
    pub fn build_with_hosts(config: &Configuration, version: u64, hosts: &HostTable) -> Self {
        let accounts: HashMap<AccountId, Account> =
            config.accounts.iter().map(|a| (a.id, a.clone())).collect();
        let active = |id: &AccountId| {
            accounts
                .get(id)
                .is_some_and(|a| a.status == AccountStatus::Active)
        };
        let mut snap = Self {
            version,
            ..Self::default()
        };
        for entry in config
            .entries
            .iter()
            .filter(|e| e.enabled && active(&e.account_id))
        {
            let slot = snap.entries.len() as Slot;
            snap.entries.push(entry.clone());
            match entry.direction {
                Direction::Egress => {
                    for address in &entry.addresses {
                        match address {
                            Address::Ip(ip) => snap.exact.entry(*ip).or_default().push(slot),
                            Address::Cidr(net) => match snap.networks.get_mut(net) {
                                Some(slots) => slots.push(slot),
                                None => {
                                    snap.networks.insert(*net, vec![slot]);
                                }
                            },
                            // Validation keeps hostnames off egress entries.
                            Address::Host(_) => {}
                        }
                    }
                }
                Direction::Ingress => {
                    snap.gateways
                        .entry(entry.account_id)
                        .or_default()
                        .push(slot);
                    let addresses: Vec<IpAddr> = entry
                        .addresses
                        .iter()
                        .flat_map(|a| match a {
                            Address::Ip(ip) => vec![*ip],
                            Address::Host(name) => hosts
                                .get(name)
                                .map(|h| h.addresses.clone())
                                .unwrap_or_default(),
                            // A network is no destination.
                            Address::Cidr(_) => Vec::new(),
                        })
                        .collect();
                    snap.gateway_ips.extend(addresses.iter().copied());
                    snap.gateway_addresses.insert(entry.id, addresses);
                }
            }
        }
        snap.users = config
            .users
            .iter()
            .map(|u| (u.username.to_ascii_lowercase(), u.clone()))
            .collect();
        for route in config.routes.iter().filter(|r| r.enabled) {
            snap.routes
                .entry(route.account_id)
                .or_default()
                .push(CompiledRoute::new(route.clone()));
        }
        snap.accounts = accounts;
        snap
    }

    /// Which configuration this is.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The enabled egress entries of active accounts whose addresses cover
    /// `ip`: exact addresses first, then networks from the longest prefix
    /// to the shortest. Several candidates are told apart by tech prefix.
    pub fn egress_candidates(&self, ip: IpAddr) -> Vec<&IpAuthEntry> {
        let mut out: Vec<&IpAuthEntry> = self
            .exact
            .get(&ip)
            .into_iter()
            .flatten()
            .map(|&s| &self.entries[s as usize])
            .collect();
        let covering: Vec<&Vec<Slot>> = self.networks.cover_values(&IpNet::from(ip)).collect();
        // The trie yields the shortest prefix first.
        for &slot in covering.into_iter().rev().flatten() {
            let entry = &self.entries[slot as usize];
            // An entry listing both an address and a network covering it
            // is one candidate, at its most specific place.
            if !out.iter().any(|e| e.id == entry.id) {
                out.push(entry);
            }
        }
        out
    }

    /// An account by id.
    pub fn account(&self, id: AccountId) -> Option<&Account> {
        self.accounts.get(&id)
    }

    /// A SIP user by name (case-insensitive), enabled or not.
    pub fn user(&self, username: &str) -> Option<&SipUser> {
        self.users.get(&username.to_ascii_lowercase())
    }

    /// The enabled ingress gateways of a carrier.
    pub fn gateways(&self, carrier: AccountId) -> impl Iterator<Item = &IpAuthEntry> {
        self.gateways
            .get(&carrier)
            .into_iter()
            .flatten()
            .map(|&s| &self.entries[s as usize])
    }

    /// Every enabled ingress entry of an active account: each carrier's
    /// gateways and each customer's own destinations.
    pub fn all_gateways(&self) -> impl Iterator<Item = &IpAuthEntry> {
        self.gateways
            .values()
            .flatten()
            .map(|&s| &self.entries[s as usize])
    }

    /// Where an ingress entry can be reached: its IPs and the addresses its
    /// hostnames resolved to.
    pub fn gateway_addresses(&self, entry: crate::model::EntryId) -> &[IpAddr] {
        self.gateway_addresses
            .get(&entry)
            .map_or(&[], Vec::as_slice)
    }

    /// True when `ip` is an address of an enabled carrier gateway: its
    /// answers and requests are expected traffic, never a flood to block.
    pub fn is_gateway_address(&self, ip: IpAddr) -> bool {
        self.gateway_ips.contains(&ip)
    }

    /// Every hostname the configuration uses (what the resolver keeps
    /// looking up).
    pub fn hostnames(config: &Configuration) -> Vec<String> {
        let mut names: Vec<String> = config
            .entries
            .iter()
            .flat_map(|e| e.addresses.iter())
            .filter_map(|a| match a {
                Address::Host(h) => Some(h.clone()),
                _ => None,
            })
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// The enabled routes of a customer.
    pub fn routes(&self, customer: AccountId) -> &[CompiledRoute] {
        self.routes.get(&customer).map_or(&[], Vec::as_slice)
    }
}

/// The current snapshot, shared by every reader and replaced atomically.
#[derive(Debug)]
pub struct SharedSnapshot {
    current: ArcSwap<Snapshot>,
}

impl SharedSnapshot {
    /// Starts with `snapshot`.
    pub fn new(snapshot: Snapshot) -> Self {
        Self {
            current: ArcSwap::from_pointee(snapshot),
        }
    }

    /// The current snapshot; cheap, never blocks, never waits for a writer.
    pub fn load(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Replaces the snapshot; readers holding the old one keep it until
    /// they drop it.
    pub fn publish(&self, snapshot: Snapshot) {
        self.current.store(Arc::new(snapshot));
    }
}

#[cfg(test)]
mod tests;
