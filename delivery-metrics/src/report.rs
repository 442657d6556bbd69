//! Renders the metrics as a Markdown table (for a job summary) or as JSON (for machines).

use std::fmt::Write;

use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use crate::metrics::{EnvironmentMetrics, Window};

/// A Markdown section: a heading naming the window, then one row per environment.
pub fn markdown(metrics: &[EnvironmentMetrics], window: &Window) -> String {
    let days = window.length().as_seconds_f64() / 86_400.0;
    let mut out = format!(
        "## Delivery metrics, {} to {} ({days:.0} days)\n\n",
        date(window.since()),
        date(window.until()),
    );
    if metrics.is_empty() {
        out.push_str("No deployments recorded.\n");
        return out;
    }
    out.push_str(
        "| Environment | Deployments | Per day | Lead time for changes (median) | Change failure rate | Time to restore (median) |\n\
         |---|---:|---:|---|---|---|\n",
    );
    for m in metrics {
        let lead_time = m.lead_time.map_or_else(
            || "n/a (no new commits)".to_owned(),
            |d| format!("{} ({})", human(d), plural(m.changes, "commit")),
        );
        let failure_rate = m.change_failure_rate().map_or_else(
            || "n/a (nothing attempted)".to_owned(),
            |rate| format!("{:.0}% ({} of {})", rate * 100.0, m.failed, m.attempted),
        );
        let restore = match (m.time_to_restore, m.unrestored) {
            (_, _) if m.incidents == 0 => "n/a (no failures)".to_owned(),
            (Some(d), 0) => format!("{} ({})", human(d), plural(m.incidents, "incident")),
            (Some(d), open) => format!(
                "{} ({}, {open} not restored)",
                human(d),
                plural(m.incidents, "incident")
            ),
            (None, open) => format!("not restored ({})", plural(open, "incident")),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {:.2} | {lead_time} | {failure_rate} | {restore} |",
            m.environment,
            m.deployments,
            m.deployments_per_day(window),
        );
    }
    out
}

/// The same numbers, durations in minutes; absent values are `null`.
pub fn json(metrics: &[EnvironmentMetrics], window: &Window) -> Value {
    json!({
        "since": timestamp(window.since()),
        "until": timestamp(window.until()),
        "environments": metrics.iter().map(|m| json!({
            "environment": m.environment,
            "deployments": m.deployments,
            "deployments_per_day": m.deployments_per_day(window),
            "lead_time_minutes": m.lead_time.map(minutes),
            "changes": m.changes,
            "change_failure_rate": m.change_failure_rate(),
            "failed": m.failed,
            "attempted": m.attempted,
            "time_to_restore_minutes": m.time_to_restore.map(minutes),
            "incidents": m.incidents,
            "unrestored": m.unrestored,
        })).collect::<Vec<_>>(),
    })
}

fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

fn minutes(d: Duration) -> f64 {
    d.as_seconds_f64() / 60.0
}

/// Minutes up to two hours, then hours, then days: the unit a reader thinks in at that size.
fn human(d: Duration) -> String {
    let m = minutes(d);
    if m < 120.0 {
        format!("{m:.1} min")
    } else if m < 48.0 * 60.0 {
        format!("{:.1} h", m / 60.0)
    } else {
        format!("{:.1} days", m / 1440.0)
    }
}

fn date(at: OffsetDateTime) -> String {
    timestamp(at).chars().take(10).collect()
}

fn timestamp(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_else(|_| at.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_in_the_unit_that_fits() {
        assert_eq!(human(Duration::seconds(17 * 60 + 30)), "17.5 min");
        assert_eq!(human(Duration::minutes(180)), "3.0 h");
        assert_eq!(human(Duration::hours(51)), "2.1 days");
    }
}
