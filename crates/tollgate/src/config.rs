//! The configuration file (`tollgate.toml`, every key optional), the
//! command-line overrides, and their validation. Operational data (accounts,
//! entries, routes) lives in the database, not here.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use tollgate_sip::transaction::Transport;

/// The whole effective configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct Config {
    /// SIP listeners, realm, TLS material and transaction timers.
    pub sip: SipConfig,
    /// The management API.
    pub api: ApiConfig,
    /// Where configuration and the audit log are stored.
    pub store: StoreConfig,
    /// Threat detection thresholds and block durations.
    pub firewall: FirewallConfig,
    /// Response codes for limit breaches.
    pub limits: LimitsConfig,
}

/// `[sip]`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct SipConfig {
    /// Listen URIs: `udp:HOST:PORT`, `tcp:HOST:PORT`, `tls:HOST:PORT`. Empty
    /// means UDP and TCP on 0.0.0.0:5060, plus TLS on 5061 when a
    /// certificate is configured.
    pub listen: Vec<String>,
    /// The digest realm of challenges.
    pub realm: String,
    /// Digest algorithms offered in a 407 to users whose own policy (or
    /// their account's) does not say, in order of preference: `MD5`,
    /// `SHA-256`, `SHA-512-256`. MD5 alone by default: common clients
    /// answer only the first challenge, or give up on any but MD5.
    pub digest_algorithms: Vec<String>,
    /// PEM certificate chain for TLS listeners.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for TLS listeners.
    pub tls_key: Option<PathBuf>,
    /// PEM CA certificates trusted when Tollgate connects to a TLS peer.
    pub tls_ca: Option<PathBuf>,
    /// The IP address written in Via and Contact when a listener is bound
    /// to 0.0.0.0 or ::; without it, the local address towards each peer.
    pub advertise: Option<String>,
    /// RFC 3261 timer T1 (round-trip estimate), milliseconds.
    pub t1_ms: u64,
    /// RFC 3261 timer T2 (maximum retransmit interval), milliseconds.
    pub t2_ms: u64,
    /// RFC 3261 timer T4 (maximum time a message stays in the network),
    /// milliseconds.
    pub t4_ms: u64,
    /// Transactions held at once (live ones, and finished ones lingering to
    /// absorb retransmissions: about 100 transaction-seconds per call on
    /// UDP); beyond it new requests get 503. A lingering one keeps its key
    /// and at most its last response.
    pub max_transactions: usize,
    /// Seconds between OPTIONS probes of each gateway (ingress entry); a
    /// gateway that does not answer, or answers 408 or 503, is tried after
    /// the others until a probe is answered again. 0 (the default): no
    /// probes; only a gateway silent to an INVITE is taken for down.
    pub gateway_probe_s: u64,
    /// Receive buffer asked for each UDP listener, KiB (0: the system's
    /// default). Bursts wait there while the edge is busy; the kernel caps
    /// it at the sysctl `net.core.rmem_max`, and a smaller grant is logged.
    pub udp_receive_buffer_kb: usize,
}

impl Default for SipConfig {
    fn default() -> Self {
        Self {
            listen: Vec::new(),
            realm: "tollgate".into(),
            digest_algorithms: vec!["MD5".into()],
            tls_cert: None,
            tls_key: None,
            tls_ca: None,
            advertise: None,
            t1_ms: 500,
            t2_ms: 4_000,
            t4_ms: 5_000,
            max_transactions: tollgate_edge::EdgeConfig::default().max_transactions,
            gateway_probe_s: 0,
            udp_receive_buffer_kb: 4_096,
        }
    }
}

/// `[api]`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct ApiConfig {
    /// Address of the management API.
    pub listen: String,
    /// The shortest IPv4 prefix an egress entry or a block may have
    /// without `"allow_wide": true` (anyone in a wider network could call
    /// as the account, or be shut out).
    pub widest_ipv4_prefix: u8,
    /// Likewise for IPv6.
    pub widest_ipv6_prefix: u8,
}

impl Default for ApiConfig {
    fn default() -> Self {
        let wide = tollgate_policy::validate::WideLimits::default();
        Self {
            listen: "127.0.0.1:8080".into(),
            widest_ipv4_prefix: wide.ipv4,
            widest_ipv6_prefix: wide.ipv6,
        }
    }
}

