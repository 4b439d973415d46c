//! Accounts, IP authentication entries, SIP users and routes in SQLite: one
//! generic create / update / delete / get / list over a [`Document`] table,
//! each write with its audit event and version bump in the same transaction.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use sqlx::sqlite::SqliteRow;
use sqlx::{AssertSqlSafe, Row, SqliteConnection};
use tollgate_policy::validate::{check_user_channels, shared_address_warnings};
use tollgate_policy::{
    Account, Configuration, Direction, FieldError, Ha1Set, IpAuthEntry, Route, SipUser, Warning,
};

use super::SqliteStore;
use super::audit::record;
use crate::secrets::Secrets;
use crate::{Actor, AuditEvent, Entities, StoreError, StoreFuture};

/// A configuration entity stored as a JSON document plus key columns.
pub(crate) trait Document: Serialize + DeserializeOwned + Clone + Send + Sync {
    /// The table.
    const TABLE: &'static str;
    /// The audit log's entity name.
    const ENTITY: &'static str;
    /// True when writing one may change the firewall list.
    const TOUCHES_FIREWALL: bool = false;
    fn id(&self) -> i64;
    fn set_id(&mut self, id: i64);
    fn account_id(&self) -> Option<i64>;
    /// Columns written besides `data` (a `None` value leaves the column as
    /// it is on update).
    fn columns(&self, secrets: &Secrets) -> Vec<(&'static str, Option<String>)>;
    /// Restores what the JSON document does not hold (secrets).
    fn restore(&mut self, _row: &SqliteRow) -> Result<(), StoreError> {
        Ok(())
    }
    /// Opens the secrets [`Document::columns`] stored sealed (see
    /// [`Secrets`]), for a document leaving the store.
    fn open_secrets(&mut self, _secrets: &Secrets) -> Result<(), StoreError> {
        Ok(())
    }
    /// True when the write carries a secret (shown as `"***"`).
    fn has_secret(&self) -> bool {
        false
    }
    /// Rules that need other rows; run inside the write's transaction.
    async fn check(&self, _conn: &mut SqliteConnection) -> Result<Vec<Warning>, StoreError> {
        Ok(Vec::new())
    }
    /// [`Document::check`] for every document of one write, each one's
    /// warnings in order; an error names the failing document's index. A
    /// document whose rules read many rows overrides it to read them once.
    async fn check_all(
        conn: &mut SqliteConnection,
        docs: &[Self],
    ) -> Result<Vec<Vec<Warning>>, (usize, StoreError)> {
        let mut all = Vec::with_capacity(docs.len());
        for (i, doc) in docs.iter().enumerate() {
            all.push(doc.check(conn).await.map_err(|e| (i, e))?);
        }
        Ok(all)
    }
    /// Side effects on other tables of one row's write, inside its
    /// transaction, after the row is written (`created`: a new row).
    async fn after_write(
        &self,
        _conn: &mut SqliteConnection,
        _created: bool,
    ) -> Result<(), StoreError> {
        Ok(())
    }
    /// Side effects of a whole write (every row of it written), inside its
    /// transaction.
    async fn after_write_all(
        _conn: &mut SqliteConnection,
        _actor: &Actor,
        _docs: &[Self],
    ) -> Result<(), StoreError> {
        Ok(())
    }
    /// A short label for audit messages.
    fn label(&self) -> String {
        format!("{} {}", Self::ENTITY, self.id())
    }
}

/// The entity as the audit log shows it: secrets as `"***"`.
fn redacted<D: Document>(doc: &D) -> Result<Value, StoreError> {
    let mut v = serde_json::to_value(doc)?;
    if doc.has_secret()
        && let Value::Object(map) = &mut v
    {
        map.insert("password".into(), Value::String("***".into()));
    }
    Ok(v)
}

async fn load_all<D: Document>(
    conn: &mut SqliteConnection,
    filter: &str,
    value: Option<i64>,
) -> Result<Vec<D>, StoreError> {
    let sql = format!("SELECT * FROM {} {filter} ORDER BY id", D::TABLE);
    // Table and column names come from `Document` constants, never input.
    let mut q = sqlx::query(AssertSqlSafe(sql));
    if let Some(v) = value {
        q = q.bind(v);
    }
    let rows = q.fetch_all(&mut *conn).await?;
    rows.iter().map(decode).collect()
}

/// The document stored in `row`.
fn decode<D: Document>(row: &SqliteRow) -> Result<D, StoreError> {
    let mut doc: D = serde_json::from_str(&row.try_get::<String, _>("data")?)?;
    doc.set_id(row.try_get("id")?);
    doc.restore(row)?;
    Ok(doc)
}

async fn load_one<D: Document>(conn: &mut SqliteConnection, id: i64) -> Result<D, StoreError> {
    load_all::<D>(conn, "WHERE id = ?", Some(id))
        .await?
        .pop()
        .ok_or(StoreError::NotFound {
            entity: D::ENTITY,
            id: id.to_string(),
        })
}

async fn bump(conn: &mut SqliteConnection) -> Result<u64, StoreError> {
    let v: i64 = sqlx::query_scalar(
        "UPDATE config_version SET version = version + 1 WHERE id = 1 RETURNING version",
    )
    .fetch_one(conn)
    .await?;
    Ok(u64::try_from(v).unwrap_or(0))
}

/// Unique-constraint failures become a 409 naming the field.
fn map_unique(e: sqlx::Error, field: &str) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::conflict(field, "is already in use")
        }
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
            StoreError::invalid(FieldError::new("account_id", "no such account"))
        }
        _ => StoreError::from(e),
    }
}

