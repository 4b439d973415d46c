//! The table of open stream connections: how the driver finds the writer of
//! a connection (by id, or by remote address to reuse one), and how the
//! per-IP and total limits are enforced. The lock is held only for a map
//! operation, never across an await.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;

use bytes::Bytes;
use tokio::sync::mpsc;
use tollgate_sip::transaction::Transport;

/// Messages queued to one connection's writer before it counts as stuck.
pub(crate) const WRITE_QUEUE: usize = 256;

#[derive(Debug)]
struct Conn {
    transport: Transport,
    remote: SocketAddr,
    writer: mpsc::Sender<Bytes>,
}

#[derive(Debug, Default)]
struct Inner {
    next_id: u64,
    conns: HashMap<u64, Conn>,
    by_remote: HashMap<(Transport, SocketAddr), u64>,
    per_ip: HashMap<IpAddr, usize>,
}

/// Open TCP and TLS connections.
#[derive(Debug)]
pub(crate) struct Connections {
    inner: Mutex<Inner>,
    max_per_ip: usize,
    max_total: usize,
}

/// Why a connection was not admitted.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    PerIp,
    Total,
}

impl Connections {
    pub(crate) fn new(max_per_ip: usize, max_total: usize) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            max_per_ip,
            max_total,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding this lock cannot leave the maps half
        // updated (each operation is a few inserts), so poisoning is moot.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers a connection and returns its id and the receiving end of
    /// its write queue, or refuses it when a limit is reached.
    pub(crate) fn admit(
        &self,
        transport: Transport,
        remote: SocketAddr,
    ) -> Result<(u64, mpsc::Receiver<Bytes>), Refused> {
        let mut inner = self.lock();
        if inner.conns.len() >= self.max_total {
            return Err(Refused::Total);
        }
        let count = inner.per_ip.entry(remote.ip()).or_insert(0);
        if *count >= self.max_per_ip {
            return Err(Refused::PerIp);
        }
        *count += 1;
        inner.next_id += 1;
        let id = inner.next_id;
        let (writer, rx) = mpsc::channel(WRITE_QUEUE);
        inner.conns.insert(
            id,
            Conn {
                transport,
                remote,
                writer,
            },
        );
        inner.by_remote.insert((transport, remote), id);
        Ok((id, rx))
    }

    /// Forgets a closed connection.
    pub(crate) fn remove(&self, id: u64) {
        let mut inner = self.lock();
        let Some(conn) = inner.conns.remove(&id) else {
            return;
        };
        if inner.by_remote.get(&(conn.transport, conn.remote)) == Some(&id) {
            inner.by_remote.remove(&(conn.transport, conn.remote));
        }
        if let Some(count) = inner.per_ip.get_mut(&conn.remote.ip()) {
            *count -= 1;
            if *count == 0 {
                inner.per_ip.remove(&conn.remote.ip());
            }
        }
    }

    /// The writer of connection `id`, or of any open connection to
    /// `remote` over `transport`.
    pub(crate) fn writer(
        &self,
        id: Option<u64>,
        transport: Transport,
        remote: SocketAddr,
    ) -> Option<mpsc::Sender<Bytes>> {
        let inner = self.lock();
        id.and_then(|id| inner.conns.get(&id))
            .or_else(|| {
                let id = inner.by_remote.get(&(transport, remote))?;
                inner.conns.get(id)
            })
            .map(|c| c.writer.clone())
    }

    /// How many connections are open.
    pub(crate) fn len(&self) -> usize {
        self.lock().conns.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_and_lookup() {
        let table = Connections::new(2, 3);
        let a: SocketAddr = "192.0.2.1:5000".parse().unwrap();
        let b: SocketAddr = "192.0.2.1:5001".parse().unwrap();
        let c: SocketAddr = "192.0.2.1:5002".parse().unwrap();
        let d: SocketAddr = "192.0.2.2:5000".parse().unwrap();
        let e: SocketAddr = "192.0.2.3:5000".parse().unwrap();
        let (ida, _ra) = table.admit(Transport::Tcp, a).unwrap();
        let (_idb, _rb) = table.admit(Transport::Tcp, b).unwrap();
        assert_eq!(table.admit(Transport::Tcp, c).unwrap_err(), Refused::PerIp);
        let (_idd, _rd) = table.admit(Transport::Tls, d).unwrap();
        assert_eq!(table.admit(Transport::Tcp, e).unwrap_err(), Refused::Total);
        assert!(table.writer(None, Transport::Tcp, a).is_some());
        assert!(table.writer(None, Transport::Tls, a).is_none());
        table.remove(ida);
        assert_eq!(table.len(), 2);
        assert!(table.writer(Some(ida), Transport::Tcp, a).is_none());
        assert!(table.admit(Transport::Tcp, c).is_ok());
    }
}
