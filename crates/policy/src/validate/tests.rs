use super::*;
use crate::model::*;

pub(crate) fn carrier(id: AccountId) -> Account {
    Account {
        id,
        name: format!("carrier-{id}"),
        kind: AccountKind::Carrier,
        status: AccountStatus::Active,
        channels: 0,
        cps: 0,
        notes: String::new(),
        digest: None,
        carrier: CarrierSettings::default(),
    }
}

pub(crate) fn customer(id: AccountId) -> Account {
    Account {
        kind: AccountKind::Customer,
        name: format!("customer-{id}"),
        ..carrier(id)
    }
}

pub(crate) fn entry(
    id: EntryId,
    account_id: AccountId,
    direction: Direction,
    addresses: &[&str],
) -> IpAuthEntry {
    IpAuthEntry {
        id,
        account_id,
        addresses: addresses.iter().map(|a| a.parse().unwrap()).collect(),
        direction,
        port: 5060,
        ..IpAuthEntry::default()
    }
}

pub(crate) fn user(id: UserId, account_id: AccountId, name: &str, channels: u32) -> SipUser {
    SipUser {
        id,
        account_id,
        username: name.into(),
        ha1: Ha1Set::new(name, "tollgate", "secret"),
        channels,
        ..SipUser::default()
    }
}

fn field_of<T>(r: Result<T, FieldError>) -> String {
    match r {
        Ok(_) => panic!("expected a validation error"),
        Err(e) => e.field,
    }
}

#[test]
fn accounts() {
    assert!(customer(1).validate().is_ok());
    assert!(carrier(2).validate().is_ok());
    let mut a = customer(1);
    a.name = "  ".into();
    assert_eq!(field_of(a.validate()), "name");
    let mut a = customer(1);
    a.carrier.gateway_failover = 1;
    assert_eq!(field_of(a.validate()), "kind");
    let mut c = carrier(2);
    c.carrier.gateway_failover = 4;
    assert_eq!(field_of(c.validate()), "gateway_failover");
    let mut c = carrier(2);
    c.carrier.ring_timeout_s = 0;
    assert_eq!(field_of(c.validate()), "ring_timeout_s");
    let mut c = carrier(2);
    c.carrier.tech_prefix = "12a".into();
    assert_eq!(field_of(c.validate()), "tech_prefix");
    let mut c = carrier(2);
    c.carrier.reply_rules = vec![ReplyRule {
        code: 503,
        action: ReplyAction::Replace,
        new_code: None,
        new_reason: None,
    }];
    assert_eq!(field_of(c.validate()), "reply_rules[0].new_code");
    c.carrier.reply_rules[0].new_code = Some(486);
    assert!(c.validate().is_ok());
    c.carrier.reply_rules[0].code = 200;
    assert_eq!(field_of(c.validate()), "reply_rules[0].code");
}

#[test]
fn ip_auth_entries() {
    assert!(
        entry(1, 1, Direction::Egress, &["203.0.113.7", "198.51.100.0/24"])
            .validate()
            .is_ok()
    );
    assert_eq!(
        field_of(entry(1, 1, Direction::Egress, &[]).validate()),
        "addresses"
    );
    assert_eq!(
        field_of(entry(1, 1, Direction::Egress, &["203.0.113.7", "gw.example.net"]).validate()),
        "addresses[1]"
    );
    assert!(
        entry(1, 2, Direction::Ingress, &["gw.example.net"])
            .validate()
            .is_ok()
    );
    let mut e = entry(1, 1, Direction::Egress, &["203.0.113.7"]);
    e.outbound_proxy = Some("proxy.example.net:5060".into());
    assert_eq!(field_of(e.validate()), "outbound_proxy");
    let mut e = entry(1, 2, Direction::Ingress, &["203.0.113.7"]);
    e.outbound_proxy = Some("proxy.example.net:5060".into());
    e.username = "trunk".into();
    e.password = Some("pw".into());
    assert!(e.validate().is_ok());
    e.outbound_proxy = Some("bad proxy!".into());
    assert_eq!(field_of(e.validate()), "outbound_proxy");
    let mut e = entry(1, 1, Direction::Egress, &["203.0.113.7"]);
    e.password = Some("pw".into());
    assert_eq!(field_of(e.validate()), "password");
    let mut e = entry(1, 1, Direction::Egress, &["203.0.113.7"]);
    e.restricted_codecs = vec!["PCMA".into(), "bad codec".into()];
    assert_eq!(field_of(e.validate()), "restricted_codecs[1]");
    e.restricted_codecs.clear();
    e.cli_prefix = "+44x".into();
    assert_eq!(field_of(e.validate()), "cli_prefix");
    e.cli_prefix.clear();
    e.strip_digits = 21;
    assert_eq!(field_of(e.validate()), "strip_digits");
    e.strip_digits = 0;
    e.port = 0;
    assert_eq!(field_of(e.validate()), "port");
}

