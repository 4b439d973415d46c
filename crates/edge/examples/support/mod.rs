//! Shared by the load generators: their first arguments and reading a
//! server's CPU time.

/// utime + stime of process `pid`, in seconds (Linux /proc, USER_HZ 100).
pub(crate) fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after ')'.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (field(11) + field(12)) as f64 / 100.0
}

/// The first two arguments every load generator takes: the server's
/// address (loopback only) and its process id.
pub(crate) fn server_and_pid(
    args: &mut impl Iterator<Item = String>,
) -> (std::net::SocketAddr, u32) {
    let server: std::net::SocketAddr = args
        .next()
        .expect("SERVER_ADDR")
        .parse()
        .expect("SERVER_ADDR is IP:PORT");
    assert!(server.ip().is_loopback(), "load only ever goes to loopback");
    let pid = args
        .next()
        .expect("SERVER_PID")
        .parse()
        .expect("SERVER_PID is a number");
    (server, pid)
}
