//! Header names: the headers Tollgate reads by name, recognised once while the
//! message is tokenized so later lookups compare a one-byte tag instead of
//! strings. Names are case-insensitive and the RFC 3261 §7.3.3 compact forms
//! (and those registered since) map to the same kind.

/// Which header a line is, as far as Tollgate needs to know.
///
/// `Other` is any well-formed header Tollgate does not interpret; `Malformed`
/// marks a line that had no colon or whose name is not a token, kept so that
/// request validation can answer 400 rather than silently dropping it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HeaderKind {
    /// `Accept`
    Accept,
    /// `Accept-Contact` (`a`)
    AcceptContact,
    /// `Allow`
    Allow,
    /// `Allow-Events` (`u`)
    AllowEvents,
    /// `Authentication-Info`
    AuthenticationInfo,
    /// `Authorization`
    Authorization,
    /// `Call-ID` (`i`)
    CallId,
    /// `Contact` (`m`)
    Contact,
    /// `Content-Disposition`
    ContentDisposition,
    /// `Content-Encoding` (`e`)
    ContentEncoding,
    /// `Content-Length` (`l`)
    ContentLength,
    /// `Content-Type` (`c`)
    ContentType,
    /// `CSeq`
    CSeq,
    /// `Date`
    Date,
    /// `Event` (`o`)
    Event,
    /// `Expires`
    Expires,
    /// `From` (`f`)
    From,
    /// `Identity` (`y`)
    Identity,
    /// `Max-Forwards`
    MaxForwards,
    /// `Min-Expires`
    MinExpires,
    /// `Min-SE`
    MinSe,
    /// `P-Asserted-Identity`
    PAssertedIdentity,
    /// `P-Preferred-Identity`
    PPreferredIdentity,
    /// `Privacy`
    Privacy,
    /// `Proxy-Authenticate`
    ProxyAuthenticate,
    /// `Proxy-Authorization`
    ProxyAuthorization,
    /// `Proxy-Require`
    ProxyRequire,
    /// `RAck`
    RAck,
    /// `Reason`
    Reason,
    /// `Record-Route`
    RecordRoute,
    /// `Refer-To` (`r`)
    ReferTo,
    /// `Referred-By` (`b`)
    ReferredBy,
    /// `Reject-Contact` (`j`)
    RejectContact,
    /// `Remote-Party-ID`
    RemotePartyId,
    /// `Request-Disposition` (`d`)
    RequestDisposition,
    /// `Require`
    Require,
    /// `Retry-After`
    RetryAfter,
    /// `Route`
    Route,
    /// `RSeq`
    RSeq,
    /// `Server`
    Server,
    /// `Session-Expires` (`x`)
    SessionExpires,
    /// `Subject` (`s`)
    Subject,
    /// `Supported` (`k`)
    Supported,
    /// `Timestamp`
    Timestamp,
    /// `To` (`t`)
    To,
    /// `Unsupported`
    Unsupported,
    /// `User-Agent`
    UserAgent,
    /// `Via` (`v`)
    Via,
    /// `Warning`
    Warning,
    /// `WWW-Authenticate`
    WwwAuthenticate,
    /// A well-formed header Tollgate does not interpret.
    Other,
    /// A line that is not `name: value` with a token name.
    Malformed,
}

/// Longest header name that is worth lowercasing for recognition; anything
/// longer is `Other` (the longest known name is 20 bytes).
const MAX_KNOWN_NAME: usize = 24;

