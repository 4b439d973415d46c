//! JSON errors: `{"error": CODE, "message": TEXT, "field": NAME?}` with the
//! status the OpenAPI document gives each refusal. Bad input is always a
//! 4xx with a message.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tollgate_store::StoreError;
use utoipa::ToSchema;

/// The error body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct ErrorBody {
    /// A stable code: `bad_request`, `unauthorized`, `not_found`,
    /// `conflict`, `invalid`, `internal`.
    pub error: String,
    /// What went wrong, for people.
    pub message: String,
    /// The field at fault, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// An error response.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: ErrorBody,
    /// `Retry-After` (seconds), for 429 and 503.
    retry_after: Option<u64>,
}

impl ApiError {
    /// An error with a status, code, message and optional field.
    pub fn new(
        status: StatusCode,
        code: &str,
        message: impl Into<String>,
        field: Option<&str>,
    ) -> Self {
        Self {
            status,
            body: ErrorBody {
                error: code.into(),
                message: message.into(),
                field: field.map(str::to_owned),
            },
            retry_after: None,
        }
    }

    /// 429: this source failed to authenticate too often; it may try again
    /// after `wait`.
    pub fn too_many_requests(wait: std::time::Duration) -> Self {
        let seconds = wait.as_secs_f64().ceil() as u64;
        Self {
            retry_after: Some(seconds.max(1)),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
                format!("too many failed authentications from this address; retry in {seconds} s"),
                None,
            )
        }
    }

    /// 400 for a malformed request.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message, None)
    }

    /// 400 for a value of the wrong form, naming its field when known.
    pub fn bad_field(field: Option<&str>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message, field)
    }

    /// The same error about an element at `prefix` (`entries[2]`): its
    /// field and message are named from there.
    pub fn within(mut self, prefix: &str) -> Self {
        if prefix.is_empty() {
            return self;
        }
        self.body.field = Some(match self.body.field.take() {
            Some(field) => format!("{prefix}.{field}"),
            None => prefix.to_owned(),
        });
        self.body.message = format!("{prefix}: {}", self.body.message);
        self
    }

    /// 422 naming a field.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            message,
            Some(field),
        )
    }

    /// 401.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid bearer token is required",
            None,
        )
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { .. } => {
                Self::new(StatusCode::NOT_FOUND, "not_found", e.to_string(), None)
            }
            StoreError::Invalid { error, conflict } => {
                let (status, code) = if conflict {
                    (StatusCode::CONFLICT, "conflict")
                } else {
                    (StatusCode::UNPROCESSABLE_ENTITY, "invalid")
                };
                Self::new(status, code, error.to_string(), Some(&error.field))
            }
            StoreError::Full => Self::new(
                StatusCode::INSUFFICIENT_STORAGE,
                "insufficient_storage",
                e.to_string(),
                None,
            ),
            StoreError::ReadOnly | StoreError::Busy => Self {
                retry_after: Some(5),
                ..Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    e.to_string(),
                    None,
                )
            },
            StoreError::Database(_) | StoreError::Corrupt(_) => {
                tracing::error!(error = %e, "store failure");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error",
                    None,
                )
            }
        }
    }
}

impl From<tollgate_policy::FieldError> for ApiError {
    /// A rule the value breaks: 422 naming the field.
    fn from(e: tollgate_policy::FieldError) -> Self {
        Self::invalid(&e.field, e.to_string())
    }
}

impl From<axum::extract::rejection::JsonRejection> for ApiError {
    /// A body that is not the JSON asked for: 413 when it is over the
    /// size limit, else 400 naming the field at fault when there is one
    /// (`entries[2].channels`, an unknown or missing field).
    fn from(e: axum::extract::rejection::JsonRejection) -> Self {
        use axum::extract::rejection::JsonRejection;
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "the body is over the size limit",
                None,
            );
        }
        let text = e.body_text();
        let detail = text
            .split_once("target type: ")
            .map_or(text.as_str(), |(_, d)| d);
        let field = match &e {
            JsonRejection::JsonDataError(_) => field_of(detail),
            _ => None,
        };
        Self::bad_field(field.as_deref(), detail)
    }
}

/// Keeps the error contract for refusals made before a handler runs
/// (axum's own, in plain text): a path or query parameter of the wrong
/// form, no such route, a method the route does not take. Their text
/// becomes the JSON error body, naming the parameter when the text does.
pub(crate) async fn json_errors(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|m| m.as_str().to_owned());
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !status.is_client_error() || is_json {
        return response;
    }
    let text = axum::body::to_bytes(response.into_body(), 16 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let code = match status {
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        _ => "bad_request",
    };
    let message = if text.trim().is_empty() {
        status.canonical_reason().unwrap_or("refused").to_owned()
    } else {
        text.trim().to_owned()
    };
    let field = parameter_of(&message, route.as_deref(), &path);
    ApiError::new(status, code, message, field.as_deref()).into_response()
}

/// The parameter axum's text names: ``Cannot parse `id` with value `x`…``
/// for a path (or, for a path of one parameter, ``Cannot parse `x`…``,
/// whose parameter is the one of `route` that `path` has `x` for), or
/// `…query string: limit: …` for a query.
fn parameter_of(text: &str, route: Option<&str>, path: &str) -> Option<String> {
    if let Some((_, rest)) = text.split_once("Cannot parse `") {
        let (named, rest) = rest.split_once('`')?;
        if rest.starts_with(" with value") {
            return Some(named.to_owned());
        }
        // `named` is the value: find its parameter in the route.
        return route?
            .split('/')
            .zip(path.split('/'))
            .find(|(template, value)| template.starts_with('{') && *value == named)
            .map(|(template, _)| template.trim_matches(['{', '}']).to_owned());
    }
    let (_, rest) = text.split_once("query string: ")?;
    let (field, _) = rest.split_once(": ")?;
    (!field.contains(' ')).then(|| field.to_owned())
}

/// The field a deserialization error names: its path (`channels: invalid
/// value…`, `entries[2].port: …`), or for an unknown or missing field at
/// the top, the field itself.
fn field_of(detail: &str) -> Option<String> {
    let (path, message) = detail.split_once(": ")?;
    let named = || {
        ["unknown field `", "missing field `"]
            .iter()
            .find_map(|p| message.split_once(p))
            .and_then(|(_, rest)| rest.split_once('`'))
            .map(|(name, _)| name)
    };
    let path = path.trim_start_matches('.');
    match (path.is_empty() || path.contains(' '), named()) {
        (true, named) => named.map(str::to_owned),
        (false, Some(name)) if !path.ends_with(name) => Some(format!("{path}.{name}")),
        (false, _) => Some(path.to_owned()),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_refusals_have_statuses_of_their_own() {
        let full = ApiError::from(StoreError::Full).into_response();
        assert_eq!(full.status(), StatusCode::INSUFFICIENT_STORAGE);
        for e in [StoreError::ReadOnly, StoreError::Busy] {
            let r = ApiError::from(e).into_response();
            assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(r.headers()[axum::http::header::RETRY_AFTER], "5");
        }
    }
}
