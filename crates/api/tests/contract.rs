//! The error contract, walked from the OpenAPI document itself: every
//! operation that takes a body is sent, for each field, a value of the
//! wrong type and one past its bounds, and an unknown field; each must be
//! refused with a 4xx whose JSON body names that field. Path and query
//! parameters of the wrong form are refused the same way.

use reqwest::StatusCode;
use serde_json::{Map, Value, json};

mod support;
use support::*;

/// The ids the paths of the operations need.
struct Ids {
    customer: i64,
    carrier: i64,
    entry: i64,
    user: i64,
    route: i64,
}

/// A valid body for each operation that takes one.
fn valid_body(operation: &str, ids: &Ids) -> Option<Value> {
    Some(match operation {
        "create_account" | "update_account" => json!({"name": "contract", "kind": "carrier"}),
        "create_ip_auth" | "update_ip_auth" => json!({"addresses": ["192.0.2.44"]}),
        "create_sip_user" | "update_sip_user" => {
            json!({"username": "contract-user", "password": "contract-pass"})
        }
        "reset_password" => json!({"password": "another-pass"}),
        "create_route" | "update_route" => {
            json!({"account_id": ids.customer, "carriers": [ids.carrier]})
        }
        "block" => json!({"address": "192.0.2.45"}),
        "delete_ip_auth_bulk" => json!({"ids": [ids.entry]}),
        _ => return None,
    })
}

/// `schema` with its references, `allOf` parts and `oneOf` choices
/// resolved into one set of properties.
fn properties(schema: &Value, doc: &Value) -> Map<String, Value> {
    let mut out = Map::new();
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.rsplit('/').next().unwrap_or_default();
        return properties(&doc["components"]["schemas"][name], doc);
    }
    if let Some(p) = schema.get("properties").and_then(Value::as_object) {
        out.extend(p.clone());
    }
    for key in ["allOf", "oneOf", "anyOf"] {
        for part in schema
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            out.extend(properties(part, doc));
        }
    }
    out
}

/// The types a property's schema allows (references resolved to
/// `string` for enums, `object` otherwise).
fn types(schema: &Value, doc: &Value) -> Vec<String> {
    let mut out: Vec<String> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.clone()],
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(|t| t.as_str().map(String::from))
            .collect(),
        _ => Vec::new(),
    };
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.rsplit('/').next().unwrap_or_default();
        out.extend(types(&doc["components"]["schemas"][name], doc));
    }
    for part in schema
        .get("oneOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        out.extend(types(part, doc));
    }
    out
}

/// A value no schema of `allowed` types accepts.
fn wrong_value(allowed: &[String]) -> Value {
    if allowed.iter().any(|t| t == "string") {
        json!({"not": "a string"})
    } else {
        json!("not-the-type")
    }
}

/// Sends `body` to the operation and checks the refusal names `field`.
async fn refused(s: &Server, method: &str, path: &str, body: Value, field: &str, what: &str) {
    let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
    let (status, answer) = s.call(method.clone(), path, Some(body.clone())).await;
    assert!(
        status.is_client_error(),
        "{method} {path} with {what} ({body}): {status} {answer}"
    );
    assert!(
        answer["error"].is_string() && answer["message"].is_string(),
        "{answer}"
    );
    let named = answer["field"].as_str().unwrap_or_default();
    assert!(
        named == field
            || named.starts_with(&format!("{field}."))
            || named.starts_with(&format!("{field}[")),
        "{method} {path} with {what}: field {named:?}, not {field:?}: {answer}"
    );
}

#[tokio::test]
async fn every_operation_refuses_bad_fields_naming_them() {
    let s = server().await;
    let customer = s.account("walk-customer", "customer").await;
    let carrier = s.account("walk-carrier", "carrier").await;
    let (_, entry) = s
        .post(
            &format!("/accounts/{customer}/ip-auth"),
            json!({"addresses": ["192.0.2.40"]}),
        )
        .await;
    let (_, user) = s
        .post(
            &format!("/accounts/{customer}/sip-users"),
            json!({"username": "walk-user"}),
        )
        .await;
    let (_, route) = s
        .post(
            "/routes",
            json!({"account_id": customer, "carriers": [carrier]}),
        )
        .await;
    let ids = Ids {
        customer,
        carrier,
        entry: entry["id"].as_i64().unwrap(),
        user: user["id"].as_i64().unwrap(),
        route: route["id"].as_i64().unwrap(),
    };
    let doc = serde_json::to_value(tollgate_api::openapi()).unwrap();
    let mut walked = 0;
    for (template, operations) in doc["paths"].as_object().unwrap() {
        let path = template
            .replace(
                "{id}",
                &if template.starts_with("/routes") {
                    ids.route
                } else {
                    customer
                }
                .to_string(),
            )
            .replace("{entry}", &ids.entry.to_string())
            .replace("{user}", &ids.user.to_string());
        for (method, op) in operations.as_object().unwrap() {
            let Some(schema) = op["requestBody"]["content"]["application/json"].get("schema")
            else {
                continue;
            };
            let id = op["operationId"].as_str().unwrap();
            let base = valid_body(id, &ids).unwrap_or_else(|| panic!("no valid body for {id}"));
            for (field, spec) in properties(schema, &doc) {
                if spec["readOnly"] == true {
                    continue;
                }
                let mut body = base.clone();
                body[&field] = wrong_value(&types(&spec, &doc));
                refused(&s, method, &path, body, &field, "a wrong type").await;
                for (bound, past) in [("maximum", 1), ("minimum", -1)] {
                    let Some(limit) = spec.get(bound).and_then(Value::as_i64) else {
                        continue;
                    };
                    let mut body = base.clone();
                    body[&field] = json!(limit + past);
                    refused(&s, method, &path, body, &field, bound).await;
                }
            }
            let mut body = base.clone();
            body["bogus_field"] = json!(1);
            refused(&s, method, &path, body, "bogus_field", "an unknown field").await;
            walked += 1;
        }
    }
    assert!(walked >= 10, "walked {walked} operations");
}

#[tokio::test]
async fn path_query_and_size_refusals_keep_the_contract() {
    let s = server().await;
    for (path, field) in [("/accounts/abc", "id"), ("/accounts?limit=-1", "limit")] {
        let (status, answer) = s.get(path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {answer}");
        assert_eq!(answer["field"], field, "{path}: {answer}");
    }
    let (status, answer) = s.get("/no-such-thing").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(answer["error"], "not_found");
    let huge = json!({"name": "x".repeat(3 * 1024 * 1024), "kind": "customer"});
    let (status, answer) = s.post("/accounts", huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
    assert_eq!(answer["error"], "payload_too_large");
}