/// Inserts one document, checked already, and its audit event inside
/// `conn`'s transaction.
async fn insert<D: Document>(
    conn: &mut SqliteConnection,
    actor: &Actor,
    secrets: &Secrets,
    mut doc: D,
) -> Result<D, StoreError> {
    let columns = doc.columns(secrets);
    let names: Vec<&str> = columns.iter().map(|(n, _)| *n).collect();
    let sql = format!(
        "INSERT INTO {} (data{}) VALUES (?{}) RETURNING id",
        D::TABLE,
        names.iter().map(|n| format!(", {n}")).collect::<String>(),
        ", ?".repeat(names.len()),
    );
    // Table and column names come from `Document` constants, never input.
    let mut q = sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql)).bind(serde_json::to_string(&doc)?);
    for (_, value) in &columns {
        q = q.bind(value.clone());
    }
    let id = q
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| map_unique(e, names.first().copied().unwrap_or("id")))?;
    doc.set_id(id);
    let mut ev = AuditEvent::new(
        actor,
        "create",
        D::ENTITY,
        id.to_string(),
        doc.account_id(),
        format!("{} created", doc.label()),
    );
    ev.after = Some(redacted(&doc)?);
    record(conn, &ev).await?;
    doc.after_write(conn, true).await?;
    Ok(doc)
}

impl SqliteStore {
    /// Writes `doc` as a new row; returns it with its id and any warnings.
    async fn create<D: Document>(
        &self,
        actor: &Actor,
        doc: D,
    ) -> Result<(D, Vec<Warning>), StoreError> {
        let mut created = self.create_many(actor, vec![doc], false).await?;
        Ok(created.pop().expect("one document in, one out"))
    }

    /// Writes every document in one transaction: all of them or none. For a
    /// `bulk` request, errors name the failing element (`entries[3].…`).
    async fn create_many<D: Document>(
        &self,
        actor: &Actor,
        docs: Vec<D>,
        bulk: bool,
    ) -> Result<Vec<(D, Vec<Warning>)>, StoreError> {
        let in_bulk = |i: usize, e: StoreError| match e {
            StoreError::Invalid {
                mut error,
                conflict,
            } if bulk => {
                error.field = format!("entries[{i}].{}", error.field);
                StoreError::Invalid { error, conflict }
            }
            other => other,
        };
        let mut tx = self.write().await?;
        let warnings = D::check_all(&mut tx, &docs)
            .await
            .map_err(|(i, e)| in_bulk(i, e))?;
        let mut written = Vec::with_capacity(docs.len());
        for (i, doc) in docs.into_iter().enumerate() {
            written.push(
                insert(&mut tx, actor, &self.secrets, doc)
                    .await
                    .map_err(|e| in_bulk(i, e))?,
            );
        }
        D::after_write_all(&mut tx, actor, &written).await?;
        let out = written.into_iter().zip(warnings).collect();
        self.commit_write::<D>(tx).await?;
        Ok(out)
    }

