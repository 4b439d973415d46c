//! Who is calling: identification of an out-of-dialog request against the
//! snapshot, by source address (IP authentication) or by digest
//! credentials (SIP users), with the 407 challenge when neither applies.
//!
//! ```text
//!   source IP ─► egress candidates ─► transport matches? ─► tech prefix? ─► Identified::Ip
//!        │ none
//!        ▼
//!   Proxy-Authorization? ─no─► Challenge
//!        │ yes: nonce genuine (else 403) / not expired (else Challenge stale=true)
//!        ▼       digest-uri = Request-URI, user known and password right (same 403 either way)
//!   nonce-count grows (else 403 replay) ─► IP whitelist ─► user enabled, account active ─► Identified::Digest
//! ```
//!
//! ACK and CANCEL are never run through this: they belong to a transaction
//! or dialog that was identified already.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;

use tollgate_sip::digest::nonce::{NonceError, NonceSigner};
use tollgate_sip::digest::{Algorithm, Challenge, Credentials};
use tollgate_sip::header::AuthValue;

use tollgate_sip::transaction::Transport;

use crate::model::{Account, AccountStatus, DigestPolicy, IpAuthEntry, Protocol, SipUser};
use crate::snapshot::Snapshot;

/// What identification needs to know about a request.
#[derive(Clone, Copy, Debug)]
pub struct RequestFacts<'a> {
    /// Where it came from.
    pub source: SocketAddr,
    /// The transport it came on.
    pub transport: Transport,
    /// The request method (for the digest response).
    pub method: &'a [u8],
    /// The Request-URI as received (the digest-uri must equal it).
    pub request_uri: &'a [u8],
    /// The user part of the Request-URI: the called number.
    pub called: &'a str,
    /// The Proxy-Authorization value, when present.
    pub proxy_authorization: Option<&'a [u8]>,
    /// The users of the From and To URIs: a request that names a known
    /// SIP user there is challenged with that user's digest algorithms.
    pub named_users: [Option<&'a [u8]>; 2],
    /// Unix seconds now.
    pub now: u64,
}

/// Who the caller is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Identity<'s> {
    /// By source address.
    Ip {
        /// The matching egress entry.
        entry: &'s IpAuthEntry,
        /// Its account.
        account: &'s Account,
        /// The called number with the entry's tech prefix removed.
        called: String,
    },
    /// By digest credentials.
    Digest {
        /// The user.
        user: &'s SipUser,
        /// Its account.
        account: &'s Account,
    },
}

/// Why a request is refused (all answered 403; the reason is for logs,
/// metrics and threat detection, never for the caller).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Denial {
    /// The address is shared by several entries and no tech prefix starts
    /// the called number.
    NoTechPrefixMatch,
    /// Entries match the address but none for this transport.
    TransportMismatch,
    /// Unknown user or wrong password: deliberately indistinguishable.
    BadCredentials,
    /// The nonce was not issued by this server (for this address).
    ForgedNonce,
    /// The nonce-count did not grow: a replayed request.
    Replay,
    /// The user's IP whitelist does not contain the source.
    NotWhitelisted,
    /// The user is disabled or its account inactive.
    Disabled,
}

/// The outcome of identification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision<'s> {
    /// Known caller.
    Identified(Identity<'s>),
    /// Answer 407 with [`Authenticator::challenges`]; `stale` when the
    /// credentials were right but the nonce expired.
    Challenge {
        /// Set `stale=true` in the challenges.
        stale: bool,
        /// The digest policy of the user the request names; none: the
        /// server's default algorithms.
        policy: Option<DigestPolicy>,
    },
    /// Answer 403.
    Deny(Denial),
}

/// An entry's protocol matches the transport a request came on: either
/// TLS protocol matches TLS.
fn transport_matches(entry: Protocol, came_on: Transport) -> bool {
    Transport::from(entry) == came_on
}

/// Highest nonce-count seen per nonce, so a replayed request is refused.
/// Sharded by nonce and bounded in size: each shard keeps two generations
/// of nonces, and when the current one fills it becomes the previous one
/// and the oldest generation is forgotten. Every step is O(1), however
/// many nonces are live; a nonce is remembered until two generations have
/// filled after its last use (size the capacity for nonce lifetime times
/// challenge rate).
#[derive(Debug)]
struct NonceCounts {
    shards: Vec<Mutex<Generations>>,
    /// Nonces per generation in a shard.
    per_generation: usize,
}

