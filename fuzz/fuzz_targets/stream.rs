//! Stream framing under arbitrary chunking agrees with framing the whole
//! buffer at once.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    tollgate_sip::fuzzing::stream_target(data);
});
