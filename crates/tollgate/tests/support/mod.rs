//! What the tests of `tollgate serve` share: free ports, a running
//! server that is always stopped, the CLI as an operator runs it.
// Each test file uses its own part of this module.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free UDP+TCP port pair on loopback (bound and released).
pub(crate) fn free_port() -> u16 {
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.local_addr().unwrap().port()
}

/// A running `tollgate serve`: dropping it stops it (SIGTERM, then waits
/// for the exit), so a failing test leaves no server behind.
pub(crate) struct Served(Child);

impl Served {
    /// Stops the server and waits until it has exited.
    pub(crate) fn stop(self) {}
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

/// A running `tollgate serve` on `dir`'s database with the API on `api`,
/// and the lines it printed on stdout by the time it was listening.
pub(crate) fn start_api(dir: &Path, api: u16) -> (Served, Vec<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(["serve", "--sip", &format!("udp:127.0.0.1:{}", free_port())])
        .args(["--api", &format!("127.0.0.1:{api}")])
        .arg("--db")
        .arg(format!("sqlite://{}/t.db", dir.display()))
        .env_remove("TOLLGATE_ADMIN_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while stderr.read_line(&mut line).unwrap() > 0 && !line.contains("SIP listening") {
        line.clear();
    }
    // Keep draining stderr so the child never blocks on a full pipe.
    std::thread::spawn(move || stderr.lines().for_each(drop));
    std::thread::sleep(Duration::from_millis(100));
    (Served(child), rx.try_iter().collect())
}

/// The admin token a first start printed.
pub(crate) fn printed_token(printed: &[String]) -> String {
    printed
        .iter()
        .find(|l| l.contains("Admin API token"))
        .and_then(|l| l.rsplit(' ').next())
        .expect("token printed on first start")
        .to_owned()
}

/// Runs the CLI against `api` with the admin token; returns stdout, or
/// panics with stderr.
pub(crate) fn cli(api: u16, token: &str, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(args)
        .args(["--api", &format!("http://127.0.0.1:{api}")])
        .env("TOLLGATE_TOKEN", token)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tollgate {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Retries `f` until it is true; how long that took, or `None` when it was
/// not true within `limit` (an attempt that ends past it does not count).
pub(crate) async fn within(limit: Duration, mut f: impl AsyncFnMut() -> bool) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if f().await {
            return Some(started.elapsed()).filter(|t| *t <= limit);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

/// A running `tollgate serve` in `dir` with `config` as its file, SIP on
/// UDP port `sip`, the API on `api` and `token` as the admin token; it
/// returns once SIP listens.
pub(crate) fn serve_with(dir: &Path, config: &str, sip: u16, api: u16, token: &str) -> Served {
    std::fs::create_dir_all(dir).unwrap();
    let file = dir.join("tollgate.toml");
    std::fs::write(&file, config).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(["serve", "--config", file.to_str().unwrap()])
        .args(["--sip", &format!("udp:127.0.0.1:{sip}")])
        .args(["--api", &format!("127.0.0.1:{api}")])
        .arg("--db")
        .arg(format!("sqlite://{}/t.db", dir.display()))
        .env("TOLLGATE_ADMIN_TOKEN", token)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while stderr.read_line(&mut line).unwrap() > 0 && !line.contains("SIP listening") {
        line.clear();
    }
    // Keep draining stderr so the child never blocks on a full pipe.
    std::thread::spawn(move || stderr.lines().for_each(drop));
    Served(child)
}

/// A `tollgate serve` with the default configuration on a database of its
/// own, SIP on a free UDP port of 127.0.0.1 and the API on another, with
/// [`Fresh::TOKEN`] as the admin token. Dropping it stops the server and
/// removes its directory.
pub(crate) struct Fresh {
    dir: std::path::PathBuf,
    sip: u16,
    api: u16,
    server: Option<Served>,
}

impl Fresh {
    /// The admin token.
    pub(crate) const TOKEN: &str = "fresh-test-token-0123456789abcdef";

    /// Starts one in a temporary directory named after `name`.
    pub(crate) fn start(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("tollgate-{name}-{}", free_port()));
        let (sip, api) = (free_port(), free_port());
        let server = serve_with(&dir, "", sip, api, Self::TOKEN);
        Self {
            dir,
            sip,
            api,
            server: Some(server),
        }
    }

    /// Stops the server and starts it again on the same database.
    pub(crate) fn restart(&mut self) {
        drop(self.server.take());
        self.server = Some(serve_with(&self.dir, "", self.sip, self.api, Self::TOKEN));
    }

    /// Where SIP listens.
    pub(crate) fn sip(&self) -> std::net::SocketAddr {
        std::net::SocketAddr::from(([127, 0, 0, 1], self.sip))
    }

    /// Its directory (the database, `t.db`, is there).
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The database URL.
    pub(crate) fn db(&self) -> String {
        format!("sqlite://{}/t.db", self.dir.display())
    }

    /// Runs the CLI against this server; its stdout.
    pub(crate) fn cli(&self, args: &[&str]) -> String {
        cli(self.api, Self::TOKEN, args)
    }
}

impl Drop for Fresh {
    fn drop(&mut self) {
        drop(self.server.take());
        std::fs::remove_dir_all(&self.dir).ok();
    }
}
