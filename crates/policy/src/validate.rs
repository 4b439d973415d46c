//! The rules every write must pass, with messages that name the field.
//! Single-entity rules are methods on the entity; rules across entities
//! (channel capacity, unique usernames, shared addresses) take the
//! neighbours they depend on.

use crate::address::Address;
use crate::error::{FieldError, Warning};
use crate::model::{
    Account, AccountKind, CarrierSettings, Direction, IpAuthEntry, ReplyAction, Route, SipUser,
};
use crate::numbers::{check_number, check_tech_prefix};

/// Free text: at most `max` characters, no control characters.
fn check_text(field: &str, s: &str, max: usize) -> Result<(), FieldError> {
    if s.chars().count() > max || s.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            format!("must be at most {max} printable characters"),
        ));
    }
    Ok(())
}

/// The largest count or duration a field takes: what the OpenAPI document
/// says (`maximum`), within its 32-bit signed integers.
pub const MAX_COUNT: u32 = i32::MAX as u32;

/// Refuses counts and durations past [`MAX_COUNT`], naming the field.
fn check_counts(fields: &[(&str, u32)]) -> Result<(), FieldError> {
    for (field, value) in fields {
        if *value > MAX_COUNT {
            return Err(FieldError::new(
                *field,
                format!("must be at most {MAX_COUNT}"),
            ));
        }
    }
    Ok(())
}

/// Required text.
fn check_name(field: &str, s: &str, max: usize) -> Result<(), FieldError> {
    if s.trim().is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    check_text(field, s, max)
}

fn check_codecs(codecs: &[String]) -> Result<(), FieldError> {
    for (i, c) in codecs.iter().enumerate() {
        let ok = !c.is_empty()
            && c.len() <= 32
            && c.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
        if !ok {
            return Err(FieldError::new(
                format!("restricted_codecs[{i}]"),
                format!("{c:?} is not a codec name"),
            ));
        }
    }
    Ok(())
}

fn digits(field: &str, r: Result<(), String>) -> Result<(), FieldError> {
    r.map_err(|m| FieldError::new(field, m))
}

impl Account {
    /// Checks the account on its own.
    pub fn validate(&self) -> Result<(), FieldError> {
        let c = &self.carrier;
        check_counts(&[
            ("channels", self.channels),
            ("cps", self.cps),
            ("first_reply_timeout_s", c.first_reply_timeout_s),
            ("pdd_timeout_s", c.pdd_timeout_s),
            ("ring_timeout_s", c.ring_timeout_s),
        ])?;
        check_name("name", &self.name, 100)?;
        check_text("notes", &self.notes.replace(['\n', '\t'], " "), 2000)?;
        let c = &self.carrier;
        if self.kind == AccountKind::Customer {
            if *c != CarrierSettings::default() {
                return Err(FieldError::new(
                    "kind",
                    "gateway_failover, timeouts, tech_prefix and reply_rules are carrier settings",
                ));
            }
            return Ok(());
        }
        if c.gateway_failover > 3 {
            return Err(FieldError::new("gateway_failover", "must be from 0 to 3"));
        }
        for (field, value, max) in [
            ("first_reply_timeout_s", c.first_reply_timeout_s, 60),
            ("pdd_timeout_s", c.pdd_timeout_s, 300),
            ("ring_timeout_s", c.ring_timeout_s, 3600),
        ] {
            if value == 0 || value > max {
                return Err(FieldError::new(
                    field,
                    format!("must be from 1 to {max} seconds"),
                ));
            }
        }
        digits("tech_prefix", check_tech_prefix(&c.tech_prefix))?;
        for (i, rule) in c.reply_rules.iter().enumerate() {
            let field = |f: &str| format!("reply_rules[{i}].{f}");
            if !(300..=699).contains(&rule.code) {
                return Err(FieldError::new(
                    field("code"),
                    "must be a final error code (300-699)",
                ));
            }
            match (rule.action, rule.new_code) {
                (ReplyAction::Replace, None) => {
                    return Err(FieldError::new(
                        field("new_code"),
                        "required when action is replace",
                    ));
                }
                (ReplyAction::Replace, Some(code)) if !(300..=699).contains(&code) => {
                    return Err(FieldError::new(field("new_code"), "must be 300-699"));
                }
                (ReplyAction::Default | ReplyAction::Failover, Some(_)) => {
                    return Err(FieldError::new(
                        field("new_code"),
                        "only with action replace",
                    ));
                }
                _ => {}
            }
            if rule
                .new_reason
                .as_deref()
                .is_some_and(|r| r.len() > 100 || r.contains(['\r', '\n']))
            {
                return Err(FieldError::new(
                    field("new_reason"),
                    "must be one line of at most 100 characters",
                ));
            }
        }
        Ok(())
    }
}

