//! The configuration resources under `/api/v1`: accounts, their IP
//! authentication entries and SIP users, routes, and the audit log.

use axum::Extension;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use tollgate_policy::{Account, CallInfo, Ha1Set, IpAuthEntry, Route, SipUser, Warning};
use tollgate_store::{Actor, AuditEvent, AuditFilter, Block, BlockSource, NewBlock};
use utoipa::{IntoParams, ToSchema};

use crate::ApiState;
use crate::auth::new_token;
use crate::error::{ApiError, ErrorBody};

/// Pagination of list endpoints.
#[derive(Clone, Copy, Debug, Default, Deserialize, IntoParams)]
pub struct Page {
    /// At most this many items (default 100, at most 1000).
    pub limit: Option<usize>,
    /// Skip this many.
    pub offset: Option<usize>,
}

impl Page {
    fn apply<T>(self, items: Vec<T>) -> Vec<T> {
        items
            .into_iter()
            .skip(self.offset.unwrap_or(0))
            .take(self.limit.unwrap_or(100).min(1000))
            .collect()
    }
}

/// A warning returned with a successful write.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct WarningBody {
    /// The field concerned.
    pub field: String,
    /// What to look at.
    pub message: String,
}

fn warnings(w: Vec<Warning>) -> Vec<WarningBody> {
    w.into_iter()
        .map(|w| WarningBody {
            field: w.field,
            message: w.message,
        })
        .collect()
}

/// A written entity and the warnings about it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Written<T> {
    /// The entity as stored.
    #[serde(flatten)]
    pub item: T,
    /// Things worth a look (e.g. an address shared with another account).
    pub warnings: Vec<WarningBody>,
}

type ApiResult<T> = Result<T, ApiError>;

fn body<T>(json: Result<Json<T>, JsonRejection>) -> ApiResult<T> {
    Ok(json?.0)
}

/// Every account.
#[utoipa::path(get, path = "/accounts", params(Page), tag = "accounts",
    responses((status = 200, body = [Account]), (status = 401, body = ErrorBody)))]
pub(crate) async fn list_accounts(
    State(s): State<ApiState>,
    Query(page): Query<Page>,
) -> ApiResult<Json<Vec<Account>>> {
    Ok(Json(page.apply(s.store.accounts(None).await?)))
}

/// An account from a request body. Its carrier settings are flattened
/// into it, which serde cannot combine with refusing unknown fields: the
/// fields are checked against those an account has, so a typo is refused
/// here as everywhere else.
fn account_body(value: serde_json::Value) -> ApiResult<Account> {
    static KNOWN: std::sync::LazyLock<Vec<String>> =
        std::sync::LazyLock::new(|| match serde_json::to_value(Account::default()) {
            Ok(serde_json::Value::Object(fields)) => fields.keys().cloned().collect(),
            _ => Vec::new(),
        });
    if let serde_json::Value::Object(fields) = &value
        && let Some(unknown) = fields.keys().find(|k| !KNOWN.contains(k))
    {
        return Err(ApiError::bad_field(
            Some(unknown),
            format!("unknown field `{unknown}`"),
        ));
    }
    let account = serde_json::from_value::<Account>(value.clone());
    account.map_err(|e| {
        // The flattened carrier settings hide the path of a field that
        // fails: try each field alone on a default account to name it.
        let base = serde_json::to_value(Account::default()).unwrap_or_default();
        let field = value.as_object().and_then(|fields| {
            fields.iter().find_map(|(name, v)| {
                let mut alone = base.clone();
                alone[name] = v.clone();
                serde_json::from_value::<Account>(alone)
                    .is_err()
                    .then(|| name.clone())
            })
        });
        ApiError::bad_field(field.as_deref(), e.to_string())
    })
}

