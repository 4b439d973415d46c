//! The parsed shape of a message: start line, header spans and body, all
//! borrowed from the receive buffer. Typed views over the headers live in
//! [`crate::header`] and are reached through methods on [`Head`].

use crate::header::HeaderKind;
use crate::method::Method;

/// The SIP version of a start line. Only `SIP/2.0` is supported; any other
/// well-formed version is kept so that a server can answer 505.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// `SIP/2.0`
    Sip2,
    /// A syntactically valid `SIP/x.y` other than 2.0.
    Unsupported,
}

/// `Method SP Request-URI SP SIP-Version`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestLine<'b> {
    /// The method token.
    pub method: Method<'b>,
    /// The Request-URI exactly as received (parse it with
    /// [`Head::request_uri`]).
    pub uri: &'b [u8],
    /// The protocol version.
    pub version: Version,
    /// True when the elements were not separated by exactly one SP, or the
    /// line had trailing white space (RFC 4475 lwsstart, trws).
    pub irregular_spacing: bool,
}

/// `SIP-Version SP Status-Code SP Reason-Phrase`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatusLine<'b> {
    /// The protocol version.
    pub version: Version,
    /// The status code, 100 to 699.
    pub code: u16,
    /// The reason phrase as received; may be empty or UTF-8.
    pub reason: &'b [u8],
}

/// The first line of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartLine<'b> {
    /// A request.
    Request(RequestLine<'b>),
    /// A response.
    Response(StatusLine<'b>),
}

/// One header line: its name and trimmed value as byte spans of the receive
/// buffer, and the kind recognised from the name. A folded value keeps its
/// CRLFs; every typed view treats them as white space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header<'b> {
    /// The name as received (any case, possibly a compact form).
    pub name: &'b [u8],
    /// What the name was recognised as.
    pub kind: HeaderKind,
    /// The value without leading or trailing white space.
    pub value: &'b [u8],
}

/// Header lines one parse makes room for: the size of every header array
/// Tollgate parses a message into (a message with more is refused).
pub const MAX_HEADERS: usize = 96;

/// A fresh header array to parse one message into ([`MAX_HEADERS`]
/// placeholders).
pub const fn header_array<'b>() -> [Header<'b>; MAX_HEADERS] {
    [Header::EMPTY; MAX_HEADERS]
}

impl Header<'_> {
    /// A placeholder for initialising the caller's header array.
    pub const EMPTY: Header<'static> = Header {
        name: b"",
        kind: HeaderKind::Other,
        value: b"",
    };
}

/// What the head said about the body's length; interpreted by the framer
/// of the transport in use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DeclaredLength {
    Absent,
    Declared(usize),
    Invalid,
    Repeated,
}

/// The start line and headers of a message.
#[derive(Clone, Copy, Debug)]
pub struct Head<'b, 'h> {
    pub(crate) start: StartLine<'b>,
    pub(crate) headers: &'h [Header<'b>],
    pub(crate) len: usize,
    pub(crate) declared_length: DeclaredLength,
    pub(crate) malformed_lines: bool,
}

impl<'b, 'h> Head<'b, 'h> {
    /// The start line.
    pub fn start(&self) -> &StartLine<'b> {
        &self.start
    }

    /// The request line, when this is a request.
    pub fn request_line(&self) -> Option<&RequestLine<'b>> {
        match &self.start {
            StartLine::Request(r) => Some(r),
            StartLine::Response(_) => None,
        }
    }

    /// The status line, when this is a response.
    pub fn status_line(&self) -> Option<&StatusLine<'b>> {
        match &self.start {
            StartLine::Response(s) => Some(s),
            StartLine::Request(_) => None,
        }
    }

    /// The request method, when this is a request.
    pub fn method(&self) -> Option<Method<'b>> {
        self.request_line().map(|r| r.method)
    }

    /// Every header line in received order.
    pub fn headers(&self) -> &'h [Header<'b>] {
        self.headers
    }

    /// Bytes from the start of the buffer through the empty line (leading
    /// keep-alive CRLFs included).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Never true: a head always has a start line. Present for API symmetry
    /// with `len`.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// True when some header line was not `token: value` (see
    /// [`HeaderKind::Malformed`]).
    pub fn has_malformed_lines(&self) -> bool {
        self.malformed_lines
    }

    /// The values of every header of `kind`, in received order.
    pub fn values(&self, kind: HeaderKind) -> impl Iterator<Item = &'b [u8]> + 'h {
        self.headers
            .iter()
            .filter(move |h| h.kind == kind)
            .map(|h| h.value)
    }

    /// The value of the first header of `kind`.
    pub fn value(&self, kind: HeaderKind) -> Option<&'b [u8]> {
        self.headers
            .iter()
            .find(|h| h.kind == kind)
            .map(|h| h.value)
    }

    /// How many header lines of `kind` the message has.
    pub fn count(&self, kind: HeaderKind) -> usize {
        self.headers.iter().filter(|h| h.kind == kind).count()
    }

    /// The value of the first header named `name` (case-insensitive), for
    /// headers without a [`HeaderKind`] of their own.
    pub fn value_by_name(&self, name: &[u8]) -> Option<&'b [u8]> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    }

    /// The Content-Length value when present and valid.
    pub fn content_length(&self) -> Option<usize> {
        match self.declared_length {
            DeclaredLength::Declared(n) => Some(n),
            _ => None,
        }
    }
}

/// A framed message: its head and exactly its body.
#[derive(Clone, Copy, Debug)]
pub struct Message<'b, 'h> {
    /// Start line and headers.
    pub head: Head<'b, 'h>,
    /// The body: exactly Content-Length bytes (or, for a datagram without
    /// Content-Length, the rest of the datagram).
    pub body: &'b [u8],
}

impl Message<'_, '_> {
    /// Bytes this message occupied in the buffer, from the buffer's start
    /// (leading CRLFs included) to the end of the body. On a stream this is
    /// how much to consume; on a datagram anything after it is ignored.
    pub fn wire_len(&self) -> usize {
        self.head.len + self.body.len()
    }
}