impl IpAuthEntry {
    /// Checks the entry on its own.
    pub fn validate(&self) -> Result<(), FieldError> {
        check_counts(&[
            ("channels", self.channels),
            ("cps", self.cps),
            ("weight", self.weight),
        ])?;
        if self.addresses.is_empty() {
            return Err(FieldError::new(
                "addresses",
                "at least one address is required",
            ));
        }
        if self.addresses.len() > 256 {
            return Err(FieldError::new(
                "addresses",
                "at most 256 addresses per entry",
            ));
        }
        let ingress = self.direction == Direction::Ingress;
        for (i, a) in self.addresses.iter().enumerate() {
            if matches!(a, Address::Host(_)) && !ingress {
                return Err(FieldError::new(
                    format!("addresses[{i}]"),
                    "hostnames are only allowed on ingress entries (egress sources must be IPs or CIDRs)",
                ));
            }
        }
        if self.port == 0 {
            return Err(FieldError::new("port", "must be from 1 to 65535"));
        }
        check_codecs(&self.restricted_codecs)?;
        digits("tech_prefix", check_tech_prefix(&self.tech_prefix))?;
        digits("cli_prefix", check_number(&self.cli_prefix))?;
        digits("force_from", check_number(&self.force_from))?;
        if self.strip_digits > 20 {
            return Err(FieldError::new("strip_digits", "must be from 0 to 20"));
        }
        if !ingress {
            for (field, set) in [
                ("outbound_proxy", self.outbound_proxy.is_some()),
                ("username", !self.username.is_empty()),
                ("password", self.password.is_some()),
            ] {
                if set {
                    return Err(FieldError::new(
                        field,
                        "only for ingress entries (destinations Tollgate sends to)",
                    ));
                }
            }
        }
        if let Some(proxy) = &self.outbound_proxy {
            let host = proxy
                .rsplit_once(':')
                .filter(|(_, p)| p.parse::<u16>().is_ok())
                .map_or(proxy.as_str(), |(h, _)| h);
            if host.trim_matches(['[', ']']).parse::<Address>().is_err() {
                return Err(FieldError::new(
                    "outbound_proxy",
                    "must be HOST or HOST:PORT",
                ));
            }
        }
        if self.username.len() > 128 || self.password.as_ref().is_some_and(|p| p.len() > 128) {
            return Err(FieldError::new(
                "username",
                "username and password are at most 128 characters",
            ));
        }
        check_text("manufacturer", &self.manufacturer, 100)?;
        check_text("version", &self.version, 100)
    }
}

impl SipUser {
    /// Checks the user on its own.
    pub fn validate(&self) -> Result<(), FieldError> {
        check_counts(&[("channels", self.channels), ("cps", self.cps)])?;
        let ok = !self.username.is_empty()
            && self.username.len() <= 64
            && self
                .username
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'+'));
        if !ok {
            return Err(FieldError::new(
                "username",
                "must be 1-64 of A-Z, a-z, 0-9, . _ - +",
            ));
        }
        check_codecs(&self.restricted_codecs)?;
        if self.ip_whitelist.len() > 256 {
            return Err(FieldError::new("ip_whitelist", "at most 256 networks"));
        }
        Ok(())
    }
}

impl Route {
    /// Checks the route on its own and against the accounts it names.
    pub fn validate(&self, accounts: &[Account]) -> Result<(), FieldError> {
        check_counts(&[
            ("channels", self.channels),
            ("cps", self.cps),
            ("max_duration_s", self.max_duration_s),
        ])?;
        let kind_of = |id| accounts.iter().find(|a| a.id == id).map(|a| a.kind);
        if kind_of(self.account_id) != Some(AccountKind::Customer) {
            return Err(FieldError::new("account_id", "must be a customer account"));
        }
        if let Some(p) = &self.tech_prefix {
            digits("tech_prefix", check_tech_prefix(p))?;
        }
        for (i, d) in self.dial_string.iter().enumerate() {
            let field = format!("dial_string[{i}]");
            if d.starts_with('^') {
                regex::Regex::new(d).map_err(|e| {
                    FieldError::new(&field, format!("invalid regular expression: {e}"))
                })?;
            } else {
                digits(&field, check_number(d))?;
            }
        }
        if self.carriers.is_empty() {
            return Err(FieldError::new(
                "carriers",
                "at least one carrier is required",
            ));
        }
        for (i, c) in self.carriers.iter().enumerate() {
            if kind_of(*c) != Some(AccountKind::Carrier) {
                return Err(FieldError::new(
                    format!("carriers[{i}]"),
                    format!("account {c} is not a carrier"),
                ));
            }
        }
        Ok(())
    }
}

