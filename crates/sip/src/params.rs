//! `;name=value` parameters, shared by URIs (RFC 3261 §19.1.1) and by the
//! header fields that carry them (Via, From, To, Contact, Content-Type, …).
//! The raw span is kept and read lazily; nothing is copied.

use crate::error::Malformed;
use crate::lex;

/// One parameter. `value` is `None` for a flag such as `;lr`; a quoted value
/// keeps its quotes (see [`Param::unquoted_value`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Param<'b> {
    /// The name as received (compare it case-insensitively).
    pub name: &'b [u8],
    /// The value as received, without surrounding white space.
    pub value: Option<&'b [u8]>,
}

impl<'b> Param<'b> {
    /// The value with one pair of surrounding double quotes removed
    /// (escapes inside are left as received).
    pub fn unquoted_value(&self) -> Option<&'b [u8]> {
        self.value.map(|v| {
            if v.len() >= 2 && v[0] == b'"' && v[v.len() - 1] == b'"' {
                &v[1..v.len() - 1]
            } else {
                v
            }
        })
    }
}

/// The parameters of a URI or header value: the text after the first `;`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Params<'b> {
    raw: &'b [u8],
}

impl<'b> Params<'b> {
    /// Wraps the text that follows the first `;` (without it). An empty span
    /// means no parameters.
    pub fn new(raw: &'b [u8]) -> Self {
        Self { raw }
    }

    /// The parameters exactly as received.
    pub fn raw(&self) -> &'b [u8] {
        self.raw
    }

    /// True when there are no parameters.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// Iterates the parameters. A malformed one (empty, a name that is not a
    /// token, white space inside an unquoted value, an unterminated quote)
    /// yields `Err(Malformed)` and ends the iteration.
    pub fn iter(&self) -> ParamIter<'b> {
        ParamIter {
            rest: (!self.raw.is_empty()).then_some(self.raw),
        }
    }

    /// Looks a parameter up by name, ignoring ASCII case. `Some(None)` is a
    /// flag parameter without a value. Malformed parameters are skipped; use
    /// [`Params::validate`] to reject them.
    pub fn get(&self, name: &[u8]) -> Option<Option<&'b [u8]>> {
        self.iter()
            .map_while(Result::ok)
            .find(|p| p.name.eq_ignore_ascii_case(name))
            .map(|p| p.value)
    }

    /// True when a parameter called `name` is present.
    pub fn contains(&self, name: &[u8]) -> bool {
        self.get(name).is_some()
    }

    /// Checks that every parameter is well formed.
    pub fn validate(&self) -> Result<(), Malformed> {
        self.iter().try_for_each(|p| p.map(drop))
    }
}

/// Iterator returned by [`Params::iter`].
#[derive(Clone, Debug)]
pub struct ParamIter<'b> {
    rest: Option<&'b [u8]>,
}

/// Characters allowed in a parameter name: `token` plus the URI
/// `param-unreserved` set of RFC 3261 §25.1.
fn is_pname_byte(b: u8) -> bool {
    lex::is_token_byte(b) || matches!(b, b'[' | b']' | b'/' | b':' | b'&' | b'$')
}

fn parse_param(piece: &[u8]) -> Result<Param<'_>, Malformed> {
    let piece = lex::trim(piece);
    let (name, value) = match memchr::memchr(b'=', piece) {
        Some(eq) => (lex::trim(&piece[..eq]), Some(lex::trim(&piece[eq + 1..]))),
        None => (piece, None),
    };
    if name.is_empty() || !name.iter().all(|&b| is_pname_byte(b)) {
        return Err(Malformed);
    }
    if let Some(v) = value {
        let well_formed = if v.first() == Some(&b'"') {
            lex::quoted_len(v) == Some(v.len())
        } else {
            !v.is_empty() && !lex::has_lws(v) && !v.contains(&b'"')
        };
        if !well_formed {
            return Err(Malformed);
        }
    }
    Ok(Param { name, value })
}

impl<'b> Iterator for ParamIter<'b> {
    type Item = Result<Param<'b>, Malformed>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.rest?;
        let (piece, next) = match lex::find_unquoted(rest, b';', false) {
            Ok(Some(i)) => (&rest[..i], Some(&rest[i + 1..])),
            Ok(None) => (rest, None),
            Err(()) => {
                self.rest = None;
                return Some(Err(Malformed));
            }
        };
        let param = parse_param(piece);
        self.rest = if param.is_ok() { next } else { None };
        Some(param)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_tolerate_white_space_around_equals() {
        let p = Params::new(b"   tag    = 1918181833n ; lr; q = 0.33");
        assert_eq!(p.get(b"TAG"), Some(Some(&b"1918181833n"[..])));
        assert_eq!(p.get(b"lr"), Some(None));
        assert_eq!(p.get(b"q"), Some(Some(&b"0.33"[..])));
        assert_eq!(p.get(b"x"), None);
        assert!(p.validate().is_ok());
    }

    #[test]
    fn quoted_values_may_hold_separators() {
        let p = Params::new(br#"x="a;b"; y=1"#);
        let all: Vec<_> = p.iter().map(Result::unwrap).collect();
        assert_eq!(all[0].unquoted_value(), Some(&b"a;b"[..]));
        assert_eq!(all[1].name, b"y");
    }

    #[test]
    fn malformed_parameters_are_reported() {
        for raw in [&b";;"[..], b"a=", b"a=b c", b"x=\"open", b"=1", b"a b=1"] {
            assert!(Params::new(raw).validate().is_err(), "{raw:?}");
        }
    }
}
