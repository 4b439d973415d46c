//! Heap allocations per complete IP-authenticated call in Tollgate's own
//! code (transaction layer and `PolicyCore`), on the simulated call of the
//! `call_path` bench: the simulated caller's and gateway's allocations are
//! left out. Every allocation is a trip through the allocator and, under
//! load, often a cache miss on a block freed long ago; this count is steady
//! where timings on a shared machine are not.
//!
//! Run: `cargo bench -p tollgate-b2bua --bench call_allocations`.

mod lab;

use lab::Lab;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

/// Calls run before counting (past 64·T1 of simulated time, so lingering
/// transactions expire as fast as new ones start), and calls counted.
const WARM_UP: u64 = 40_000;
const COUNTED: u64 = 10_000;

fn blocks() -> u64 {
    dhat::HeapStats::get().total_blocks
}

fn bytes() -> u64 {
    dhat::HeapStats::get().total_bytes
}

fn main() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let mut lab = Lab::new(Some(blocks), false);
    for _ in 0..WARM_UP {
        lab.call();
    }
    let allocations: u64 = (0..COUNTED).map(|_| lab.call()).sum();
    let mut lab_bytes = Lab::new(Some(bytes), false);
    for _ in 0..WARM_UP {
        lab_bytes.call();
    }
    let allocated: u64 = (0..COUNTED).map(|_| lab_bytes.call()).sum();
    println!(
        "ip_call_allocations: {:.1} allocations, {:.0} bytes allocated per call in Tollgate's code \
         ({COUNTED} calls after {WARM_UP})",
        allocations as f64 / COUNTED as f64,
        allocated as f64 / COUNTED as f64,
    );
}
