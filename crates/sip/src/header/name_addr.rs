//! `name-addr / addr-spec` values: From, To, Contact, Route, Record-Route,
//! Refer-To, P-Asserted-Identity (RFC 3261 §20.10, §25.1).

use crate::error::UriError;
use crate::lex;
use crate::params::Params;
use crate::uri::Uri;

/// Why a name-addr value could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameAddrError {
    /// The display name is an unterminated quoted string or holds characters
    /// that need quoting (RFC 4475 quotbal, baddn).
    DisplayName,
    /// `<` without `>`, text between `>` and the parameters, or an addr-spec
    /// that should have been in angle brackets (RFC 4475 regbadct).
    Brackets,
    /// The URI itself is malformed (RFC 4475 badaspec).
    Uri(UriError),
    /// A header parameter is malformed.
    Params,
}

/// An address with optional display name and header parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NameAddr<'b> {
    /// The display name as received (quotes included when quoted).
    pub display_name: Option<&'b [u8]>,
    /// The URI.
    pub uri: Uri<'b>,
    /// The URI text as received, without angle brackets.
    pub uri_text: &'b [u8],
    /// The header parameters after the address (`;tag=…`, `;expires=…`).
    pub params: Params<'b>,
}

impl<'b> NameAddr<'b> {
    /// Parses one `name-addr` or `addr-spec` followed by parameters.
    pub fn parse(s: &'b [u8]) -> Result<Self, NameAddrError> {
        let s = lex::trim(s);
        let (display_name, after) = if s.first() == Some(&b'"') {
            let n = lex::quoted_len(s).ok_or(NameAddrError::DisplayName)?;
            let rest = lex::trim_start(&s[n..]);
            if rest.first() != Some(&b'<') {
                return Err(NameAddrError::Brackets);
            }
            (Some(&s[..n]), rest)
        } else if let Some(lt) = memchr::memchr(b'<', s) {
            let name = lex::trim(&s[..lt]);
            if !name
                .iter()
                .all(|&b| lex::is_token_byte(b) || lex::is_lws(b))
            {
                return Err(NameAddrError::DisplayName);
            }
            ((!name.is_empty()).then_some(name), &s[lt..])
        } else {
            return Self::parse_addr_spec(s);
        };
        let gt = memchr::memchr(b'>', after).ok_or(NameAddrError::Brackets)?;
        let uri_text = &after[1..gt];
        let uri = Uri::parse(uri_text).map_err(NameAddrError::Uri)?;
        let params = params_after(&after[gt + 1..])?;
        Ok(Self {
            display_name,
            uri,
            uri_text,
            params,
        })
    }

    /// An addr-spec without angle brackets: the first `;` starts the header
    /// parameters, and a URI holding `?` or `,` needed brackets.
    fn parse_addr_spec(s: &'b [u8]) -> Result<Self, NameAddrError> {
        let (uri_text, params) = match memchr::memchr(b';', s) {
            Some(i) => (lex::trim(&s[..i]), params_after(&s[i..])?),
            None => (s, Params::default()),
        };
        if uri_text.contains(&b'?') || uri_text.contains(&b',') {
            return Err(NameAddrError::Brackets);
        }
        let uri = Uri::parse(uri_text).map_err(NameAddrError::Uri)?;
        Ok(Self {
            display_name: None,
            uri,
            uri_text,
            params,
        })
    }

    /// The `tag` parameter (From and To).
    pub fn tag(&self) -> Option<&'b [u8]> {
        self.params.get(b"tag").flatten()
    }
}

/// Reads `*(SEMI param)` after an address; anything else is an error.
fn params_after(s: &[u8]) -> Result<Params<'_>, NameAddrError> {
    let s = lex::trim(s);
    if s.is_empty() {
        return Ok(Params::default());
    }
    let raw = s.strip_prefix(b";").ok_or(NameAddrError::Brackets)?;
    let params = Params::new(raw);
    if raw.is_empty() || params.validate().is_err() || raw.ends_with(b";") {
        return Err(NameAddrError::Params);
    }
    Ok(params)
}

