//! Stateless digest nonces.
//!
//! A nonce carries its own issue time and a counter, signed with
//! HMAC-SHA-256 over those, the realm and (optionally) the client's address:
//!
//! ```text
//! base64url( issued_at:u64be ‖ counter:u64be ‖ HMAC(key, issued_at ‖ counter ‖ realm ‖ addr)[..16] )
//! ```
//!
//! A server verifies it without keeping any state, and tells a forged nonce
//! (answer 403) from an expired genuine one (answer 407 with `stale=true`).
//! Replay protection (nonce-count must grow) needs state and lives with the
//! caller; the counter makes every nonce unique so that state stays small.

use std::net::IpAddr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

const TAG_LEN: usize = 16;
const RAW_LEN: usize = 8 + 8 + TAG_LEN;
/// Length of an issued nonce in characters.
pub const NONCE_LEN: usize = 43;
/// Seconds a nonce may appear to come from the future (clock steps between
/// nodes sharing a key).
const FUTURE_SKEW_SECS: u64 = 5;

/// Why a nonce was not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NonceError {
    /// Not issued with this key, for this realm and address: a forgery or
    /// garbage.
    #[error("nonce was not issued by this server")]
    Forged,
    /// Genuine but older than the allowed age: challenge again with
    /// `stale=true`.
    #[error("nonce expired")]
    Expired,
}

/// What a genuine nonce says about itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NonceInfo {
    /// Unix seconds when it was issued.
    pub issued_at: u64,
    /// The issuer's counter value.
    pub counter: u64,
}

/// Issues and checks nonces with one secret key.
#[derive(Clone)]
pub struct NonceSigner {
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for NonceSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NonceSigner { key: *** }")
    }
}

impl NonceSigner {
    /// A signer with a 32-byte secret key (random per deployment; shared by
    /// the nodes of a cluster).
    pub fn new(key: &[u8; 32]) -> Self {
        Self {
            mac: Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length"),
        }
    }

    fn tag(&self, issued_at: u64, counter: u64, realm: &[u8], addr: Option<IpAddr>) -> [u8; 32] {
        let mut mac = self.mac.clone();
        mac.update(&issued_at.to_be_bytes());
        mac.update(&counter.to_be_bytes());
        mac.update(&(realm.len() as u64).to_be_bytes());
        mac.update(realm);
        match addr {
            None => mac.update(&[0]),
            Some(IpAddr::V4(v4)) => {
                mac.update(&[4]);
                mac.update(&v4.octets());
            }
            Some(IpAddr::V6(v6)) => {
                mac.update(&[6]);
                mac.update(&v6.octets());
            }
        }
        mac.finalize().into_bytes().into()
    }

    /// Issues a nonce at `now` (Unix seconds), bound to `realm` and, when
    /// given, the client's address.
    pub fn issue(&self, now: u64, counter: u64, realm: &[u8], addr: Option<IpAddr>) -> String {
        let mut raw = [0u8; RAW_LEN];
        raw[..8].copy_from_slice(&now.to_be_bytes());
        raw[8..16].copy_from_slice(&counter.to_be_bytes());
        raw[16..].copy_from_slice(&self.tag(now, counter, realm, addr)[..TAG_LEN]);
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// Checks a nonce received at `now`: genuine for this realm and address,
    /// and at most `max_age` seconds old.
    pub fn check(
        &self,
        nonce: &[u8],
        now: u64,
        max_age: u64,
        realm: &[u8],
        addr: Option<IpAddr>,
    ) -> Result<NonceInfo, NonceError> {
        if nonce.len() != NONCE_LEN {
            return Err(NonceError::Forged);
        }
        let mut raw = [0u8; RAW_LEN + 2];
        let n = URL_SAFE_NO_PAD
            .decode_slice(nonce, &mut raw)
            .map_err(|_| NonceError::Forged)?;
        if n != RAW_LEN {
            return Err(NonceError::Forged);
        }
        let issued_at = u64::from_be_bytes(raw[..8].try_into().unwrap_or_default());
        let counter = u64::from_be_bytes(raw[8..16].try_into().unwrap_or_default());
        let expected = self.tag(issued_at, counter, realm, addr);
        let genuine: bool =
            subtle::ConstantTimeEq::ct_eq(&expected[..TAG_LEN], &raw[16..RAW_LEN]).into();
        if !genuine || issued_at > now.saturating_add(FUTURE_SKEW_SECS) {
            return Err(NonceError::Forged);
        }
        if now.saturating_sub(issued_at) > max_age {
            return Err(NonceError::Expired);
        }
        Ok(NonceInfo { issued_at, counter })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> NonceSigner {
        NonceSigner::new(&[7; 32])
    }

    #[test]
    fn genuine_nonce_round_trips() {
        let addr = Some("192.0.2.7".parse().unwrap());
        let n = signer().issue(1_000, 42, b"tollgate", addr);
        assert_eq!(n.len(), NONCE_LEN);
        assert_eq!(
            signer().check(n.as_bytes(), 1_010, 300, b"tollgate", addr),
            Ok(NonceInfo {
                issued_at: 1_000,
                counter: 42
            })
        );
    }

    #[test]
    fn expiry_is_told_apart_from_forgery() {
        let addr = Some("2001:db8::1".parse().unwrap());
        let n = signer().issue(1_000, 1, b"r", addr);
        let s = signer();
        assert_eq!(
            s.check(n.as_bytes(), 1_301, 300, b"r", addr),
            Err(NonceError::Expired)
        );
        assert_eq!(
            s.check(n.as_bytes(), 1_010, 300, b"other", addr),
            Err(NonceError::Forged)
        );
        assert_eq!(
            s.check(
                n.as_bytes(),
                1_010,
                300,
                b"r",
                Some("2001:db8::2".parse().unwrap())
            ),
            Err(NonceError::Forged)
        );
        assert_eq!(
            s.check(n.as_bytes(), 1_010, 300, b"r", None),
            Err(NonceError::Forged)
        );
        assert_eq!(
            NonceSigner::new(&[8; 32]).check(n.as_bytes(), 1_010, 300, b"r", addr),
            Err(NonceError::Forged)
        );
        assert_eq!(
            s.check(n.as_bytes(), 900, 300, b"r", addr),
            Err(NonceError::Forged)
        );
        let mut tampered = n.into_bytes();
        tampered[3] = if tampered[3] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            s.check(&tampered, 1_010, 300, b"r", addr),
            Err(NonceError::Forged)
        );
        assert_eq!(
            s.check(b"short", 1_010, 300, b"r", addr),
            Err(NonceError::Forged)
        );
        assert_eq!(
            s.check(&[b'!'; NONCE_LEN], 1_010, 300, b"r", addr),
            Err(NonceError::Forged)
        );
    }
}
