//! `tollgate serve` as an operator runs it: the real binary, real sockets.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tollgate_testua::TestUa;

mod support;
use support::*;

#[tokio::test]
async fn serve_answers_options_and_stops_cleanly_on_sigterm() {
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("tollgate-serve-test-{port}"));
    std::fs::create_dir_all(&dir).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args([
            "serve",
            "--sip",
            &format!("udp:127.0.0.1:{port}"),
            "--sip",
            &format!("tcp:127.0.0.1:{port}"),
            "--api",
            &format!("127.0.0.1:{}", free_port()),
        ])
        .arg("--db")
        .arg(format!("sqlite://{}/t.db", dir.display()))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut listening = 0;
    let mut line = String::new();
    while listening < 2 && stderr.read_line(&mut line).unwrap() > 0 {
        if line.contains("SIP listening") {
            listening += 1;
        }
        line.clear();
    }
    assert_eq!(listening, 2, "both listeners are logged");

    let server = format!("127.0.0.1:{port}").parse().unwrap();
    // No configuration yet: every caller is a stranger and is challenged.
    let mut udp = TestUa::udp(server).await.unwrap();
    let options = udp.call("OPTIONS", &format!("sip:{server}")).await.unwrap();
    assert_eq!(options.status(), Some(407));
    // MD5 alone by default: what common clients can answer.
    let challenges = options.headers("Proxy-Authenticate");
    assert_eq!(challenges.len(), 1);
    assert!(challenges[0].contains("algorithm=MD5"), "{challenges:?}");
    let mut tcp = TestUa::tcp(server).await.unwrap();
    let invite = tcp
        .call("INVITE", &format!("sip:100@{server}"))
        .await
        .unwrap();
    assert_eq!(invite.status(), Some(407));

    let started = Instant::now();
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "tollgate did not stop"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "clean exit, got {status}");
    let rest: Vec<String> = stderr.lines().map_while(Result::ok).collect();
    assert!(rest.iter().any(|l| l.contains("stopped")), "{rest:?}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn invalid_configuration_names_the_field() {
    let out = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(["serve", "--sip", "udp:not-an-address"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--sip[0]"), "{err}");
}

#[test]
fn print_config_shows_the_effective_listeners() {
    let out = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(["serve", "--print-config"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("\"udp:0.0.0.0:5060\""), "{text}");
    assert!(text.contains("\"tcp:0.0.0.0:5060\""), "{text}");
}

#[tokio::test]
async fn first_start_prints_an_admin_token_once_and_the_cli_path_works_over_http() {
    let dir = std::env::temp_dir().join(format!("tollgate-token-test-{}", free_port()));
    std::fs::create_dir_all(&dir).unwrap();
    let api = free_port();
    let (child, printed) = start_api(&dir, api);
    let token_line = printed
        .iter()
        .find(|l| l.contains("Admin API token"))
        .cloned();
    let token = token_line
        .expect("token printed on first start")
        .rsplit(' ')
        .next()
        .unwrap()
        .to_owned();
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{api}/api/v1");
    let created = client
        .post(format!("{base}/accounts"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"name": "acme", "kind": "customer"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), reqwest::StatusCode::CREATED);
    child.stop();

    // Second start: same database, no new token, the account is still there.
    let (child, printed) = start_api(&dir, api);
    assert!(
        printed.iter().all(|l| !l.contains("Admin API token")),
        "{printed:?}"
    );
    // A new client: the old one's pooled connection died with the server.
    let client = reqwest::Client::new();
    let accounts: serde_json::Value = client
        .get(format!("{base}/accounts"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(accounts[0]["name"], "acme");
    child.stop();
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_cli_manages_accounts_entries_and_users() {
    let dir = std::env::temp_dir().join(format!("tollgate-cli-test-{}", free_port()));
    std::fs::create_dir_all(&dir).unwrap();
    let api = free_port();
    let (child, printed) = start_api(&dir, api);
    let token = printed_token(&printed);

    let added = cli(
        api,
        &token,
        &["account", "add", "--name", "acme", "--channels", "30"],
    );
    assert!(
        added.contains("acme") && added.contains("customer"),
        "{added}"
    );
    let entry = cli(
        api,
        &token,
        &[
            "ip-auth",
            "add",
            "--account",
            "acme",
            "--address",
            "203.0.113.7",
            "--channels",
            "30",
            "--cps",
            "5",
        ],
    );
    assert!(
        entry.contains("203.0.113.7") && entry.contains("5060"),
        "{entry}"
    );
    let list = dir.join("switches.txt");
    std::fs::write(
        &list,
        "# office switches\n198.51.100.1\n198.51.100.0/28 # lab\n\n",
    )
    .unwrap();
    let imported = cli(
        api,
        &token,
        &[
            "ip-auth",
            "import",
            "--account",
            "acme",
            list.to_str().unwrap(),
        ],
    );
    assert!(
        imported.contains("198.51.100.1") && imported.contains("198.51.100.0/28"),
        "{imported}"
    );
    let user = cli(
        api,
        &token,
        &[
            "sip-user",
            "add",
            "--account",
            "acme",
            "--username",
            "alice",
            "--channels",
            "10",
        ],
    );
    assert!(
        user.contains("alice") && user.contains("password"),
        "the generated password is shown: {user}"
    );
    let users: serde_json::Value = serde_json::from_str(&cli(
        api,
        &token,
        &["sip-user", "list", "--account", "acme", "--json"],
    ))
    .unwrap();
    assert_eq!(users[0]["username"], "alice");
    assert!(users[0].get("password").is_none());
    let entries: serde_json::Value = serde_json::from_str(&cli(
        api,
        &token,
        &["ip-auth", "list", "--account", "acme", "--json"],
    ))
    .unwrap();
    assert_eq!(entries.as_array().unwrap().len(), 3);
    let blocked = cli(
        api,
        &token,
        &["firewall", "block", "192.0.2.0/24", "--notes", "scanner"],
    );
    assert!(
        blocked.contains("192.0.2.0/24") && blocked.contains("manual"),
        "{blocked}"
    );
    assert!(cli(api, &token, &["firewall", "list"]).contains("scanner"));
    cli(api, &token, &["firewall", "unblock", "192.0.2.0/24"]);
    assert_eq!(cli(api, &token, &["firewall", "list"]), "(none)\n");
    let audit = cli(api, &token, &["audit", "--account", "acme"]);
    assert!(audit.contains("sip user \"alice\" created"), "{audit}");

    let refused = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args([
            "ip-auth",
            "add",
            "--account",
            "acme",
            "--address",
            "gw.example.net",
        ])
        .args(["--api", &format!("http://127.0.0.1:{api}")])
        .env("TOLLGATE_TOKEN", &token)
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("422") && err.contains("addresses[0]"), "{err}");
    child.stop();
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn a_switch_blocked_before_it_was_configured_is_let_in_once_it_is() {
    let dir = std::env::temp_dir().join(format!("tollgate-fw-test-{}", free_port()));
    let (sip, api) = (free_port(), free_port());
    let token = "firewall-test-token-0123";
    let child = serve_with(
        &dir,
        "[firewall]\nunauthenticated_per_minute = 5\n",
        sip,
        api,
        token,
    );
    let server: std::net::SocketAddr = format!("127.0.0.1:{sip}").parse().unwrap();
    let uri = format!("sip:+441632960123@{server}");

    // An unconfigured switch keeps sending INVITEs: challenged, then blocked.
    let mut switch = TestUa::udp(server).await.unwrap();
    for _ in 0..5 {
        assert_eq!(
            switch.call("INVITE", &uri).await.unwrap().status(),
            Some(407)
        );
    }
    let invite = switch.request("INVITE", &uri);
    switch.send(invite).await.unwrap();
    assert!(
        switch.is_silent_for(Duration::from_millis(300)).await,
        "blocked after 5 challenges"
    );

    // The operator adds it: the block is lifted and the switch identified.
    cli(api, token, &["account", "add", "--name", "acme"]);
    let added = Instant::now();
    cli(
        api,
        token,
        &[
            "ip-auth",
            "add",
            "--account",
            "acme",
            "--address",
            "127.0.0.1",
        ],
    );
    // Each try waits a retransmission interval (T1) for its answer, as a
    // switch would: one sent while the block is still being lifted is
    // dropped unanswered.
    let took = within(Duration::from_secs(1), async || {
        let invite = switch.request("INVITE", &uri);
        switch.send(invite).await.unwrap();
        switch
            .recv_until(Duration::from_millis(500), |r| {
                r.status().is_some_and(|s| s >= 200)
            })
            .await
            // Identified: with no route configured it is told 404 No route.
            .is_ok_and(|r| r.is_some_and(|r| r.status() == Some(404)))
    })
    .await;
    assert!(
        took.is_some(),
        "identified within 1 s of the entry ({:?} since)",
        added.elapsed()
    );
    let blocks = cli(api, token, &["firewall", "list", "--json"]);
    assert_eq!(blocks.trim(), "[]", "{blocks}");
    let audit = cli(api, token, &["audit", "--entity", "firewall", "--json"]);
    assert!(audit.contains("belongs to IP auth entry"), "{audit}");
    let metrics = reqwest::get(format!("http://127.0.0.1:{api}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        // At least the 5 before the block (one more when an INVITE lands
        // between the block being lifted and the snapshot catching up).
        "tollgate_requests_total{decision=\"challenged\"} ",
        "tollgate_requests_total{decision=\"ip_auth\"}",
        "tollgate_blocks_total{event=\"created\"} 1",
        "tollgate_blocks_total{event=\"lifted\"} 1",
        "tollgate_blocked_drops_total{transport=\"udp\"}",
    ] {
        assert!(metrics.contains(line), "{line} missing from:\n{metrics}");
    }

    // A manual block applies at once, even to a configured switch, and so
    // does lifting it.
    cli(api, token, &["firewall", "block", "127.0.0.1"]);
    let took = within(Duration::from_secs(1), async || {
        let options = switch.request("OPTIONS", &format!("sip:{server}"));
        switch.send(options).await.is_ok() && switch.is_silent_for(Duration::from_millis(100)).await
    })
    .await;
    assert!(took.is_some(), "manual block effective within 1 s");
    cli(api, token, &["firewall", "unblock", "127.0.0.1"]);
    let took = within(Duration::from_secs(1), async || {
        switch
            .call("OPTIONS", &format!("sip:{server}"))
            .await
            .is_ok_and(|r| r.status() == Some(200))
    })
    .await;
    assert!(took.is_some(), "unblock effective within 1 s");
    child.stop();
    std::fs::remove_dir_all(&dir).ok();
}

/// Adds an ingress entry at `address` to the account named `carrier`,
/// with the `more` arguments.
fn add_gateway(api: u16, token: &str, address: &str, more: &[&str]) {
    let mut args = vec![
        "ip-auth",
        "add",
        "--account",
        "carrier",
        "--direction",
        "ingress",
        "--address",
        address,
    ];
    args.extend_from_slice(more);
    cli(api, token, &args);
}

#[tokio::test]
async fn hostnames_of_entries_are_resolved_in_the_background() {
    let dir = std::env::temp_dir().join(format!("tollgate-dns-test-{}", free_port()));
    std::fs::create_dir_all(&dir).unwrap();
    let api = free_port();
    let (child, printed) = start_api(&dir, api);
    let token = printed_token(&printed);
    cli(
        api,
        &token,
        &["account", "add", "--name", "carrier", "--kind", "carrier"],
    );
    for host in ["localhost", "no-such-host.invalid"] {
        add_gateway(api, &token, host, &[]);
    }
    let resolved = within(Duration::from_secs(15), async || {
        let out = cli(
            api,
            &token,
            &["ip-auth", "list", "--account", "carrier", "--json"],
        );
        let entries: serde_json::Value = serde_json::from_str(&out).unwrap();
        let local = &entries[0]["resolved"]["localhost"];
        let missing = &entries[1]["resolved"]["no-such-host.invalid"];
        local["addresses"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x == "127.0.0.1" || x == "::1"))
            && missing["error"].is_string()
            && missing["addresses"].as_array().is_some_and(Vec::is_empty)
    })
    .await;
    assert!(
        resolved.is_some(),
        "localhost resolved and the failure shown on its entry"
    );
    child.stop();
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn gateway_probes_show_which_gateway_answers() {
    let dir = std::env::temp_dir().join(format!("tollgate-probe-test-{}", free_port()));
    let (sip, api) = (free_port(), free_port());
    let token = "probe-test-token-0123456";
    // Probes every second; T1 of 50 ms makes a silent probe time out
    // (64·T1) in 3.2 s.
    let config = "[sip]\ngateway_probe_s = 1\nt1_ms = 50\nt2_ms = 400\n";
    let child = serve_with(&dir, config, sip, api, token);
    let server: std::net::SocketAddr = format!("127.0.0.1:{sip}").parse().unwrap();
    let mut live = TestUa::udp(server).await.unwrap();
    let silent = TestUa::udp(server).await.unwrap();
    cli(
        api,
        token,
        &["account", "add", "--name", "carrier", "--kind", "carrier"],
    );
    for gateway in [&live, &silent] {
        let port = gateway.local_addr().port().to_string();
        add_gateway(api, token, "127.0.0.1", &["--port", &port]);
    }
    let shown = within(Duration::from_secs(10), async || {
        while let Some(probe) = live.recv(Duration::from_millis(10)).await.unwrap() {
            if probe.method().as_deref() == Some("OPTIONS") {
                live.respond(&probe, 200, "OK").await.unwrap();
            }
        }
        let out = cli(
            api,
            token,
            &["ip-auth", "list", "--account", "carrier", "--json"],
        );
        let entries: serde_json::Value = serde_json::from_str(&out).unwrap();
        entries[0]["reachable"] == true && entries[1]["reachable"] == false
    })
    .await;
    assert!(shown.is_some(), "the live gateway up, the silent one down");
    let table = cli(api, token, &["ip-auth", "list", "--account", "carrier"]);
    assert!(table.contains("reachable"), "{table}");
    child.stop();
    std::fs::remove_dir_all(&dir).ok();
}