impl HeaderKind {
    /// Recognises a header name, ignoring ASCII case. The caller has already
    /// checked that `name` is a token.
    pub fn from_name(name: &[u8]) -> Self {
        if name.len() > MAX_KNOWN_NAME {
            return Self::Other;
        }
        let mut lower = [0u8; MAX_KNOWN_NAME];
        let lower = &mut lower[..name.len()];
        for (d, s) in lower.iter_mut().zip(name) {
            *d = s.to_ascii_lowercase();
        }
        // Dispatch on length first: each inner match compares a handful of
        // names instead of every name Tollgate knows.
        match lower.len() {
            1 => match lower[0] {
                b'v' => Self::Via,
                b'f' => Self::From,
                b't' => Self::To,
                b'i' => Self::CallId,
                b'm' => Self::Contact,
                b'l' => Self::ContentLength,
                b'c' => Self::ContentType,
                b'k' => Self::Supported,
                b'a' => Self::AcceptContact,
                b'u' => Self::AllowEvents,
                b'e' => Self::ContentEncoding,
                b'o' => Self::Event,
                b'y' => Self::Identity,
                b'r' => Self::ReferTo,
                b'b' => Self::ReferredBy,
                b'j' => Self::RejectContact,
                b'd' => Self::RequestDisposition,
                b'x' => Self::SessionExpires,
                b's' => Self::Subject,
                _ => Self::Other,
            },
            2 => match &*lower {
                b"to" => Self::To,
                _ => Self::Other,
            },
            3 => match &*lower {
                b"via" => Self::Via,
                _ => Self::Other,
            },
            4 => match &*lower {
                b"from" => Self::From,
                b"cseq" => Self::CSeq,
                b"date" => Self::Date,
                b"rack" => Self::RAck,
                b"rseq" => Self::RSeq,
                _ => Self::Other,
            },
            5 => match &*lower {
                b"route" => Self::Route,
                b"allow" => Self::Allow,
                b"event" => Self::Event,
                _ => Self::Other,
            },
            6 => match &*lower {
                b"server" => Self::Server,
                b"accept" => Self::Accept,
                b"min-se" => Self::MinSe,
                b"reason" => Self::Reason,
                _ => Self::Other,
            },
            7 => match &*lower {
                b"call-id" => Self::CallId,
                b"contact" => Self::Contact,
                b"expires" => Self::Expires,
                b"require" => Self::Require,
                b"privacy" => Self::Privacy,
                b"subject" => Self::Subject,
                b"warning" => Self::Warning,
                _ => Self::Other,
            },
            8 => match &*lower {
                b"identity" => Self::Identity,
                b"refer-to" => Self::ReferTo,
                _ => Self::Other,
            },
            9 => match &*lower {
                b"supported" => Self::Supported,
                b"timestamp" => Self::Timestamp,
                _ => Self::Other,
            },
            10 => match &*lower {
                b"user-agent" => Self::UserAgent,
                _ => Self::Other,
            },
            11 => match &*lower {
                b"unsupported" => Self::Unsupported,
                b"min-expires" => Self::MinExpires,
                b"referred-by" => Self::ReferredBy,
                b"retry-after" => Self::RetryAfter,
                _ => Self::Other,
            },
            12 => match &*lower {
                b"content-type" => Self::ContentType,
                b"max-forwards" => Self::MaxForwards,
                b"record-route" => Self::RecordRoute,
                b"allow-events" => Self::AllowEvents,
                _ => Self::Other,
            },
            13 => match &*lower {
                b"authorization" => Self::Authorization,
                b"proxy-require" => Self::ProxyRequire,
                _ => Self::Other,
            },
            14 => match &*lower {
                b"content-length" => Self::ContentLength,
                b"accept-contact" => Self::AcceptContact,
                b"reject-contact" => Self::RejectContact,
                _ => Self::Other,
            },
            15 => match &*lower {
                b"remote-party-id" => Self::RemotePartyId,
                b"session-expires" => Self::SessionExpires,
                _ => Self::Other,
            },
            16 => match &*lower {
                b"www-authenticate" => Self::WwwAuthenticate,
                b"content-encoding" => Self::ContentEncoding,
                _ => Self::Other,
            },
            18 => match &*lower {
                b"proxy-authenticate" => Self::ProxyAuthenticate,
                _ => Self::Other,
            },
            19 => match &*lower {
                b"proxy-authorization" => Self::ProxyAuthorization,
                b"authentication-info" => Self::AuthenticationInfo,
                b"content-disposition" => Self::ContentDisposition,
                b"p-asserted-identity" => Self::PAssertedIdentity,
                b"request-disposition" => Self::RequestDisposition,
                _ => Self::Other,
            },
            20 => match &*lower {
                b"p-preferred-identity" => Self::PPreferredIdentity,
                _ => Self::Other,
            },
            _ => Self::Other,
        }
    }

