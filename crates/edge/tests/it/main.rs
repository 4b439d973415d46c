//! Integration tests of the edge over real loopback sockets, with the test
//! UA: every transport on IPv4 and IPv6, framing and connection limits, the
//! conformance corpus over the wire, shutdown, and calls end to end.

mod calls;
mod conformance;
mod identify;
mod streams;
mod support;
mod transports;
