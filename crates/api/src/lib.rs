//! Tollgate's management API (axum): accounts, IP entries, SIP users,
//! routes, the firewall, the audit log and live calls under `/api/v1`,
//! bearer-token auth, JSON errors naming the field, and the
//! OpenAPI document generated from the handlers at `/api/v1/openapi.json`.
//!
//! ```text
//!   request ─► /health (open)
//!           ─► /api/v1/openapi.json (open)
//!           ─► /api/v1/... ─► require_token (SHA-256 lookup → Actor) ─► handler ─► Store
//! ```

#![forbid(unsafe_code)]

mod auth;
mod error;
pub mod resources;

pub use auth::{new_token, token_hash};
pub use error::{ApiError, ErrorBody};

use std::net::SocketAddr;
use std::sync::Arc;

use axum::routing::get;
use axum::{Json, Router, middleware};
use tollgate_store::Store;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// What every handler shares.
#[derive(Clone, Debug)]
pub struct ApiState {
    /// The configuration store.
    pub store: Store,
    /// Renders `/metrics` when a Prometheus recorder is installed.
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    /// Background lookups of entries' hostnames, shown on the entries.
    pub hosts: Option<Arc<arc_swap::ArcSwap<tollgate_policy::HostTable>>>,
    /// The edge's live calls; without it `/calls` lists none.
    pub calls: Option<Arc<dyn tollgate_policy::LiveCalls>>,
    /// The widest egress networks and blocks taken without
    /// `"allow_wide": true`.
    pub wide: tollgate_policy::validate::WideLimits,
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let scheme =
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build());
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme("bearer", scheme);
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Tollgate management API", description = "Accounts, IP authentication entries, SIP users, routes, live calls and the audit log of a Tollgate SIP edge."),
    servers((url = "/api/v1")),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
struct ApiDoc;

/// The routes and the OpenAPI document they generate.
fn api() -> (Router<ApiState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(resources::list_accounts, resources::create_account))
        .routes(routes!(
            resources::get_account,
            resources::update_account,
            resources::delete_account
        ))
        .routes(routes!(
            resources::list_ip_auth,
            resources::create_ip_auth,
            resources::delete_ip_auth_bulk
        ))
        .routes(routes!(
            resources::get_ip_auth,
            resources::update_ip_auth,
            resources::delete_ip_auth
        ))
        .routes(routes!(
            resources::list_sip_users,
            resources::create_sip_user
        ))
        .routes(routes!(
            resources::get_sip_user,
            resources::update_sip_user,
            resources::delete_sip_user
        ))
        .routes(routes!(resources::reset_password))
        .routes(routes!(resources::list_routes, resources::create_route))
        .routes(routes!(
            resources::get_route,
            resources::update_route,
            resources::delete_route
        ))
        .routes(routes!(resources::list_audit))
        .routes(routes!(resources::list_blocks, resources::block))
        .routes(routes!(resources::unblock))
        .routes(routes!(resources::list_calls))
        .routes(routes!(resources::hang_up))
        .split_for_parts()
}

/// The OpenAPI document (also served at `/api/v1/openapi.json`).
pub fn openapi() -> utoipa::openapi::OpenApi {
    api().1
}

/// The whole HTTP application.
pub fn router(state: ApiState) -> Router {
    let (routes, doc) = api();
    let doc = Arc::new(doc);
    let throttle = Arc::new(auth::Throttle::default());
    let protected = routes.layer(middleware::from_fn_with_state(
        (state.clone(), throttle),
        auth::require_token,
    ));
    Router::new()
        .nest("/api/v1", protected)
        .route(
            "/api/v1/openapi.json",
            get(move || async move { Json(doc.as_ref().clone()) }),
        )
        .route(
            "/health",
            get(|| async { Json(serde_json::json!({ "status": "ok" })) }),
        )
        .route("/metrics", get(metrics))
        .layer(middleware::from_fn(error::json_errors))
        .with_state(state)
}

/// `/metrics`: Prometheus text format (open, like `/health`, for scrapers).
async fn metrics(
    axum::extract::State(state): axum::extract::State<ApiState>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    match &state.metrics {
        Some(handle) => (
            [(
                axum::http::header::CONTENT_TYPE,
                "text/plain; version=0.0.4",
            )],
            handle.render(),
        )
            .into_response(),
        None => (axum::http::StatusCode::NOT_FOUND, "metrics are not enabled").into_response(),
    }
}

/// Serves the API on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: ApiState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
