//! API write latency: an in-process server on a temporary SQLite file,
//! N sequential `POST /accounts/{id}/ip-auth` over loopback HTTP, and the
//! latency percentiles of each (request, validation, transaction with its
//! audit event, fsync-free WAL commit, response).
//!
//! Usage: `cargo run --release -p tollgate-api --example write_latency [N]`

use std::time::Instant;

use tollgate_api::{ApiState, new_token, token_hash};
use tollgate_store::{Actor, Store};

#[tokio::main]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2000);
    let dir = std::env::temp_dir().join(format!("tollgate-write-latency-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let store = Store::open(&format!("sqlite://{}/t.db", dir.display()), "tollgate")
        .await
        .expect("store");
    let token = new_token();
    store
        .create_token(&Actor::system(), "bench", &token_hash(&token))
        .await
        .expect("token");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}/api/v1", listener.local_addr().expect("addr"));
    tokio::spawn(tollgate_api::serve(
        listener,
        ApiState {
            store,
            metrics: None,
            hosts: None,
            calls: None,
            wide: tollgate_policy::validate::WideLimits::default(),
        },
        std::future::pending(),
    ));
    let client = reqwest::Client::new();
    let account: serde_json::Value = client
        .post(format!("{base}/accounts"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"name": "bench", "kind": "customer"}))
        .send()
        .await
        .expect("create account")
        .json()
        .await
        .expect("account json");
    let url = format!("{base}/accounts/{}/ip-auth", account["id"]);
    let mut latencies = Vec::with_capacity(n);
    let started = Instant::now();
    for i in 0..n {
        let body = serde_json::json!({"addresses": [format!("10.{}.{}.{}", i >> 16 & 255, i >> 8 & 255, i & 255)], "channels": 30, "cps": 5});
        let t = Instant::now();
        let resp = client
            .post(&url)
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .expect("post");
        assert_eq!(resp.status(), reqwest::StatusCode::CREATED);
        latencies.push(t.elapsed());
    }
    let total = started.elapsed();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!(
        "{n} writes in {:.2} s ({:.0}/s): p50 {:?}, p90 {:?}, p99 {:?}, max {:?}",
        total.as_secs_f64(),
        n as f64 / total.as_secs_f64(),
        pct(0.50),
        pct(0.90),
        pct(0.99),
        latencies[latencies.len() - 1]
    );
    std::fs::remove_dir_all(&dir).ok();
}
