//! Accounts, IP authentication entries, SIP users and routes: the
//! configuration the edge runs on, each change validated and audited.

use tollgate_policy::{Account, Configuration, IpAuthEntry, Route, SipUser, Warning};

use crate::StoreFuture;

/// Who makes a change, for the audit log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    /// The admin token's name, or `system`.
    pub name: String,
    /// The client address, when known.
    pub ip: Option<String>,
}

impl Actor {
    /// Automatic actions (threat detection, expiry).
    pub fn system() -> Self {
        Self {
            name: "system".into(),
            ip: None,
        }
    }
}

/// Calls `$m!(Type, create, update, delete, get, list)` with the method
/// names of every configuration entity, so the trait and each backend's
/// implementation list the same set.
macro_rules! for_each_entity {
    ($m:ident) => {
        $m!(
            Account,
            create_account,
            update_account,
            delete_account,
            account,
            accounts
        );
        $m!(
            IpAuthEntry,
            create_ip_auth,
            update_ip_auth,
            delete_ip_auth,
            ip_auth,
            ip_auths
        );
        $m!(
            SipUser,
            create_sip_user,
            update_sip_user,
            delete_sip_user,
            sip_user,
            sip_users
        );
        $m!(
            Route,
            create_route,
            update_route,
            delete_route,
            route,
            routes
        );
    };
}
pub(crate) use for_each_entity;

/// One entity's operations in the [`Entities`] trait.
macro_rules! declare_entity_methods {
    ($ty:ty, $create:ident, $update:ident, $delete:ident, $get:ident, $list:ident) => {
        #[doc = concat!("Creates a `", stringify!($ty), "` (validated, audited); returns it with its id and any warnings.")]
        fn $create<'a>(&'a self, actor: &'a Actor, doc: $ty) -> StoreFuture<'a, ($ty, Vec<Warning>)>;
        #[doc = concat!("Replaces a `", stringify!($ty), "` (validated, audited); secrets left empty keep their stored value.")]
        fn $update<'a>(&'a self, actor: &'a Actor, doc: $ty) -> StoreFuture<'a, ($ty, Vec<Warning>)>;
        #[doc = concat!("Deletes a `", stringify!($ty), "` (audited); returns what was deleted.")]
        fn $delete<'a>(&'a self, actor: &'a Actor, id: i64) -> StoreFuture<'a, $ty>;
        #[doc = concat!("Reads one `", stringify!($ty), "`.")]
        fn $get(&self, id: i64) -> StoreFuture<'_, $ty>;
        #[doc = concat!("Lists `", stringify!($ty), "`s, all or one account's.")]
        fn $list(&self, account: Option<i64>) -> StoreFuture<'_, Vec<$ty>>;
    };
}

/// The stored configuration. Every write validates (rules that need other
/// rows included), records its audit event and bumps the configuration
/// version in one transaction, then tells the version's subscribers.
pub trait Entities {
    for_each_entity!(declare_entity_methods);

    /// Creates several entries all-or-nothing (bulk IP entry); errors name
    /// the failing element (`entries[3].addresses[0]`).
    fn create_ip_auth_bulk<'a>(
        &'a self,
        actor: &'a Actor,
        entries: Vec<IpAuthEntry>,
    ) -> StoreFuture<'a, Vec<(IpAuthEntry, Vec<Warning>)>>;

    /// Deletes several entries in one transaction: all of them or none.
    fn delete_ip_auth_bulk<'a>(&'a self, actor: &'a Actor, ids: &'a [i64]) -> StoreFuture<'a, ()>;

    /// Stores a SIP user's new HA1 set (computed by the caller from the new
    /// password), audited as `password_reset`; returns the user as stored.
    fn reset_sip_password<'a>(
        &'a self,
        actor: &'a Actor,
        user: SipUser,
    ) -> StoreFuture<'a, SipUser>;

    /// The whole configuration and its version, read consistently, for
    /// compiling a snapshot.
    fn load(&self) -> StoreFuture<'_, (Configuration, u64)>;
}
