//! What an operator does first, through the real binary: the README's
//! first-start commands as written, a blocked source's hits, and a SIP
//! user's digest algorithms switched without a new password.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use tollgate_testua::TestUa;

mod support;
use support::*;

/// The commands of the README's "First start" block, each split into
/// its arguments (comments and the `export` of the token left out).
fn readme_commands() -> Vec<Vec<String>> {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
            .unwrap();
    let section = readme
        .split("## First start")
        .nth(1)
        .expect("the README has a First start section");
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a sh block in First start");
    block
        .lines()
        .map(|line| line.split(" #").next().unwrap_or_default().trim())
        .filter(|line| !line.is_empty() && !line.starts_with("export "))
        .map(|line| {
            let words: Vec<String> = line.split_whitespace().map(String::from).collect();
            assert_eq!(words[0], "tollgate", "{line}");
            words[1..].to_vec()
        })
        .collect()
}

/// True when `text` holds an RFC 3339 UTC time (`2026-12-05T12:03:12Z`).
fn has_rfc3339(text: &str) -> bool {
    text.split_whitespace().any(|w| {
        let b = w.as_bytes();
        b.len() == 20
            && b[4] == b'-'
            && b[7] == b'-'
            && b[10] == b'T'
            && b[13] == b':'
            && b[16] == b':'
            && b[19] == b'Z'
            && w.chars().filter(char::is_ascii_digit).count() == 14
    })
}