/// Σ of an account's SIP users' own channel limits may not exceed the
/// account's (when the account is limited). A user without a limit of its
/// own (0) counts for nothing here: its calls share the account's
/// channels, which admission enforces for every call. `users` are the
/// account's users after the write.
pub fn check_user_channels(account: &Account, users: &[SipUser]) -> Result<(), FieldError> {
    if account.channels == 0 {
        return Ok(());
    }
    let total: u64 = users.iter().map(|u| u64::from(u.channels)).sum();
    if total > u64::from(account.channels) {
        return Err(FieldError::new(
            "channels",
            "no channel capacity available for this account",
        ));
    }
    Ok(())
}

/// Usernames are unique per realm: `others` are every other user.
pub fn check_unique_username(user: &SipUser, others: &[SipUser]) -> Result<(), FieldError> {
    if others
        .iter()
        .any(|o| o.id != user.id && o.username.eq_ignore_ascii_case(&user.username))
    {
        return Err(FieldError::new(
            "username",
            "is already taken in this realm",
        ));
    }
    Ok(())
}

/// Egress entries of different accounts may share an address only when
/// each has its own tech prefix, so the account can be told apart. Returns
/// a warning per shared address where that does not hold.
pub fn shared_address_warnings(entry: &IpAuthEntry, others: &[IpAuthEntry]) -> Vec<Warning> {
    if entry.direction != Direction::Egress {
        return Vec::new();
    }
    let mut warnings = Vec::new();
    for (i, a) in entry.addresses.iter().enumerate() {
        let sharing = others.iter().filter(|o| {
            o.id != entry.id
                && o.account_id != entry.account_id
                && o.direction == Direction::Egress
                && o.addresses.contains(a)
        });
        for other in sharing {
            if entry.tech_prefix.is_empty()
                || other.tech_prefix.is_empty()
                || other.tech_prefix == entry.tech_prefix
            {
                warnings.push(Warning {
                    field: format!("addresses[{i}]"),
                    message: format!(
                        "{a} is also used by account {} (entry {}) without distinct tech prefixes: calls cannot be told apart",
                        other.account_id, other.id
                    ),
                });
            }
        }
    }
    warnings
}

#[cfg(test)]
pub(crate) mod tests;

/// The widest networks the API takes without `"allow_wide": true`: an
/// egress entry this wide lets anyone in it call as the account, and a
/// block this wide shuts out a whole region. `[api] widest_ipv4_prefix`
/// and `widest_ipv6_prefix`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WideLimits {
    /// Shortest IPv4 prefix taken as it is (default /16).
    pub ipv4: u8,
    /// Shortest IPv6 prefix taken as it is (default /32).
    pub ipv6: u8,
}

impl Default for WideLimits {
    fn default() -> Self {
        Self { ipv4: 16, ipv6: 32 }
    }
}

impl WideLimits {
    /// Refuses `net` (at `field`) when it is wider than the limit for its
    /// family, unless `allowed`.
    pub fn check(&self, field: &str, net: &ipnet::IpNet, allowed: bool) -> Result<(), FieldError> {
        let limit = match net {
            ipnet::IpNet::V4(_) => self.ipv4,
            ipnet::IpNet::V6(_) => self.ipv6,
        };
        if allowed || net.prefix_len() >= limit {
            return Ok(());
        }
        Err(FieldError::new(
            field,
            format!(
                "{net} is wider than /{limit}: it covers whoever is in it; \
                 send \"allow_wide\": true to confirm"
            ),
        ))
    }

    /// Refuses the egress addresses of `entry` wider than the limits,
    /// unless the entry says `allow_wide` (an ingress entry only says
    /// where calls go).
    pub fn check_entry(&self, entry: &IpAuthEntry) -> Result<(), FieldError> {
        if entry.direction != Direction::Egress {
            return Ok(());
        }
        for (i, address) in entry.addresses.iter().enumerate() {
            if let Address::Cidr(net) = address {
                self.check(&format!("addresses[{i}]"), net, entry.allow_wide)?;
            }
        }
        Ok(())
    }
}
