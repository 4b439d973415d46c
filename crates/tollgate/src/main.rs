//! `tollgate`: the SIP edge's command line.
//!
//! `tollgate serve` reads the configuration file and the command-line
//! overrides, validates them and runs the SIP edge until SIGINT or SIGTERM.
//! The edge identifies callers on the configuration store's snapshot (IP
//! authentication, else a 407 digest challenge; see
//! `tollgate_b2bua::PolicyCore`) and routes their calls to carrier gateways
//! (the B2BUA). The management API serves the store; the admin
//! token comes from `TOLLGATE_ADMIN_TOKEN`, or is generated and printed
//! once on the first start.

mod cli;
mod config;
mod resolve;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use std::time::Duration;

use crate::config::{Config, parse_listener};

/// mimalloc instead of the system allocator: the edge allocates and frees
/// many small, short-lived buffers per message from several threads, where
/// glibc's malloc spends its time consolidating and trimming per-thread
/// arenas (a tenth of the CPU of a call at 1,000 calls per second).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// What to do.
#[derive(Debug, Subcommand)]
enum Command {
    /// Run the SIP edge and the management API.
    Serve(ServeArgs),
    /// Manage a running server through its API (token from TOLLGATE_TOKEN
    /// or TOLLGATE_ADMIN_TOKEN).
    #[command(flatten)]
    Admin(cli::AdminCmd),
}

/// A SIP edge for VoIP carriers.
#[derive(Debug, Parser)]
#[command(name = "tollgate", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Configuration file (TOML); every key is optional.
    #[arg(long, env = "TOLLGATE_CONFIG")]
    config: Option<PathBuf>,
    /// SIP listener, repeatable: udp:HOST:PORT, tcp:HOST:PORT or tls:HOST:PORT.
    #[arg(long = "sip", value_name = "URI")]
    sip: Vec<String>,
    /// Management API address.
    #[arg(long, value_name = "ADDR", env = "TOLLGATE_API")]
    api: Option<String>,
    /// Database URL (sqlite://FILE or postgres://…).
    #[arg(long, value_name = "URL", env = "TOLLGATE_DB")]
    db: Option<String>,
    /// Serve from the database without writing to it (another server
    /// writes it).
    #[arg(long)]
    read_only: bool,
    /// Print the effective configuration as TOML and exit.
    #[arg(long)]
    print_config: bool,
}

/// The configuration file overlaid with the command-line values.
fn effective_config(args: &ServeArgs) -> anyhow::Result<Config> {
    let mut config = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            Config::from_toml(&text).with_context(|| format!("in {}", path.display()))?
        }
        None => Config::default(),
    };
    if !args.sip.is_empty() {
        for (i, uri) in args.sip.iter().enumerate() {
            parse_listener(&format!("--sip[{i}]"), uri)?;
        }
        config.sip.listen = args.sip.clone();
    }
    if let Some(api) = &args.api {
        config.api.listen = api.clone();
    }
    if let Some(db) = &args.db {
        config.store.url = db.clone();
    }
    config.store.read_only |= args.read_only;
    config.validate()?;
    Ok(config)
}

