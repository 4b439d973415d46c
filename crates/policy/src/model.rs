//! The configuration operators manage, named as the API names it: accounts
//! (customers and carriers), IP authentication entries, SIP users and
//! routes.

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::address::Address;
use crate::numbers::DialPattern;

/// Database identity of an account.
pub type AccountId = i64;
/// Database identity of an IP authentication entry.
pub type EntryId = i64;
/// Database identity of a SIP user.
pub type UserId = i64;
/// Database identity of a route.
pub type RouteId = i64;

/// Customer or carrier.
// The default (a customer) serves code and tests; the API requires the field.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AccountKind {
    /// Sends calls to Tollgate.
    #[default]
    Customer,
    /// Receives calls from Tollgate.
    Carrier,
}

/// Whether an account may carry calls.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AccountStatus {
    /// Calls are allowed.
    #[default]
    Active,
    /// Calls are refused; the configuration is kept.
    Inactive,
}

/// What to do with a carrier's final response code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReplyAction {
    /// The built-in behaviour for that code.
    Default,
    /// Try the next gateway or carrier.
    Failover,
    /// Pass a different code and reason to the caller.
    Replace,
}

/// A per-carrier rule for one response code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReplyRule {
    /// The carrier's code (300–699).
    #[schema(maximum = 699)]
    pub code: u16,
    /// What to do.
    pub action: ReplyAction,
    /// For `replace`: the code the caller gets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(maximum = 699)]
    pub new_code: Option<u16>,
    /// For `replace`: the reason phrase the caller gets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_reason: Option<String>,
}

/// Settings only carriers have.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct CarrierSettings {
    /// Other gateways of the same carrier tried after a failure (0–3).
    #[schema(maximum = 3)]
    pub gateway_failover: u8,
    /// Seconds to wait for any reply from a gateway.
    #[schema(maximum = 2147483647)]
    pub first_reply_timeout_s: u32,
    /// Seconds to wait for ringing or session progress.
    #[schema(maximum = 2147483647)]
    pub pdd_timeout_s: u32,
    /// Seconds to wait for an answer once ringing.
    #[schema(maximum = 2147483647)]
    pub ring_timeout_s: u32,
    /// Prepended to the number sent to the carrier.
    pub tech_prefix: String,
    /// Per-code overrides.
    pub reply_rules: Vec<ReplyRule>,
}

impl Default for CarrierSettings {
    fn default() -> Self {
        Self {
            gateway_failover: 0,
            first_reply_timeout_s: 3,
            pdd_timeout_s: 5,
            ring_timeout_s: 60,
            tech_prefix: String::new(),
            reply_rules: Vec::new(),
        }
    }
}

/// Which digest algorithms a SIP user is challenged with and may answer
/// in. Widely deployed stacks take the first challenge of a 407 and know
/// only MD5 (SIPp, sipvicious), or give up on any challenge that is not
/// MD5 (libre, so baresip): MD5 alone works for them all.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum DigestPolicy {
    /// MD5 only.
    #[serde(rename = "md5")]
    Md5,
    /// SHA-256 only.
    #[serde(rename = "sha256")]
    Sha256,
    /// SHA-256, then MD5 (RFC 8760 order: a client takes the first it
    /// supports).
    #[serde(rename = "sha256+md5")]
    Sha256Md5,
}

impl DigestPolicy {
    /// The algorithms offered, in order.
    pub fn algorithms(self) -> &'static [tollgate_sip::digest::Algorithm] {
        use tollgate_sip::digest::Algorithm;
        match self {
            Self::Md5 => &[Algorithm::MD5],
            Self::Sha256 => &[Algorithm::SHA256],
            Self::Sha256Md5 => &[Algorithm::SHA256, Algorithm::MD5],
        }
    }
}

/// A customer or carrier.
// The default (an active customer, no name, no limits) serves code and tests.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Account {
    /// Identity (assigned by the store).
    #[serde(default)]
    pub id: AccountId,
    /// Unique name.
    pub name: String,
    /// Customer or carrier.
    pub kind: AccountKind,
    /// Active or inactive.
    #[serde(default)]
    pub status: AccountStatus,
    /// Concurrent calls, 0 = unlimited.
    #[serde(default)]
    #[schema(maximum = 2147483647)]
    pub channels: u32,
    /// Calls per second, 0 = unlimited.
    #[serde(default)]
    #[schema(maximum = 2147483647)]
    pub cps: u32,
    /// Free text.
    #[serde(default)]
    pub notes: String,
    /// The digest algorithms of this account's SIP users that have no
    /// policy of their own; none = the server's `[sip] digest_algorithms`.
    #[serde(default)]
    pub digest: Option<DigestPolicy>,
    /// Carrier-only settings (defaults for customers).
    #[serde(flatten, default)]
    pub carrier: CarrierSettings,
}