    /// Bumps the version, commits a write of `D`s and tells subscribers
    /// (the firewall's too, when writing `D` may lift blocks).
    async fn commit_write<D: Document>(
        &self,
        mut tx: super::write::WriteTx,
    ) -> Result<(), StoreError> {
        let version = bump(&mut tx).await?;
        let firewall = if D::TOUCHES_FIREWALL {
            Some(super::versions(&mut *tx).await?.1)
        } else {
            None
        };
        tx.commit().await?;
        self.committed(version);
        if let Some(firewall) = firewall {
            self.firewall_changed(firewall);
        }
        Ok(())
    }

    /// Replaces row `doc.id()`; secret columns given as `None` keep their
    /// stored value.
    async fn update<D: Document>(
        &self,
        actor: &Actor,
        doc: D,
    ) -> Result<(D, Vec<Warning>), StoreError> {
        let mut tx = self.write().await?;
        let before: D = load_one(&mut tx, doc.id()).await?;
        let warnings = doc.check(&mut tx).await?;
        let columns: Vec<_> = doc
            .columns(&self.secrets)
            .into_iter()
            .filter(|(_, v)| v.is_some())
            .collect();
        let sql = format!(
            "UPDATE {} SET data = ?{} WHERE id = ?",
            D::TABLE,
            columns
                .iter()
                .map(|(n, _)| format!(", {n} = ?"))
                .collect::<String>(),
        );
        let mut q = sqlx::query(AssertSqlSafe(sql)).bind(serde_json::to_string(&doc)?);
        for (_, value) in &columns {
            q = q.bind(value.clone());
        }
        let field = columns.first().map_or("id", |(n, _)| *n);
        q.bind(doc.id())
            .execute(&mut *tx)
            .await
            .map_err(|e| map_unique(e, field))?;
        let mut after: D = load_one(&mut tx, doc.id()).await?;
        after.open_secrets(&self.secrets)?;
        let mut ev = AuditEvent::new(
            actor,
            "update",
            D::ENTITY,
            doc.id().to_string(),
            doc.account_id(),
            format!("{} updated", doc.label()),
        );
        ev.before = Some(redacted(&before)?);
        ev.after = Some(redacted(&doc)?);
        record(&mut tx, &ev).await?;
        doc.after_write(&mut tx, false).await?;
        D::after_write_all(&mut tx, actor, std::slice::from_ref(&doc)).await?;
        self.commit_write::<D>(tx).await?;
        Ok((after, warnings))
    }

    /// Deletes row `id`.
    async fn delete<D: Document>(&self, actor: &Actor, id: i64) -> Result<D, StoreError> {
        let mut tx = self.write().await?;
        let mut before: D = load_one(&mut tx, id).await?;
        before.open_secrets(&self.secrets)?;
        sqlx::query(AssertSqlSafe(format!(
            "DELETE FROM {} WHERE id = ?",
            D::TABLE
        )))
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let mut ev = AuditEvent::new(
            actor,
            "delete",
            D::ENTITY,
            id.to_string(),
            before.account_id(),
            format!("{} deleted", before.label()),
        );
        ev.before = Some(redacted(&before)?);
        record(&mut tx, &ev).await?;
        let version = bump(&mut tx).await?;
        tx.commit().await?;
        self.committed(version);
        Ok(before)
    }

    /// Reads row `id`.
    async fn get<D: Document>(&self, id: i64) -> Result<D, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let mut doc: D = load_one(&mut conn, id).await?;
        doc.open_secrets(&self.secrets)?;
        Ok(doc)
    }

    /// Every row, or those of one account.
    async fn list<D: Document>(&self, account: Option<i64>) -> Result<Vec<D>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let mut docs: Vec<D> = match account {
            Some(a) => load_all(&mut conn, "WHERE account_id = ?", Some(a)).await?,
            None => load_all(&mut conn, "", None).await?,
        };
        for doc in &mut docs {
            doc.open_secrets(&self.secrets)?;
        }
        Ok(docs)
    }

    /// The whole configuration and its version, read consistently.
    async fn load_config(&self) -> Result<(Configuration, u64), StoreError> {
        let mut tx = self.pool.begin().await?;
        let version: i64 = sqlx::query_scalar("SELECT version FROM config_version WHERE id = 1")
            .fetch_one(&mut *tx)
            .await?;
        let mut config = Configuration {
            accounts: load_all(&mut tx, "", None).await?,
            entries: load_all(&mut tx, "", None).await?,
            users: load_all(&mut tx, "", None).await?,
            routes: load_all(&mut tx, "", None).await?,
        };
        tx.commit().await?;
        for entry in &mut config.entries {
            entry.open_secrets(&self.secrets)?;
        }
        Ok((config, u64::try_from(version).unwrap_or(0)))
    }
}