#[test]
fn sip_users_and_capacity() {
    assert!(user(1, 1, "alice.trunk+1", 5).validate().is_ok());
    assert_eq!(field_of(user(1, 1, "bad name", 5).validate()), "username");
    let mut acct = customer(1);
    acct.channels = 10;
    let users = vec![user(1, 1, "a", 6), user(2, 1, "b", 4)];
    assert!(check_user_channels(&acct, &users).is_ok());
    let over = vec![user(1, 1, "a", 6), user(2, 1, "b", 5)];
    let err = check_user_channels(&acct, &over).unwrap_err();
    assert_eq!(
        (err.field.as_str(), err.message.as_str()),
        ("channels", "no channel capacity available for this account")
    );
    // A user without a limit of its own shares the account's channels.
    let unlimited = vec![user(1, 1, "a", 0), user(2, 1, "b", 10)];
    assert!(check_user_channels(&acct, &unlimited).is_ok());
    acct.channels = 0;
    assert!(check_user_channels(&acct, &over).is_ok());
    let taken = check_unique_username(&user(3, 1, "Alice", 1), &[user(1, 2, "alice", 1)]);
    assert_eq!(field_of(taken), "username");
    assert!(check_unique_username(&user(1, 1, "alice", 1), &[user(1, 1, "alice", 1)]).is_ok());
}

#[test]
fn routes_name_customers_and_carriers() {
    let accounts = vec![customer(1), carrier(2)];
    let route = Route {
        id: 1,
        account_id: 1,
        tech_prefix: None,
        dial_string: vec!["44".into(), "^1[2-9]".into()],
        carriers: vec![2],
        channels: 0,
        cps: 0,
        max_duration_s: 0,
        enabled: true,
    };
    assert!(route.validate(&accounts).is_ok());
    let mut r = route.clone();
    r.carriers = vec![1];
    assert_eq!(field_of(r.validate(&accounts)), "carriers[0]");
    let mut r = route.clone();
    r.account_id = 2;
    assert_eq!(field_of(r.validate(&accounts)), "account_id");
    let mut r = route.clone();
    r.dial_string = vec!["^(".into()];
    assert_eq!(field_of(r.validate(&accounts)), "dial_string[0]");
    let mut r = route;
    r.carriers.clear();
    assert_eq!(field_of(r.validate(&accounts)), "carriers");
}

#[test]
fn shared_addresses_need_distinct_tech_prefixes() {
    let mut a = entry(1, 1, Direction::Egress, &["203.0.113.7"]);
    let mut b = entry(2, 2, Direction::Egress, &["203.0.113.7"]);
    assert_eq!(
        shared_address_warnings(&a, std::slice::from_ref(&b)).len(),
        1
    );
    a.tech_prefix = "11".into();
    b.tech_prefix = "22".into();
    assert!(shared_address_warnings(&a, std::slice::from_ref(&b)).is_empty());
    b.tech_prefix = "11".into();
    let w = shared_address_warnings(&a, &[b]);
    assert_eq!(w[0].field, "addresses[0]");
    // The same account may list an address twice across its own entries.
    let c = entry(3, 1, Direction::Egress, &["203.0.113.7"]);
    assert!(shared_address_warnings(&a, &[c]).is_empty());
}
