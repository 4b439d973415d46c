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

fn skip_lws(s: &[u8], mut i: usize) -> usize {
    while i < s.len() && lex::is_lws(s[i]) {
        i += 1;
    }
    i
}

/// Reads one parameter from the start of `s` in a single pass, returning it
/// and what follows its `;` (`None` at the end of the span).
fn next_param(s: &[u8]) -> Result<(Param<'_>, Option<&[u8]>), Malformed> {
    let mut i = skip_lws(s, 0);
    let name_start = i;
    while i < s.len() && lex::is(s[i], lex::PNAME) {
        i += 1;
    }
    let name = &s[name_start..i];
    if name.is_empty() {
        return Err(Malformed);
    }
    i = skip_lws(s, i);
    let mut value = None;
    if s.get(i) == Some(&b'=') {
        i = skip_lws(s, i + 1);
        let value_start = i;
        if s.get(i) == Some(&b'"') {
            i += lex::quoted_len(&s[i..]).ok_or(Malformed)?;
        } else {
            while i < s.len() && lex::is(s[i], lex::VALUE) {
                i += 1;
            }
        }
        if i == value_start {
            return Err(Malformed);
        }
        value = Some(&s[value_start..i]);
        i = skip_lws(s, i);
    }
    let param = Param { name, value };
    match s.get(i) {
        None => Ok((param, None)),
        Some(b';') => Ok((param, Some(&s[i + 1..]))),
        Some(_) => Err(Malformed),
    }
}

impl<'b> Iterator for ParamIter<'b> {
    type Item = Result<Param<'b>, Malformed>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.rest?;
        match next_param(rest) {
            Ok((param, next)) => {
                self.rest = next;
                Some(Ok(param))
            }
            Err(e) => {
                self.rest = None;
                Some(Err(e))
            }
        }
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