impl Document for Account {
    const TABLE: &'static str = "accounts";
    const ENTITY: &'static str = "account";
    fn id(&self) -> i64 {
        self.id
    }
    fn set_id(&mut self, id: i64) {
        self.id = id;
    }
    fn account_id(&self) -> Option<i64> {
        (self.id != 0).then_some(self.id)
    }
    fn columns(&self, _secrets: &Secrets) -> Vec<(&'static str, Option<String>)> {
        let kind = serde_json::to_value(self.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned));
        vec![("name", Some(self.name.clone())), ("kind", kind)]
    }
    async fn check(&self, _conn: &mut SqliteConnection) -> Result<Vec<Warning>, StoreError> {
        self.validate().map_err(StoreError::invalid)?;
        Ok(Vec::new())
    }
    fn label(&self) -> String {
        format!("account {:?}", self.name)
    }
}

impl Document for IpAuthEntry {
    const TABLE: &'static str = "ip_auth_entries";
    const ENTITY: &'static str = "ip_auth";
    const TOUCHES_FIREWALL: bool = true;
    async fn after_write(
        &self,
        conn: &mut SqliteConnection,
        created: bool,
    ) -> Result<(), StoreError> {
        index_addresses(conn, self, created).await
    }
    async fn after_write_all(
        conn: &mut SqliteConnection,
        actor: &Actor,
        docs: &[Self],
    ) -> Result<(), StoreError> {
        super::firewall::lift_for_entries(conn, actor, docs).await
    }
    fn id(&self) -> i64 {
        self.id
    }
    fn set_id(&mut self, id: i64) {
        self.id = id;
    }
    fn account_id(&self) -> Option<i64> {
        Some(self.account_id)
    }
    fn columns(&self, secrets: &Secrets) -> Vec<(&'static str, Option<String>)> {
        vec![
            ("account_id", Some(self.account_id.to_string())),
            (
                "uac_password",
                self.password.as_deref().map(|p| secrets.seal(p)),
            ),
        ]
    }
    fn restore(&mut self, row: &SqliteRow) -> Result<(), StoreError> {
        self.password = row.try_get("uac_password")?;
        Ok(())
    }
    fn open_secrets(&mut self, secrets: &Secrets) -> Result<(), StoreError> {
        if let Some(sealed) = &self.password {
            self.password = Some(secrets.open(sealed)?);
        }
        Ok(())
    }
    fn has_secret(&self) -> bool {
        self.password.is_some()
    }
    async fn check(&self, conn: &mut SqliteConnection) -> Result<Vec<Warning>, StoreError> {
        Self::check_all(conn, std::slice::from_ref(self))
            .await
            .map(|mut w| w.pop().unwrap_or_default())
            .map_err(|(_, e)| e)
    }
    /// Each entry's own rules, then the shared-address rule against the
    /// egress entries of other accounts that share one of the entries'
    /// addresses, found through the address index in a few reads for the
    /// whole write. (A bulk write is one account's, so its entries cannot
    /// share across accounts among themselves.)
    async fn check_all(
        conn: &mut SqliteConnection,
        docs: &[Self],
    ) -> Result<Vec<Vec<Warning>>, (usize, StoreError)> {
        for (i, doc) in docs.iter().enumerate() {
            doc.validate().map_err(|e| (i, StoreError::invalid(e)))?;
        }
        let mut addresses: Vec<String> = docs
            .iter()
            .filter(|d| d.direction == Direction::Egress)
            .flat_map(|d| d.addresses.iter().map(ToString::to_string))
            .collect();
        addresses.sort_unstable();
        addresses.dedup();
        let sharing = sharing_entries(conn, &addresses)
            .await
            .map_err(|e| (0, e))?;
        Ok(docs
            .iter()
            .map(|doc| {
                let others: Vec<Self> = sharing
                    .iter()
                    .filter(|o| o.account_id != doc.account_id && o.id != doc.id)
                    .filter(|o| o.addresses.iter().any(|a| doc.addresses.contains(a)))
                    .cloned()
                    .collect();
                shared_address_warnings(doc, &others)
            })
            .collect())
    }
}

