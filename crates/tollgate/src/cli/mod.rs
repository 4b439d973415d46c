//! Admin subcommands over a running server's API: `account`, `ip-auth`,
//! `sip-user`, `route`, `audit`. Readable tables by default, the API's JSON
//! with `--json`.

mod client;
mod table;

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use client::ApiClient;
use table::table;

/// Where the API is and how to print.
#[derive(Debug, Args)]
pub(crate) struct Connection {
    /// The management API of a running `tollgate serve`.
    #[arg(
        long,
        global = true,
        env = "TOLLGATE_API_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    api: String,
    /// Print the API's JSON instead of a table.
    #[arg(long, global = true)]
    json: bool,
}

/// `tollgate account ...`
#[derive(Debug, Subcommand)]
pub(crate) enum AccountCmd {
    /// List accounts.
    List,
    /// Show one account (by id or name).
    Show { account: String },
    /// Add a customer or carrier.
    Add {
        /// Unique name.
        #[arg(long)]
        name: String,
        /// `customer` or `carrier`.
        #[arg(long, default_value = "customer")]
        kind: String,
        /// Concurrent calls, 0 = unlimited.
        #[arg(long, default_value_t = 0)]
        channels: u32,
        /// Calls per second, 0 = unlimited.
        #[arg(long, default_value_t = 0)]
        cps: u32,
        /// Free text.
        #[arg(long, default_value = "")]
        notes: String,
        /// Digest algorithms of its SIP users (`md5`, `sha256` or
        /// `sha256+md5`); the server's default when omitted.
        #[arg(long)]
        digest: Option<String>,
    },
    /// Change an account's limits, status or digest algorithms.
    Update {
        account: String,
        #[arg(long)]
        channels: Option<u32>,
        #[arg(long)]
        cps: Option<u32>,
        /// `active` or `inactive`.
        #[arg(long)]
        status: Option<String>,
        /// `md5`, `sha256`, `sha256+md5`, or `default` (the server's).
        #[arg(long)]
        digest: Option<String>,
    },
    /// Delete an account with everything it owns.
    Delete { account: String },
}

/// `tollgate ip-auth ...`
#[derive(Debug, Subcommand)]
pub(crate) enum IpAuthCmd {
    /// List an account's entries.
    List {
        #[arg(long)]
        account: String,
    },
    /// Add an entry.
    Add {
        #[arg(long)]
        account: String,
        /// IP, CIDR or (ingress) hostname; repeatable.
        #[arg(long = "address", required = true)]
        addresses: Vec<String>,
        /// `egress` (the switch sends us calls) or `ingress`.
        #[arg(long, default_value = "egress")]
        direction: String,
        #[arg(long, default_value_t = 0)]
        channels: u32,
        #[arg(long, default_value_t = 0)]
        cps: u32,
        /// `udp`, `tcp`, `tls` or `tls_srtp`.
        #[arg(long, default_value = "udp")]
        protocol: String,
        /// Port; the protocol's default when omitted.
        #[arg(long)]
        port: Option<u16>,
        #[arg(long, default_value = "")]
        tech_prefix: String,
        /// Ingress: share of calls among the carrier's gateways.
        #[arg(long, default_value_t = 1)]
        weight: u32,
        /// Confirm an egress network wider than the server's limit (/16,
        /// /32): everyone in it may call as the account.
        #[arg(long)]
        allow_wide: bool,
    },
    /// Add one egress entry per address listed in FILE (one per line, `#`
    /// comments), all or nothing.
    Import {
        #[arg(long)]
        account: String,
        file: PathBuf,
        #[arg(long, default_value_t = 0)]
        channels: u32,
        #[arg(long, default_value_t = 0)]
        cps: u32,
    },
    /// Delete an entry.
    Delete {
        #[arg(long)]
        account: String,
        id: i64,
    },
}

/// `tollgate sip-user ...`
#[derive(Debug, Subcommand)]
pub(crate) enum SipUserCmd {
    /// List an account's users.
    List {
        #[arg(long)]
        account: String,
    },
    /// Add a user; without --password one is generated and printed once.
    Add {
        #[arg(long)]
        account: String,
        #[arg(long)]
        username: String,
        #[arg(long)]
        password: Option<String>,
        #[arg(long, default_value_t = 0)]
        channels: u32,
        #[arg(long, default_value_t = 0)]
        cps: u32,
        /// Digest algorithms it is challenged with (`md5`, `sha256` or
        /// `sha256+md5`); its account's when omitted.
        #[arg(long)]
        digest: Option<String>,
    },
    /// Change a user's limits or digest algorithms; the password stays.
    Update {
        #[arg(long)]
        account: String,
        id: i64,
        #[arg(long)]
        channels: Option<u32>,
        #[arg(long)]
        cps: Option<u32>,
        /// `md5`, `sha256`, `sha256+md5`, or `default` (its account's).
        #[arg(long)]
        digest: Option<String>,
    },
    /// Set a new password (generated and printed once when not given).
    ResetPassword {
        #[arg(long)]
        account: String,
        id: i64,
        #[arg(long)]
        password: Option<String>,
    },
    /// Delete a user.
    Delete {
        #[arg(long)]
        account: String,
        id: i64,
    },
}