#[test]
fn the_readme_first_start_runs_as_written() {
    let commands = readme_commands();
    assert!(commands.len() >= 10, "{commands:?}");
    let dir = std::env::temp_dir().join(format!("tollgate-readme-test-{}", free_port()));
    std::fs::create_dir_all(&dir).unwrap();
    // What `ip-auth import` reads: one address per line, `#` comments.
    std::fs::write(
        dir.join("switches.txt"),
        "# acme's other switches\n203.0.113.8\n203.0.113.9\n",
    )
    .unwrap();
    let api = free_port();
    let (server, printed) = start_api(&dir, api);
    let token = printed_token(&printed);
    let mut outputs = Vec::new();
    for args in &commands {
        let out = Command::new(env!("CARGO_BIN_EXE_tollgate"))
            .args(args)
            .args(["--api", &format!("http://127.0.0.1:{api}")])
            .env("TOLLGATE_TOKEN", &token)
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "tollgate {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        outputs.push(String::from_utf8(out.stdout).unwrap());
    }
    let user = &outputs[commands.iter().position(|c| c[0] == "sip-user").unwrap()];
    assert!(user.contains("password"), "a generated password: {user}");
    let audit = outputs.last().unwrap();
    assert!(audit.contains("create"), "{audit}");
    assert!(has_rfc3339(audit), "times in RFC 3339: {audit}");
    assert!(
        !audit
            .split_whitespace()
            .any(|w| w.len() == 13 && w.parse::<u64>().is_ok()),
        "no raw epoch milliseconds: {audit}"
    );
    server.stop();
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn a_blocked_sources_hits_grow_with_its_packets_and_survive_a_restart() {
    let mut lab = Fresh::start("hits");
    let target = lab.sip();
    lab.cli(&["firewall", "block", "127.0.0.9"]);
    let socket = tokio::net::UdpSocket::bind("127.0.0.9:0").await.unwrap();
    let options = format!(
        "OPTIONS sip:{target} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.9:5060;branch=z9hG4bKhits\r\n\
         From: <sip:probe@127.0.0.9>;tag=1\r\nTo: <sip:{target}>\r\nCall-ID: hits@test\r\n\
         CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    );
    // The block reaches the wire within a second; then 100 packets.
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    for _ in 0..100 {
        socket.send_to(options.as_bytes(), target).await.unwrap();
    }
    let hits = |lab: &Fresh| -> i64 {
        let list: serde_json::Value =
            serde_json::from_str(&lab.cli(&["firewall", "list", "--json"])).unwrap();
        list[0]["hits"].as_i64().unwrap()
    };
    // Written every 2 s: within one flush interval and a margin.
    let counted = within(Duration::from_secs(4), async || hits(&lab) >= 100).await;
    assert!(counted.is_some(), "hits {} after 4 s", hits(&lab));
    // A region needs the operator's confirmation, from the CLI too.
    let region = ["firewall", "block", "10.0.0.0/8"];
    lab.cli(&[&region[..], &["--allow-wide"]].concat());
    let table = lab.cli(&["firewall", "list"]);
    assert!(table.contains("10.0.0.0/8"), "{table}");
    assert!(table.contains("hits") && table.contains("rule"), "{table}");
    lab.restart();
    assert!(hits(&lab) >= 100, "kept across a restart: {}", hits(&lab));
}

#[tokio::test]
async fn a_scanner_is_blocked_silently_with_its_rule_and_user_agent() {
    let lab = Fresh::start("scanner");
    let target = lab.sip();
    let mut scanner = TestUa::udp_from("127.0.0.10:0".parse().unwrap(), target)
        .await
        .unwrap();
    let probe = scanner
        .request("OPTIONS", &format!("sip:100@{target}"))
        .header("User-Agent", "friendly-scanner");
    scanner.send(probe).await.unwrap();
    assert!(scanner.is_silent_for(Duration::from_millis(500)).await);
    let list: serde_json::Value =
        serde_json::from_str(&lab.cli(&["firewall", "list", "--json"])).unwrap();
    assert_eq!(list[0]["address"], "127.0.0.10", "{list}");
    assert_eq!(list[0]["rule"], "scanner", "{list}");
    assert_eq!(list[0]["trigger"], "friendly-scanner", "{list}");
}

/// The phone's call: the algorithms its 407 offered, and the status of
/// the retry answering in `algorithm` with `password`.
async fn phone_call(
    target: std::net::SocketAddr,
    algorithm: &str,
    password: &str,
) -> (Vec<String>, Option<u16>) {
    let mut ua = TestUa::udp_from("127.0.0.11:0".parse().unwrap(), target)
        .await
        .unwrap();
    ua.set_user("phone");
    let uri = format!("sip:+441632960123@{target}");
    let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.11\r\ns=-\r\nc=IN IP4 127.0.0.11\r\nt=0 0\r\n\
               m=audio 4000 RTP/AVP 0\r\n";
    let call = ua
        .digest_call(&uri, sdp, algorithm, password)
        .await
        .unwrap();
    call.outcome()
}

#[tokio::test]
async fn a_users_digest_algorithms_switch_from_the_cli_without_a_new_password() {
    let lab = Fresh::start("digest");
    let target = lab.sip();
    lab.cli(&["account", "add", "--name", "acme"]);
    let password = "phone-secret-1";
    let created = lab.cli(&[
        "sip-user",
        "add",
        "--account",
        "acme",
        "--username",
        "phone",
        "--password",
        password,
        "--digest",
        "sha256",
        "--json",
    ]);
    let id = serde_json::from_str::<serde_json::Value>(&created).unwrap()["id"]
        .as_i64()
        .unwrap()
        .to_string();
    // Identified (no route yet: 404) once the user reaches the edge.
    let identified_as = async |algorithm: &str, offered: &[&str]| {
        let want = (offered.iter().map(|&a| a.to_owned()).collect(), Some(404));
        within(Duration::from_secs(2), async || {
            phone_call(target, algorithm, password).await == want
        })
        .await
        .is_some()
    };
    assert!(
        identified_as("SHA-256", &["SHA-256"]).await,
        "SHA-256 alone"
    );
    let update = ["sip-user", "update", "--account", "acme", &id, "--digest"];
    lab.cli(&[&update[..], &["sha256+md5"]].concat());
    assert!(
        identified_as("MD5", &["SHA-256", "MD5"]).await,
        "both offered; MD5 identifies with the same password"
    );
    // Back to the server's default: MD5 alone.
    lab.cli(&[&update[..], &["default"]].concat());
    assert!(identified_as("MD5", &["MD5"]).await, "the default again");
}

#[tokio::test]
async fn a_second_server_on_the_database_is_refused_unless_read_only_and_then_follows() {
    let writer = Fresh::start("second");
    let (sip, api) = (free_port(), free_port());
    let second = |extra: &[&str]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tollgate"));
        command
            .args(["serve", "--sip", &format!("udp:127.0.0.1:{sip}")])
            .args(["--api", &format!("127.0.0.1:{api}"), "--db", &writer.db()])
            .args(extra)
            .env("TOLLGATE_ADMIN_TOKEN", Fresh::TOKEN);
        command
    };
    let refused = second(&[]).output().unwrap();
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains("store.url:") && said.contains("t.db is in use by another tollgate (pid"),
        "{said}"
    );
    // Read-only (here from its configuration file), it starts and follows
    // the writer: an entry made there identifies the switch here within a
    // second.
    let reader = serve_with(
        writer.dir(),
        "[store]\nread_only = true\n",
        sip,
        api,
        Fresh::TOKEN,
    );
    let reader_sip: std::net::SocketAddr = format!("127.0.0.1:{sip}").parse().unwrap();
    let add = [
        ["account", "add", "--name", "acme"].as_slice(),
        &[
            "ip-auth",
            "add",
            "--account",
            "acme",
            "--address",
            "127.0.0.1",
        ],
    ];
    for args in add {
        writer.cli(args);
    }
    let mut switch = TestUa::udp(reader_sip).await.unwrap();
    let identified = within(Duration::from_secs(1), async || {
        let options = switch.request("OPTIONS", &format!("sip:{reader_sip}"));
        switch.send(options).await.unwrap();
        switch
            .recv(Duration::from_millis(300))
            .await
            .unwrap()
            .is_some_and(|r| r.status() == Some(200))
    })
    .await;
    reader.stop();
    assert!(
        identified.is_some(),
        "the read-only server follows within a second"
    );
}
