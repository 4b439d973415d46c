//! HTTP digest authentication as SIP uses it (RFC 3261 §22, RFC 2617,
//! RFC 7616, RFC 8760): MD5, SHA-256 and SHA-512-256, with `qop=auth` or
//! without qop for old clients, and the `-sess` variants.
//!
//! Both sides are here: a server builds [`Challenge`]s and verifies
//! [`Credentials`] against a stored HA1; a client reads a challenge with
//! [`Challenge::parse`] and answers it with [`answer`]. The hot path (verify)
//! hashes into stack buffers and never allocates.
//!
//! Stateless nonces are in [`nonce`].

pub mod nonce;

use std::borrow::Cow;
use std::fmt::Write as _;

use md5::Md5;
use sha2::{Digest, Sha256, Sha512_256};
use subtle::ConstantTimeEq;

use crate::header::AuthValue;

/// The hash function behind a digest algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Hash {
    /// MD5 (RFC 2617).
    Md5,
    /// SHA-256 (RFC 7616, RFC 8760).
    Sha256,
    /// SHA-512/256 (RFC 7616, RFC 8760).
    Sha512_256,
}

impl Hash {
    /// Every supported hash, strongest first.
    pub const ALL: [Self; 3] = [Self::Sha512_256, Self::Sha256, Self::Md5];

    /// Length of the hex-encoded digest.
    pub fn hex_len(self) -> usize {
        match self {
            Self::Md5 => 32,
            Self::Sha256 | Self::Sha512_256 => 64,
        }
    }

    /// The algorithm token without `-sess`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Md5 => "MD5",
            Self::Sha256 => "SHA-256",
            Self::Sha512_256 => "SHA-512-256",
        }
    }
}

/// A digest `algorithm` value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Algorithm {
    /// The hash function.
    pub hash: Hash,
    /// True for the `-sess` variant, whose HA1 also covers nonce and cnonce.
    pub sess: bool,
}

impl Algorithm {
    /// `MD5`, the default when a challenge or credentials name none.
    pub const MD5: Self = Self {
        hash: Hash::Md5,
        sess: false,
    };
    /// `SHA-256`.
    pub const SHA256: Self = Self {
        hash: Hash::Sha256,
        sess: false,
    };
    /// `SHA-512-256`.
    pub const SHA512_256: Self = Self {
        hash: Hash::Sha512_256,
        sess: false,
    };

    /// Reads an algorithm token, ignoring ASCII case.
    pub fn from_token(token: &[u8]) -> Option<Self> {
        let (base, sess) = match token.len().checked_sub(5) {
            Some(n) if token[n..].eq_ignore_ascii_case(b"-sess") => (&token[..n], true),
            _ => (token, false),
        };
        let hash = Hash::ALL
            .into_iter()
            .find(|h| base.eq_ignore_ascii_case(h.name().as_bytes()))?;
        Some(Self { hash, sess })
    }
}

impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.hash.name())?;
        if self.sess {
            f.write_str("-sess")?;
        }
        Ok(())
    }
}

/// A hex digest in a stack buffer: the output of every hashing step.
#[derive(Clone, Copy)]
pub struct HexDigest {
    buf: [u8; 64],
    len: usize,
}

impl HexDigest {
    /// The lowercase hex text.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// The hex text as a string.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }
}

impl std::fmt::Debug for HexDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

fn to_hex(bytes: &[u8]) -> HexDigest {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = HexDigest {
        buf: [0; 64],
        len: bytes.len() * 2,
    };
    for (i, b) in bytes.iter().enumerate() {
        out.buf[2 * i] = HEX[usize::from(b >> 4)];
        out.buf[2 * i + 1] = HEX[usize::from(b & 0xf)];
    }
    out
}

/// Hashes the concatenation of `parts` separated by `:`.
pub fn hash_joined(hash: Hash, parts: &[&[u8]]) -> HexDigest {
    fn run<D: Digest>(parts: &[&[u8]]) -> HexDigest {
        let mut d = D::new();
        for (i, p) in parts.iter().enumerate() {
            if i > 0 {
                d.update(b":");
            }
            d.update(p);
        }
        to_hex(&d.finalize())
    }
    match hash {
        Hash::Md5 => run::<Md5>(parts),
        Hash::Sha256 => run::<Sha256>(parts),
        Hash::Sha512_256 => run::<Sha512_256>(parts),
    }
}