/// The edge's settings from the validated configuration.
fn edge_config(config: &Config) -> anyhow::Result<tollgate_edge::EdgeConfig> {
    let listen = config
        .listeners()?
        .into_iter()
        .map(|l| tollgate_edge::Listen {
            transport: l.transport,
            addr: l.addr,
        })
        .collect();
    let tls_server = match (&config.sip.tls_cert, &config.sip.tls_key) {
        (Some(cert), Some(key)) => {
            let cert = std::fs::read(cert)
                .with_context(|| format!("sip.tls_cert: reading {}", cert.display()))?;
            let key = std::fs::read(key)
                .with_context(|| format!("sip.tls_key: reading {}", key.display()))?;
            Some(tollgate_edge::server_config(&cert, &key).context("sip.tls_cert / sip.tls_key")?)
        }
        _ => None,
    };
    let tls_client = match &config.sip.tls_ca {
        Some(ca) => {
            let pem = std::fs::read(ca)
                .with_context(|| format!("sip.tls_ca: reading {}", ca.display()))?;
            Some(tollgate_edge::client_config(&pem).context("sip.tls_ca")?)
        }
        // Without a CA file, TLS peers are verified against the system
        // store; a machine without one can still serve, just not dial TLS.
        None => tollgate_edge::client_config_system()
            .inspect_err(
                |e| tracing::warn!(error = %e, "no TLS client roots: outgoing TLS disabled"),
            )
            .ok(),
    };
    Ok(tollgate_edge::EdgeConfig {
        listen,
        timers: tollgate_edge::TimerConfig {
            t1: Duration::from_millis(config.sip.t1_ms),
            t2: Duration::from_millis(config.sip.t2_ms),
            t4: Duration::from_millis(config.sip.t4_ms),
            ..tollgate_edge::TimerConfig::default()
        },
        max_transactions: config.sip.max_transactions,
        udp_receive_buffer: config.sip.udp_receive_buffer_kb * 1024,
        tls_server,
        tls_client,
        ..tollgate_edge::EdgeConfig::default()
    })
}

/// Opens the configuration database, creating and migrating it on first
/// use.
async fn open_store(config: &Config) -> anyhow::Result<tollgate_store::Store> {
    let (url, realm) = (&config.store.url, &config.sip.realm);
    let opened = if config.store.read_only {
        tollgate_store::Store::open_read_only(url, realm).await
    } else {
        tollgate_store::Store::open(url, realm).await
    };
    // The store's own errors name the field (store.url) already.
    opened.map_err(|e| match e {
        tollgate_store::StoreError::Invalid { .. } => anyhow::anyhow!("{e}"),
        other => anyhow::anyhow!("store.url: opening {}: {other}", config::redacted_url(url)),
    })
}

/// The length from which an operator-chosen token is as hard to guess as
/// the 256-bit tokens the server makes; shorter ones (down to 16) still
/// start, with a warning, so existing deployments keep working.
const STRONG_TOKEN_LEN: usize = 32;

/// Makes sure an admin can reach the API: the token from
/// `TOLLGATE_ADMIN_TOKEN` is accepted (its hash stored on first sight);
/// without it, a first start with no token at all generates one and prints
/// it once. Only hashes are stored.
async fn ensure_admin_token(store: &tollgate_store::Store) -> anyhow::Result<()> {
    let system = tollgate_store::Actor::system();
    if let Ok(token) = std::env::var("TOLLGATE_ADMIN_TOKEN") {
        let token = token.trim();
        if token.len() < 16 {
            anyhow::bail!("TOLLGATE_ADMIN_TOKEN: must be at least 16 characters");
        }
        if token.len() < STRONG_TOKEN_LEN {
            tracing::warn!(
                length = token.len(),
                "TOLLGATE_ADMIN_TOKEN is shorter than {STRONG_TOKEN_LEN} characters: \
                 a guessable token; use `openssl rand -hex 32` or let the server make one"
            );
        }
        let hash = tollgate_api::token_hash(token);
        if store.token_name(&hash).await?.is_none() {
            store
                .create_token(&system, "admin (TOLLGATE_ADMIN_TOKEN)", &hash)
                .await?;
        }
        return Ok(());
    }
    if store.token_count().await? == 0 {
        let token = tollgate_api::new_token();
        store
            .create_token(&system, "admin", &tollgate_api::token_hash(&token))
            .await?;
        println!("Admin API token (shown once, store it now): {token}");
    }
    Ok(())
}