    /// The header's canonical (long) name, used when Tollgate writes it.
    /// `None` for `Other` and `Malformed`, whose received name must be used.
    pub fn canonical_name(self) -> Option<&'static str> {
        Some(match self {
            Self::Accept => "Accept",
            Self::AcceptContact => "Accept-Contact",
            Self::Allow => "Allow",
            Self::AllowEvents => "Allow-Events",
            Self::AuthenticationInfo => "Authentication-Info",
            Self::Authorization => "Authorization",
            Self::CallId => "Call-ID",
            Self::Contact => "Contact",
            Self::ContentDisposition => "Content-Disposition",
            Self::ContentEncoding => "Content-Encoding",
            Self::ContentLength => "Content-Length",
            Self::ContentType => "Content-Type",
            Self::CSeq => "CSeq",
            Self::Date => "Date",
            Self::Event => "Event",
            Self::Expires => "Expires",
            Self::From => "From",
            Self::Identity => "Identity",
            Self::MaxForwards => "Max-Forwards",
            Self::MinExpires => "Min-Expires",
            Self::MinSe => "Min-SE",
            Self::PAssertedIdentity => "P-Asserted-Identity",
            Self::PPreferredIdentity => "P-Preferred-Identity",
            Self::Privacy => "Privacy",
            Self::ProxyAuthenticate => "Proxy-Authenticate",
            Self::ProxyAuthorization => "Proxy-Authorization",
            Self::ProxyRequire => "Proxy-Require",
            Self::RAck => "RAck",
            Self::Reason => "Reason",
            Self::RecordRoute => "Record-Route",
            Self::ReferTo => "Refer-To",
            Self::ReferredBy => "Referred-By",
            Self::RejectContact => "Reject-Contact",
            Self::RemotePartyId => "Remote-Party-ID",
            Self::RequestDisposition => "Request-Disposition",
            Self::Require => "Require",
            Self::RetryAfter => "Retry-After",
            Self::Route => "Route",
            Self::RSeq => "RSeq",
            Self::Server => "Server",
            Self::SessionExpires => "Session-Expires",
            Self::Subject => "Subject",
            Self::Supported => "Supported",
            Self::Timestamp => "Timestamp",
            Self::To => "To",
            Self::Unsupported => "Unsupported",
            Self::UserAgent => "User-Agent",
            Self::Via => "Via",
            Self::Warning => "Warning",
            Self::WwwAuthenticate => "WWW-Authenticate",
            Self::Other | Self::Malformed => return None,
        })
    }

    /// Headers of which a request may carry at most one (RFC 3261 §20 and
    /// §7.3.1: those whose grammar is not a comma-separated list).
    pub fn is_single_valued(self) -> bool {
        matches!(
            self,
            Self::CallId
                | Self::ContentLength
                | Self::ContentType
                | Self::CSeq
                | Self::Date
                | Self::Expires
                | Self::From
                | Self::MaxForwards
                | Self::MinExpires
                | Self::To
                | Self::RAck
                | Self::RSeq
                | Self::RetryAfter
                | Self::SessionExpires
                | Self::Timestamp
        )
    }
}

#[cfg(test)]
mod tests {
    use super::HeaderKind;

    #[test]
    fn names_ignore_case_and_compact_forms_map() {
        assert_eq!(
            HeaderKind::from_name(b"MaX-fOrWaRdS"),
            HeaderKind::MaxForwards
        );
        assert_eq!(HeaderKind::from_name(b"v"), HeaderKind::Via);
        assert_eq!(HeaderKind::from_name(b"I"), HeaderKind::CallId);
        assert_eq!(HeaderKind::from_name(b"l"), HeaderKind::ContentLength);
        assert_eq!(HeaderKind::from_name(b"C%6Fntact"), HeaderKind::Other);
        assert_eq!(
            HeaderKind::from_name(b"a-header-name-longer-than-any-known-one"),
            HeaderKind::Other
        );
    }

    #[test]
    fn every_known_kind_round_trips_through_its_canonical_name() {
        use HeaderKind::*;
        let all = [
            Accept,
            AcceptContact,
            Allow,
            AllowEvents,
            AuthenticationInfo,
            Authorization,
            CallId,
            Contact,
            ContentDisposition,
            ContentEncoding,
            ContentLength,
            ContentType,
            CSeq,
            Date,
            Event,
            Expires,
            From,
            Identity,
            MaxForwards,
            MinExpires,
            MinSe,
            PAssertedIdentity,
            PPreferredIdentity,
            Privacy,
            ProxyAuthenticate,
            ProxyAuthorization,
            ProxyRequire,
            RAck,
            Reason,
            RecordRoute,
            ReferTo,
            ReferredBy,
            RejectContact,
            RemotePartyId,
            RequestDisposition,
            Require,
            RetryAfter,
            Route,
            RSeq,
            Server,
            SessionExpires,
            Subject,
            Supported,
            Timestamp,
            To,
            Unsupported,
            UserAgent,
            Via,
            Warning,
            WwwAuthenticate,
        ];
        for kind in all {
            let name = kind.canonical_name().unwrap();
            assert_eq!(HeaderKind::from_name(name.as_bytes()), kind, "{name}");
            let upper = name.to_ascii_uppercase();
            assert_eq!(HeaderKind::from_name(upper.as_bytes()), kind, "{upper}");
        }
        let compact = [
            ("v", Via),
            ("f", From),
            ("t", To),
            ("i", CallId),
            ("m", Contact),
            ("l", ContentLength),
            ("c", ContentType),
            ("k", Supported),
            ("a", AcceptContact),
            ("u", AllowEvents),
            ("e", ContentEncoding),
            ("o", Event),
            ("y", Identity),
            ("r", ReferTo),
            ("b", ReferredBy),
            ("j", RejectContact),
            ("d", RequestDisposition),
            ("x", SessionExpires),
            ("s", Subject),
        ];
        for (name, kind) in compact {
            assert_eq!(HeaderKind::from_name(name.as_bytes()), kind, "{name}");
        }
    }
}