/// `tollgate route ...`
#[derive(Debug, Subcommand)]
pub(crate) enum RouteCmd {
    /// List routes.
    List,
    /// Add a route for a customer to carriers in priority order.
    Add {
        #[arg(long)]
        account: String,
        /// Carrier account (id or name), repeatable, in priority order.
        #[arg(long = "carrier", required = true)]
        carriers: Vec<String>,
        /// Number prefix or `^regex`, repeatable; none = every number.
        #[arg(long = "dial-string")]
        dial_string: Vec<String>,
        #[arg(long)]
        tech_prefix: Option<String>,
    },
    /// Delete a route.
    Delete { id: i64 },
}

/// `tollgate firewall ...`
#[derive(Debug, Subcommand)]
pub(crate) enum FirewallCmd {
    /// List blocked addresses.
    List,
    /// Block an IP address or CIDR.
    Block {
        address: String,
        #[arg(long, default_value = "")]
        notes: String,
        /// Lift the block after this many seconds; none = until unblocked.
        #[arg(long)]
        duration_s: Option<u32>,
        /// Confirm a network wider than the server's limit (/16, /32).
        #[arg(long)]
        allow_wide: bool,
    },
    /// Lift a block.
    Unblock { address: String },
}

/// `tollgate calls ...`
#[derive(Debug, Subcommand)]
pub(crate) enum CallsCmd {
    /// List live calls.
    List,
    /// Hang up a live call (BYE on both legs; CANCEL before the answer).
    Hangup { id: u64 },
}

/// `tollgate audit`
#[derive(Debug, Args)]
pub(crate) struct AuditArgs {
    /// Only this account (id or name).
    #[arg(long)]
    account: Option<String>,
    /// `account`, `ip_auth`, `sip_user`, `route`, `token`, `firewall`,
    /// `call`.
    #[arg(long)]
    entity: Option<String>,
    #[arg(long)]
    entity_id: Option<String>,
    #[arg(long)]
    actor: Option<String>,
    #[arg(long, default_value_t = 50)]
    limit: u32,
}

/// One admin command group with its connection options.
#[derive(Debug, Args)]
pub(crate) struct Admin<T: Subcommand> {
    #[command(flatten)]
    connection: Connection,
    #[command(subcommand)]
    command: T,
}

/// The admin commands.
#[derive(Debug, Subcommand)]
pub(crate) enum AdminCmd {
    /// Customers and carriers.
    Account(Admin<AccountCmd>),
    /// IP authentication entries.
    #[command(name = "ip-auth")]
    IpAuth(Admin<IpAuthCmd>),
    /// SIP users (digest authentication).
    #[command(name = "sip-user")]
    SipUser(Admin<SipUserCmd>),
    /// Routes.
    Route(Admin<RouteCmd>),
    /// Blocked addresses.
    Firewall(Admin<FirewallCmd>),
    /// Live calls.
    Calls(Admin<CallsCmd>),
    /// The audit log.
    Audit {
        #[command(flatten)]
        connection: Connection,
        #[command(flatten)]
        args: AuditArgs,
    },
}

fn token() -> Option<String> {
    std::env::var("TOLLGATE_TOKEN")
        .or_else(|_| std::env::var("TOLLGATE_ADMIN_TOKEN"))
        .ok()
}

/// Runs one admin command.
pub(crate) fn run(cmd: AdminCmd) -> anyhow::Result<()> {
    let conn = match &cmd {
        AdminCmd::Account(a) => &a.connection,
        AdminCmd::IpAuth(a) => &a.connection,
        AdminCmd::SipUser(a) => &a.connection,
        AdminCmd::Route(a) => &a.connection,
        AdminCmd::Firewall(a) => &a.connection,
        AdminCmd::Calls(a) => &a.connection,
        AdminCmd::Audit { connection, .. } => connection,
    };
    let (api_url, json) = (conn.api.clone(), conn.json);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let api = ApiClient::new(&api_url, token())?;
        let (value, columns) = execute(&api, cmd).await?;
        if json {
            println!("{}", serde_json::to_string_pretty(&value)?);
        } else {
            print!("{}", table(&value, columns));
        }
        Ok(())
    })
}

