//! The management API over a real HTTP socket against a temporary SQLite
//! file: CRUD of every resource, validation errors naming the field, bulk
//! all-or-nothing, secrets never returned, audit events for every change.

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tollgate_policy::{CallInfo, CallState, LiveCalls};

mod support;
use support::*;

#[tokio::test]
async fn health_is_open_and_everything_else_needs_a_token() {
    let s = server().await;
    let health = s
        .client
        .get(format!("{}/health", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let anonymous = s
        .client
        .get(format!("{}/api/v1/accounts", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let body: Value = anonymous.json().await.unwrap();
    assert_eq!(body["error"], "unauthorized");
    let wrong = s
        .client
        .get(format!("{}/api/v1/accounts", s.base))
        .bearer_auth("not-the-token")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(s.get("/accounts").await.0, StatusCode::OK);
}

/// What the server logs, captured (the test's runtime runs the server on
/// the test's own thread).
#[derive(Clone, Default)]
struct Logs(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl tracing_subscriber::fmt::MakeWriter<'_> for Logs {
    type Writer = Self;
    fn make_writer(&self) -> Self {
        self.clone()
    }
}

#[tokio::test]
async fn guessing_tokens_is_throttled_and_logged() {
    let logs = Logs::default();
    use tracing_subscriber::util::SubscriberInitExt as _;
    let _logging = tracing_subscriber::fmt()
        .with_writer(logs.clone())
        .with_ansi(false)
        .set_default();
    let s = server().await;
    let mut statuses = Vec::new();
    for i in 0..50 {
        let r = s
            .client
            .get(format!("{}/api/v1/accounts", s.base))
            .bearer_auth(format!("guess-{i}"))
            .send()
            .await
            .unwrap();
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(r.headers().contains_key("retry-after"));
            let body: Value = r.json().await.unwrap();
            assert_eq!(body["error"], "too_many_requests");
            statuses.push(429);
        } else {
            statuses.push(r.status().as_u16());
        }
    }
    // Ten failures are free; the eleventh is refused and starts the
    // back-off, which turns every later attempt away.
    assert_eq!(statuses[..11], [401; 11], "{statuses:?}");
    assert!(statuses[11..].iter().all(|&s| s == 429), "{statuses:?}");
    // While throttled, even the right token waits.
    assert_eq!(s.get("/accounts").await.0, StatusCode::TOO_MANY_REQUESTS);
    let logged = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        logged.contains("source throttled") && logged.contains("source=127.0.0.1"),
        "{logged}"
    );
}

#[tokio::test]
async fn the_whole_internet_is_refused_unless_confirmed_and_the_confirmation_is_audited() {
    let s = server().await;
    let acme = s.account("acme", "customer").await;
    let entries = format!("/accounts/{acme}/ip-auth");
    for (body, field) in [
        (json!({"addresses": ["0.0.0.0/0"]}), "addresses[0]"),
        (
            json!({"addresses": ["203.0.113.7", "::/0"]}),
            "addresses[1]",
        ),
        (
            json!({"entries": [{"addresses": ["0.0.0.0/1"]}, {"addresses": ["128.0.0.0/1"]}]}),
            "entries[0].addresses[0]",
        ),
    ] {
        let (status, err) = s.post(&entries, body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
        assert_eq!(err["field"], field, "{err}");
        assert!(
            err["message"].as_str().unwrap().contains("allow_wide"),
            "{err}"
        );
    }
    // /16 is within the limit; an ingress network says where calls go.
    let (status, _) = s
        .post(&entries, json!({"addresses": ["10.1.0.0/16"]}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, wide) = s
        .post(
            &entries,
            json!({"addresses": ["10.0.0.0/8"], "allow_wide": true}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{wide}");
    let (_, audit) = s.get("/audit?entity=ip_auth").await;
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["after"]["allow_wide"] == true),
        "{audit}"
    );
    // Blocks likewise.
    let (status, err) = s.post("/firewall", json!({"address": "0.0.0.0/0"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(err["field"], "address");
    let (status, _) = s
        .post(
            "/firewall",
            json!({"address": "0.0.0.0/0", "allow_wide": true}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, audit) = s.get("/audit?entity=firewall").await;
    assert!(audit.to_string().contains("(allow_wide)"), "{audit}");
}

#[tokio::test]
async fn accounts_crud_with_validation_and_audit() {
    let s = server().await;
    let (status, acme) = s
        .post(
            "/accounts",
            json!({"name": "acme", "kind": "customer", "channels": 30, "cps": 5}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{acme}");
    let id = acme["id"].as_i64().unwrap();
    assert_eq!(acme["status"], "active");
    assert_eq!(acme["warnings"], json!([]));
    let (status, dup) = s
        .post("/accounts", json!({"name": "ACME", "kind": "customer"}))
        .await;
    assert_eq!(
        (status, dup["field"].as_str()),
        (StatusCode::CONFLICT, Some("name"))
    );
    let (status, bad) = s
        .post(
            "/accounts",
            json!({"name": "x", "kind": "customer", "gateway_failover": 2}),
        )
        .await;
    assert_eq!(
        (status, bad["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("kind")),
        "{bad}"
    );
    let (status, garbage) = s.post("/accounts", json!({"name": 5})).await;
    assert_eq!(
        (status, garbage["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad_request"))
    );
    let (status, updated) = s
        .put(
            &format!("/accounts/{id}"),
            json!({"name": "acme-telecom", "kind": "customer", "channels": 40}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["channels"], 40);
    assert_eq!(
        s.get(&format!("/accounts/{id}")).await.1["name"],
        "acme-telecom"
    );
    assert_eq!(s.get("/accounts/9999").await.0, StatusCode::NOT_FOUND);
    let (_, events) = s
        .get(&format!("/audit?entity=account&entity_id={id}"))
        .await;
    let actions: Vec<_> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["update", "create"]);
    assert_eq!(events[0]["actor"], "ops");
    assert_eq!(events[0]["actor_ip"], "127.0.0.1");
    assert_eq!(events[0]["before"]["channels"], 30);
    assert_eq!(events[0]["after"]["channels"], 40);
    assert_eq!(
        s.delete(&format!("/accounts/{id}")).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        s.get(&format!("/accounts/{id}")).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn ip_auth_bulk_is_all_or_nothing_and_passwords_stay_hidden() {
    let s = server().await;
    let acme = s.account("acme", "customer").await;
    let carrier = s.account("carrier", "carrier").await;

    let (status, one) = s
        .post(
            &format!("/accounts/{acme}/ip-auth"),
            json!({"addresses": ["203.0.113.7"], "channels": 30, "cps": 5}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{one}");
    assert_eq!(
        (
            one["port"].as_u64(),
            one["protocol"].as_str(),
            one["enabled"].as_bool()
        ),
        (Some(5060), Some("udp"), Some(true))
    );

    let bulk = json!({"entries": [
        {"addresses": ["198.51.100.1"]},
        {"addresses": ["not-an-ip!"]},
    ]});
    let (status, err) = s.post(&format!("/accounts/{acme}/ip-auth"), bulk).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    assert!(
        err["message"].as_str().unwrap().starts_with("entries[1]: "),
        "{err}"
    );
    let (status, typo) = s
        .post(
            &format!("/accounts/{acme}/ip-auth"),
            json!({"adresses": ["198.51.100.9"]}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{typo}");
    assert!(
        typo["message"].as_str().unwrap().contains("adresses"),
        "{typo}"
    );
    let bulk = json!({"entries": [
        {"addresses": ["198.51.100.1"]},
        {"addresses": ["gw.example.net"], "direction": "egress"},
    ]});
    let (status, err) = s.post(&format!("/accounts/{acme}/ip-auth"), bulk).await;
    assert_eq!(
        (status, err["field"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("entries[1].addresses[0]")
        ),
        "{err}"
    );
    assert_eq!(
        s.get(&format!("/accounts/{acme}/ip-auth"))
            .await
            .1
            .as_array()
            .unwrap()
            .len(),
        1,
        "nothing from the failed bulk"
    );
    let bulk = json!({"entries": [{"addresses": ["198.51.100.1"]}, {"addresses": ["198.51.100.2"], "protocol": "tls"}]});
    let (status, created) = s.post(&format!("/accounts/{acme}/ip-auth"), bulk).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created[1]["port"], 5061);

    let (status, gw) = s
        .post(&format!("/accounts/{carrier}/ip-auth"), json!({"addresses": ["gw1.carrier.example"], "direction": "ingress", "username": "trunk", "password": "uac-secret", "weight": 10}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{gw}");
    let gw_id = gw["id"].as_i64().unwrap();
    assert!(gw.get("password").is_none());
    let (_, read) = s.get(&format!("/accounts/{carrier}/ip-auth/{gw_id}")).await;
    assert!(read.get("password").is_none());
    let (_, audit) = s.get("/audit?entity=ip_auth").await;
    assert!(!audit.to_string().contains("uac-secret"));
    assert!(audit.to_string().contains("\"password\":\"***\""));
    // The entry is addressed under its own account only.
    assert_eq!(
        s.get(&format!("/accounts/{acme}/ip-auth/{gw_id}")).await.0,
        StatusCode::NOT_FOUND
    );

    let (_, shared) = s
        .post(
            &format!("/accounts/{carrier}/ip-auth"),
            json!({"addresses": ["203.0.113.7"]}),
        )
        .await;
    assert_eq!(shared["warnings"][0]["field"], "addresses[0]", "{shared}");
}

#[tokio::test]
async fn sip_users_get_generated_passwords_once_and_capacity_is_enforced() {
    let s = server().await;
    let (_, acme) = s
        .post(
            "/accounts",
            json!({"name": "acme", "kind": "customer", "channels": 10}),
        )
        .await;
    let acme = acme["id"].as_i64().unwrap();
    let (status, alice) = s
        .post(
            &format!("/accounts/{acme}/sip-users"),
            json!({"username": "alice", "channels": 6}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{alice}");
    let generated = alice["password"].as_str().unwrap().to_owned();
    assert!(generated.len() >= 20);
    let id = alice["id"].as_i64().unwrap();
    let (_, read) = s.get(&format!("/accounts/{acme}/sip-users/{id}")).await;
    assert!(
        read.get("password").is_none() && read.get("ha1").is_none(),
        "{read}"
    );
    let (status, over) = s
        .post(
            &format!("/accounts/{acme}/sip-users"),
            json!({"username": "bob", "password": "longenough", "channels": 5}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        over["message"],
        "channels: no channel capacity available for this account"
    );
    let (status, short) = s
        .post(
            &format!("/accounts/{acme}/sip-users"),
            json!({"username": "bob", "password": "short", "channels": 1}),
        )
        .await;
    assert_eq!(
        (status, short["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("password"))
    );
    let (status, reset) = s
        .post(
            &format!("/accounts/{acme}/sip-users/{id}/password"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(reset["password"].as_str().unwrap(), generated);
    let (status, given) = s
        .post(
            &format!("/accounts/{acme}/sip-users/{id}/password"),
            json!({"password": "chosen-by-ops"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(given.get("password").is_none());
    let (status, rename) = s
        .put(
            &format!("/accounts/{acme}/sip-users/{id}"),
            json!({"username": "alice2", "channels": 6}),
        )
        .await;
    assert_eq!(
        (status, rename["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("username"))
    );
    let (_, audit) = s
        .get(&format!("/audit?entity=sip_user&entity_id={id}"))
        .await;
    let actions: Vec<_> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["password_reset", "password_reset", "create"]);
    assert!(!audit.to_string().contains(&generated));
}

#[tokio::test]
async fn routes_check_their_accounts() {
    let s = server().await;
    let acme = s.account("acme", "customer").await;
    let carrier = s.account("carrier", "carrier").await;
    let (status, bad) = s
        .post("/routes", json!({"account_id": acme, "carriers": [acme]}))
        .await;
    assert_eq!(
        (status, bad["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("carriers[0]"))
    );
    let (status, route) = s
        .post(
            "/routes",
            json!({"account_id": acme, "dial_string": ["44"], "carriers": [carrier]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{route}");
    let id = route["id"].as_i64().unwrap();
    let (status, _) = s
        .put(
            &format!("/routes/{id}"),
            json!({"account_id": acme, "dial_string": ["^1[2-9]"], "carriers": [carrier]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(s.get("/routes").await.1.as_array().unwrap().len(), 1);
    assert_eq!(
        s.delete(&format!("/routes/{id}")).await,
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn openapi_document_lists_every_resource() {
    let s = server().await;
    let doc: Value = s
        .client
        .get(format!("{}/api/v1/openapi.json", s.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/accounts",
        "/accounts/{id}",
        "/accounts/{id}/ip-auth",
        "/accounts/{id}/ip-auth/{entry}",
        "/accounts/{id}/sip-users",
        "/accounts/{id}/sip-users/{user}",
        "/accounts/{id}/sip-users/{user}/password",
        "/routes",
        "/routes/{id}",
        "/audit",
    ] {
        assert!(
            paths.contains_key(path),
            "{path} missing from the OpenAPI document"
        );
    }
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for schema in ["Account", "IpAuthEntry", "SipUser", "Route", "ErrorBody"] {
        assert!(schemas.contains_key(schema), "{schema} missing");
    }
    assert_eq!(doc["servers"][0]["url"], "/api/v1");
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}

#[tokio::test]
async fn firewall_blocks_show_on_entries_and_are_audited() {
    let s = server().await;
    let acme = s.account("acme", "customer").await;
    let (_, entry) = s
        .post(
            &format!("/accounts/{acme}/ip-auth"),
            json!({"addresses": ["203.0.113.7"]}),
        )
        .await;
    let entry = entry["id"].as_i64().unwrap();
    let (status, got) = s.get(&format!("/accounts/{acme}/ip-auth/{entry}")).await;
    assert_eq!(got["blocked"], false, "{status} {got}");

    let (status, block) = s
        .post(
            "/firewall",
            json!({"address": "203.0.113.0/24", "notes": "scanner", "duration_s": 3600}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{block}");
    assert_eq!(
        (block["source"].as_str(), block["reason"].as_str()),
        (Some("manual"), Some("manual block by ops"))
    );
    assert!(block["expires_at"].as_i64().unwrap() > block["created_at"].as_i64().unwrap());
    let (status, bad) = s
        .post("/firewall", json!({"address": "scanner.example.net"}))
        .await;
    assert_eq!(
        (status, bad["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("address"))
    );
    assert_eq!(s.get("/firewall").await.1.as_array().unwrap().len(), 1);
    assert_eq!(
        s.get(&format!("/accounts/{acme}/ip-auth/{entry}")).await.1["blocked"],
        true
    );
    assert_eq!(
        s.get(&format!("/accounts/{acme}/ip-auth")).await.1[0]["blocked"],
        true
    );

    assert_eq!(
        s.delete("/firewall/203.0.113.0%2F24").await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        s.delete("/firewall/203.0.113.0%2F24").await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        s.get(&format!("/accounts/{acme}/ip-auth/{entry}")).await.1["blocked"],
        false
    );
    let (_, audit) = s.get("/audit?entity=firewall").await;
    let actions: Vec<_> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["unblock", "block"]);
}

#[tokio::test]
async fn bulk_delete_is_all_or_nothing() {
    let s = server().await;
    let a = s.account("a", "customer").await;
    let b = s.account("b", "customer").await;
    let (_, made) = s
        .post(
            &format!("/accounts/{a}/ip-auth"),
            json!({"entries": [{"addresses": ["198.51.100.1"]}, {"addresses": ["198.51.100.2"]}]}),
        )
        .await;
    let (x, y) = (
        made[0]["id"].as_i64().unwrap(),
        made[1]["id"].as_i64().unwrap(),
    );
    let (_, other) = s
        .post(
            &format!("/accounts/{b}/ip-auth"),
            json!({"addresses": ["198.51.100.3"]}),
        )
        .await;
    let z = other["id"].as_i64().unwrap();
    assert_eq!(
        s.delete(&format!("/accounts/{a}/ip-auth?ids={x},{z}"))
            .await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        s.get(&format!("/accounts/{a}/ip-auth"))
            .await
            .1
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        s.delete(&format!("/accounts/{a}/ip-auth?ids={x},nope"))
            .await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        s.delete(&format!("/accounts/{a}/ip-auth?ids={x},{y}"))
            .await,
        StatusCode::NO_CONTENT
    );
    assert!(
        s.get(&format!("/accounts/{a}/ip-auth"))
            .await
            .1
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_change_through_the_api_reaches_the_snapshot_within_a_second() {
    let s = server().await;
    let shared = std::sync::Arc::new(tollgate_policy::SharedSnapshot::new(
        tollgate_policy::Snapshot::default(),
    ));
    let refresher = tollgate_store::refresh_snapshots(s.store.clone(), shared.clone(), None);
    let acme = s.account("acme", "customer").await;
    let started = std::time::Instant::now();
    let (status, _) = s
        .post(
            &format!("/accounts/{acme}/ip-auth"),
            json!({"addresses": ["203.0.113.9"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let ip = "203.0.113.9".parse().unwrap();
    while shared.load().egress_candidates(ip).is_empty() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(1),
            "not visible within 1 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    refresher.abort();
}

/// Live calls as an edge would publish them: a list, the hang-ups asked
/// and what gateway probes found.
#[derive(Debug, Default)]
struct Calls {
    live: std::sync::Mutex<Vec<CallInfo>>,
    hung_up: std::sync::Mutex<Vec<u64>>,
    probed: std::sync::Mutex<std::collections::HashMap<i64, bool>>,
}

impl LiveCalls for Calls {
    fn list(&self) -> Vec<CallInfo> {
        self.live.lock().unwrap().clone()
    }

    fn hang_up(&self, id: u64) -> bool {
        let mut live = self.live.lock().unwrap();
        let before = live.len();
        live.retain(|c| c.id != id);
        self.hung_up.lock().unwrap().push(id);
        live.len() < before
    }

    fn gateway_up(&self, id: i64) -> Option<bool> {
        self.probed.lock().unwrap().get(&id).copied()
    }
}

#[tokio::test]
async fn an_entry_shows_what_its_latest_probe_found() {
    let calls = Arc::new(Calls::default());
    let s = server_with_calls(Some(calls.clone())).await;
    let carrier = s.account("carrier-a", "carrier").await;
    let mut ids = Vec::new();
    for address in ["198.51.100.20", "198.51.100.21", "198.51.100.22"] {
        let (status, entry) = s
            .post(
                &format!("/accounts/{carrier}/ip-auth"),
                json!({"addresses": [address], "direction": "ingress"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{entry}");
        ids.push(entry["id"].as_i64().unwrap());
    }
    calls
        .probed
        .lock()
        .unwrap()
        .extend([(ids[0], true), (ids[1], false)]);
    let (_, one) = s
        .get(&format!("/accounts/{carrier}/ip-auth/{}", ids[1]))
        .await;
    assert_eq!(one["reachable"], false, "{one}");
    let (_, list) = s.get(&format!("/accounts/{carrier}/ip-auth")).await;
    let reachable: Vec<_> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["id"].as_i64().unwrap(), e.get("reachable").cloned()))
        .collect();
    assert_eq!(
        reachable,
        vec![
            (ids[0], Some(json!(true))),
            (ids[1], Some(json!(false))),
            (ids[2], None),
        ],
        "never probed: no field"
    );
}

#[tokio::test]
async fn live_calls_are_listed_and_hung_up_with_an_audit_event() {
    let calls = Arc::new(Calls::default());
    calls.live.lock().unwrap().push(CallInfo {
        id: 7,
        account_id: 1,
        entry_id: Some(3),
        user_id: None,
        caller: "441632960999".into(),
        callee: "441632960123".into(),
        carrier_id: Some(2),
        gateway_id: Some(4),
        gateway_address: Some("192.0.2.1:5060".into()),
        state: CallState::Answered,
        started: 1_000,
        answered: Some(2_000),
    });
    let s = server_with_calls(Some(calls.clone())).await;
    let (status, list) = s.get("/calls").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list[0]["id"], 7);
    assert_eq!(list[0]["state"], "answered");
    assert_eq!(list[0]["gateway_address"], "192.0.2.1:5060");
    assert_eq!(s.delete("/calls/8").await, StatusCode::NOT_FOUND);
    assert_eq!(s.delete("/calls/7").await, StatusCode::NO_CONTENT);
    assert_eq!(*calls.hung_up.lock().unwrap(), vec![7]);
    assert_eq!(s.get("/calls").await.1, json!([]));
    let (_, events) = s.get("/audit?entity=call").await;
    assert_eq!(events[0]["action"], "hangup");
    assert_eq!(events[0]["entity_id"], "7");
    assert_eq!(events[0]["account_id"], 1);
    assert_eq!(events[0]["before"]["callee"], "441632960123");
}
