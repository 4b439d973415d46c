//! Sans-IO SIP for Tollgate.
//!
//! This crate turns bytes into SIP messages and back, with no sockets, no
//! clock and no runtime: everything is deterministic and testable in memory.
//!
//! ```text
//!   bytes ──► parse_datagram / parse_stream ──► Message { Head, body }
//!                                                  │
//!                      typed views (lazy) ◄────────┤  Head::top_via, cseq, from, …
//!                      check_request     ◄─────────┘  → ValidRequest | Rejection (400/416/505/drop)
//!
//!   MessageBuilder::request / response_to ──► bytes  (messages Tollgate originates)
//!   digest::*  challenges, credentials, HA1, stateless nonces
//!   sdp::*     codec listing and filtering of offers/answers
//! ```
//!
//! The parser is zero-copy and httparse-shaped: the caller provides the
//! header array, headers are byte spans into the receive buffer, and typed
//! values are computed only when asked for.

#![forbid(unsafe_code)]

pub mod builder;
#[cfg(feature = "testing")]
pub mod corpus;
pub mod digest;
mod error;
#[cfg(feature = "testing")]
pub mod fuzzing;
pub mod header;
mod lex;
mod message;
mod method;
mod params;
mod parse;
pub mod sdp;
pub mod transaction;
mod uri;
pub mod validate;

pub use builder::{BuildError, MessageBuilder, ResponseHeaders, stamp_via};
pub use error::{HeaderError, HeaderProblem, ParseError, UriError};
pub use header::HeaderKind;
pub use message::{
    Head, Header, MAX_HEADERS, Message, RequestLine, StartLine, StatusLine, Version, header_array,
};
pub use method::Method;
pub use params::{Param, ParamIter, Params};
#[cfg(feature = "testing")]
pub use parse::heads_parsed;
pub use parse::{Limits, Status, StreamItem, parse_datagram, parse_datagram_head, parse_stream};
pub use uri::{Host, SipUri, TelUri, Uri};
pub use validate::{
    Checked, Rejection, ValidRequest, ValidResponse, check_request, check_response,
};
