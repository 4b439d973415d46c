//! JSON errors: `{"error": CODE, "message": TEXT, "field": NAME?}` with the
//! status PRODUCT.md lists. Bad input is always a 4xx with a message.

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
    fn from(e: axum::extract::rejection::JsonRejection) -> Self {
        Self::bad_request(e.body_text())
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