/// Creates an account.
#[utoipa::path(post, path = "/accounts", request_body = Account, tag = "accounts",
    responses((status = 201, body = Written<Account>), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn create_account(
    State(s): State<ApiState>,
    Extension(actor): Extension<Actor>,
    json: Result<Json<serde_json::Value>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<Written<Account>>)> {
    let mut account = account_body(body(json)?)?;
    account.id = 0;
    let (item, w) = s.store.create_account(&actor, account).await?;
    Ok((
        StatusCode::CREATED,
        Json(Written {
            item,
            warnings: warnings(w),
        }),
    ))
}

/// One account.
#[utoipa::path(get, path = "/accounts/{id}", tag = "accounts",
    responses((status = 200, body = Account), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_account(
    State(s): State<ApiState>,
    Path(id): Path<i64>,
) -> ApiResult<Json<Account>> {
    Ok(Json(s.store.account(id).await?))
}

/// Replaces an account.
#[utoipa::path(put, path = "/accounts/{id}", request_body = Account, tag = "accounts",
    responses((status = 200, body = Written<Account>), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn update_account(
    State(s): State<ApiState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<i64>,
    json: Result<Json<serde_json::Value>, JsonRejection>,
) -> ApiResult<Json<Written<Account>>> {
    let mut account = account_body(body(json)?)?;
    account.id = id;
    let (item, w) = s.store.update_account(&actor, account).await?;
    Ok(Json(Written {
        item,
        warnings: warnings(w),
    }))
}

/// Deletes an account with its entries, users and routes.
#[utoipa::path(delete, path = "/accounts/{id}", tag = "accounts",
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub(crate) async fn delete_account(
    State(s): State<ApiState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    s.store.delete_account(&actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// One entry, or several created all-or-nothing (`{"entries": [...]}`).
/// Documentation only: the body is read by [`ip_auth_input`], which names
/// the failing element.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum IpAuthInput {
    /// `{"entries": [...]}`
    Bulk {
        /// The entries.
        entries: Vec<IpAuthEntry>,
    },
    /// A single entry.
    One(Box<IpAuthEntry>),
}

/// Reads a single entry or a bulk request, with errors that say which
/// element and why.
fn ip_auth_input(v: serde_json::Value) -> ApiResult<IpAuthInput> {
    // Through axum's reader, whose errors carry the path to the field.
    let parse = |within: &str, v: serde_json::Value| {
        let bytes = serde_json::to_vec(&v).map_err(|e| ApiError::bad_request(e.to_string()))?;
        Json::<IpAuthEntry>::from_bytes(&bytes)
            .map(|j| j.0)
            .map_err(|e| ApiError::from(e).within(within))
    };
    match v {
        serde_json::Value::Object(mut map) if map.contains_key("entries") => {
            let Some(serde_json::Value::Array(items)) = map.remove("entries") else {
                return Err(ApiError::bad_field(
                    Some("entries"),
                    "entries: must be an array",
                ));
            };
            let entries = items
                .into_iter()
                .enumerate()
                .map(|(i, item)| parse(&format!("entries[{i}]"), item))
                .collect::<ApiResult<Vec<_>>>()?;
            Ok(IpAuthInput::Bulk { entries })
        }
        other => parse("", other).map(|e| IpAuthInput::One(Box::new(e))),
    }
}

fn prepare_entry(account: i64, mut e: IpAuthEntry) -> IpAuthEntry {
    e.account_id = account;
    if e.port == 0 {
        e.port = e.protocol.default_port();
    }
    e
}

/// An entry as read back: `blocked` is true while the firewall blocks one
/// of its addresses.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct IpAuthView {
    /// The entry.
    #[serde(flatten)]
    pub entry: IpAuthEntry,
    /// Read-only: the firewall blocks one of the entry's addresses.
    pub blocked: bool,
    /// Read-only, for entries with hostnames: the latest background lookup
    /// of each (addresses kept from the last success, and any error).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved: Option<std::collections::BTreeMap<String, tollgate_policy::HostStatus>>,
    /// Read-only, for ingress entries while gateway probes run (`[sip]
    /// gateway_probe_s`): true when the latest OPTIONS probe was answered,
    /// false when it got no answer, 408 or 503 (calls then try the entry
    /// after the others). Absent before the first probe.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reachable: Option<bool>,
}

/// True when one of `blocks` covers one of the entry's addresses.
fn is_blocked(entry: &IpAuthEntry, blocks: &[Block]) -> bool {
    let nets: Vec<ipnet::IpNet> = blocks
        .iter()
        .filter_map(|b| {
            b.address
                .parse::<tollgate_policy::Address>()
                .ok()?
                .network()
        })
        .collect();
    entry
        .addresses
        .iter()
        .filter_map(tollgate_policy::Address::network)
        .any(|a| {
            nets.iter()
                .any(|n| n.contains(&a) || a.contains(&n.network()))
        })
}

async fn views(s: &ApiState, entries: Vec<IpAuthEntry>) -> ApiResult<Vec<IpAuthView>> {
    let blocks = s.store.blocks().await?;
    let hosts = s.hosts.as_ref().map(|h| h.load_full());
    Ok(entries
        .into_iter()
        .map(|entry| {
            let names: Vec<&String> = entry
                .addresses
                .iter()
                .filter_map(|a| match a {
                    tollgate_policy::Address::Host(h) => Some(h),
                    _ => None,
                })
                .collect();
            let resolved = (!names.is_empty()).then(|| {
                names
                    .into_iter()
                    .map(|n| {
                        let status = hosts
                            .as_ref()
                            .and_then(|t| t.get(n).cloned())
                            .unwrap_or_default();
                        (n.clone(), status)
                    })
                    .collect()
            });
            IpAuthView {
                blocked: is_blocked(&entry, &blocks),
                resolved,
                reachable: s.calls.as_ref().and_then(|c| c.gateway_up(entry.id)),
                entry,
            }
        })
        .collect())
}

/// The IP authentication entries of an account.
#[utoipa::path(get, path = "/accounts/{id}/ip-auth", params(Page), tag = "ip-auth",
    responses((status = 200, body = [IpAuthView]), (status = 404, body = ErrorBody)))]
pub(crate) async fn list_ip_auth(
    State(s): State<ApiState>,
    Path(id): Path<i64>,
    Query(page): Query<Page>,
) -> ApiResult<Json<Vec<IpAuthView>>> {
    s.store.account(id).await?;
    let entries = page.apply(s.store.ip_auths(Some(id)).await?);
    Ok(Json(views(&s, entries).await?))
}

/// Which entries a bulk delete removes.
#[derive(Clone, Debug, Deserialize, IntoParams)]
pub struct BulkDelete {
    /// Comma-separated entry ids.
    pub ids: String,
}

/// Deletes several entries of an account, all or nothing.
#[utoipa::path(delete, path = "/accounts/{id}/ip-auth", params(BulkDelete), tag = "ip-auth",
    responses((status = 204), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn delete_ip_auth_bulk(
    State(s): State<ApiState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<i64>,
    Query(q): Query<BulkDelete>,
) -> ApiResult<StatusCode> {
    let ids = q
        .ids
        .split(',')
        .map(|i| i.trim().parse::<i64>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| ApiError::bad_request("ids: must be comma-separated entry ids"))?;
    for &entry in &ids {
        entry_of(&s, id, entry).await?;
    }
    s.store.delete_ip_auth_bulk(&actor, &ids).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Creates one entry, or `{"entries": [...]}` all-or-nothing.
#[utoipa::path(post, path = "/accounts/{id}/ip-auth", request_body = IpAuthInput, tag = "ip-auth",
    responses((status = 201, body = [Written<IpAuthEntry>]), (status = 422, body = ErrorBody)))]
pub(crate) async fn create_ip_auth(
    State(s): State<ApiState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<i64>,
    json: Result<Json<serde_json::Value>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    s.store.account(id).await?;
    match ip_auth_input(body(json)?)? {
        IpAuthInput::One(e) => {
            s.wide.check_entry(&e).map_err(ApiError::from)?;
            let (item, w) = s
                .store
                .create_ip_auth(&actor, prepare_entry(id, *e))
                .await?;
            let written = Written {
                item,
                warnings: warnings(w),
            };
            Ok((
                StatusCode::CREATED,
                Json(serde_json::to_value(written).unwrap_or_default()),
            ))
        }
        IpAuthInput::Bulk { entries } => {
            for (i, e) in entries.iter().enumerate() {
                s.wide.check_entry(e).map_err(|mut error| {
                    error.field = format!("entries[{i}].{}", error.field);
                    ApiError::from(error)
                })?;
            }
            let entries = entries.into_iter().map(|e| prepare_entry(id, e)).collect();
            let written: Vec<_> = s
                .store
                .create_ip_auth_bulk(&actor, entries)
                .await?
                .into_iter()
                .map(|(item, w)| Written {
                    item,
                    warnings: warnings(w),
                })
                .collect();
            Ok((
                StatusCode::CREATED,
                Json(serde_json::to_value(written).unwrap_or_default()),
            ))
        }
    }
}

async fn entry_of(s: &ApiState, account: i64, entry: i64) -> ApiResult<IpAuthEntry> {
    let e = s.store.ip_auth(entry).await?;
    if e.account_id != account {
        return Err(tollgate_store::StoreError::NotFound {
            entity: "ip_auth",
            id: entry.to_string(),
        }
        .into());
    }
    Ok(e)
}

/// One entry.
#[utoipa::path(get, path = "/accounts/{id}/ip-auth/{entry}", tag = "ip-auth",
    responses((status = 200, body = IpAuthView), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_ip_auth(
    State(s): State<ApiState>,
    Path((id, entry)): Path<(i64, i64)>,
) -> ApiResult<Json<IpAuthView>> {
    let entry = entry_of(&s, id, entry).await?;
    let mut views = views(&s, vec![entry]).await?;
    Ok(Json(views.remove(0)))
}

/// Replaces an entry; an omitted password keeps the stored one.
#[utoipa::path(put, path = "/accounts/{id}/ip-auth/{entry}", request_body = IpAuthEntry, tag = "ip-auth",
    responses((status = 200, body = Written<IpAuthEntry>), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn update_ip_auth(
    State(s): State<ApiState>,
    Extension(actor): Extension<Actor>,
    Path((id, entry)): Path<(i64, i64)>,
    json: Result<Json<IpAuthEntry>, JsonRejection>,
) -> ApiResult<Json<Written<IpAuthEntry>>> {
    entry_of(&s, id, entry).await?;
    let mut e = prepare_entry(id, body(json)?);
    s.wide.check_entry(&e).map_err(ApiError::from)?;
    e.id = entry;
    let (item, w) = s.store.update_ip_auth(&actor, e).await?;
    Ok(Json(Written {
        item,
        warnings: warnings(w),
    }))
}

/// Deletes an entry.
#[utoipa::path(delete, path = "/accounts/{id}/ip-auth/{entry}", tag = "ip-auth",
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub(crate) async fn delete_ip_auth(
    State(s): State<ApiState>,
    Extension(actor): Extension<Actor>,
    Path((id, entry)): Path<(i64, i64)>,
) -> ApiResult<StatusCode> {
    entry_of(&s, id, entry).await?;
    s.store.delete_ip_auth(&actor, entry).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A SIP user as written, with the password when Tollgate generated it
/// (shown this once).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct SipUserWritten {
    /// The user as stored.
    #[serde(flatten)]
    pub item: SipUser,
    /// The generated password, only when none was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

/// Sets the user's HA1 from the given password, or a generated one (which
/// is returned).
fn set_password(
    realm: &str,
    user: &mut SipUser,
    given: Option<String>,
) -> ApiResult<Option<String>> {
    let (password, generated) = match given {
        Some(p) if p.len() < 8 || p.len() > 128 => {
            return Err(ApiError::invalid("password", "must be 8 to 128 characters"));
        }
        Some(p) => (p, None),
        None => {
            let p = new_token()[..24].to_owned();
            (p.clone(), Some(p))
        }
    };
    user.ha1 = Ha1Set::new(&user.username, realm, &password);
    user.password = None;
    Ok(generated)
}

/// The SIP users of an account.
#[utoipa::path(get, path = "/accounts/{id}/sip-users", params(Page), tag = "sip-users",
    responses((status = 200, body = [SipUser]), (status = 404, body = ErrorBody)))]
pub(crate) async fn list_sip_users(
    State(s): State<ApiState>,
    Path(id): Path<i64>,
    Query(page): Query<Page>,
) -> ApiResult<Json<Vec<SipUser>>> {
    s.store.account(id).await?;
    Ok(Json(page.apply(s.store.sip_users(Some(id)).await?)))
}

/// Creates a SIP user; without a password a strong one is generated and
/// returned once.
#[utoipa::path(post, path = "/accounts/{id}/sip-users", request_body = SipUser, tag = "sip-users",
    responses((status = 201, body = SipUserWritten), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn create_sip_user(
    State(s): State<ApiState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<i64>,
    json: Result<Json<SipUser>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<SipUserWritten>)> {
    s.store.account(id).await?;
    let mut user = body(json)?;
    user.id = 0;
    user.account_id = id;
    let given = user.password.take();
    let generated = set_password(s.store.realm(), &mut user, given)?;
    let (item, _) = s.store.create_sip_user(&actor, user).await?;
    Ok((
        StatusCode::CREATED,
        Json(SipUserWritten {
            item,
            password: generated,
        }),
    ))
}

async fn user_of(s: &ApiState, account: i64, user: i64) -> ApiResult<SipUser> {
    let u = s.store.sip_user(user).await?;
    if u.account_id != account {
        return Err(tollgate_store::StoreError::NotFound {
            entity: "sip_user",
            id: user.to_string(),
        }
        .into());
    }
    Ok(u)
}

/// One SIP user.
#[utoipa::path(get, path = "/accounts/{id}/sip-users/{user}", tag = "sip-users",
    responses((status = 200, body = SipUser), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_sip_user(
    State(s): State<ApiState>,
    Path((id, user)): Path<(i64, i64)>,
) -> ApiResult<Json<SipUser>> {
    Ok(Json(user_of(&s, id, user).await?))
}

/// Replaces a SIP user; a password given changes it. A new username needs
/// a new password (the stored hashes are bound to the name).
#[utoipa::path(put, path = "/accounts/{id}/sip-users/{user}", request_body = SipUser, tag = "sip-users",
    responses((status = 200, body = SipUserWritten), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn update_sip_user(
    State(s): State<ApiState>,
    Extension(actor): Extension<Actor>,
    Path((id, user)): Path<(i64, i64)>,
    json: Result<Json<SipUser>, JsonRejection>,
) -> ApiResult<Json<SipUserWritten>> {
    let before = user_of(&s, id, user).await?;
    let mut u = body(json)?;
    u.id = user;
    u.account_id = id;
    match u.password.take() {
        Some(p) => {
            set_password(s.store.realm(), &mut u, Some(p))?;
        }
        None if !u.username.eq_ignore_ascii_case(&before.username) => {
            return Err(ApiError::invalid(
                "username",
                "changing the username requires a new password",
            ));
        }
        None => u.ha1 = Ha1Set::default(),
    }
    let (item, _) = s.store.update_sip_user(&actor, u).await?;
    Ok(Json(SipUserWritten {
        item,
        password: None,
    }))
}

/// Deletes a SIP user.
#[utoipa::path(delete, path = "/accounts/{id}/sip-users/{user}", tag = "sip-users",
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub(crate) async fn delete_sip_user(
    State(s): State<ApiState>,
    Extension(actor): Extension<Actor>,
    Path((id, user)): Path<(i64, i64)>,
) -> ApiResult<StatusCode> {
    user_of(&s, id, user).await?;
    s.store.delete_sip_user(&actor, user).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A password reset: give one, or omit it to have one generated.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordReset {
    /// The new password (8-128 characters).
    pub password: Option<String>,
}

/// Resets a SIP user's password; a generated one is returned once.
#[utoipa::path(post, path = "/accounts/{id}/sip-users/{user}/password", request_body = PasswordReset, tag = "sip-users",
    responses((status = 200, body = SipUserWritten), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn reset_password(
    State(s): State<ApiState>,
    Extension(actor): Extension<Actor>,
    Path((id, user)): Path<(i64, i64)>,
    json: Result<Json<PasswordReset>, JsonRejection>,
) -> ApiResult<Json<SipUserWritten>> {
    let mut u = user_of(&s, id, user).await?;
    // No body at all asks for a generated password; a body must be right.
    let reset = match json {
        Ok(Json(reset)) => reset,
        Err(JsonRejection::MissingJsonContentType(_)) => PasswordReset::default(),
        Err(e) => return Err(e.into()),
    };
    let generated = set_password(s.store.realm(), &mut u, reset.password)?;
    let item = s.store.reset_sip_password(&actor, u).await?;
    Ok(Json(SipUserWritten {
        item,
        password: generated,
    }))
}

/// Every route.
#[utoipa::path(get, path = "/routes", params(Page), tag = "routes", responses((status = 200, body = [Route])))]
pub(crate) async fn list_routes(
    State(s): State<ApiState>,
    Query(page): Query<Page>,
) -> ApiResult<Json<Vec<Route>>> {
    Ok(Json(page.apply(s.store.routes(None).await?)))
}

/// Creates a route.
#[utoipa::path(post, path = "/routes", request_body = Route, tag = "routes",
    responses((status = 201, body = Written<Route>), (status = 422, body = ErrorBody)))]
pub(crate) async fn create_route(
    State(s): State<ApiState>,
    Extension(actor): Extension<Actor>,
    json: Result<Json<Route>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<Written<Route>>)> {
    let mut route = body(json)?;
    route.id = 0;
    let (item, w) = s.store.create_route(&actor, route).await?;
    Ok((
        StatusCode::CREATED,
        Json(Written {
            item,
            warnings: warnings(w),
        }),
    ))
}

/// One route.
#[utoipa::path(get, path = "/routes/{id}", tag = "routes",
    responses((status = 200, body = Route), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_route(
    State(s): State<ApiState>,
    Path(id): Path<i64>,
) -> ApiResult<Json<Route>> {
    Ok(Json(s.store.route(id).await?))
}

/// Replaces a route.
#[utoipa::path(put, path = "/routes/{id}", request_body = Route, tag = "routes",
    responses((status = 200, body = Written<Route>), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn update_route(
    State(s): State<ApiState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<i64>,
    json: Result<Json<Route>, JsonRejection>,
) -> ApiResult<Json<Written<Route>>> {
    let mut route = body(json)?;
    route.id = id;
    let (item, w) = s.store.update_route(&actor, route).await?;
    Ok(Json(Written {
        item,
        warnings: warnings(w),
    }))
}

/// Deletes a route.
#[utoipa::path(delete, path = "/routes/{id}", tag = "routes", responses((status = 204), (status = 404, body = ErrorBody)))]
pub(crate) async fn delete_route(
    State(s): State<ApiState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    s.store.delete_route(&actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The audit log, newest first.
#[utoipa::path(get, path = "/audit", params(AuditFilter), tag = "audit", responses((status = 200, body = [AuditEvent])))]
pub(crate) async fn list_audit(
    State(s): State<ApiState>,
    Query(filter): Query<AuditFilter>,
) -> ApiResult<Json<Vec<AuditEvent>>> {
    Ok(Json(s.store.audit(&filter).await?))
}

/// Every active block.
#[utoipa::path(get, path = "/firewall", tag = "firewall", responses((status = 200, body = [Block])))]
pub(crate) async fn list_blocks(State(s): State<ApiState>) -> ApiResult<Json<Vec<Block>>> {
    Ok(Json(s.store.blocks().await?))
}

/// A manual block.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BlockRequest {
    /// An IP address or CIDR.
    pub address: String,
    /// Free text.
    #[serde(default)]
    pub notes: String,
    /// How long; none = until unblocked.
    #[schema(maximum = 2147483647)]
    pub duration_s: Option<u32>,
    /// Confirms a network wider than the server's limit (by default /16
    /// for IPv4, /32 for IPv6); the audit log records it.
    #[serde(default)]
    pub allow_wide: bool,
}

/// Blocks an address or network.
#[utoipa::path(post, path = "/firewall", request_body = BlockRequest, tag = "firewall",
    responses((status = 201, body = Block), (status = 422, body = ErrorBody)))]
pub(crate) async fn block(
    State(s): State<ApiState>,
    Extension(actor): Extension<Actor>,
    json: Result<Json<BlockRequest>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<Block>)> {
    let req = body(json)?;
    if req
        .duration_s
        .is_some_and(|d| d > tollgate_policy::validate::MAX_COUNT)
    {
        let most = tollgate_policy::validate::MAX_COUNT;
        return Err(ApiError::invalid(
            "duration_s",
            format!("must be at most {most}"),
        ));
    }
    if let Ok(net) = req.address.parse::<ipnet::IpNet>() {
        s.wide
            .check("address", &net, req.allow_wide)
            .map_err(ApiError::from)?;
    }
    let reason = if req.allow_wide {
        format!("manual block by {} (allow_wide)", actor.name)
    } else {
        format!("manual block by {}", actor.name)
    };
    let block = s
        .store
        .block(
            &actor,
            NewBlock {
                address: &req.address,
                reason: &reason,
                source: BlockSource::Manual,
                rule: None,
                duration_s: req.duration_s,
                notes: &req.notes,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(block)))
}

/// Lifts a block (a CIDR's `/` written as `%2F`).
#[utoipa::path(delete, path = "/firewall/{address}", tag = "firewall",
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub(crate) async fn unblock(
    State(s): State<ApiState>,
    Extension(actor): Extension<Actor>,
    Path(address): Path<String>,
) -> ApiResult<StatusCode> {
    let why = format!("unblocked by {}", actor.name);
    s.store.unblock(&actor, &address, &why).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Live calls, oldest first.
#[utoipa::path(get, path = "/calls", tag = "calls", responses((status = 200, body = [CallInfo])))]
pub(crate) async fn list_calls(State(s): State<ApiState>) -> Json<Vec<CallInfo>> {
    Json(s.calls.as_ref().map(|c| c.list()).unwrap_or_default())
}

/// Hangs up a live call: BYE on both legs once answered, CANCEL (and 487
/// to the caller) before.
#[utoipa::path(delete, path = "/calls/{id}", tag = "calls",
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub(crate) async fn hang_up(
    State(s): State<ApiState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<u64>,
) -> ApiResult<StatusCode> {
    let not_found = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no live call {id}"),
            None,
        )
    };
    let calls = s.calls.as_ref().ok_or_else(not_found)?;
    let call = calls
        .list()
        .into_iter()
        .find(|c| c.id == id)
        .ok_or_else(not_found)?;
    if !calls.hang_up(id) {
        return Err(not_found());
    }
    s.store.record_hangup(&actor, &call).await?;
    Ok(StatusCode::NO_CONTENT)
}
