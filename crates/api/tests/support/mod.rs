//! A management API over a real HTTP socket against a temporary SQLite
//! file, and the calls the tests make of it.
// Each test file uses its own part of this module.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tollgate_api::{ApiState, token_hash};
use tollgate_policy::LiveCalls;
use tollgate_store::{Actor, Store};

pub(crate) struct Server {
    pub(crate) base: String,
    pub(crate) token: String,
    pub(crate) client: reqwest::Client,
    /// The store behind the API, as the edge would hold it.
    pub(crate) store: Store,
    _dir: TempDir,
}

pub(crate) struct TempDir(pub(crate) std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

pub(crate) async fn server() -> Server {
    server_with_calls(None).await
}

pub(crate) async fn server_with_calls(calls: Option<Arc<dyn LiveCalls>>) -> Server {
    let dir = std::env::temp_dir().join(format!(
        "tollgate-api-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let store = Store::open(&format!("sqlite://{}/t.db", dir.display()), "tollgate")
        .await
        .unwrap();
    let token = tollgate_api::new_token();
    store
        .create_token(&Actor::system(), "ops", &token_hash(&token))
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(tollgate_api::serve(
        listener,
        ApiState {
            store: store.clone(),
            metrics: None,
            hosts: None,
            calls,
            wide: tollgate_policy::validate::WideLimits::default(),
        },
        std::future::pending(),
    ));
    Server {
        base: format!("http://{addr}"),
        token,
        client: reqwest::Client::new(),
        store,
        _dir: TempDir(dir),
    }
}

pub(crate) fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

impl Server {
    pub(crate) async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .client
            .request(method, format!("{}/api/v1{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub(crate) async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(reqwest::Method::GET, path, None).await
    }

    pub(crate) async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    /// Creates an account (which must succeed) and returns its id.
    pub(crate) async fn account(&self, name: &str, kind: &str) -> i64 {
        let (status, made) = self
            .post("/accounts", json!({"name": name, "kind": kind}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{made}");
        made["id"].as_i64().unwrap()
    }

    pub(crate) async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(reqwest::Method::PUT, path, Some(body)).await
    }

    pub(crate) async fn delete(&self, path: &str) -> StatusCode {
        self.call(reqwest::Method::DELETE, path, None).await.0
    }
}
