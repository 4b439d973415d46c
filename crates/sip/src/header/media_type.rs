//! `Content-Type` and the media types of `Accept` (RFC 3261 §20.15, §20.1).

use crate::error::Malformed;
use crate::lex;
use crate::params::Params;

/// `type "/" subtype *(SEMI m-parameter)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MediaType<'b> {
    /// The top-level type (`application`).
    pub ty: &'b [u8],
    /// The subtype (`sdp`).
    pub subtype: &'b [u8],
    /// The parameters (`;boundary=…`).
    pub params: Params<'b>,
}

impl<'b> MediaType<'b> {
    /// Parses one media type. Wildcards (`*/*`) are accepted, as in Accept.
    pub fn parse(s: &'b [u8]) -> Result<Self, Malformed> {
        let (ty_sub, params) = match lex::find_unquoted(s, b';', false).map_err(|()| Malformed)? {
            Some(i) => (&s[..i], Params::new(&s[i + 1..])),
            None => (s, Params::default()),
        };
        let (ty, subtype) = lex::split_once(ty_sub, b'/');
        let (ty, subtype) = (lex::trim(ty), lex::trim(subtype.ok_or(Malformed)?));
        if !lex::is_token(ty) || !lex::is_token(subtype) {
            return Err(Malformed);
        }
        params.validate()?;
        Ok(Self {
            ty,
            subtype,
            params,
        })
    }

    /// True when this is `ty/subtype`, ignoring ASCII case.
    pub fn is(&self, ty: &str, subtype: &str) -> bool {
        self.ty.eq_ignore_ascii_case(ty.as_bytes())
            && self.subtype.eq_ignore_ascii_case(subtype.as_bytes())
    }

    /// True when this media range (from Accept) admits `ty/subtype`.
    pub fn admits(&self, ty: &str, subtype: &str) -> bool {
        (self.ty == b"*" || self.ty.eq_ignore_ascii_case(ty.as_bytes()))
            && (self.subtype == b"*" || self.subtype.eq_ignore_ascii_case(subtype.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types() {
        let m = MediaType::parse(b"multipart/mixed;boundary=7a9cbec3").unwrap();
        assert!(m.is("Multipart", "MIXED"));
        assert_eq!(m.params.get(b"boundary"), Some(Some(&b"7a9cbec3"[..])));
        assert!(
            MediaType::parse(b"*/*")
                .unwrap()
                .admits("application", "sdp")
        );
        assert!(
            !MediaType::parse(b"text/nobodyKnowsThis")
                .unwrap()
                .admits("application", "sdp")
        );
        assert!(MediaType::parse(b"application").is_err());
        assert!(MediaType::parse(b"application/").is_err());
    }
}
