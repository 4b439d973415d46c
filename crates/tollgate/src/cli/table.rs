//! The readable tables the admin commands print (the API's JSON with
//! `--json`).

use serde_json::{Map, Value};

/// Columns whose values are Unix milliseconds: shown as RFC 3339 UTC
/// times (`--json` keeps the raw numbers).
const TIME_COLUMNS: &[&str] = &["at", "created_at", "expires_at", "started", "answered"];

/// One cell of `column`: strings bare, lists joined, times in RFC 3339,
/// nothing as `-`.
fn cell(column: &str, v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "-".into(),
        Some(Value::Number(n)) if TIME_COLUMNS.contains(&column) => {
            n.as_i64().map_or_else(|| n.to_string(), rfc3339)
        }
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| cell(column, Some(i)))
            .collect::<Vec<_>>()
            .join(","),
        Some(other) => other.to_string(),
    }
}

/// A plain aligned table of `columns` (only those present in some row).
pub(super) fn table(value: &Value, columns: &[&str]) -> String {
    let rows: Vec<&Map<String, Value>> = match value {
        Value::Array(items) => items.iter().filter_map(Value::as_object).collect(),
        Value::Object(obj) => vec![obj],
        _ => Vec::new(),
    };
    if rows.is_empty() {
        return if value.is_array() {
            "(none)\n".into()
        } else {
            format!("{value}\n")
        };
    }
    let present: Vec<&str> = columns
        .iter()
        .copied()
        .filter(|c| rows.iter().any(|r| r.contains_key(*c)))
        .chain(
            rows[0]
                .keys()
                .map(String::as_str)
                .filter(|k| *k == "deleted"),
        )
        .collect();
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| present.iter().map(|c| cell(c, r.get(*c))).collect())
        .collect();
    let widths: Vec<usize> = present
        .iter()
        .enumerate()
        .map(|(i, c)| {
            cells
                .iter()
                .map(|r| r[i].len())
                .max()
                .unwrap_or(0)
                .max(c.len())
        })
        .collect();
    let line = |items: Vec<&str>| {
        items
            .iter()
            .zip(&widths)
            .map(|(s, w)| format!("{s:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
            + "\n"
    };
    let mut out = line(present.clone());
    for r in &cells {
        out += &line(r.iter().map(String::as_str).collect());
    }
    if let Some(w) = value
        .get("warnings")
        .and_then(Value::as_array)
        .filter(|w| !w.is_empty())
    {
        for warning in w {
            out += &format!(
                "warning: {}: {}\n",
                cell("field", warning.get("field")),
                cell("message", warning.get("message"))
            );
        }
    }
    out
}

/// Unix milliseconds as an RFC 3339 UTC time to the second
/// (`2026-12-05T12:03:12Z`).
fn rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, of_day) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Days since 1970-01-01 to a civil date (the proleptic Gregorian
    // calendar), counted in 400-year eras from 0000-03-01.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn tables_align_and_show_generated_passwords() {
        let v = json!([{"id": 1, "username": "alice", "channels": 2, "cps": 0, "enabled": true},
                       {"id": 12, "username": "bob", "channels": 10, "cps": 1, "enabled": false}]);
        let t = table(&v, super::super::USER_COLUMNS);
        assert_eq!(
            t,
            "id  username  channels  cps  enabled\n1   alice     2         0    true\n12  bob       10        1    false\n"
        );
        let created = json!({"id": 3, "username": "carol", "password": "s3cret", "warnings": [{"field": "x", "message": "y"}]});
        let t = table(&created, super::super::USER_COLUMNS);
        assert!(t.contains("s3cret") && t.contains("warning: x: y"), "{t}");
        assert_eq!(table(&json!([]), &["id"]), "(none)\n");
    }

    #[test]
    fn times_read_as_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_796_460_027_959), "2026-12-05T08:40:27Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
        let audit = json!([{"id": 7, "at": 1_796_460_027_959_i64, "actor": "admin"}]);
        let t = table(&audit, &["id", "at", "actor"]);
        assert!(t.contains("7   2026-12-05T08:40:27Z  admin"), "{t}");
        let block =
            json!({"address": "192.0.2.1", "expires_at": null, "hits": 1_796_460_027_959_i64});
        let t = table(&block, &["address", "expires_at", "hits"]);
        assert!(
            t.contains("-           1796460027959"),
            "only time columns: {t}"
        );
    }
}