/// Seen from the remote switch, as operators say it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// The switch sends calls to Tollgate: its source addresses identify it.
    #[default]
    Egress,
    /// The switch receives calls from Tollgate: a destination.
    Ingress,
}

/// Signalling transport of an entry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// UDP (default).
    #[default]
    Udp,
    /// TCP.
    Tcp,
    /// TLS.
    Tls,
    /// TLS with SRTP media.
    TlsSrtp,
}

/// The signalling transport of a protocol: TLS for both TLS protocols.
impl From<Protocol> for tollgate_sip::transaction::Transport {
    fn from(protocol: Protocol) -> Self {
        match protocol {
            Protocol::Udp => Self::Udp,
            Protocol::Tcp => Self::Tcp,
            Protocol::Tls | Protocol::TlsSrtp => Self::Tls,
        }
    }
}

impl Protocol {
    /// The usual port: 5061 for TLS, 5060 otherwise.
    pub fn default_port(self) -> u16 {
        match self {
            Self::Tls | Self::TlsSrtp => 5061,
            Self::Udp | Self::Tcp => 5060,
        }
    }
}

/// One switch or gateway of an account. Every field but `addresses` has a
/// default, so a request body may give only what differs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct IpAuthEntry {
    /// Identity (assigned by the store).
    pub id: EntryId,
    /// The account it belongs to.
    pub account_id: AccountId,
    /// IPs, CIDRs or (ingress only) hostnames.
    #[schema(value_type = Vec<String>)]
    pub addresses: Vec<Address>,
    /// Egress (sends us calls) or ingress (receives calls from us).
    pub direction: Direction,
    /// Concurrent calls, 0 = unlimited.
    #[schema(maximum = 2147483647)]
    pub channels: u32,
    /// Calls per second, 0 = unlimited.
    #[schema(maximum = 2147483647)]
    pub cps: u32,
    /// Transport.
    pub protocol: Protocol,
    /// Signalling port; 0 in a request means the protocol's default.
    #[schema(maximum = 65535)]
    pub port: u16,
    /// Codec names removed from offers.
    pub restricted_codecs: Vec<String>,
    /// Informational.
    pub manufacturer: String,
    /// Informational.
    pub version: String,
    /// Allowed called numbers: `e164` (default), `any` or `^regex`.
    #[schema(value_type = String)]
    pub dial_pattern: DialPattern,
    /// Prefix identifying the account on a shared address (removed).
    pub tech_prefix: String,
    /// Leading digits removed from the called number.
    #[schema(maximum = 20)]
    pub strip_digits: u8,
    /// Prepended to the caller number.
    pub cli_prefix: String,
    /// Replaces the caller number when set.
    pub force_from: String,
    /// What Tollgate answers a 401/407 from this destination with.
    pub username: String,
    /// The password for `username`; write-only, never read back.
    #[serde(skip_serializing)]
    #[schema(write_only)]
    pub password: Option<String>,
    /// Ingress only: send through this proxy (host[:port]).
    pub outbound_proxy: Option<String>,
    /// Ingress only: share of calls among a carrier's gateways.
    #[schema(maximum = 2147483647)]
    pub weight: u32,
    /// Disabled entries are ignored.
    pub enabled: bool,
    /// Confirms an egress network wider than the server's limit (by
    /// default /16 for IPv4, /32 for IPv6): everyone in it may call as
    /// this account. Kept with the entry, so the audit log shows who
    /// confirmed it.
    pub allow_wide: bool,
}

impl Default for IpAuthEntry {
    fn default() -> Self {
        Self {
            id: 0,
            account_id: 0,
            addresses: Vec::new(),
            direction: Direction::Egress,
            channels: 0,
            cps: 0,
            protocol: Protocol::Udp,
            port: 0,
            restricted_codecs: Vec::new(),
            manufacturer: String::new(),
            version: String::new(),
            dial_pattern: DialPattern::E164,
            tech_prefix: String::new(),
            strip_digits: 0,
            cli_prefix: String::new(),
            force_from: String::new(),
            username: String::new(),
            password: None,
            outbound_proxy: None,
            weight: 1,
            enabled: true,
            allow_wide: false,
        }
    }
}

/// Stored digest secrets: HA1 per algorithm for the configured realm.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ha1Set {
    /// HA1 with MD5 (hex).
    pub md5: String,
    /// HA1 with SHA-256 (hex).
    pub sha256: String,
    /// HA1 with SHA-512-256 (hex).
    pub sha512_256: String,
}

