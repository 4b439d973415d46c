//! Carrier passwords at rest: Tollgate must recover them (it answers the
//! carrier's 401/407 with them), so they are encrypted, not hashed
//! (ChaCha20-Poly1305, a fresh nonce each), with a key kept apart from the
//! database: `TOLLGATE_SECRET_KEY` (64 hex digits), or else the file
//! `FILE.key` beside the database, created readable by its owner only on
//! first start. Back that file up with the database: without it the
//! passwords cannot be read back.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use tollgate_policy::FieldError;

use crate::StoreError;

/// What marks a stored value as sealed (and by which scheme).
const SEALED: &str = "enc1:";

/// The key that seals and opens stored secrets.
pub(crate) struct Secrets {
    key: LessSafeKey,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets(***)")
    }
}

impl Secrets {
    /// The key for the database at `database` (none: in memory, a key of
    /// this process only): from `TOLLGATE_SECRET_KEY`, else from the key
    /// file beside it, created when missing (and `create` allows it).
    pub(crate) fn for_database(database: Option<&Path>, create: bool) -> Result<Self, StoreError> {
        if let Ok(hex) = std::env::var("TOLLGATE_SECRET_KEY") {
            return Self::from_hex(hex.trim())
                .ok_or_else(|| refused("TOLLGATE_SECRET_KEY", "must be 64 hex digits (32 bytes)"));
        }
        let Some(database) = database else {
            return Ok(Self::new(&rand::random()));
        };
        let mut path = database.as_os_str().to_owned();
        path.push(".key");
        let path = std::path::PathBuf::from(path);
        let shown = path.display().to_string();
        match std::fs::read_to_string(&path) {
            Ok(text) => Self::from_hex(text.trim()).ok_or_else(|| {
                refused(
                    "store.url",
                    &format!("{shown} is not a key (64 hex digits)"),
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
                let key: [u8; 32] = rand::random();
                let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
                super::sqlite::write_private(&path, &hex)
                    .map_err(|e| refused("store.url", &format!("cannot create {shown}: {e}")))?;
                tracing::info!(file = %shown, "created the key of stored carrier passwords: back it up with the database");
                Ok(Self::new(&key))
            }
            Err(e) => Err(refused("store.url", &format!("cannot read {shown}: {e}"))),
        }
    }

    fn new(key: &[u8; 32]) -> Self {
        let unbound = UnboundKey::new(&CHACHA20_POLY1305, key).expect("a 32-byte key");
        Self {
            key: LessSafeKey::new(unbound),
        }
    }

    fn from_hex(hex: &str) -> Option<Self> {
        if hex.len() != 64 {
            return None;
        }
        let mut key = [0u8; 32];
        for (i, byte) in key.iter_mut().enumerate() {
            *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(Self::new(&key))
    }

    /// `secret` sealed for storage.
    pub(crate) fn seal(&self, secret: &str) -> String {
        let nonce: [u8; NONCE_LEN] = rand::random();
        let mut sealed = secret.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::empty(),
                &mut sealed,
            )
            .expect("sealing a password cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        format!("{SEALED}{}", STANDARD_NO_PAD.encode(out))
    }

    /// A stored value opened: sealed ones decrypted, others (stored before
    /// sealing existed) as they are.
    pub(crate) fn open(&self, stored: &str) -> Result<String, StoreError> {
        let Some(sealed) = stored.strip_prefix(SEALED) else {
            return Ok(stored.to_owned());
        };
        let wrong = || {
            refused(
                "store.url",
                "a stored carrier password does not open with this key (TOLLGATE_SECRET_KEY or the .key file beside the database)",
            )
        };
        let bytes = STANDARD_NO_PAD.decode(sealed).map_err(|_| wrong())?;
        if bytes.len() < NONCE_LEN {
            return Err(wrong());
        }
        let (nonce, body) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| wrong())?;
        let mut body = body.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::empty(), &mut body)
            .map_err(|_| wrong())?;
        String::from_utf8(plain.to_vec()).map_err(|_| wrong())
    }

    /// True when `stored` is sealed already.
    pub(crate) fn is_sealed(stored: &str) -> bool {
        stored.starts_with(SEALED)
    }
}

fn refused(field: &str, message: &str) -> StoreError {
    StoreError::invalid(FieldError::new(field, message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_with_their_key_only() {
        let secrets = Secrets::new(&[7; 32]);
        let sealed = secrets.seal("carrier-pass");
        assert!(Secrets::is_sealed(&sealed) && !sealed.contains("carrier-pass"));
        assert_ne!(sealed, secrets.seal("carrier-pass"), "a fresh nonce each");
        assert_eq!(secrets.open(&sealed).unwrap(), "carrier-pass");
        assert_eq!(
            secrets.open("plain-from-before").unwrap(),
            "plain-from-before"
        );
        assert!(Secrets::new(&[8; 32]).open(&sealed).is_err(), "another key");
        assert!(secrets.open("enc1:AAAA").is_err());
        assert!(Secrets::from_hex(&"ab".repeat(32)).is_some());
        assert!(Secrets::from_hex("abc").is_none());
    }
}