/// HA1 = H(username ":" realm ":" password): what the store keeps instead
/// of the password, once per hash.
pub fn ha1(hash: Hash, username: &[u8], realm: &[u8], password: &[u8]) -> HexDigest {
    hash_joined(hash, &[username, realm, password])
}

/// The inputs of a digest response other than HA1.
#[derive(Clone, Copy, Debug)]
pub struct ResponseInput<'a> {
    /// The algorithm.
    pub algorithm: Algorithm,
    /// The server nonce.
    pub nonce: &'a [u8],
    /// `Some((nc, cnonce))` with `qop=auth`; `None` for RFC 2069 clients.
    pub qop_auth: Option<(&'a [u8], &'a [u8])>,
    /// The request method.
    pub method: &'a [u8],
    /// The digest-uri.
    pub uri: &'a [u8],
}

/// Computes the expected `response` from a stored HA1 (RFC 7616 §3.4.1).
pub fn response(ha1: &[u8], input: &ResponseInput<'_>) -> HexDigest {
    let hash = input.algorithm.hash;
    let ha2 = hash_joined(hash, &[input.method, input.uri]);
    let sess_ha1;
    let ha1 = match (input.algorithm.sess, input.qop_auth) {
        (true, Some((_, cnonce))) => {
            sess_ha1 = hash_joined(hash, &[ha1, input.nonce, cnonce]);
            sess_ha1.as_bytes()
        }
        _ => ha1,
    };
    match input.qop_auth {
        Some((nc, cnonce)) => hash_joined(
            hash,
            &[ha1, input.nonce, nc, cnonce, b"auth", ha2.as_bytes()],
        ),
        None => hash_joined(hash, &[ha1, input.nonce, ha2.as_bytes()]),
    }
}

/// Why credentials cannot be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialsError {
    /// Not the Digest scheme.
    #[error("authentication scheme is not Digest")]
    NotDigest,
    /// A parameter is malformed or repeated.
    #[error("malformed digest parameter")]
    Malformed,
    /// username, realm, nonce, uri or response is missing, or qop=auth
    /// without nc and cnonce.
    #[error("required digest parameter missing")]
    Missing,
    /// An algorithm Tollgate does not implement.
    #[error("unsupported digest algorithm")]
    UnsupportedAlgorithm,
    /// A qop other than `auth` (auth-int is not offered).
    #[error("unsupported qop")]
    UnsupportedQop,
}

/// Removes the backslash escapes of a quoted-string's contents; borrows
/// when there are none (the usual case).
pub fn unescape_quoted(raw: &[u8]) -> Cow<'_, [u8]> {
    if !raw.contains(&b'\\') {
        return Cow::Borrowed(raw);
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut bytes = raw.iter();
    while let Some(&b) = bytes.next() {
        if b == b'\\' {
            if let Some(&next) = bytes.next() {
                out.push(next);
            }
        } else {
            out.push(b);
        }
    }
    Cow::Owned(out)
}

/// Digest credentials from an Authorization or Proxy-Authorization header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials<'b> {
    /// The user name (escapes removed).
    pub username: Cow<'b, [u8]>,
    /// The realm (escapes removed).
    pub realm: Cow<'b, [u8]>,
    /// The nonce, as the server issued it.
    pub nonce: &'b [u8],
    /// The digest-uri; the server checks it against the Request-URI.
    pub uri: Cow<'b, [u8]>,
    /// The client's response, hex.
    pub response: &'b [u8],
    /// The algorithm (MD5 when absent).
    pub algorithm: Algorithm,
    /// `Some((nc, cnonce))` when `qop=auth`.
    pub qop_auth: Option<(&'b [u8], &'b [u8])>,
    /// The opaque value echoed from the challenge.
    pub opaque: Option<&'b [u8]>,
}

