//! The admin commands' HTTP client: bearer token, JSON in and out, and the
//! API's error body turned into a readable message.

use anyhow::{Context as _, anyhow, bail};
use serde_json::Value;

/// Talks to a running server's management API.
pub(crate) struct ApiClient {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl ApiClient {
    /// A client for `api` (e.g. `http://127.0.0.1:8080`) with `token`.
    pub(crate) fn new(api: &str, token: Option<String>) -> anyhow::Result<Self> {
        let token = token.ok_or_else(|| {
            anyhow!("no API token: set TOLLGATE_TOKEN (or TOLLGATE_ADMIN_TOKEN) to an admin token")
        })?;
        Ok(Self {
            base: format!("{}/api/v1", api.trim_end_matches('/')),
            token,
            http: reqwest::Client::new(),
        })
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("cannot reach the API at {}", self.base))?;
        let status = resp.status();
        let text = resp.text().await.context("reading the API's answer")?;
        let value: Value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)
                .with_context(|| format!("the API answered {status} with non-JSON: {text}"))?
        };
        if !status.is_success() {
            let message = value["message"].as_str().unwrap_or("request failed");
            bail!("{status}: {message}");
        }
        Ok(value)
    }

    pub(crate) async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.call(reqwest::Method::GET, path, None).await
    }

    pub(crate) async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    pub(crate) async fn put(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.call(reqwest::Method::PUT, path, Some(body)).await
    }

    /// Reads the resource at `path`, sets the fields given in `changes`
    /// (the others stay as they are) and writes it back.
    pub(crate) async fn update<const N: usize>(
        &self,
        path: &str,
        changes: [(&str, Option<Value>); N],
    ) -> anyhow::Result<Value> {
        let mut current = self.get(path).await?;
        let obj = current
            .as_object_mut()
            .with_context(|| format!("{path} is not an object"))?;
        for (field, value) in changes {
            if let Some(v) = value {
                obj.insert(field.into(), v);
            }
        }
        self.put(path, &current).await
    }

    pub(crate) async fn delete(&self, path: &str) -> anyhow::Result<Value> {
        self.call(reqwest::Method::DELETE, path, None).await
    }

    /// An account's id from its id or name.
    pub(crate) async fn account_id(&self, reference: &str) -> anyhow::Result<i64> {
        if let Ok(id) = reference.parse() {
            return Ok(id);
        }
        let accounts = self.get("/accounts?limit=1000").await?;
        accounts
            .as_array()
            .into_iter()
            .flatten()
            .find(|a| {
                a["name"]
                    .as_str()
                    .is_some_and(|n| n.eq_ignore_ascii_case(reference))
            })
            .and_then(|a| a["id"].as_i64())
            .ok_or_else(|| anyhow!("--account: no account named {reference:?}"))
    }
}