const ACCOUNT_COLUMNS: &[&str] = &["id", "name", "kind", "status", "channels", "cps", "digest"];
const ENTRY_COLUMNS: &[&str] = &[
    "id",
    "addresses",
    "direction",
    "protocol",
    "port",
    "channels",
    "cps",
    "tech_prefix",
    "enabled",
    "reachable",
];
const USER_COLUMNS: &[&str] = &[
    "id", "username", "channels", "cps", "digest", "enabled", "password",
];
const ROUTE_COLUMNS: &[&str] = &[
    "id",
    "account_id",
    "tech_prefix",
    "dial_string",
    "carriers",
    "enabled",
];
const BLOCK_COLUMNS: &[&str] = &[
    "address",
    "source",
    "rule",
    "trigger",
    "hits",
    "created_at",
    "expires_at",
    "reason",
    "notes",
];
const CALL_COLUMNS: &[&str] = &[
    "id",
    "account_id",
    "caller",
    "callee",
    "gateway_address",
    "state",
    "started",
    "answered",
];
const AUDIT_COLUMNS: &[&str] = &[
    "id",
    "at",
    "actor",
    "action",
    "entity",
    "entity_id",
    "message",
];

async fn execute(
    api: &ApiClient,
    cmd: AdminCmd,
) -> anyhow::Result<(Value, &'static [&'static str])> {
    Ok(match cmd {
        AdminCmd::Account(c) => (account(api, c.command).await?, ACCOUNT_COLUMNS),
        AdminCmd::IpAuth(c) => (ip_auth(api, c.command).await?, ENTRY_COLUMNS),
        AdminCmd::SipUser(c) => (sip_user(api, c.command).await?, USER_COLUMNS),
        AdminCmd::Route(c) => (route(api, c.command).await?, ROUTE_COLUMNS),
        AdminCmd::Firewall(c) => (firewall(api, c.command).await?, BLOCK_COLUMNS),
        AdminCmd::Calls(c) => match c.command {
            CallsCmd::List => (api.get("/calls").await?, CALL_COLUMNS),
            CallsCmd::Hangup { id } => {
                api.delete(&format!("/calls/{id}")).await?;
                (json!({ "hung_up": id }), &["hung_up"])
            }
        },
        AdminCmd::Audit { args: a, .. } => {
            let mut query = format!("/audit?limit={}", a.limit);
            if let Some(acct) = a.account {
                query += &format!("&account_id={}", api.account_id(&acct).await?);
            }
            for (k, v) in [
                ("entity", a.entity),
                ("entity_id", a.entity_id),
                ("actor", a.actor),
            ] {
                if let Some(v) = v {
                    query += &format!("&{k}={v}");
                }
            }
            (api.get(&query).await?, AUDIT_COLUMNS)
        }
    })
}

async fn account(api: &ApiClient, cmd: AccountCmd) -> anyhow::Result<Value> {
    match cmd {
        AccountCmd::List => api.get("/accounts?limit=1000").await,
        AccountCmd::Show { account } => {
            api.get(&format!("/accounts/{}", api.account_id(&account).await?))
                .await
        }
        AccountCmd::Add {
            name,
            kind,
            channels,
            cps,
            notes,
            digest,
        } => {
            let body = json!({"name": name, "kind": kind, "channels": channels, "cps": cps,
                "notes": notes, "digest": digest});
            api.post("/accounts", &body).await
        }
        AccountCmd::Update {
            account,
            channels,
            cps,
            status,
            digest,
        } => {
            let id = api.account_id(&account).await?;
            let changes = [
                ("channels", channels.map(|c| json!(c))),
                ("cps", cps.map(|c| json!(c))),
                ("status", status.map(|s| json!(s))),
                ("digest", digest.map(digest_value)),
            ];
            api.update(&format!("/accounts/{id}"), changes).await
        }
        AccountCmd::Delete { account } => {
            let id = api.account_id(&account).await?;
            api.delete(&format!("/accounts/{id}")).await?;
            Ok(json!({"deleted": id}))
        }
    }
}

