//! Any datagram: parse, read every typed view, validate. Must never panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    tollgate_sip::fuzzing::parse_and_inspect(data);
});
