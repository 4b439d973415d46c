//! Byte-level lexing shared by every header and URI view: character classes of
//! RFC 3261 §25.1, linear white space, quoted strings and the comma/semicolon
//! splitting that must respect quotes and angle brackets.
//!
//! Everything here works on borrowed slices and never allocates.

/// Byte classes, one bit each, looked up in [`CLASSES`]: one load per byte
/// instead of a chain of comparisons.
pub(crate) const TOKEN: u8 = 1;
/// Characters of a SIP URI: unreserved, reserved, `%` and IPv6 brackets.
pub(crate) const URI: u8 = 2;
/// Characters of a parameter name: `token` plus URI `param-unreserved`.
pub(crate) const PNAME: u8 = 4;
/// Characters of a hostname label (`_` tolerated, as deployed DNS has it).
pub(crate) const HOST: u8 = 8;
/// Characters of an unquoted parameter value: token and URI characters
/// except the `;` that ends a parameter.
pub(crate) const VALUE: u8 = 16;

const fn classes() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        let alnum = c.is_ascii_alphanumeric();
        let token = alnum
            || matches!(
                c,
                b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
            );
        let uri = alnum
            || matches!(
                c,
                b'-' | b'_'
                    | b'.'
                    | b'!'
                    | b'~'
                    | b'*'
                    | b'\''
                    | b'('
                    | b')'
                    | b';'
                    | b'/'
                    | b'?'
                    | b':'
                    | b'@'
                    | b'&'
                    | b'='
                    | b'+'
                    | b'$'
                    | b','
                    | b'%'
                    | b'['
                    | b']'
            );
        let pname = token || matches!(c, b'[' | b']' | b'/' | b':' | b'&' | b'$');
        let host = alnum || matches!(c, b'-' | b'_');
        let value = (token || uri) && c != b';';
        t[b] = (token as u8 * TOKEN)
            | (uri as u8 * URI)
            | (pname as u8 * PNAME)
            | (host as u8 * HOST)
            | (value as u8 * VALUE);
        b += 1;
    }
    t
}

/// The class bits of every byte.
pub(crate) static CLASSES: [u8; 256] = classes();

/// True when byte `b` is in every class of `class`.
#[inline]
pub(crate) fn is(b: u8, class: u8) -> bool {
    CLASSES[usize::from(b)] & class == class
}

/// True when every byte of `s` is in `class`.
#[inline]
pub(crate) fn all(s: &[u8], class: u8) -> bool {
    s.iter().all(|&b| is(b, class))
}

/// `token` characters of RFC 3261 §25.1: alphanumerics and `-.!%*_+`'~`.
#[inline]
pub(crate) fn is_token_byte(b: u8) -> bool {
    is(b, TOKEN)
}

/// True when `s` is a non-empty `token`.
pub(crate) fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && all(s, TOKEN)
}

/// Linear white space inside a header value. Folded lines keep their CRLF in
/// the received buffer; after framing every CR or LF inside a value is part of
/// a fold, so they count as white space here.
pub(crate) fn is_lws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Removes leading and trailing linear white space.
pub(crate) fn trim(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&b| !is_lws(b)).unwrap_or(s.len());
    let end = s.iter().rposition(|&b| !is_lws(b)).map_or(start, |i| i + 1);
    &s[start..end]
}

/// Removes leading linear white space.
pub(crate) fn trim_start(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&b| !is_lws(b)).unwrap_or(s.len());
    &s[start..]
}

/// Removes trailing linear white space.
pub(crate) fn trim_end(s: &[u8]) -> &[u8] {
    let end = s.iter().rposition(|&b| !is_lws(b)).map_or(0, |i| i + 1);
    &s[..end]
}

/// True when `s` contains linear white space anywhere.
pub(crate) fn has_lws(s: &[u8]) -> bool {
    s.iter().any(|&b| is_lws(b))
}

