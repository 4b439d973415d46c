//! Properties of the domain rules: validation never panics and always
//! names a field the API has; what validates survives a JSON round trip;
//! addresses print the way they parse.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use tollgate_policy::*;

/// Fields of `IpAuthEntry` as the API names them (with list indexes).
fn entry_field(field: &str) -> bool {
    const FIELDS: &[&str] = &[
        "addresses",
        "port",
        "restricted_codecs",
        "tech_prefix",
        "cli_prefix",
        "force_from",
        "strip_digits",
        "outbound_proxy",
        "username",
        "password",
        "manufacturer",
        "version",
    ];
    let base = field.split('[').next().unwrap_or(field);
    FIELDS.contains(&base)
}

fn address() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<u32>().prop_map(|n| Ipv4Addr::from(n).to_string()),
        any::<u128>().prop_map(|n| Ipv6Addr::from(n).to_string()),
        (any::<u32>(), 0u8..=32).prop_map(|(n, p)| format!("{}/{p}", Ipv4Addr::from(n))),
        "[a-z]{1,8}(\\.[a-z]{1,8}){0,2}",
        "[ -~]{0,20}",
    ]
}

fn entry() -> impl Strategy<Value = IpAuthEntry> {
    (
        proptest::collection::vec(address(), 0..4),
        any::<bool>(),
        any::<u16>(),
        "[0-9#*a]{0,18}",
        "\\+?[0-9a]{0,22}",
        any::<u8>(),
        proptest::option::of("[a-z.]{1,12}(:[0-9]{1,5})?"),
        proptest::collection::vec("[A-Za-z0-9 ]{0,8}", 0..3),
    )
        .prop_map(
            |(addresses, ingress, port, tech, cli, strip, proxy, codecs)| IpAuthEntry {
                addresses: addresses.iter().filter_map(|a| a.parse().ok()).collect(),
                direction: if ingress {
                    Direction::Ingress
                } else {
                    Direction::Egress
                },
                port,
                tech_prefix: tech,
                cli_prefix: cli,
                strip_digits: strip,
                outbound_proxy: proxy,
                restricted_codecs: codecs,
                ..IpAuthEntry::default()
            },
        )
}

proptest! {
    #[test]
    fn entry_validation_names_a_real_field(e in entry()) {
        match e.validate() {
            Ok(()) => {
                // What validates survives the API's JSON both ways.
                let json = serde_json::to_string(&e).unwrap();
                let back: IpAuthEntry = serde_json::from_str(&json).unwrap();
                prop_assert_eq!(back, IpAuthEntry { password: None, ..e });
            }
            Err(err) => prop_assert!(entry_field(&err.field), "unknown field {}", err.field),
        }
    }

    #[test]
    fn addresses_print_as_they_parse(s in address()) {
        if let Ok(a) = s.parse::<Address>() {
            let again: Address = a.to_string().parse().unwrap();
            prop_assert_eq!(again, a);
        }
    }

    #[test]
    fn single_ips_are_never_networks(n in any::<u32>()) {
        let ip = IpAddr::V4(Ipv4Addr::from(n));
        prop_assert_eq!(format!("{ip}/32").parse::<Address>().unwrap(), Address::Ip(ip));
    }

    #[test]
    fn e164_accepts_exactly_8_to_15_digits(digits in "[0-9]{1,20}", plus in any::<bool>()) {
        let number = if plus { format!("+{digits}") } else { digits.clone() };
        let ok = (8..=15).contains(&digits.len());
        prop_assert_eq!(DialPattern::E164.check(&number), ok.then_some(digits.as_str()));
    }

    #[test]
    fn account_names_and_notes_never_panic(name in "\\PC{0,120}", notes in "\\PC{0,50}", failover in any::<u8>()) {
        let account = Account {
            id: 0,
            name,
            kind: AccountKind::Carrier,
            status: AccountStatus::Active,
            channels: 0,
            cps: 0,
            notes,
            digest: None,
            carrier: CarrierSettings { gateway_failover: failover, ..CarrierSettings::default() },
        };
        if let Err(e) = account.validate() {
            prop_assert!(["name", "notes", "gateway_failover"].contains(&e.field.as_str()), "{}", e.field);
        }
    }
}
