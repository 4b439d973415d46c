//! Integration tests of `tollgate-sip`: the RFC 4475 / RFC 5118 conformance
//! corpora, the project's own test messages, builder round trips and the
//! replay of the fuzz seeds.

mod conformance;
mod fuzz_seeds;
mod own_messages;
mod round_trip;
mod support;