/// `url` as messages and logs show it: a password in it (`user:pass@`)
/// becomes `***`.
pub(crate) fn redacted_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rsplit_once('@') {
        Some((credentials, host)) => {
            let user = credentials.split_once(':').map_or(credentials, |(u, _)| u);
            let shown = if credentials.contains(':') {
                format!("{user}:***")
            } else {
                user.to_owned()
            };
            format!("{scheme}://{shown}@{host}{}", &rest[authority_end..])
        }
        None => url.to_owned(),
    }
}

/// `[store]`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct StoreConfig {
    /// Database URL: `sqlite://FILE` (default) or `postgres://…`.
    pub url: String,
    /// Serve from a database another `tollgate serve` writes, without
    /// writing: the API refuses changes (503), blocks stay local, and the
    /// other server's changes reach this one within a second. One server
    /// writes a database; a second writer is refused at start.
    pub read_only: bool,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            url: "sqlite://tollgate.db".into(),
            read_only: false,
        }
    }
}

/// `[firewall]`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct FirewallConfig {
    /// Threat detection on or off.
    pub enabled: bool,
    /// Digest failures from one address within a minute that block it.
    pub auth_failures_per_minute: u32,
    /// 407 challenges per minute to one address that never authenticates
    /// before it is blocked.
    pub unauthenticated_per_minute: u32,
    /// Requests per second from one address that count as a flood.
    pub flood_requests_per_second: u32,
    /// First block duration, seconds; doubled for repeat offenders.
    pub block_duration_s: u64,
    /// Longest block duration, seconds.
    pub max_block_duration_s: u64,
    /// Addresses or CIDRs never blocked automatically.
    pub trusted: Vec<String>,
    /// User-Agent fragments (any case) of SIP scanners: a request saying
    /// one is dropped unanswered and its source blocked at once (rule
    /// `scanner`), unless the source is trusted or an IP entry's. Empty:
    /// no scanner rule. The default includes `sipsak`, which monitoring
    /// (Nagios' check_sip) also uses: trust such hosts, or leave it out.
    pub scanner_user_agents: Vec<String>,
}

impl Default for FirewallConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            auth_failures_per_minute: 20,
            unauthenticated_per_minute: 200,
            flood_requests_per_second: 500,
            block_duration_s: 3_600,
            max_block_duration_s: 86_400,
            trusted: Vec::new(),
            scanner_user_agents: tollgate_policy::threat::SCANNERS
                .iter()
                .map(|&s| s.to_owned())
                .collect(),
        }
    }
}

/// `[limits]`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct LimitsConfig {
    /// Status when a channel limit is reached.
    pub channel_limit_code: u16,
    /// Status when a calls-per-second limit is reached.
    pub cps_limit_code: u16,
    /// Status when a number fails the dial plan.
    pub dial_plan_code: u16,
    /// Seconds a call over a CPS limit may wait for budget (with 100 Trying
    /// each second) before it is refused; 0 refuses at once.
    pub cps_buffer_s: u64,
    /// Longest call, seconds, when its route sets no `max_duration_s`:
    /// forgotten calls end with BYE on both legs.
    pub max_call_duration_s: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            channel_limit_code: 503,
            cps_limit_code: 503,
            dial_plan_code: 403,
            cps_buffer_s: 0,
            max_call_duration_s: 4 * 3600,
        }
    }
}

/// One parsed `--sip` / `sip.listen` value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Listener {
    /// The transport.
    pub transport: Transport,
    /// The address and port to bind.
    pub addr: SocketAddr,
}

impl fmt::Display for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.transport, self.addr)
    }
}

/// An invalid configuration value, naming the key and the rule broken.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub(crate) struct ConfigError {
    /// The key, e.g. `sip.listen[1]`.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError {
        field: field.into(),
        message: message.into(),
    }
}

/// Parses `udp:HOST:PORT`, `tcp:…` or `tls:…` with an IP host (IPv6 in
/// brackets).
pub(crate) fn parse_listener(field: &str, s: &str) -> Result<Listener, ConfigError> {
    let shape = || {
        invalid(
            field,
            format!(
                "{s:?} is not udp:HOST:PORT, tcp:HOST:PORT or tls:HOST:PORT (IPv6 hosts in brackets)"
            ),
        )
    };
    let (scheme, rest) = s.split_once(':').ok_or_else(shape)?;
    let transport = Transport::from_name(scheme).ok_or_else(shape)?;
    let addr: SocketAddr = rest.parse().map_err(|_| shape())?;
    Ok(Listener { transport, addr })
}

