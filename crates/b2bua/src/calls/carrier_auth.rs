//! Tollgate as a digest client towards carriers (RFC 7616 with qop=auth):
//! answering a gateway's 401/407, and reusing its nonce on the next INVITE
//! to the same gateway so that a carrier challenging every call costs one
//! round trip per call, not two.

use std::borrow::Cow;

use tollgate_sip::digest::{self, Challenge};
use tollgate_sip::header::AuthValue;
use tollgate_sip::{Head, HeaderKind};

use crate::core::new_tag;

/// The gateway credentials Tollgate answers a carrier's challenge with.
#[derive(Clone, Debug)]
pub(super) struct Credentials {
    pub(super) username: String,
    pub(super) password: String,
}

/// A carrier's challenge, kept to answer: the header to answer it in, and
/// the last nonce-count used with its nonce.
#[derive(Clone, Debug)]
pub(super) struct CarrierNonce {
    header: &'static str,
    challenge: Challenge<'static>,
    nc: u32,
}

impl CarrierNonce {
    /// The first usable challenge of the 401 (WWW-Authenticate) or 407
    /// (Proxy-Authenticate) response `head`, as the layer read it.
    pub(super) fn from_head(head: &Head<'_, '_>, code: u16) -> Option<Self> {
        let (kind, header) = if code == 401 {
            (HeaderKind::WwwAuthenticate, "Authorization")
        } else {
            (HeaderKind::ProxyAuthenticate, "Proxy-Authorization")
        };
        let challenge = head
            .values(kind)
            .filter_map(|v| AuthValue::parse(v).ok())
            .find_map(|v| {
                Challenge::parse(&v).ok().map(|c| Challenge {
                    realm: Cow::Owned(c.realm.into_owned()),
                    nonce: Cow::Owned(c.nonce.into_owned()),
                    opaque: c.opaque.map(|o| Cow::Owned(o.into_owned())),
                    ..c
                })
            })?;
        Some(Self {
            header,
            challenge,
            nc: 0,
        })
    }

    /// With qop=auth the nonce may answer later requests too, each with the
    /// next nonce-count; without it, only the request it challenged.
    pub(super) fn reusable(&self) -> bool {
        self.challenge.qop_auth
    }

    /// The header answering the challenge for `method` on `uri`, with the
    /// next nonce-count.
    pub(super) fn answer(
        &mut self,
        creds: &Credentials,
        method: &[u8],
        uri: &str,
    ) -> (&'static str, String) {
        self.nc = self.nc.saturating_add(1);
        let cnonce = new_tag();
        let value = digest::answer(
            &self.challenge,
            &digest::Answer {
                username: creds.username.as_bytes(),
                password: creds.password.as_bytes(),
                method,
                uri: uri.as_bytes(),
                cnonce: cnonce.as_bytes(),
                nc: self.nc,
            },
        );
        (self.header, value)
    }
}
