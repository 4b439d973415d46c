//! The user-space cost of one complete IP-authenticated call through the
//! B2BUA, without sockets: INVITE, 180, 200, ACK and BYE, 200 on both legs,
//! fed to the transaction layer and `PolicyCore` in simulated time (one
//! call per millisecond, so transactions linger and expire as at 1,000
//! calls per second).
//!
//! Each call is measured twice: whole, with the simulated network (the
//! B2BUA tests' `World`) and the bench's caller and gateway, which read
//! Tollgate's messages and build their own (`ip_call_end_to_end`,
//! `ip_call_with_rport`), and as Tollgate's own
//! share, the clock read around each of its steps (`ip_call_tollgate_only`;
//! the clock reads themselves, two per step, are in the figure).
//!
//! `scripts/bench-calls` measures the whole process with SIPp over
//! loopback, kernel included; this bench isolates Tollgate's own code and
//! is steady where the machine is not.

use std::sync::LazyLock;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};

mod lab;

use lab::Lab;

/// Calls run before measuring: past 64·T1 of simulated time, lingering
/// transactions are at their steady-state number.
const WARM_UP: usize = 40_000;

/// Nanoseconds since the first reading: the meter for Tollgate's share.
fn clock() -> u64 {
    static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);
    u64::try_from(EPOCH.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

fn call_path(c: &mut Criterion) {
    // The second caller asks for rport in its Via, as most switches do:
    // Tollgate then stamps each of its requests before the core reads it.
    for (name, rport) in [("ip_call_end_to_end", false), ("ip_call_with_rport", true)] {
        let mut lab = Lab::new(None, rport);
        for _ in 0..WARM_UP {
            lab.call();
        }
        c.bench_function(name, |b| b.iter(|| lab.call()));
    }
    let mut lab = Lab::new(Some(clock), false);
    for _ in 0..WARM_UP {
        lab.call();
    }
    c.bench_function("ip_call_tollgate_only", |b| {
        b.iter_custom(|calls| Duration::from_nanos((0..calls).map(|_| lab.call()).sum()));
    });
}

criterion_group!(benches, call_path);
criterion_main!(benches);