async fn ip_auth(api: &ApiClient, cmd: IpAuthCmd) -> anyhow::Result<Value> {
    match cmd {
        IpAuthCmd::List { account } => {
            api.get(&format!(
                "/accounts/{}/ip-auth?limit=1000",
                api.account_id(&account).await?
            ))
            .await
        }
        IpAuthCmd::Add {
            account,
            addresses,
            direction,
            channels,
            cps,
            protocol,
            port,
            tech_prefix,
            weight,
            allow_wide,
        } => {
            let id = api.account_id(&account).await?;
            let mut body = json!({"addresses": addresses, "direction": direction, "channels": channels,
                "cps": cps, "protocol": protocol, "tech_prefix": tech_prefix, "weight": weight,
                "allow_wide": allow_wide});
            if let Some(p) = port {
                body["port"] = json!(p);
            }
            api.post(&format!("/accounts/{id}/ip-auth"), &body).await
        }
        IpAuthCmd::Import {
            account,
            file,
            channels,
            cps,
        } => {
            let id = api.account_id(&account).await?;
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let entries: Vec<Value> = text
                .lines()
                .map(|l| l.split('#').next().unwrap_or_default().trim())
                .filter(|l| !l.is_empty())
                .map(|address| json!({"addresses": [address], "channels": channels, "cps": cps}))
                .collect();
            api.post(
                &format!("/accounts/{id}/ip-auth"),
                &json!({ "entries": entries }),
            )
            .await
        }
        IpAuthCmd::Delete { account, id } => {
            let acct = api.account_id(&account).await?;
            api.delete(&format!("/accounts/{acct}/ip-auth/{id}"))
                .await?;
            Ok(json!({"deleted": id}))
        }
    }
}

async fn sip_user(api: &ApiClient, cmd: SipUserCmd) -> anyhow::Result<Value> {
    match cmd {
        SipUserCmd::List { account } => {
            api.get(&format!(
                "/accounts/{}/sip-users?limit=1000",
                api.account_id(&account).await?
            ))
            .await
        }
        SipUserCmd::Add {
            account,
            username,
            password,
            channels,
            cps,
            digest,
        } => {
            let id = api.account_id(&account).await?;
            let mut body =
                json!({"username": username, "channels": channels, "cps": cps, "digest": digest});
            if let Some(p) = password {
                body["password"] = json!(p);
            }
            api.post(&format!("/accounts/{id}/sip-users"), &body).await
        }
        SipUserCmd::Update {
            account,
            id,
            channels,
            cps,
            digest,
        } => {
            let acct = api.account_id(&account).await?;
            let changes = [
                ("channels", channels.map(|c| json!(c))),
                ("cps", cps.map(|c| json!(c))),
                ("digest", digest.map(digest_value)),
            ];
            api.update(&format!("/accounts/{acct}/sip-users/{id}"), changes)
                .await
        }
        SipUserCmd::ResetPassword {
            account,
            id,
            password,
        } => {
            let acct = api.account_id(&account).await?;
            let body = password.map_or_else(|| json!({}), |p| json!({ "password": p }));
            api.post(&format!("/accounts/{acct}/sip-users/{id}/password"), &body)
                .await
        }
        SipUserCmd::Delete { account, id } => {
            let acct = api.account_id(&account).await?;
            api.delete(&format!("/accounts/{acct}/sip-users/{id}"))
                .await?;
            Ok(json!({"deleted": id}))
        }
    }
}

/// A `--digest` value as the API takes it: `default` clears the policy
/// (the account's, or the server's, applies again).
fn digest_value(policy: String) -> Value {
    if policy == "default" {
        Value::Null
    } else {
        json!(policy)
    }
}

async fn route(api: &ApiClient, cmd: RouteCmd) -> anyhow::Result<Value> {
    match cmd {
        RouteCmd::List => api.get("/routes?limit=1000").await,
        RouteCmd::Add {
            account,
            carriers,
            dial_string,
            tech_prefix,
        } => {
            let mut ids = Vec::with_capacity(carriers.len());
            for c in &carriers {
                ids.push(api.account_id(c).await?);
            }
            let body = json!({"account_id": api.account_id(&account).await?, "carriers": ids,
                "dial_string": dial_string, "tech_prefix": tech_prefix});
            api.post("/routes", &body).await
        }
        RouteCmd::Delete { id } => {
            api.delete(&format!("/routes/{id}")).await?;
            Ok(json!({"deleted": id}))
        }
    }
}

async fn firewall(api: &ApiClient, cmd: FirewallCmd) -> anyhow::Result<Value> {
    match cmd {
        FirewallCmd::List => api.get("/firewall").await,
        FirewallCmd::Block {
            address,
            notes,
            duration_s,
            allow_wide,
        } => {
            let body = json!({"address": address, "notes": notes, "duration_s": duration_s,
                "allow_wide": allow_wide});
            api.post("/firewall", &body).await
        }
        FirewallCmd::Unblock { address } => {
            api.delete(&format!("/firewall/{}", address.replace('/', "%2F")))
                .await?;
            Ok(json!({ "unblocked": address }))
        }
    }
}
