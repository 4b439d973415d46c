//! The user-space cost of one complete IP-authenticated call through the
//! B2BUA, without sockets: INVITE, 180, 200, ACK and BYE, 200 on both legs,
//! fed to the transaction layer and `PolicyCore` in simulated time (one
//! call per millisecond, so transactions linger and expire as at 1,000
//! calls per second). The figure includes the simulated caller and
//! gateway, which read Tollgate's messages and build their own.
//!
//! `scripts/bench-calls` measures the whole process with SIPp over
//! loopback, kernel included; this bench isolates Tollgate's own code and
//! is steady where the machine is not.

use criterion::{Criterion, criterion_group, criterion_main};

mod lab;

use lab::Lab;

fn call_path(c: &mut Criterion) {
    // The second caller asks for rport in its Via, as most switches do:
    // Tollgate then stamps each of its requests before the core reads it.
    for (name, rport) in [("ip_call_end_to_end", false), ("ip_call_with_rport", true)] {
        let mut lab = Lab::new(None, rport);
        // Past 64·T1 of simulated time: lingering transactions at their
        // steady-state number.
        for _ in 0..40_000 {
            lab.call();
        }
        c.bench_function(name, |b| b.iter(|| lab.call()));
    }
}

criterion_group!(benches, call_path);
criterion_main!(benches);
