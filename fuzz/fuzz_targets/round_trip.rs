//! Parse → rebuild with the builder → parse: same method, URI, headers, body.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    tollgate_sip::fuzzing::round_trip(data);
});
