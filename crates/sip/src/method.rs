//! SIP methods (RFC 3261 §7.1 and the extensions a carrier edge meets).
//! Methods are case-sensitive tokens; any unknown token is a valid
//! extension method that a UAS answers with 405 or 501.

use std::fmt;

/// A request method. Unknown methods are kept as `Extension` with the bytes
/// as received.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method<'b> {
    /// `INVITE`
    Invite,
    /// `ACK`
    Ack,
    /// `BYE`
    Bye,
    /// `CANCEL`
    Cancel,
    /// `OPTIONS`
    Options,
    /// `REGISTER`
    Register,
    /// `PRACK` (RFC 3262)
    Prack,
    /// `SUBSCRIBE` (RFC 6665)
    Subscribe,
    /// `NOTIFY` (RFC 6665)
    Notify,
    /// `PUBLISH` (RFC 3903)
    Publish,
    /// `INFO` (RFC 6086)
    Info,
    /// `REFER` (RFC 3515)
    Refer,
    /// `MESSAGE` (RFC 3428)
    Message,
    /// `UPDATE` (RFC 3311)
    Update,
    /// Any other token.
    Extension(&'b [u8]),
}

impl<'b> Method<'b> {
    /// Classifies a method token. The caller checks that it is a token.
    pub fn from_token(token: &'b [u8]) -> Self {
        match token {
            b"INVITE" => Self::Invite,
            b"ACK" => Self::Ack,
            b"BYE" => Self::Bye,
            b"CANCEL" => Self::Cancel,
            b"OPTIONS" => Self::Options,
            b"REGISTER" => Self::Register,
            b"PRACK" => Self::Prack,
            b"SUBSCRIBE" => Self::Subscribe,
            b"NOTIFY" => Self::Notify,
            b"PUBLISH" => Self::Publish,
            b"INFO" => Self::Info,
            b"REFER" => Self::Refer,
            b"MESSAGE" => Self::Message,
            b"UPDATE" => Self::Update,
            other => Self::Extension(other),
        }
    }

    /// The method as it appears on the wire.
    pub fn as_bytes(&self) -> &'b [u8] {
        match self {
            Self::Invite => b"INVITE",
            Self::Ack => b"ACK",
            Self::Bye => b"BYE",
            Self::Cancel => b"CANCEL",
            Self::Options => b"OPTIONS",
            Self::Register => b"REGISTER",
            Self::Prack => b"PRACK",
            Self::Subscribe => b"SUBSCRIBE",
            Self::Notify => b"NOTIFY",
            Self::Publish => b"PUBLISH",
            Self::Info => b"INFO",
            Self::Refer => b"REFER",
            Self::Message => b"MESSAGE",
            Self::Update => b"UPDATE",
            Self::Extension(token) => token,
        }
    }

    /// True for methods Tollgate does not know.
    pub fn is_extension(&self) -> bool {
        matches!(self, Self::Extension(_))
    }
}

impl fmt::Display for Method<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(self.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::Method;

    #[test]
    fn methods_are_case_sensitive_tokens() {
        assert_eq!(Method::from_token(b"INVITE"), Method::Invite);
        assert_eq!(Method::from_token(b"invite"), Method::Extension(b"invite"));
        assert_eq!(
            Method::from_token(b"RE%47IST%45R").as_bytes(),
            b"RE%47IST%45R"
        );
        assert!(Method::from_token(b"NEWMETHOD").is_extension());
    }
}
