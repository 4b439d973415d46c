//! What the B2BUA asks of the firewall while it identifies callers. The
//! firewall itself (threat detection, the block list, its clock) lives in
//! the edge, which drops blocked sources before the B2BUA sees them.

use std::net::IpAddr;

use tollgate_policy::threat::Signal;

/// The firewall as the identifying core reaches it.
pub trait Firewall: Send + Sync + std::fmt::Debug {
    /// Takes note of what `ip` did (a challenge, a failed login); a source
    /// that crosses a threshold is blocked.
    fn observe(&self, ip: IpAddr, signal: Signal);

    /// `ip` answered a digest challenge correctly: its challenges no longer
    /// count against it for a while.
    fn authenticated(&self, ip: IpAddr);

    /// True when a request from `ip` saying `user_agent` is a scanner's:
    /// it is dropped unanswered, and the source blocked.
    fn is_scanner(&self, ip: IpAddr, user_agent: &[u8]) -> bool;

    /// True when an `answer_len`-byte stateless answer to a `request_len`
    /// byte request from `ip`, which was not identified, may go: a source
    /// draws at most about 1.5 times what it sends.
    fn may_answer(&self, ip: IpAddr, request_len: usize, answer_len: usize) -> bool;
}
