//! Bearer-token authentication: the token's SHA-256 is looked up in the
//! store; the matching token's name becomes the audit log's actor.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use sha2::{Digest, Sha256};
use tollgate_store::Actor;

use crate::ApiState;
use crate::error::ApiError;

/// Hex SHA-256 of a token, as stored.
pub fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A new random token (32 bytes, hex).
pub fn new_token() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Requires `Authorization: Bearer TOKEN`; puts the [`Actor`] in the
/// request's extensions.
pub(crate) async fn require_token(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let token = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(ApiError::unauthorized)?;
    let name = state
        .store
        .token_name(&token_hash(token.trim()))
        .await?
        .ok_or_else(ApiError::unauthorized)?;
    request.extensions_mut().insert(Actor {
        name,
        ip: Some(peer.ip().to_string()),
    });
    Ok(next.run(request).await)
}