impl Config {
    /// Reads a TOML file; unknown keys are errors (they are usually typos).
    pub(crate) fn from_toml(text: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| {
            let field = e
                .span()
                .map(|span| format!("config at byte {}", span.start))
                .unwrap_or_else(|| "config".into());
            invalid(field, e.message().to_owned())
        })
    }

    /// The listeners to open: the configured ones, or the defaults.
    pub(crate) fn listeners(&self) -> Result<Vec<Listener>, ConfigError> {
        if self.sip.listen.is_empty() {
            let mut defaults = vec!["udp:0.0.0.0:5060", "tcp:0.0.0.0:5060"];
            if self.sip.tls_cert.is_some() {
                defaults.push("tls:0.0.0.0:5061");
            }
            return defaults
                .into_iter()
                .map(|s| parse_listener("sip.listen", s))
                .collect();
        }
        self.sip
            .listen
            .iter()
            .enumerate()
            .map(|(i, s)| parse_listener(&format!("sip.listen[{i}]"), s))
            .collect()
    }

    /// Checks every value; the first problem found is returned.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let listeners = self.listeners()?;
        let needs_tls = listeners.iter().any(|l| l.transport == Transport::Tls);
        if needs_tls && self.sip.tls_cert.is_none() {
            return Err(invalid(
                "sip.tls_cert",
                "required when a tls: listener is configured",
            ));
        }
        if self.sip.tls_cert.is_some() != self.sip.tls_key.is_some() {
            return Err(invalid(
                "sip.tls_key",
                "tls_cert and tls_key must be given together",
            ));
        }
        if self.sip.realm.is_empty() || self.sip.realm.contains(['"', '\\', '\r', '\n']) {
            return Err(invalid(
                "sip.realm",
                "must be non-empty and contain no quote, backslash or line break",
            ));
        }
        self.digest_algorithms()?;
        if self.sip.t1_ms == 0 || self.sip.t2_ms < self.sip.t1_ms {
            return Err(invalid(
                "sip.t2_ms",
                "T1 must be positive and T2 at least T1",
            ));
        }
        if self.sip.t4_ms == 0 {
            return Err(invalid("sip.t4_ms", "must be positive"));
        }
        if self.sip.max_transactions < 1_000 {
            return Err(invalid("sip.max_transactions", "must be at least 1000"));
        }
        if self.sip.udp_receive_buffer_kb > 1 << 20 {
            return Err(invalid(
                "sip.udp_receive_buffer_kb",
                "must be at most 1048576 (1 GiB), or 0 for the system's default",
            ));
        }
        if self.sip.gateway_probe_s > 3_600 {
            return Err(invalid(
                "sip.gateway_probe_s",
                "must be at most 3600 (one probe an hour), or 0 for no probes",
            ));
        }
        self.advertise()?;
        if self.limits.max_call_duration_s == 0 {
            return Err(invalid("limits.max_call_duration_s", "must be at least 1"));
        }
        if self.limits.cps_buffer_s > 60 {
            return Err(invalid(
                "limits.cps_buffer_s",
                "must be at most 60 (a caller waits that long without an answer)",
            ));
        }
        self.api.listen.parse::<SocketAddr>().map_err(|_| {
            invalid(
                "api.listen",
                format!("{:?} is not IP:PORT", self.api.listen),
            )
        })?;
        if self.api.widest_ipv4_prefix > 32 {
            return Err(invalid("api.widest_ipv4_prefix", "must be from 0 to 32"));
        }
        if self.api.widest_ipv6_prefix > 128 {
            return Err(invalid("api.widest_ipv6_prefix", "must be from 0 to 128"));
        }
        if !(self.store.url.starts_with("sqlite:") || self.store.url.starts_with("postgres://")) {
            return Err(invalid(
                "store.url",
                "must start with sqlite: or postgres://",
            ));
        }
        let fw = &self.firewall;
        for (field, value) in [
            (
                "firewall.auth_failures_per_minute",
                fw.auth_failures_per_minute,
            ),
            (
                "firewall.unauthenticated_per_minute",
                fw.unauthenticated_per_minute,
            ),
            (
                "firewall.flood_requests_per_second",
                fw.flood_requests_per_second,
            ),
        ] {
            if value == 0 {
                return Err(invalid(
                    field,
                    "must be at least 1 (set firewall.enabled = false to turn detection off)",
                ));
            }
        }
        if fw.block_duration_s == 0 || fw.max_block_duration_s < fw.block_duration_s {
            return Err(invalid(
                "firewall.max_block_duration_s",
                "block_duration_s must be positive and max_block_duration_s at least as long",
            ));
        }
        for (i, t) in fw.trusted.iter().enumerate() {
            let addr = t.split_once('/').map_or(t.as_str(), |(a, _)| a);
            let prefix_ok = t.split_once('/').is_none_or(|(a, p)| {
                let max = if a.contains(':') { 128 } else { 32 };
                p.parse::<u8>().is_ok_and(|p| p <= max)
            });
            if addr.parse::<std::net::IpAddr>().is_err() || !prefix_ok {
                return Err(invalid(
                    format!("firewall.trusted[{i}]"),
                    format!("{t:?} is not an IP address or CIDR"),
                ));
            }
        }
        for (i, ua) in fw.scanner_user_agents.iter().enumerate() {
            if ua.trim().is_empty() || ua.len() > 64 || ua.chars().any(char::is_control) {
                return Err(invalid(
                    format!("firewall.scanner_user_agents[{i}]"),
                    "must be 1 to 64 printable characters (an empty list turns the rule off)",
                ));
            }
        }
        for (field, code) in [
            ("limits.channel_limit_code", self.limits.channel_limit_code),
            ("limits.cps_limit_code", self.limits.cps_limit_code),
            ("limits.dial_plan_code", self.limits.dial_plan_code),
        ] {
            if !(400..=699).contains(&code) {
                return Err(invalid(
                    field,
                    format!("{code} is not a final error status (400-699)"),
                ));
            }
        }
        Ok(())
    }

    /// `sip.advertise`, parsed.
    fn advertise(&self) -> Result<Option<std::net::IpAddr>, ConfigError> {
        self.sip
            .advertise
            .as_deref()
            .map(|a| {
                a.parse()
                    .map_err(|_| invalid("sip.advertise", format!("{a:?} is not an IP address")))
            })
            .transpose()
    }

    /// How the edge handles calls: limit codes, longest call, advertised
    /// address, the transaction `timers`.
    pub(crate) fn call_config(
        &self,
        timers: tollgate_edge::TimerConfig,
    ) -> Result<tollgate_b2bua::CallConfig, ConfigError> {
        Ok(tollgate_b2bua::CallConfig {
            max_duration: std::time::Duration::from_secs(self.limits.max_call_duration_s),
            channel_limit_code: self.limits.channel_limit_code,
            cps_limit_code: self.limits.cps_limit_code,
            dial_plan_code: self.limits.dial_plan_code,
            cps_buffer: std::time::Duration::from_secs(self.limits.cps_buffer_s),
            advertise: self.advertise()?,
            timers,
            gateway_probe: Some(std::time::Duration::from_secs(self.sip.gateway_probe_s))
                .filter(|d| !d.is_zero()),
        })
    }

    /// The digest algorithms to offer, parsed.
    pub(crate) fn digest_algorithms(
        &self,
    ) -> Result<Vec<tollgate_sip::digest::Algorithm>, ConfigError> {
        if self.sip.digest_algorithms.is_empty() {
            return Err(invalid(
                "sip.digest_algorithms",
                "at least one algorithm is required",
            ));
        }
        self.sip
            .digest_algorithms
            .iter()
            .enumerate()
            .map(|(i, name)| {
                tollgate_sip::digest::Algorithm::from_token(name.as_bytes())
                    .filter(|a| !a.sess)
                    .ok_or_else(|| {
                        invalid(
                            format!("sip.digest_algorithms[{i}]"),
                            format!("{name:?} is not SHA-256, MD5 or SHA-512-256"),
                        )
                    })
            })
            .collect()
    }

    /// The configuration as TOML, for `serve --print-config`.
    pub(crate) fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_listen_on_udp_and_tcp_5060() {
        let c = Config::default();
        c.validate().unwrap();
        let l: Vec<String> = c
            .listeners()
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(l, ["udp:0.0.0.0:5060", "tcp:0.0.0.0:5060"]);
    }

    #[test]
    fn tls_default_only_with_a_certificate() {
        let mut c = Config::default();
        c.sip.tls_cert = Some("cert.pem".into());
        c.sip.tls_key = Some("key.pem".into());
        assert_eq!(c.listeners().unwrap().len(), 3);
        c.validate().unwrap();
    }

    #[test]
    fn listener_uris() {
        let l = parse_listener("x", "udp:[::1]:5070").unwrap();
        assert_eq!(l.addr, "[::1]:5070".parse().unwrap());
        for bad in [
            "udp:::1:5060",
            "sctp:0.0.0.0:5060",
            "udp:example.com:5060",
            "tcp:1.2.3.4",
        ] {
            let e = parse_listener("sip.listen[0]", bad).unwrap_err();
            assert_eq!(e.field, "sip.listen[0]", "{bad}");
        }
    }

    #[test]
    fn errors_name_the_field() {
        let cases: [(&str, &str); 13] = [
            ("[sip]\ndigest_algorithms = []", "sip.digest_algorithms"),
            (
                "[sip]\ndigest_algorithms = [\"MD5\", \"SHA-1\"]",
                "sip.digest_algorithms[1]",
            ),
            ("[sip]\nlisten = [\"tls:0.0.0.0:5061\"]", "sip.tls_cert"),
            ("[sip]\nrealm = \"a\\\"b\"", "sip.realm"),
            ("[sip]\nt1_ms = 5000\nt2_ms = 100", "sip.t2_ms"),
            ("[api]\nlisten = \"localhost\"", "api.listen"),
            ("[store]\nurl = \"mysql://x\"", "store.url"),
            ("[sip]\nmax_transactions = 10", "sip.max_transactions"),
            ("[sip]\ngateway_probe_s = 86400", "sip.gateway_probe_s"),
            (
                "[sip]\nudp_receive_buffer_kb = 2000000",
                "sip.udp_receive_buffer_kb",
            ),
            (
                "[firewall]\ntrusted = [\"10.0.0.0/33\"]",
                "firewall.trusted[0]",
            ),
            ("[limits]\ncps_limit_code = 200", "limits.cps_limit_code"),
            (
                "[firewall]\nscanner_user_agents = [\"sipvicious\", \" \"]",
                "firewall.scanner_user_agents[1]",
            ),
        ];
        for (text, field) in cases {
            let err = Config::from_toml(text).unwrap().validate().unwrap_err();
            assert_eq!(err.field, field, "{text}");
        }
    }

    #[test]
    fn passwords_in_urls_are_never_shown() {
        assert_eq!(
            redacted_url("postgres://tollgate:s3cr%40t@db.example:5432/tg?sslmode=require"),
            "postgres://tollgate:***@db.example:5432/tg?sslmode=require"
        );
        assert_eq!(
            redacted_url("postgres://db.example/tg"),
            "postgres://db.example/tg"
        );
        assert_eq!(
            redacted_url("postgres://user@db/tg"),
            "postgres://user@db/tg"
        );
        assert_eq!(redacted_url("sqlite://tollgate.db"), "sqlite://tollgate.db");
        let err = Config::from_toml("[store]\nurl = \"mysql://root:hunter2@db/x\"")
            .unwrap()
            .validate()
            .unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn unknown_keys_are_rejected_and_printing_round_trips() {
        assert!(Config::from_toml("[sip]\nrelam = \"x\"").is_err());
        let mut c = Config::default();
        c.sip.listen = vec!["udp:127.0.0.1:5080".into()];
        c.firewall.trusted = vec!["192.0.2.0/24".into()];
        assert_eq!(Config::from_toml(&c.to_toml()).unwrap(), c);
        // An empty scanner list is the operator's way to turn the rule off.
        let off = Config::from_toml("[firewall]\nscanner_user_agents = []").unwrap();
        off.validate().unwrap();
        assert!(off.firewall.scanner_user_agents.is_empty());
        assert!(
            Config::default()
                .firewall
                .scanner_user_agents
                .contains(&"sipsak".into())
        );
    }
}