/// One Contact value: an address or `*` (RFC 3261 §20.10).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Contact<'b> {
    /// `Contact: *`, only valid in a REGISTER that removes every binding.
    Wildcard,
    /// An address.
    Address(NameAddr<'b>),
}

impl<'b> Contact<'b> {
    /// Parses one element of a Contact list.
    pub fn parse(s: &'b [u8]) -> Result<Self, NameAddrError> {
        if lex::trim(s) == b"*" {
            Ok(Self::Wildcard)
        } else {
            NameAddr::parse(s).map(Self::Address)
        }
    }

    /// The `expires` parameter when it is a valid 32-bit number of seconds.
    /// An out-of-range value reads as `None`; RFC 4475 §3.1.2.4 lets the
    /// registrar apply its default instead.
    pub fn expires(&self) -> Option<u32> {
        match self {
            Self::Wildcard => None,
            Self::Address(a) => a
                .params
                .get(b"expires")
                .flatten()
                .and_then(|v| lex::parse_decimal(v, u64::from(u32::MAX)))
                .map(|v| v as u32),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::uri::Host;

    #[test]
    fn quoted_display_names_and_folded_parameters() {
        let a = NameAddr::parse(
            b"\"J Rosenberg \\\\\\\"\"       <sip:jdrosen@example.com>\r\n  ;\r\n  tag = 98asjd8",
        )
        .unwrap();
        assert_eq!(a.display_name, Some(&b"\"J Rosenberg \\\\\\\"\""[..]));
        assert_eq!(a.tag(), Some(&b"98asjd8"[..]));
        assert_eq!(a.uri_text, b"sip:jdrosen@example.com");
    }

    #[test]
    fn token_display_name_without_space() {
        let a = NameAddr::parse(b"caller<sip:caller@example.com>;tag=323").unwrap();
        assert_eq!(a.display_name, Some(&b"caller"[..]));
        assert_eq!(a.uri.as_sip().unwrap().host, Host::Name(b"example.com"));
    }

    #[test]
    fn addr_spec_parameters_belong_to_the_header() {
        let a = NameAddr::parse(b"sip:+19725552222@gw1.example.net;unknownparam").unwrap();
        assert!(a.uri.as_sip().unwrap().params.is_empty());
        assert!(a.params.contains(b"unknownparam"));
        let b = NameAddr::parse(b"<sip:+19725552222@gw1.example.net;unknownparam>").unwrap();
        assert!(b.uri.as_sip().unwrap().params.contains(b"unknownparam"));
        assert!(b.params.is_empty());
    }

    #[test]
    fn rejects_the_rfc4475_defects() {
        assert_eq!(
            NameAddr::parse(b"\"Mr. J. User <sip:j.user@example.com>").unwrap_err(),
            NameAddrError::DisplayName
        );
        assert_eq!(
            NameAddr::parse(b"Bell, Alexander <sip:a.g.bell@example.com>;tag=43").unwrap_err(),
            NameAddrError::DisplayName
        );
        assert!(matches!(
            NameAddr::parse(b"\"Watson, Thomas\" < sip:t.watson@example.org >").unwrap_err(),
            NameAddrError::Uri(_)
        ));
        assert_eq!(
            NameAddr::parse(b"sip:user@example.com?Route=%3Csip:sip.example.com%3E").unwrap_err(),
            NameAddrError::Brackets
        );
        assert_eq!(
            NameAddr::parse(b"\"Joe\" <sip:joe@example.org>;;;;").unwrap_err(),
            NameAddrError::Params
        );
    }

    #[test]
    fn contacts() {
        assert_eq!(Contact::parse(b" * ").unwrap(), Contact::Wildcard);
        let c = Contact::parse(b"<sip:u@h>;expires=280297596632815").unwrap();
        assert_eq!(c.expires(), None);
        let c = Contact::parse(b"<sip:u@h>;expires=3600").unwrap();
        assert_eq!(c.expires(), Some(3600));
    }
}