/// The firewall: threat detection from `[firewall]`, its decisions written
/// to the store as automatic blocks, and the store's block list (manual
/// and automatic) kept loaded in the edge.
fn start_defense(
    config: &Config,
    store: &tollgate_store::Store,
    snapshot: std::sync::Arc<tollgate_policy::SharedSnapshot>,
) -> std::sync::Arc<tollgate_edge::Defense> {
    use tollgate_policy::threat::{ThreatConfig, ThreatDetector};
    let fw = &config.firewall;
    let detector = ThreatDetector::new(ThreatConfig {
        enabled: fw.enabled,
        auth_failures: fw.auth_failures_per_minute,
        challenges: fw.unauthenticated_per_minute,
        requests_per_second: fw.flood_requests_per_second,
        window_s: 60,
        block_s: fw.block_duration_s,
        max_block_s: fw.max_block_duration_s,
        scanner_user_agents: fw.scanner_user_agents.clone(),
    });
    // Validated at start-up: every entry is an IP or a CIDR.
    let trusted = fw.trusted.iter().filter_map(|t| parse_net(t)).collect();
    let (decisions, mut pending) = tokio::sync::mpsc::unbounded_channel();
    let defense = std::sync::Arc::new(tollgate_edge::Defense::new(
        detector, trusted, snapshot, decisions,
    ));
    let (writer, recorder) = (store.clone(), defense.clone());
    tokio::spawn(async move {
        let system = tollgate_store::Actor::system();
        while let Some(d) = pending.recv().await {
            let address = d.address.to_string();
            let block = tollgate_store::NewBlock {
                address: &address,
                reason: &d.reason,
                source: tollgate_store::BlockSource::Auto,
                rule: Some((d.rule, &d.trigger)),
                duration_s: u32::try_from(d.duration_s).ok(),
                notes: "",
            };
            match writer.block(&system, block).await {
                Ok(_) => recorder.recorded(d.address),
                Err(e) => tracing::error!(error = %e, %address, "could not record a block"),
            }
        }
    });
    let (reader, loaded) = (store.clone(), defense.clone());
    let mut changes = store.subscribe_firewall();
    tokio::spawn(async move {
        loop {
            let load = loaded.begin_load();
            match reader.blocks().await {
                Ok(blocks) => {
                    let listed = blocks.into_iter().filter_map(|b| {
                        let parsed = b.address.parse::<tollgate_edge::Blocked>().ok()?;
                        Some(tollgate_edge::Blocked {
                            rule: b.rule,
                            ..parsed
                        })
                    });
                    loaded.replace_loaded(load, listed);
                }
                Err(e) => tracing::error!(error = %e, "could not load the block list"),
            }
            // Reload on every change, and now and then so expired blocks go.
            tokio::select! {
                changed = changes.changed() => if changed.is_err() { return },
                () = tokio::time::sleep(std::time::Duration::from_secs(30)) => {}
            }
        }
    });
    defense
}

/// How often the firewall's hit counts are written to the store.
const HITS_FLUSH: Duration = Duration::from_secs(2);

/// Writes what the firewall's blocks dropped to the store every
/// [`HITS_FLUSH`], one transaction for all of them (counts a failed write
/// could not record wait for the next); the returned sender asks for the
/// last write and the end of the task.
fn flush_hits(
    store: tollgate_store::Store,
    defense: std::sync::Arc<tollgate_edge::Defense>,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let mut pending = std::collections::HashMap::<String, u64>::new();
        loop {
            let last = tokio::select! {
                () = tokio::time::sleep(HITS_FLUSH) => false,
                _ = &mut stopped => true,
            };
            for (address, n) in defense.take_hits() {
                *pending.entry(address).or_default() += n;
            }
            let batch: Vec<(String, u64)> = pending.iter().map(|(a, n)| (a.clone(), *n)).collect();
            match store.add_hits(&batch).await {
                Ok(()) => pending.clear(),
                Err(e) => {
                    tracing::warn!(error = %e, blocks = batch.len(), "could not record firewall hits");
                }
            }
            if last {
                return;
            }
        }
    });
    (stop, task)
}

/// An IP (as a one-address network) or a CIDR.
fn parse_net(s: &str) -> Option<ipnet::IpNet> {
    s.parse::<ipnet::IpNet>()
        .ok()
        .or_else(|| s.parse::<std::net::IpAddr>().ok().map(ipnet::IpNet::from))
}

