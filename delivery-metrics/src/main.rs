//! `delivery-metrics`: prints the four delivery metrics from files saved by `gh api --paginate`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use delivery_metrics::{Records, Window, compute, report};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

const USAGE: &str = "usage: delivery-metrics --deployments FILE --statuses FILE --commits FILE \
[--until RFC3339 (default: now)] [--days N (default: 30)] [--environment NAME]... \
[--format markdown|json]";

#[derive(Debug)]
struct Args {
    deployments: PathBuf,
    statuses: PathBuf,
    commits: PathBuf,
    window: Window,
    environments: Vec<String>,
    json: bool,
}

fn parse(mut argv: impl Iterator<Item = String>, now: OffsetDateTime) -> anyhow::Result<Args> {
    let (mut deployments, mut statuses, mut commits) = (None, None, None);
    let (mut until, mut days, mut environments, mut json) = (now, 30_i64, Vec::new(), false);
    while let Some(flag) = argv.next() {
        let mut value = || argv.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--deployments" => deployments = Some(PathBuf::from(value()?)),
            "--statuses" => statuses = Some(PathBuf::from(value()?)),
            "--commits" => commits = Some(PathBuf::from(value()?)),
            "--until" => {
                until = OffsetDateTime::parse(&value()?, &Rfc3339)
                    .context("--until is not an RFC 3339 timestamp")?;
            }
            "--days" => {
                days = value()?
                    .parse()
                    .ok()
                    .filter(|d| (1..=3660).contains(d))
                    .context("--days must be a whole number of days from 1 to 3660")?;
            }
            "--environment" => environments.push(value()?),
            "--format" => {
                json = match value()?.as_str() {
                    "markdown" => false,
                    "json" => true,
                    other => bail!("--format must be markdown or json, not {other}"),
                }
            }
            other => bail!("unknown argument {other}"),
        }
    }
    Ok(Args {
        deployments: deployments.context("--deployments is required")?,
        statuses: statuses.context("--statuses is required")?,
        commits: commits.context("--commits is required")?,
        window: Window::new(until - Duration::days(days), until)?,
        environments,
        json,
    })
}

fn run() -> anyhow::Result<()> {
    let args = parse(std::env::args().skip(1), OffsetDateTime::now_utc())?;
    let records = Records::load(&args.deployments, &args.statuses, &args.commits)?;
    let metrics = compute(&records, &args.window, &args.environments);
    let out = if args.json {
        report::json(&metrics, &args.window).to_string() + "\n"
    } else {
        report::markdown(&metrics, &args.window)
    };
    std::io::stdout().lock().write_all(out.as_bytes())?;
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // One line naming the problem, then how to call the tool.
            let _ = writeln!(std::io::stderr(), "delivery-metrics: {error:#}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> anyhow::Result<Args> {
        parse(
            line.split_whitespace().map(str::to_owned),
            OffsetDateTime::UNIX_EPOCH + Duration::days(100),
        )
    }

    #[test]
    fn the_window_ends_now_and_spans_thirty_days_unless_told() {
        let a = args("--deployments d --statuses s --commits c").unwrap();
        assert_eq!(a.window.length(), Duration::days(30));
        assert_eq!(
            a.window.until(),
            OffsetDateTime::UNIX_EPOCH + Duration::days(100)
        );
        let a =
            args("--deployments d --statuses s --commits c --days 7 --until 2026-11-29T00:00:00Z")
                .unwrap();
        assert_eq!(
            a.window.since().to_string(),
            "2026-11-22 0:00:00.0 +00:00:00"
        );
    }

    #[test]
    fn mistakes_name_the_argument() {
        let err = |line| format!("{:#}", args(line).unwrap_err());
        assert_eq!(err("--statuses s --commits c"), "--deployments is required");
        assert_eq!(
            err("--deployments d --statuses s --commits c --days 0"),
            "--days must be a whole number of days from 1 to 3660"
        );
        assert_eq!(err("--deployments"), "--deployments needs a value");
        assert_eq!(
            err("--deployments d --statuses s --commits c --format yaml"),
            "--format must be markdown or json, not yaml"
        );
        assert_eq!(err("--verbose"), "unknown argument --verbose");
    }
}