impl Ha1Set {
    /// Hashes a password for `username` in `realm`; the password itself is
    /// not kept.
    pub fn new(username: &str, realm: &str, password: &str) -> Self {
        use tollgate_sip::digest::{Hash, ha1};
        let h = |hash| {
            ha1(
                hash,
                username.as_bytes(),
                realm.as_bytes(),
                password.as_bytes(),
            )
            .as_str()
            .to_owned()
        };
        Self {
            md5: h(Hash::Md5),
            sha256: h(Hash::Sha256),
            sha512_256: h(Hash::Sha512_256),
        }
    }

    /// The HA1 for one hash function.
    pub fn get(&self, hash: tollgate_sip::digest::Hash) -> &str {
        use tollgate_sip::digest::Hash;
        match hash {
            Hash::Md5 => &self.md5,
            Hash::Sha256 => &self.sha256,
            Hash::Sha512_256 => &self.sha512_256,
        }
    }
}

/// A digest-authenticated user of an account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct SipUser {
    /// Identity (assigned by the store).
    pub id: UserId,
    /// The account it belongs to.
    pub account_id: AccountId,
    /// Unique per realm.
    pub username: String,
    /// Write-only: a new password (the API generates one when a user is
    /// created without). Only its HA1 hashes are stored.
    #[serde(skip_serializing)]
    #[schema(write_only)]
    pub password: Option<String>,
    /// Stored secrets, never serialized.
    #[serde(skip)]
    pub ha1: Ha1Set,
    /// The digest algorithms this user is challenged with; none = its
    /// account's. Every algorithm's HA1 is stored, so a change needs no
    /// new password.
    pub digest: Option<DigestPolicy>,
    /// Concurrent calls, 0 = unlimited.
    #[schema(maximum = 2147483647)]
    pub channels: u32,
    /// Calls per second, 0 = unlimited.
    #[schema(maximum = 2147483647)]
    pub cps: u32,
    /// Transport.
    pub protocol: Protocol,
    /// Allowed called numbers: `e164` (default), `any` or `^regex`.
    #[schema(value_type = String)]
    pub dial_pattern: DialPattern,
    /// Codec names removed from offers.
    pub restricted_codecs: Vec<String>,
    /// Source networks allowed; empty = any.
    #[schema(value_type = Vec<String>)]
    pub ip_whitelist: Vec<IpNet>,
    /// Disabled users cannot authenticate.
    pub enabled: bool,
}

impl Default for SipUser {
    fn default() -> Self {
        Self {
            id: 0,
            account_id: 0,
            username: String::new(),
            password: None,
            ha1: Ha1Set::default(),
            digest: None,
            channels: 0,
            cps: 0,
            protocol: Protocol::Udp,
            dial_pattern: DialPattern::E164,
            restricted_codecs: Vec::new(),
            ip_whitelist: Vec::new(),
            enabled: true,
        }
    }
}

/// Where a customer's calls may go.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Route {
    /// Identity (assigned by the store).
    pub id: RouteId,
    /// The customer account.
    pub account_id: AccountId,
    /// Only for calls that came with this tech prefix.
    pub tech_prefix: Option<String>,
    /// Number prefixes or `^regex` patterns; empty allows every number.
    pub dial_string: Vec<String>,
    /// Carrier accounts in priority order.
    pub carriers: Vec<AccountId>,
    /// Concurrent calls, 0 = unlimited.
    #[schema(maximum = 2147483647)]
    pub channels: u32,
    /// Calls per second, 0 = unlimited.
    #[schema(maximum = 2147483647)]
    pub cps: u32,
    /// Longest call in seconds, 0 = the default.
    #[schema(maximum = 2147483647)]
    pub max_duration_s: u32,
    /// Disabled routes are ignored.
    pub enabled: bool,
}

impl Default for Route {
    fn default() -> Self {
        Self {
            id: 0,
            account_id: 0,
            tech_prefix: None,
            dial_string: Vec::new(),
            carriers: Vec::new(),
            channels: 0,
            cps: 0,
            max_duration_s: 0,
            enabled: true,
        }
    }
}

/// The whole configuration, as the store loads it to compile a snapshot.
#[derive(Clone, Debug, Default)]
pub struct Configuration {
    /// Every account.
    pub accounts: Vec<Account>,
    /// Every IP authentication entry.
    pub entries: Vec<IpAuthEntry>,
    /// Every SIP user.
    pub users: Vec<SipUser>,
    /// Every route.
    pub routes: Vec<Route>,
}
