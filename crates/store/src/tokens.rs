//! Admin API tokens: only their SHA-256 is stored (they are random 32-byte
//! values, so a slow hash adds nothing), and creating one is audited.

use crate::{Actor, StoreFuture};

/// The stored admin tokens.
pub trait Tokens {
    /// Stores a token's hash under `name` (audited as `token_create`);
    /// returns its id.
    fn create_token<'a>(
        &'a self,
        actor: &'a Actor,
        name: &'a str,
        sha256_hex: &'a str,
    ) -> StoreFuture<'a, i64>;

    /// The name of the token with this hash, if there is one.
    fn token_name<'a>(&'a self, sha256_hex: &'a str) -> StoreFuture<'a, Option<String>>;

    /// How many tokens exist (none on first start: one is generated).
    fn token_count(&self) -> StoreFuture<'_, i64>;
}