/// A shard's nonces, by generation: the highest nonce-count seen of each.
#[derive(Debug, Default)]
struct Generations {
    current: HashMap<Box<str>, u32>,
    previous: HashMap<Box<str>, u32>,
}

impl NonceCounts {
    fn new(capacity: usize) -> Self {
        let shards = 16;
        Self {
            shards: (0..shards)
                .map(|_| Mutex::new(Generations::default()))
                .collect(),
            per_generation: (capacity / shards / 2).max(8),
        }
    }

    /// Records `nc` for `nonce`; false when it does not exceed the last one.
    fn advance(&self, nonce: &str, nc: u32) -> bool {
        let shard = nonce.bytes().fold(0usize, |h, b| {
            h.wrapping_mul(31).wrapping_add(usize::from(b))
        });
        let mut g = self.shards[shard % self.shards.len()]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let last = g
            .current
            .get(nonce)
            .or_else(|| g.previous.get(nonce))
            .copied();
        if last.is_some_and(|last| nc <= last) {
            return false;
        }
        if g.current.len() >= self.per_generation && !g.current.contains_key(nonce) {
            g.previous = std::mem::take(&mut g.current);
        }
        g.previous.remove(nonce);
        g.current.insert(nonce.into(), nc);
        true
    }
}

/// Identifies requests and issues challenges for one realm.
#[derive(Debug)]
pub struct Authenticator {
    realm: String,
    algorithms: Vec<Algorithm>,
    signer: NonceSigner,
    nonce_lifetime: u64,
    counts: NonceCounts,
    counter: std::sync::atomic::AtomicU64,
}