impl<'b> Credentials<'b> {
    /// Reads digest credentials.
    pub fn parse(value: &AuthValue<'b>) -> Result<Self, CredentialsError> {
        if !value.is_digest() {
            return Err(CredentialsError::NotDigest);
        }
        let mut f: [Option<&'b [u8]>; 10] = [None; 10];
        const NAMES: [&[u8]; 10] = [
            b"username",
            b"realm",
            b"nonce",
            b"uri",
            b"response",
            b"algorithm",
            b"qop",
            b"nc",
            b"cnonce",
            b"opaque",
        ];
        for p in value.params() {
            let p = p.map_err(|_| CredentialsError::Malformed)?;
            if let Some(i) = NAMES.iter().position(|n| p.name.eq_ignore_ascii_case(n))
                && f[i].replace(p.value).is_some()
            {
                return Err(CredentialsError::Malformed);
            }
        }
        let [
            username,
            realm,
            nonce,
            uri,
            response,
            algorithm,
            qop,
            nc,
            cnonce,
            opaque,
        ] = f;
        let algorithm = match algorithm {
            None => Algorithm::MD5,
            Some(a) => Algorithm::from_token(a).ok_or(CredentialsError::UnsupportedAlgorithm)?,
        };
        let qop_auth = match qop {
            None => None,
            Some(q) if q.eq_ignore_ascii_case(b"auth") => {
                let nc = nc.ok_or(CredentialsError::Missing)?;
                if nc.len() != 8 || !nc.iter().all(u8::is_ascii_hexdigit) {
                    return Err(CredentialsError::Malformed);
                }
                Some((nc, cnonce.ok_or(CredentialsError::Missing)?))
            }
            Some(_) => return Err(CredentialsError::UnsupportedQop),
        };
        let (Some(username), Some(realm), Some(nonce), Some(uri), Some(response)) =
            (username, realm, nonce, uri, response)
        else {
            return Err(CredentialsError::Missing);
        };
        Ok(Self {
            username: unescape_quoted(username),
            realm: unescape_quoted(realm),
            nonce,
            uri: unescape_quoted(uri),
            response,
            algorithm,
            qop_auth,
            opaque,
        })
    }

    /// The nonce-count as a number, when `qop=auth`.
    pub fn nonce_count(&self) -> Option<u32> {
        let (nc, _) = self.qop_auth?;
        u32::from_str_radix(std::str::from_utf8(nc).ok()?, 16).ok()
    }

    /// Checks the response against a stored HA1 for `method`, in constant
    /// time. The caller has already checked the nonce and that `uri`
    /// matches the Request-URI.
    pub fn verify(&self, ha1: &[u8], method: &[u8]) -> bool {
        let expected = response(
            ha1,
            &ResponseInput {
                algorithm: self.algorithm,
                nonce: self.nonce,
                qop_auth: self.qop_auth,
                method,
                uri: &self.uri,
            },
        );
        let given = self.response;
        given.len() == expected.as_bytes().len()
            && bool::from(given.to_ascii_lowercase().ct_eq(expected.as_bytes()))
    }
}

/// A digest challenge, as a server sends it or a client receives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge<'a> {
    /// The realm.
    pub realm: Cow<'a, [u8]>,
    /// The nonce.
    pub nonce: Cow<'a, [u8]>,
    /// The algorithm.
    pub algorithm: Algorithm,
    /// True when `qop` offers `auth`.
    pub qop_auth: bool,
    /// An opaque value the client must echo.
    pub opaque: Option<Cow<'a, [u8]>>,
    /// True when the previous nonce expired but the credentials were right:
    /// the client retries without asking the user (RFC 7616 §3.3).
    pub stale: bool,
}

/// Writes a quoted-string, escaping `"` and `\`.
fn push_quoted(out: &mut String, value: &[u8]) {
    out.push('"');
    for c in String::from_utf8_lossy(value).chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        if c != '\r' && c != '\n' {
            out.push(c);
        }
    }
    out.push('"');
}

impl<'a> Challenge<'a> {
    /// The header value: `Digest realm="…", nonce="…", algorithm=…, qop="auth"…`.
    pub fn to_header_value(&self) -> String {
        let mut out = String::with_capacity(160);
        out.push_str("Digest realm=");
        push_quoted(&mut out, &self.realm);
        out.push_str(", nonce=");
        push_quoted(&mut out, &self.nonce);
        let _ = write!(out, ", algorithm={}", self.algorithm);
        if self.qop_auth {
            out.push_str(", qop=\"auth\"");
        }
        if let Some(opaque) = &self.opaque {
            out.push_str(", opaque=");
            push_quoted(&mut out, opaque);
        }
        if self.stale {
            out.push_str(", stale=true");
        }
        out
    }

