//! Where a call goes: the customer's route for the dialled number, the
//! carriers of that route in priority order, and within each carrier its
//! gateways by smooth weighted round-robin. Also what a carrier's final
//! response means: fail over, or give it to the caller.

use std::collections::HashMap;

use crate::model::{Account, AccountId, EntryId, ReplyAction, Route};

/// A route ready for the hot path: its dial string compiled once.
#[derive(Clone, Debug)]
pub struct CompiledRoute {
    /// The route as configured.
    pub route: Route,
    matchers: Vec<Matcher>,
}

#[derive(Clone, Debug)]
enum Matcher {
    Prefix(String),
    Regex(regex::Regex),
    /// A regex that no longer compiles matches nothing (validation keeps
    /// these out; this only guards old data).
    Never,
}

impl CompiledRoute {
    /// Compiles `route`'s dial string.
    pub fn new(route: Route) -> Self {
        let matchers = route
            .dial_string
            .iter()
            .map(|p| {
                if p.starts_with('^') {
                    regex::Regex::new(p).map_or(Matcher::Never, Matcher::Regex)
                } else {
                    Matcher::Prefix(p.clone())
                }
            })
            .collect();
        Self { route, matchers }
    }

    /// How well the dial string matches `number`: `Some(len + 2)` for the
    /// longest matching prefix, `Some(1)` for a regex match, `Some(0)` for
    /// an empty dial string, `None` when nothing matches.
    fn score(&self, number: &str) -> Option<usize> {
        if self.matchers.is_empty() {
            return Some(0);
        }
        self.matchers
            .iter()
            .filter_map(|m| match m {
                Matcher::Prefix(p) => number.starts_with(p.as_str()).then_some(p.len() + 2),
                Matcher::Regex(re) => re.is_match(number).then_some(1),
                Matcher::Never => None,
            })
            .max()
    }
}

/// The route for `number` among a customer's `routes`: only enabled routes
/// without a tech prefix or with the one the call came with; the longest
/// matching dial-string prefix wins, a `^regex` match counts below any
/// prefix and an empty dial string (every number) last. A route for the call's
/// tech prefix beats one for any prefix; then the lowest id.
pub fn select_route<'r>(
    routes: &'r [CompiledRoute],
    tech_prefix: Option<&str>,
    number: &str,
) -> Option<&'r Route> {
    routes
        .iter()
        .filter(|c| c.route.enabled)
        .filter(|c| {
            c.route
                .tech_prefix
                .as_deref()
                .is_none_or(|p| p.is_empty() || Some(p) == tech_prefix)
        })
        .filter_map(|c| {
            let specific = c
                .route
                .tech_prefix
                .as_deref()
                .is_some_and(|p| !p.is_empty());
            c.score(number)
                .map(|score| ((score, specific, std::cmp::Reverse(c.route.id)), &c.route))
        })
        .max_by_key(|(key, _)| *key)
        .map(|(_, r)| r)
}

/// Smooth weighted round-robin per carrier (the nginx algorithm): every
/// pick adds each candidate's weight to its running score, takes the
/// highest and subtracts the total from it. Over any run of Σweights picks
/// each gateway is chosen exactly `weight` times, interleaved (weights 10
/// and 1 give 10 of every 11 calls, not 10 in a row).
#[derive(Debug, Default)]
pub struct GatewayPicker {
    scores: HashMap<AccountId, HashMap<EntryId, i64>>,
}

impl GatewayPicker {
    /// An empty picker.
    pub fn new() -> Self {
        Self::default()
    }

    /// Orders the `gateways` (id, weight) of `carrier` for one call: the
    /// weighted pick first, then the other gateways by weight (the failover
    /// order). Only gateways for which `available` holds are picked or
    /// listed; weight 0 is never picked first but is listed for failover.
    pub fn order(
        &mut self,
        carrier: AccountId,
        gateways: &[(EntryId, u32)],
        available: impl Fn(EntryId) -> bool,
    ) -> Vec<EntryId> {
        let usable: Vec<(EntryId, u32)> = gateways
            .iter()
            .copied()
            .filter(|&(id, _)| available(id))
            .collect();
        let scores = self.scores.entry(carrier).or_default();
        // Gateways that left the configuration take their score with them.
        scores.retain(|id, _| gateways.iter().any(|(g, _)| g == id));
        let total: i64 = usable.iter().map(|&(_, w)| i64::from(w)).sum();
        let mut first = None;
        if total > 0 {
            let mut best: Option<(i64, EntryId)> = None;
            for &(id, w) in usable.iter().filter(|&&(_, w)| w > 0) {
                let score = scores.entry(id).or_default();
                *score += i64::from(w);
                if best.is_none_or(|(s, _)| *score > s) {
                    best = Some((*score, id));
                }
            }
            if let Some((_, id)) = best {
                *scores.entry(id).or_default() -= total;
                first = Some(id);
            }
        }
        let mut rest: Vec<(EntryId, u32)> = usable
            .into_iter()
            .filter(|&(id, _)| Some(id) != first)
            .collect();
        rest.sort_by_key(|&(id, w)| (std::cmp::Reverse(w), id));
        first
            .into_iter()
            .chain(rest.into_iter().map(|(id, _)| id))
            .collect()
    }
}