/// Length of the quoted string that starts at `s[0] == b'"'`, quotes included,
/// honouring `\` escapes. `None` when the closing quote is missing.
pub(crate) fn quoted_len(s: &[u8]) -> Option<usize> {
    debug_assert_eq!(s.first(), Some(&b'"'));
    let mut i = 1;
    while i < s.len() {
        match s[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// Finds the first `sep` in `s` that is outside quoted strings and, when
/// `angles` is set, outside `<...>`. `Err(())` reports an unterminated quote.
pub(crate) fn find_unquoted(s: &[u8], sep: u8, angles: bool) -> Result<Option<usize>, ()> {
    let mut i = 0;
    loop {
        let found = if angles {
            memchr::memchr3(sep, b'"', b'<', &s[i..])
        } else {
            memchr::memchr2(sep, b'"', &s[i..])
        };
        let Some(off) = found else {
            return Ok(None);
        };
        let at = i + off;
        match s[at] {
            b'"' => i = at + quoted_len(&s[at..]).ok_or(())?,
            b'<' if angles => match memchr::memchr(b'>', &s[at..]) {
                Some(close) => i = at + close + 1,
                None => return Ok(None),
            },
            _ => return Ok(Some(at)),
        }
    }
}

/// Iterator over the comma-separated elements of a header value, split
/// outside quoted strings and angle brackets. Elements are trimmed. An
/// unterminated quoted string yields one `Err(())` and ends the iteration.
#[derive(Clone, Debug)]
pub(crate) struct CommaList<'b> {
    rest: Option<&'b [u8]>,
}

impl<'b> CommaList<'b> {
    pub(crate) fn new(value: &'b [u8]) -> Self {
        Self { rest: Some(value) }
    }
}

impl<'b> Iterator for CommaList<'b> {
    type Item = Result<&'b [u8], ()>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.rest?;
        match find_unquoted(rest, b',', true) {
            Ok(Some(i)) => {
                self.rest = Some(&rest[i + 1..]);
                Some(Ok(trim(&rest[..i])))
            }
            Ok(None) => {
                self.rest = None;
                Some(Ok(trim(rest)))
            }
            Err(()) => {
                self.rest = None;
                Some(Err(()))
            }
        }
    }
}

/// Parses an unsigned decimal number of at most `max`, rejecting empty input,
/// signs, non-digits and overflow. Leading zeros are allowed (RFC 4475 wsinv).
pub(crate) fn parse_decimal(s: &[u8], max: u64) -> Option<u64> {
    if s.is_empty() || s.len() > 40 {
        return None;
    }
    let mut n: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
        if n > max {
            return None;
        }
    }
    Some(n)
}

/// Splits `s` at the first `sep`, returning `(before, after)`; without a
/// separator everything is `before` and `after` is empty.
pub(crate) fn split_once(s: &[u8], sep: u8) -> (&[u8], Option<&[u8]>) {
    // A plain scan: the spans split here are short, where memchr's set-up
    // costs more than it saves.
    match s.iter().position(|&b| b == sep) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_classes() {
        for class in [TOKEN, URI, PNAME, HOST, VALUE] {
            assert!(is(b'a', class) && is(b'7', class), "{class}");
            assert!(
                !is(b' ', class) && !is(b'"', class) && !is(0x80, class),
                "{class}"
            );
        }
        assert!(is(b';', URI) && !is(b';', VALUE) && !is(b';', TOKEN));
        assert!(is(b'`', TOKEN) && !is(b'`', URI) && is(b'`', VALUE));
        assert!(is(b'[', PNAME) && !is(b'[', TOKEN) && !is(b'.', HOST));
    }

    #[test]
    fn trims_folded_white_space() {
        assert_eq!(trim(b" \r\n\tabc \r\n "), b"abc");
        assert_eq!(trim(b"   "), b"");
        assert_eq!(trim_start(b"\r\n x y"), b"x y");
    }

    #[test]
    fn quoted_strings_honour_escapes() {
        assert_eq!(quoted_len(br#""a\"b" rest"#), Some(6));
        assert_eq!(quoted_len(br#""unterminated"#), None);
        assert_eq!(quoted_len(br#""ends in escape\""#), None);
    }

    #[test]
    fn comma_list_respects_quotes_and_angles() {
        let items: Vec<_> = CommaList::new(br#""a, b" <sip:x@y;p=1,2>;q=1 , c"#)
            .map(Result::unwrap)
            .collect();
        assert_eq!(items, vec![&br#""a, b" <sip:x@y;p=1,2>;q=1"#[..], b"c"]);
        let bad: Vec<_> = CommaList::new(br#"a, "b"#).collect();
        assert_eq!(bad, vec![Ok(&b"a"[..]), Err(())]);
    }

    #[test]
    fn decimals_are_range_checked() {
        assert_eq!(parse_decimal(b"0068", 255), Some(68));
        assert_eq!(parse_decimal(b"300", 255), None);
        assert_eq!(parse_decimal(b"-1", 255), None);
        assert_eq!(parse_decimal(b"", 255), None);
        assert_eq!(parse_decimal(b"36893488147419103232", u64::MAX), None);
    }
}
