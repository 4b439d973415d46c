//! Number handling values: dial patterns and the digit strings operators
//! type (tech prefixes, CLI prefixes, forced caller numbers).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Which called numbers an entry or user may dial.
#[derive(Clone, Debug, Default)]
pub enum DialPattern {
    /// E.164: optional `+`, then 8 to 15 digits (the `+` is removed).
    #[default]
    E164,
    /// Any number.
    Any,
    /// A regular expression the whole number must match.
    Regex(regex::Regex),
}

impl PartialEq for DialPattern {
    fn eq(&self, other: &Self) -> bool {
        self.to_string() == other.to_string()
    }
}

impl Eq for DialPattern {}

impl DialPattern {
    /// Checks a called number; returns it as it continues (without the `+`
    /// for E.164), or `None` when the pattern refuses it.
    pub fn check<'a>(&self, number: &'a str) -> Option<&'a str> {
        match self {
            Self::Any => Some(number),
            Self::E164 => {
                let digits = number.strip_prefix('+').unwrap_or(number);
                ((8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()))
                    .then_some(digits)
            }
            Self::Regex(re) => re.is_match(number).then_some(number),
        }
    }
}

/// Why a dial pattern was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DialPatternError {
    /// Not `e164`, `any` or a `^regex`.
    #[error("{0:?} is not \"e164\", \"any\" or a regular expression starting with ^")]
    Unknown(String),
    /// The regular expression does not compile (or is too large).
    #[error("invalid regular expression: {0}")]
    Regex(String),
}

/// Compiled size limit for operator regexes: dial plans are small, and a
/// huge automaton would slow every call.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

impl FromStr for DialPattern {
    type Err = DialPatternError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "" | "e164" | "E164" => Ok(Self::E164),
            "any" => Ok(Self::Any),
            re if re.starts_with('^') => {
                // Anchor at both ends: the whole number must match.
                let anchored = if re.ends_with('$') {
                    re.to_owned()
                } else {
                    format!("{re}$")
                };
                regex::RegexBuilder::new(&anchored)
                    .size_limit(REGEX_SIZE_LIMIT)
                    .build()
                    .map(Self::Regex)
                    .map_err(|e| DialPatternError::Regex(e.to_string()))
            }
            other => Err(DialPatternError::Unknown(other.into())),
        }
    }
}

impl fmt::Display for DialPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::E164 => f.write_str("e164"),
            Self::Any => f.write_str("any"),
            Self::Regex(re) => f.write_str(re.as_str()),
        }
    }
}

impl Serialize for DialPattern {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DialPattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// A tech prefix: digits, `#` and `*`, at most 16 characters.
pub fn check_tech_prefix(s: &str) -> Result<(), String> {
    if s.len() > 16
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'#' || b == b'*')
    {
        return Err("must be at most 16 of 0-9, # and *".into());
    }
    Ok(())
}

/// A number fragment: an optional leading `+`, then digits, at most 20.
pub fn check_number(s: &str) -> Result<(), String> {
    let digits = s.strip_prefix('+').unwrap_or(s);
    if digits.len() > 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err("must be digits with an optional leading +, at most 20".into());
    }
    Ok(())
}

/// The number rules of the identified caller (an IP entry; a SIP user has
/// only its dial pattern).
#[derive(Clone, Copy, Debug)]
pub struct NumberRules<'a> {
    /// Leading digits removed from the called number.
    pub strip_digits: u8,
    /// Which called numbers are allowed.
    pub dial_pattern: &'a DialPattern,
    /// Prepended to the caller number.
    pub cli_prefix: &'a str,
    /// Replaces the caller number when not empty.
    pub force_from: &'a str,
}

/// The numbers a call continues with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Numbers {
    /// The called number, as routing and the carrier see it (before the
    /// carrier's tech prefix).
    pub called: String,
    /// The caller number sent on the B-leg.
    pub caller: String,
}

/// Applies `rules` in order: strip digits, dial pattern check (`None`: the
/// call is refused "Blocked by dial plan"), then force from or CLI prefix
/// on the caller. `called` has the tech prefix already removed (it
/// identified the account).
pub fn prepare_numbers(called: &str, caller: &str, rules: &NumberRules<'_>) -> Option<Numbers> {
    let stripped = called.get(usize::from(rules.strip_digits)..)?;
    let called = rules.dial_pattern.check(stripped)?.to_owned();
    let caller = if rules.force_from.is_empty() {
        format!("{}{caller}", rules.cli_prefix)
    } else {
        rules.force_from.to_owned()
    };
    Some(Numbers { called, caller })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e164_by_default() {
        let p = DialPattern::default();
        assert_eq!(p.check("+441632960123"), Some("441632960123"));
        assert_eq!(p.check("12345678"), Some("12345678"));
        assert_eq!(p.check("1234567"), None);
        assert_eq!(p.check("1234567890123456"), None);
        assert_eq!(p.check("+44abc"), None);
    }

    #[test]
    fn regex_patterns_match_the_whole_number() {
        let p: DialPattern = "^44[0-9]+".parse().unwrap();
        assert_eq!(p.check("441632960123"), Some("441632960123"));
        assert_eq!(p.check("x441632960123"), None);
        assert_eq!(p.to_string(), "^44[0-9]+$");
        assert!(matches!(
            "^(".parse::<DialPattern>(),
            Err(DialPatternError::Regex(_))
        ));
        assert!(matches!(
            "44.*".parse::<DialPattern>(),
            Err(DialPatternError::Unknown(_))
        ));
        assert_eq!("any".parse::<DialPattern>().unwrap().check("x"), Some("x"));
    }

    #[test]
    fn digit_strings() {
        assert!(check_tech_prefix("#99*").is_ok());
        assert!(check_tech_prefix("12a").is_err());
        assert!(check_number("+4420").is_ok());
        assert!(check_number("44-20").is_err());
    }

    #[test]
    fn numbers_are_stripped_checked_and_prefixed_in_order() {
        let e164 = DialPattern::E164;
        let rules = NumberRules {
            strip_digits: 2,
            dial_pattern: &e164,
            cli_prefix: "+1",
            force_from: "",
        };
        let n = prepare_numbers("00441632960123", "2125550100", &rules).unwrap();
        assert_eq!(n.called, "441632960123");
        assert_eq!(n.caller, "+12125550100");
        assert_eq!(prepare_numbers("001234", "1", &rules), None, "too short");
        assert_eq!(prepare_numbers("0", "1", &rules), None, "nothing left");
        let forced = NumberRules {
            force_from: "441632960999",
            ..rules
        };
        let n = prepare_numbers("00441632960123", "anonymous", &forced).unwrap();
        assert_eq!(n.caller, "441632960999");
    }
}
