//! Byte-level lexing shared by every header and URI view: character classes of
//! RFC 3261 §25.1, linear white space, quoted strings and the comma/semicolon
//! splitting that must respect quotes and angle brackets.
//!
//! Everything here works on borrowed slices and never allocates.

/// `token` characters of RFC 3261 §25.1: alphanumerics and `-.!%*_+`'~`.
pub(crate) fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
        )
}

/// True when `s` is a non-empty `token`.
pub(crate) fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_token_byte(b))
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
    let mut in_angle = false;
    while i < s.len() {
        let b = s[i];
        if b == b'"' && !in_angle {
            i += quoted_len(&s[i..]).ok_or(())?;
            continue;
        }
        if angles && b == b'<' {
            in_angle = true;
        } else if angles && b == b'>' {
            in_angle = false;
        } else if b == sep && !in_angle {
            return Ok(Some(i));
        }
        i += 1;
    }
    Ok(None)
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

/// Value of one hexadecimal digit.
pub(crate) fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// True when every `%` in `s` starts a well-formed `%HH` escape.
pub(crate) fn escapes_well_formed(s: &[u8]) -> bool {
    let mut i = 0;
    while let Some(off) = memchr::memchr(b'%', &s[i..]) {
        let p = i + off;
        match (s.get(p + 1), s.get(p + 2)) {
            (Some(&a), Some(&b)) if hex_val(a).is_some() && hex_val(b).is_some() => i = p + 3,
            _ => return false,
        }
    }
    true
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
    match memchr::memchr(sep, s) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn escapes_are_checked() {
        assert!(escapes_well_formed(b"a%20b%00"));
        assert!(!escapes_well_formed(b"%Z%45"));
        assert!(!escapes_well_formed(b"abc%4"));
    }
}
