//! Errors, classified by what the receiving server should do about them.
//!
//! Framing errors ([`ParseError`]) come from the tokenizer: the bytes are not a
//! SIP message, or its length cannot be trusted. Header errors
//! ([`HeaderError`]) come from the lazy typed views: the message framed fine
//! but one header's value is not what its grammar allows.

use crate::header::HeaderKind;

/// The message could not be framed or tokenized.
///
/// On a stream transport every `ParseError` means the next message boundary
/// is unknown, so the connection must be closed. On a datagram,
/// [`ParseError::status`] says whether a request deserves an answer (its head
/// parsed, only its body length is wrong) or must be dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// Only CRLFs: a keep-alive, not a message.
    #[error("no message: only line breaks")]
    Empty,
    /// The message exceeds the configured maximum size.
    #[error("message exceeds the maximum size of {max} bytes")]
    TooLarge {
        /// The configured maximum.
        max: usize,
    },
    /// More header lines than the caller's header array holds.
    #[error("more than {max} header lines")]
    TooManyHeaders {
        /// The size of the caller's header array.
        max: usize,
    },
    /// The first line is neither a request line nor a status line.
    #[error("first line is not a SIP request line or status line")]
    BadStartLine,
    /// A line ends in LF without CR.
    #[error("line not terminated by CRLF")]
    BadLineEnding,
    /// The header section never ends (datagram without the empty line and
    /// without a final CRLF).
    #[error("header section is not terminated")]
    Unterminated,
    /// Content-Length is not a non-negative decimal number in range.
    #[error("Content-Length is not a valid length")]
    BadContentLength,
    /// More than one Content-Length header.
    #[error("more than one Content-Length header")]
    DuplicateContentLength,
    /// A stream message without Content-Length cannot be framed.
    #[error("Content-Length is required on stream transports")]
    MissingContentLength,
    /// The datagram ends before the body Content-Length announces.
    #[error("Content-Length {declared} exceeds the {available} bytes after the headers")]
    BodyTruncated {
        /// What Content-Length said.
        declared: usize,
        /// What the datagram holds after the empty line.
        available: usize,
    },
}

impl ParseError {
    /// For a request received as a datagram: the status to answer when the
    /// head parsed and only the body framing is wrong (RFC 4475 §3.1.2.2/3),
    /// or `None` when the datagram must be dropped without an answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::BadContentLength
            | Self::DuplicateContentLength
            | Self::BodyTruncated { .. }
            | Self::MissingContentLength => Some(400),
            Self::Empty
            | Self::TooLarge { .. }
            | Self::TooManyHeaders { .. }
            | Self::BadStartLine
            | Self::BadLineEnding
            | Self::Unterminated => None,
        }
    }
}

/// A header or parameter value that does not follow its grammar.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("value does not follow its grammar")]
pub struct Malformed;

/// What is wrong with one header as read through a typed view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderProblem {
    /// The header is absent.
    #[error("missing")]
    Missing,
    /// The header occurs more often than its grammar allows.
    #[error("repeated")]
    Repeated,
    /// The value does not follow the header's grammar.
    #[error("malformed")]
    Malformed,
    /// A number is outside the range the RFC allows.
    #[error("out of range")]
    OutOfRange,
}

/// A typed view could not read a header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{} header is {problem}", header_label(*.header))]
pub struct HeaderError {
    /// Which header.
    pub header: HeaderKind,
    /// What is wrong with it.
    pub problem: HeaderProblem,
}

impl HeaderError {
    pub(crate) fn missing(header: HeaderKind) -> Self {
        Self {
            header,
            problem: HeaderProblem::Missing,
        }
    }

    pub(crate) fn malformed(header: HeaderKind) -> Self {
        Self {
            header,
            problem: HeaderProblem::Malformed,
        }
    }

    pub(crate) fn out_of_range(header: HeaderKind) -> Self {
        Self {
            header,
            problem: HeaderProblem::OutOfRange,
        }
    }
}

fn header_label(kind: HeaderKind) -> &'static str {
    kind.canonical_name().unwrap_or("a")
}

/// A URI that is not well formed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UriError {
    /// No `scheme:` prefix, or the scheme is not `ALPHA *(ALPHA / DIGIT / + - .)`.
    #[error("URI has no valid scheme")]
    BadScheme,
    /// White space, control characters or angle brackets inside the URI.
    #[error("URI contains characters not allowed in a URI")]
    BadCharacter,
    /// The host is empty or not a hostname, IPv4 address or IPv6 reference.
    #[error("URI host is not a hostname, IPv4 address or bracketed IPv6 address")]
    BadHost,
    /// The port is not a number from 0 to 65535.
    #[error("URI port is not a number from 0 to 65535")]
    BadPort,
    /// A `%` not followed by two hexadecimal digits.
    #[error("URI has a malformed %-escape")]
    BadEscape,
    /// An empty or malformed `;param`.
    #[error("URI has a malformed parameter")]
    BadParam,
    /// A tel URI whose number is not a global or local telephone number.
    #[error("tel URI has a malformed number")]
    BadTelNumber,
}