/// The egress entries that have one of `addresses` (in the text form),
/// read through the address index, a few hundred addresses at a time.
async fn sharing_entries(
    conn: &mut SqliteConnection,
    addresses: &[String],
) -> Result<Vec<IpAuthEntry>, StoreError> {
    let mut found: Vec<IpAuthEntry> = Vec::new();
    let mut ids = std::collections::HashSet::new();
    for chunk in addresses.chunks(500) {
        let sql = format!(
            "SELECT * FROM ip_auth_entries WHERE id IN (SELECT entry_id FROM ip_auth_addresses
             WHERE egress AND address IN ({})) ORDER BY id",
            vec!["?"; chunk.len()].join(", ")
        );
        // Only placeholders are formatted into the statement.
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for address in chunk {
            q = q.bind(address);
        }
        for row in q.fetch_all(&mut *conn).await? {
            let entry: IpAuthEntry = decode(&row)?;
            if ids.insert(entry.id) {
                found.push(entry);
            }
        }
    }
    Ok(found)
}

/// Keeps the address index of `entry` (see the `ip_auth_addresses`
/// table) current, inside its write's transaction; a `created` entry has
/// no rows there yet.
async fn index_addresses(
    conn: &mut SqliteConnection,
    entry: &IpAuthEntry,
    created: bool,
) -> Result<(), StoreError> {
    if !created {
        sqlx::query("DELETE FROM ip_auth_addresses WHERE entry_id = ?")
            .bind(entry.id)
            .execute(&mut *conn)
            .await?;
    }
    for address in &entry.addresses {
        sqlx::query(
            "INSERT INTO ip_auth_addresses (entry_id, account_id, egress, address) VALUES (?, ?, ?, ?)",
        )
        .bind(entry.id)
        .bind(entry.account_id)
        .bind(entry.direction == Direction::Egress)
        .bind(address.to_string())
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

impl Document for SipUser {
    const TABLE: &'static str = "sip_users";
    const ENTITY: &'static str = "sip_user";
    fn id(&self) -> i64 {
        self.id
    }
    fn set_id(&mut self, id: i64) {
        self.id = id;
    }
    fn account_id(&self) -> Option<i64> {
        Some(self.account_id)
    }
    fn columns(&self, _secrets: &Secrets) -> Vec<(&'static str, Option<String>)> {
        // An empty HA1 set means "unchanged" on update.
        let keep = self.ha1 == Ha1Set::default();
        let ha1 = |v: &String| (!keep).then(|| v.clone());
        vec![
            ("username", Some(self.username.clone())),
            ("account_id", Some(self.account_id.to_string())),
            ("ha1_md5", ha1(&self.ha1.md5)),
            ("ha1_sha256", ha1(&self.ha1.sha256)),
            ("ha1_sha512_256", ha1(&self.ha1.sha512_256)),
        ]
    }
    fn restore(&mut self, row: &SqliteRow) -> Result<(), StoreError> {
        self.ha1 = Ha1Set {
            md5: row.try_get("ha1_md5")?,
            sha256: row.try_get("ha1_sha256")?,
            sha512_256: row.try_get("ha1_sha512_256")?,
        };
        Ok(())
    }
    fn has_secret(&self) -> bool {
        self.ha1 != Ha1Set::default()
    }
    async fn check(&self, conn: &mut SqliteConnection) -> Result<Vec<Warning>, StoreError> {
        self.validate().map_err(StoreError::invalid)?;
        let account: Account = load_one(conn, self.account_id)
            .await
            .map_err(|_| StoreError::invalid(FieldError::new("account_id", "no such account")))?;
        let mut users: Vec<Self> =
            load_all(conn, "WHERE account_id = ?", Some(self.account_id)).await?;
        users.retain(|u| u.id != self.id);
        users.push(self.clone());
        check_user_channels(&account, &users).map_err(StoreError::invalid)?;
        Ok(Vec::new())
    }
    fn label(&self) -> String {
        format!("sip user {:?}", self.username)
    }
}

impl Document for Route {
    const TABLE: &'static str = "routes";
    const ENTITY: &'static str = "route";
    fn id(&self) -> i64 {
        self.id
    }
    fn set_id(&mut self, id: i64) {
        self.id = id;
    }
    fn account_id(&self) -> Option<i64> {
        Some(self.account_id)
    }
    fn columns(&self, _secrets: &Secrets) -> Vec<(&'static str, Option<String>)> {
        vec![("account_id", Some(self.account_id.to_string()))]
    }
    async fn check(&self, conn: &mut SqliteConnection) -> Result<Vec<Warning>, StoreError> {
        let accounts: Vec<Account> = load_all(conn, "", None).await?;
        self.validate(&accounts).map_err(StoreError::invalid)?;
        Ok(Vec::new())
    }
}

impl SqliteStore {
    /// Stores a SIP user's new HA1 set, audited as `password_reset`.
    async fn reset_password(&self, actor: &Actor, user: SipUser) -> Result<SipUser, StoreError> {
        let mut tx = self.write().await?;
        let before: SipUser = load_one(&mut tx, user.id).await?;
        sqlx::query(
            "UPDATE sip_users SET ha1_md5 = ?, ha1_sha256 = ?, ha1_sha512_256 = ? WHERE id = ?",
        )
        .bind(&user.ha1.md5)
        .bind(&user.ha1.sha256)
        .bind(&user.ha1.sha512_256)
        .bind(user.id)
        .execute(&mut *tx)
        .await?;
        let mut ev = AuditEvent::new(
            actor,
            "password_reset",
            SipUser::ENTITY,
            user.id.to_string(),
            Some(user.account_id),
            format!("{} password reset", before.label()),
        );
        ev.after = Some(serde_json::json!({ "password": "***" }));
        record(&mut tx, &ev).await?;
        let version = bump(&mut tx).await?;
        tx.commit().await?;
        self.committed(version);
        let mut conn = self.pool.acquire().await?;
        load_one(&mut conn, user.id).await
    }
}

impl SqliteStore {
    /// Deletes several entries in one transaction: all of them or none.
    async fn delete_entries(&self, actor: &Actor, ids: &[i64]) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        for &id in ids {
            let before: IpAuthEntry = load_one(&mut tx, id).await?;
            sqlx::query("DELETE FROM ip_auth_entries WHERE id = ?")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            let mut ev = AuditEvent::new(
                actor,
                "delete",
                IpAuthEntry::ENTITY,
                id.to_string(),
                Some(before.account_id),
                format!("{} deleted", before.label()),
            );
            ev.before = Some(redacted(&before)?);
            record(&mut tx, &ev).await?;
        }
        let version = bump(&mut tx).await?;
        tx.commit().await?;
        self.committed(version);
        Ok(())
    }
}

/// One entity's trait methods over the generic ones.
macro_rules! implement_entity_methods {
    ($ty:ty, $create:ident, $update:ident, $delete:ident, $get:ident, $list:ident) => {
        fn $create<'a>(
            &'a self,
            actor: &'a Actor,
            doc: $ty,
        ) -> StoreFuture<'a, ($ty, Vec<Warning>)> {
            Box::pin(self.create(actor, doc))
        }
        fn $update<'a>(
            &'a self,
            actor: &'a Actor,
            doc: $ty,
        ) -> StoreFuture<'a, ($ty, Vec<Warning>)> {
            Box::pin(self.update(actor, doc))
        }
        fn $delete<'a>(&'a self, actor: &'a Actor, id: i64) -> StoreFuture<'a, $ty> {
            Box::pin(self.delete(actor, id))
        }
        fn $get(&self, id: i64) -> StoreFuture<'_, $ty> {
            Box::pin(self.get(id))
        }
        fn $list(&self, account: Option<i64>) -> StoreFuture<'_, Vec<$ty>> {
            Box::pin(self.list(account))
        }
    };
}

impl Entities for SqliteStore {
    crate::entities::for_each_entity!(implement_entity_methods);

    fn create_ip_auth_bulk<'a>(
        &'a self,
        actor: &'a Actor,
        entries: Vec<IpAuthEntry>,
    ) -> StoreFuture<'a, Vec<(IpAuthEntry, Vec<Warning>)>> {
        Box::pin(self.create_many(actor, entries, true))
    }

    fn delete_ip_auth_bulk<'a>(&'a self, actor: &'a Actor, ids: &'a [i64]) -> StoreFuture<'a, ()> {
        Box::pin(self.delete_entries(actor, ids))
    }

    fn reset_sip_password<'a>(
        &'a self,
        actor: &'a Actor,
        user: SipUser,
    ) -> StoreFuture<'a, SipUser> {
        Box::pin(self.reset_password(actor, user))
    }

    fn load(&self) -> StoreFuture<'_, (Configuration, u64)> {
        Box::pin(self.load_config())
    }
}