/// What to do with a carrier's final failure response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Try the next gateway or carrier.
    Failover,
    /// Give the caller this code and reason.
    Answer(u16, Option<String>),
}

/// The verdict on `code` from `carrier`: its reply rule when it has one
/// for the code, else failover on 408, 5xx (503 included) and never on
/// anything else (486, 404, 480 and 3xx go to the caller).
pub fn judge_failure(carrier: &Account, code: u16) -> Outcome {
    let default = || {
        if code == 408 || (500..600).contains(&code) {
            Outcome::Failover
        } else {
            Outcome::Answer(code, None)
        }
    };
    match carrier.carrier.reply_rules.iter().find(|r| r.code == code) {
        Some(rule) => match rule.action {
            ReplyAction::Default => default(),
            ReplyAction::Failover => Outcome::Failover,
            ReplyAction::Replace => {
                Outcome::Answer(rule.new_code.unwrap_or(code), rule.new_reason.clone())
            }
        },
        None => default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AccountKind, CarrierSettings, ReplyRule};

    fn route(id: i64, tech: Option<&str>, dial: &[&str]) -> CompiledRoute {
        CompiledRoute::new(Route {
            id,
            account_id: 1,
            tech_prefix: tech.map(String::from),
            dial_string: dial.iter().map(|s| s.to_string()).collect(),
            carriers: vec![10],
            ..Route::default()
        })
    }

    #[test]
    fn longest_prefix_wins_and_regex_and_catch_all_rank_below() {
        let routes = [
            route(1, None, &[]),
            route(2, None, &["44"]),
            route(3, None, &["4420", "33"]),
            route(4, None, &["^1[0-9]{10}$"]),
        ];
        let pick = |n| select_route(&routes, None, n).map(|r| r.id);
        assert_eq!(pick("442071234567"), Some(3));
        assert_eq!(pick("441632960123"), Some(2));
        assert_eq!(pick("12125550100"), Some(4));
        assert_eq!(pick("4912345678"), Some(1));
        assert_eq!(select_route(&routes[1..2], None, "4912345678"), None);
    }

    #[test]
    fn tech_prefix_routes_apply_only_to_their_calls() {
        let routes = [route(1, Some("777"), &["44"]), route(2, None, &["44"])];
        assert_eq!(
            select_route(&routes, Some("777"), "441632960123").map(|r| r.id),
            Some(1)
        );
        assert_eq!(
            select_route(&routes, None, "441632960123").map(|r| r.id),
            Some(2)
        );
        assert_eq!(select_route(&routes[..1], None, "441632960123"), None);
    }

    #[test]
    fn weights_ten_and_one_give_exactly_ten_of_eleven() {
        let mut p = GatewayPicker::new();
        let gws = [(1, 10), (2, 1)];
        let mut counts = HashMap::new();
        for _ in 0..1_100 {
            let order = p.order(7, &gws, |_| true);
            assert_eq!(order.len(), 2, "the other gateway follows for failover");
            *counts.entry(order[0]).or_insert(0) += 1;
        }
        assert_eq!(counts[&1], 1_000);
        assert_eq!(counts[&2], 100);
    }

    #[test]
    fn unavailable_gateways_are_skipped_and_weight_zero_is_backup_only() {
        let mut p = GatewayPicker::new();
        let gws = [(1, 5), (2, 5), (3, 0)];
        for _ in 0..10 {
            assert_eq!(p.order(7, &gws, |id| id != 1), vec![2, 3]);
        }
        assert_eq!(p.order(7, &gws, |id| id == 3), vec![3]);
        assert!(p.order(7, &gws, |_| false).is_empty());
    }

    #[test]
    fn failure_verdicts_follow_the_defaults_and_reply_rules() {
        let mut carrier = Account {
            id: 10,
            name: "carrier".into(),
            kind: AccountKind::Carrier,
            status: Default::default(),
            channels: 0,
            cps: 0,
            notes: String::new(),
            digest: None,
            carrier: CarrierSettings::default(),
        };
        for code in [408, 500, 503, 504] {
            assert_eq!(judge_failure(&carrier, code), Outcome::Failover, "{code}");
        }
        for code in [486, 404, 480, 302, 603] {
            assert_eq!(judge_failure(&carrier, code), Outcome::Answer(code, None));
        }
        carrier.carrier.reply_rules = vec![
            ReplyRule {
                code: 486,
                action: ReplyAction::Failover,
                new_code: None,
                new_reason: None,
            },
            ReplyRule {
                code: 503,
                action: ReplyAction::Replace,
                new_code: Some(480),
                new_reason: Some("Try later".into()),
            },
        ];
        assert_eq!(judge_failure(&carrier, 486), Outcome::Failover);
        assert_eq!(
            judge_failure(&carrier, 503),
            Outcome::Answer(480, Some("Try later".into()))
        );
    }
}