/// Listens for SIGINT and SIGTERM from now on, and resolves on the first:
/// the handlers are in place when this returns, so a signal that comes
/// right after the listeners are announced stops the server cleanly
/// instead of killing it.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let interrupt = signal(SignalKind::interrupt());
        let terminate = signal(SignalKind::terminate());
        async move {
            match (interrupt, terminate) {
                (Ok(mut int), Ok(mut term)) => {
                    tokio::select! {
                        _ = int.recv() => {}
                        _ = term.recv() => {}
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// How long a digest nonce stays valid (then `stale=true`).
const NONCE_LIFETIME_S: u64 = 300;

/// How long in-flight transactions get to finish on shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

fn serve(args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let config = effective_config(args)?;
    if args.print_config {
        let mut effective = config.clone();
        effective.sip.listen = config
            .listeners()?
            .iter()
            .map(ToString::to_string)
            .collect();
        print!("{}", effective.to_toml());
        return Ok(ExitCode::SUCCESS);
    }
    let edge_config = edge_config(&config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let store = open_store(&config).await?;
        if config.store.read_only {
            let db = config::redacted_url(&config.store.url);
            tracing::info!(%db, "read-only: serving the database another server writes");
        } else {
            ensure_admin_token(&store).await?;
        }
        let (hosts, host_feed) = resolve::spawn(store.clone());
        let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
            .install_recorder()
            .context("installing the metrics recorder")?;
        let api_listener = tokio::net::TcpListener::bind(&config.api.listen)
            .await
            .with_context(|| format!("api.listen: binding {}", config.api.listen))?;
        tracing::info!(addr = %api_listener.local_addr()?, "API listening");
        let (stop_api, api_stopped) = tokio::sync::oneshot::channel::<()>();
        let board = std::sync::Arc::new(tollgate_b2bua::CallBoard::new());
        let api = tokio::spawn(tollgate_api::serve(
            api_listener,
            tollgate_api::ApiState {
                store: store.clone(),
                metrics: Some(metrics),
                hosts: Some(hosts.clone()),
                calls: Some(board.clone()),
                wide: tollgate_policy::validate::WideLimits {
                    ipv4: config.api.widest_ipv4_prefix,
                    ipv6: config.api.widest_ipv6_prefix,
                },
            },
            async {
                let _ = api_stopped.await;
            },
        ));
        let snapshot = std::sync::Arc::new(tollgate_policy::SharedSnapshot::new(
            tollgate_policy::Snapshot::default(),
        ));
        let refresher =
            tollgate_store::refresh_snapshots(store.clone(), snapshot.clone(), Some(host_feed));
        // Nonces are signed with a per-process key: a restart makes clients
        // re-authenticate once, which digest handles with a fresh 407.
        let key: [u8; 32] = rand::random();
        let algorithms = config.digest_algorithms()?;
        let auth = tollgate_policy::Authenticator::new(
            &config.sip.realm,
            algorithms,
            &key,
            NONCE_LIFETIME_S,
        );
        let defense = start_defense(&config, &store, snapshot.clone());
        let hits = (!config.store.read_only).then(|| flush_hits(store.clone(), defense.clone()));
        let core = tollgate_b2bua::PolicyCore::new(
            snapshot,
            auth,
            Some(defense.clone()),
            config.call_config(edge_config.timers)?,
            board.clone(),
        );
        let edge_config = tollgate_edge::EdgeConfig {
            defense: Some(defense),
            ..edge_config
        };
        let edge = tollgate_edge::Edge::start(edge_config, core)
            .await
            .context("binding the SIP listeners")?;
        let stop = shutdown_signal();
        for (transport, addr) in edge.local_addrs() {
            tracing::info!(transport = transport.via_token(), %addr, "SIP listening");
        }
        stop.await;
        tracing::info!("shutting down: listeners closed, finishing in-flight transactions");
        edge.shutdown(SHUTDOWN_GRACE).await;
        if let Some((stop_hits, hits_flushed)) = hits {
            let _ = stop_hits.send(());
            let _ = hits_flushed.await;
        }
        let _ = stop_api.send(());
        let _ = api.await;
        refresher.abort();
        store.close().await;
        tracing::info!("stopped");
        Ok(ExitCode::SUCCESS)
    })
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TOLLGATE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve(&args),
        Command::Admin(cmd) => cli::run(cmd).map(|()| ExitCode::SUCCESS),
    };
    result.unwrap_or_else(|e| {
        eprintln!("tollgate: {e:#}");
        ExitCode::FAILURE
    })
}