impl Authenticator {
    /// An authenticator for `realm`, offering `algorithms` in order (e.g.
    /// MD5) to users without a digest policy of their own or of their
    /// account, signing nonces with `key`, valid `nonce_lifetime` seconds.
    pub fn new(
        realm: &str,
        algorithms: Vec<Algorithm>,
        key: &[u8; 32],
        nonce_lifetime: u64,
    ) -> Self {
        Self {
            realm: realm.into(),
            algorithms,
            signer: NonceSigner::new(key),
            nonce_lifetime,
            counts: NonceCounts::new(100_000),
            counter: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// The algorithms offered under `policy` (none: the server's).
    fn offered(&self, policy: Option<DigestPolicy>) -> &[Algorithm] {
        match policy {
            Some(p) => p.algorithms(),
            None => &self.algorithms,
        }
    }

    /// The Proxy-Authenticate values for a 407 to `source`: one challenge
    /// per algorithm of `policy` (see [`Decision::Challenge`]), sharing a
    /// fresh nonce bound to the address.
    pub fn challenges(
        &self,
        source: IpAddr,
        now: u64,
        stale: bool,
        policy: Option<DigestPolicy>,
    ) -> Vec<String> {
        let counter = self
            .counter
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let nonce = self
            .signer
            .issue(now, counter, self.realm.as_bytes(), Some(source));
        self.offered(policy)
            .iter()
            .map(|&algorithm| {
                Challenge {
                    realm: self.realm.as_bytes().into(),
                    nonce: nonce.as_bytes().into(),
                    algorithm,
                    qop_auth: true,
                    opaque: None,
                    stale,
                }
                .to_header_value()
            })
            .collect()
    }

    /// Decides who sent `facts`.
    pub fn identify<'s>(&self, snap: &'s Snapshot, facts: &RequestFacts<'_>) -> Decision<'s> {
        let candidates = snap.egress_candidates(facts.source.ip());
        if candidates.is_empty() {
            return self.by_digest(snap, facts);
        }
        let usable: Vec<&IpAuthEntry> = candidates
            .into_iter()
            .filter(|e| transport_matches(e.protocol, facts.transport))
            .collect();
        if usable.is_empty() {
            return Decision::Deny(Denial::TransportMismatch);
        }
        // The entry whose tech prefix starts the number wins, longest first;
        // an entry without one matches any number. Ties go to the more
        // specific address (candidates come most specific first).
        let best = usable
            .iter()
            .enumerate()
            .filter(|(_, e)| facts.called.starts_with(e.tech_prefix.as_str()))
            .max_by_key(|(i, e)| (e.tech_prefix.len(), std::cmp::Reverse(*i)))
            .map(|(_, e)| *e);
        let Some(entry) = best else {
            return Decision::Deny(Denial::NoTechPrefixMatch);
        };
        let Some(account) = snap.account(entry.account_id) else {
            return Decision::Deny(Denial::Disabled);
        };
        Decision::Identified(Identity::Ip {
            entry,
            account,
            called: facts.called[entry.tech_prefix.len()..].to_owned(),
        })
    }

    fn by_digest<'s>(&self, snap: &'s Snapshot, facts: &RequestFacts<'_>) -> Decision<'s> {
        let Some(header) = facts.proxy_authorization else {
            let named = facts.named_users.iter().flatten().find_map(|name| {
                let user = snap.user(std::str::from_utf8(name).ok()?)?;
                Some(policy_of(snap, user))
            });
            return Decision::Challenge {
                stale: false,
                policy: named.flatten(),
            };
        };
        let Some(creds) = AuthValue::parse(header)
            .ok()
            .and_then(|v| Credentials::parse(&v).ok())
        else {
            return Decision::Deny(Denial::BadCredentials);
        };
        // The user the credentials name, looked up once.
        let named = std::str::from_utf8(&creds.username)
            .ok()
            .and_then(|name| snap.user(name));
        let policy = named.and_then(|user| policy_of(snap, user));
        if creds.realm.as_ref() != self.realm.as_bytes()
            || !self.offered(policy).contains(&creds.algorithm)
        {
            // Credentials for another realm, or in an algorithm this user
            // is not offered (no downgrade to MD5 for a SHA-256 user): ask
            // again with ours.
            return Decision::Challenge {
                stale: false,
                policy,
            };
        }
        match self.signer.check(
            creds.nonce,
            facts.now,
            self.nonce_lifetime,
            self.realm.as_bytes(),
            Some(facts.source.ip()),
        ) {
            Ok(_) => {}
            Err(NonceError::Forged) => return Decision::Deny(Denial::ForgedNonce),
            Err(NonceError::Expired) => {
                // Stale only when the credentials were otherwise right.
                return match verified(named, facts, &creds) {
                    Some(_) => Decision::Challenge {
                        stale: true,
                        policy,
                    },
                    None => Decision::Deny(Denial::BadCredentials),
                };
            }
        };
        let Some(user) = verified(named, facts, &creds) else {
            return Decision::Deny(Denial::BadCredentials);
        };
        let nc = creds.nonce_count().unwrap_or(1);
        let nonce = std::str::from_utf8(creds.nonce).unwrap_or_default();
        if !self.counts.advance(nonce, nc) {
            return Decision::Deny(Denial::Replay);
        }
        if !user.ip_whitelist.is_empty()
            && !user
                .ip_whitelist
                .iter()
                .any(|n| n.contains(&facts.source.ip()))
        {
            return Decision::Deny(Denial::NotWhitelisted);
        }
        match snap.account(user.account_id) {
            Some(account) if user.enabled && account.status == AccountStatus::Active => {
                Decision::Identified(Identity::Digest { user, account })
            }
            _ => Decision::Deny(Denial::Disabled),
        }
    }
}

/// `user` (the one `creds` name) when its stored HA1 verifies `creds` for
/// this request.
fn verified<'s>(
    user: Option<&'s SipUser>,
    facts: &RequestFacts<'_>,
    creds: &Credentials<'_>,
) -> Option<&'s SipUser> {
    if !digest_uri_matches(&creds.uri, facts.request_uri) {
        return None;
    }
    let user = user?;
    let ha1 = user.ha1.get(creds.algorithm.hash);
    creds.verify(ha1.as_bytes(), facts.method).then_some(user)
}

/// The digest policy `user` is under: its own, else its account's; none
/// means the server's default algorithms.
fn policy_of(snap: &Snapshot, user: &SipUser) -> Option<DigestPolicy> {
    user.digest
        .or_else(|| snap.account(user.account_id).and_then(|a| a.digest))
}

/// RFC 3261 §22.4 wants the digest-uri to equal the Request-URI; deployed
/// clients (SIPp among them) often send just `sip:host[:port]` of the
/// server. Both are accepted: the response still binds the uri it names,
/// and the growing nonce-count already stops replays. A digest-uri for
/// another host is refused.
fn digest_uri_matches(digest_uri: &[u8], request_uri: &[u8]) -> bool {
    if digest_uri == request_uri {
        return true;
    }
    let (Ok(d), Ok(r)) = (
        tollgate_sip::Uri::parse(digest_uri),
        tollgate_sip::Uri::parse(request_uri),
    ) else {
        return false;
    };
    match (d.as_sip(), r.as_sip()) {
        (Some(d), Some(r)) => {
            d.host == r.host && (d.port.is_none() || d.port == r.port) && d.user.is_none()
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests;
