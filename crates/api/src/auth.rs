//! Bearer-token authentication: the token's SHA-256 is looked up in the
//! store; the matching token's name becomes the audit log's actor.
//!
//! Tokens are 256 random bits, so an unsalted SHA-256 suffices to store
//! them (no dictionary to precompute); what guessing costs is the
//! [`Throttle`]: past 10 failures a minute from one address, that address
//! is refused for a back-off that doubles from one second to five minutes.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use sha2::{Digest, Sha256};
use tollgate_store::Actor;

use crate::ApiState;
use crate::error::ApiError;

/// Hex SHA-256 of a token, as stored.
pub fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A new random token (32 bytes, hex).
pub fn new_token() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Failed authentications a source may make in [`WINDOW`] before it is
/// throttled.
const FREE_FAILURES: u32 = 10;
/// The window failures are counted in.
const WINDOW: Duration = Duration::from_secs(60);
/// The first back-off; each further failure while counted doubles it.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The longest back-off.
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// Sources remembered at most; beyond it the table starts afresh.
const MAX_SOURCES: usize = 10_000;

/// Failed authentications per source address, and who is refused until
/// when.
#[derive(Debug, Default)]
pub(crate) struct Throttle {
    sources: Mutex<HashMap<IpAddr, Failures>>,
}

#[derive(Debug)]
struct Failures {
    since: Instant,
    count: u32,
    backoff: Duration,
    until: Option<Instant>,
}

impl Throttle {
    /// How long `ip` must still wait, when it is throttled.
    fn wait(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let sources = self.sources.lock().unwrap_or_else(PoisonError::into_inner);
        let until = sources.get(&ip)?.until?;
        until.checked_duration_since(now).filter(|d| !d.is_zero())
    }

    /// Counts a failure of `ip`; past [`FREE_FAILURES`] in the window it
    /// is refused for the back-off, which doubles with each one.
    fn failed(&self, ip: IpAddr, now: Instant) {
        let mut sources = self.sources.lock().unwrap_or_else(PoisonError::into_inner);
        if sources.len() >= MAX_SOURCES && !sources.contains_key(&ip) {
            sources.clear();
        }
        let f = sources.entry(ip).or_insert(Failures {
            since: now,
            count: 0,
            backoff: FIRST_BACKOFF,
            until: None,
        });
        if now.duration_since(f.since) > WINDOW && f.until.is_none_or(|u| u <= now) {
            *f = Failures {
                since: now,
                count: 0,
                backoff: FIRST_BACKOFF,
                until: None,
            };
        }
        f.count += 1;
        if f.count > FREE_FAILURES {
            f.until = Some(now + f.backoff);
            tracing::warn!(
                source = %ip,
                failures = f.count,
                retry_after_s = f.backoff.as_secs(),
                "API authentication failures: source throttled"
            );
            f.backoff = (f.backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// `ip` authenticated: its failures are forgotten.
    fn succeeded(&self, ip: IpAddr) {
        let mut sources = self.sources.lock().unwrap_or_else(PoisonError::into_inner);
        sources.remove(&ip);
    }
}

/// Requires `Authorization: Bearer TOKEN`; puts the [`Actor`] in the
/// request's extensions. A source throttled for failed attempts gets 429
/// with `Retry-After`, whatever it sends.
pub(crate) async fn require_token(
    State((state, throttle)): State<(ApiState, Arc<Throttle>)>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let ip = peer.ip();
    if let Some(wait) = throttle.wait(ip, Instant::now()) {
        return Err(ApiError::too_many_requests(wait));
    }
    let token = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let name = match token {
        Some(token) => state.store.token_name(&token_hash(token.trim())).await?,
        None => None,
    };
    let Some(name) = name else {
        throttle.failed(ip, Instant::now());
        return Err(ApiError::unauthorized());
    };
    throttle.succeeded(ip);
    request.extensions_mut().insert(Actor {
        name,
        ip: Some(ip.to_string()),
    });
    Ok(next.run(request).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_past_ten_a_minute_back_off_doubling_and_success_forgets() {
        let t = Throttle::default();
        let (ip, other): (IpAddr, IpAddr) =
            ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        let start = Instant::now();
        for _ in 0..10 {
            t.failed(ip, start);
        }
        assert_eq!(t.wait(ip, start), None, "ten are free");
        t.failed(ip, start);
        assert_eq!(t.wait(ip, start), Some(Duration::from_secs(1)));
        t.failed(ip, start);
        assert_eq!(t.wait(ip, start), Some(Duration::from_secs(2)));
        assert_eq!(t.wait(other, start), None, "per source");
        let later = start + Duration::from_secs(3);
        assert_eq!(t.wait(ip, later), None, "the back-off runs out");
        for _ in 0..20 {
            t.failed(ip, later);
        }
        assert_eq!(t.wait(ip, later), Some(MAX_BACKOFF));
        t.succeeded(ip);
        assert_eq!(t.wait(ip, later), None);
    }
}