    /// Reads a WWW-Authenticate or Proxy-Authenticate value.
    pub fn parse(value: &AuthValue<'a>) -> Result<Self, CredentialsError> {
        if !value.is_digest() {
            return Err(CredentialsError::NotDigest);
        }
        let (mut realm, mut nonce, mut opaque) = (None, None, None);
        let (mut algorithm, mut qop_auth, mut stale) = (Algorithm::MD5, false, false);
        for p in value.params() {
            let p = p.map_err(|_| CredentialsError::Malformed)?;
            let name = p.name.to_ascii_lowercase();
            match name.as_slice() {
                b"realm" => realm = Some(unescape_quoted(p.value)),
                b"nonce" => nonce = Some(unescape_quoted(p.value)),
                b"opaque" => opaque = Some(unescape_quoted(p.value)),
                b"algorithm" => {
                    algorithm = Algorithm::from_token(p.value)
                        .ok_or(CredentialsError::UnsupportedAlgorithm)?;
                }
                b"qop" => {
                    qop_auth = p
                        .value
                        .split(|&b| b == b',')
                        .any(|q| crate::lex::trim(q).eq_ignore_ascii_case(b"auth"));
                    if !qop_auth {
                        return Err(CredentialsError::UnsupportedQop);
                    }
                }
                b"stale" => stale = p.value.eq_ignore_ascii_case(b"true"),
                _ => {}
            }
        }
        Ok(Self {
            realm: realm.ok_or(CredentialsError::Missing)?,
            nonce: nonce.ok_or(CredentialsError::Missing)?,
            algorithm,
            qop_auth,
            opaque,
            stale,
        })
    }
}

/// What a client needs to answer a challenge.
#[derive(Clone, Copy, Debug)]
pub struct Answer<'a> {
    /// The user name.
    pub username: &'a [u8],
    /// The password (in clear: a client must hash with the server's nonce).
    pub password: &'a [u8],
    /// The request method.
    pub method: &'a [u8],
    /// The digest-uri: the Request-URI of the request being sent.
    pub uri: &'a [u8],
    /// A fresh client nonce (unpredictable; used when qop=auth).
    pub cnonce: &'a [u8],
    /// The nonce-count for this nonce, from 1.
    pub nc: u32,
}

/// Builds the Authorization / Proxy-Authorization value answering
/// `challenge` (RFC 7616 §3.4).
pub fn answer(challenge: &Challenge<'_>, a: &Answer<'_>) -> String {
    let h1 = ha1(
        challenge.algorithm.hash,
        a.username,
        &challenge.realm,
        a.password,
    );
    let nc = format!("{:08x}", a.nc);
    let qop_auth = challenge.qop_auth.then_some((nc.as_bytes(), a.cnonce));
    let resp = response(
        h1.as_bytes(),
        &ResponseInput {
            algorithm: challenge.algorithm,
            nonce: &challenge.nonce,
            qop_auth,
            method: a.method,
            uri: a.uri,
        },
    );
    let mut out = String::with_capacity(256);
    out.push_str("Digest username=");
    push_quoted(&mut out, a.username);
    out.push_str(", realm=");
    push_quoted(&mut out, &challenge.realm);
    out.push_str(", nonce=");
    push_quoted(&mut out, &challenge.nonce);
    out.push_str(", uri=");
    push_quoted(&mut out, a.uri);
    let _ = write!(
        out,
        ", response=\"{}\", algorithm={}",
        resp.as_str(),
        challenge.algorithm
    );
    if challenge.qop_auth {
        out.push_str(", qop=auth, nc=");
        out.push_str(&nc);
        out.push_str(", cnonce=");
        push_quoted(&mut out, a.cnonce);
    }
    if let Some(opaque) = &challenge.opaque {
        out.push_str(", opaque=");
        push_quoted(&mut out, opaque);
    }
    out
}

#[cfg(test)]
mod tests;
