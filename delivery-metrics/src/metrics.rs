//! Computes deployment frequency, lead time, change failure rate and time to restore per environment.
//!
//! The model, in the order the code applies it:
//! - An *attempt* is a terminal deployment status: `success`, or `failure`/`error` (a failed sync).
//!   Other states (`in_progress`, `inactive`, …) say nothing about the outcome and are skipped.
//! - Consecutive attempts of one commit in one environment are one *rollout*: a re-sync or a
//!   second record of the commit that is already running is not a new deployment.
//! - A rollout is a *rollback* when its status says so ([`ROLLBACK_PREFIX`]), when its commit is a
//!   `git revert` ([`REVERT_PREFIX`]), or when it brings back a commit that already ran there.
//!   A rollback marks the rollout it replaces as failed.
//! - A rollout *failed* if a sync of it failed or a rollback replaced it.
//! - Service is *down* from a failed attempt, or from the success of a rollout a rollback later
//!   replaced, until the next good success; that span is one incident.
//! - A commit's lead time runs from its commit date on the branch to the first success that
//!   brought it to the environment: the commits between the last good rollout and this one.

use std::collections::{HashMap, HashSet};

use time::{Duration, OffsetDateTime};

use crate::records::{Commit, Deployment, Records, State};

/// How a deployment status description marks a rollback (the Argo CD templates write it).
pub const ROLLBACK_PREFIX: &str = "Rollback";
/// The subject `git revert` gives a revert commit (and GitHub's "Revert" button keeps).
pub const REVERT_PREFIX: &str = "Revert \"";

/// The half-open span `[since, until)` the metrics cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    since: OffsetDateTime,
    until: OffsetDateTime,
}

#[derive(Debug, thiserror::Error)]
#[error("the window must end after it starts ({since} .. {until})")]
pub struct EmptyWindow {
    since: OffsetDateTime,
    until: OffsetDateTime,
}

impl Window {
    pub fn new(since: OffsetDateTime, until: OffsetDateTime) -> Result<Self, EmptyWindow> {
        if since < until {
            Ok(Self { since, until })
        } else {
            Err(EmptyWindow { since, until })
        }
    }

    pub fn since(&self) -> OffsetDateTime {
        self.since
    }

    pub fn until(&self) -> OffsetDateTime {
        self.until
    }

    pub fn length(&self) -> Duration {
        self.until - self.since
    }

    fn contains(&self, at: OffsetDateTime) -> bool {
        self.since <= at && at < self.until
    }
}

/// The four metrics of one environment over one window.
#[derive(Debug, Clone, PartialEq)]
pub struct EnvironmentMetrics {
    pub environment: String,
    /// Rollouts that succeeded in the window (rollbacks included).
    pub deployments: usize,
    /// Median over `changes`; `None` when nothing new was delivered.
    pub lead_time: Option<Duration>,
    /// Commits delivered to the environment for the first time in the window.
    pub changes: usize,
    /// Rollouts first attempted in the window: the denominator of the change failure rate.
    pub attempted: usize,
    pub failed: usize,
    /// Median over restored incidents; `None` when none was restored.
    pub time_to_restore: Option<Duration>,
    /// Incidents that started in the window.
    pub incidents: usize,
    /// Of those, the ones no later success ended.
    pub unrestored: usize,
}

impl EnvironmentMetrics {
    pub fn deployments_per_day(&self, window: &Window) -> f64 {
        count(self.deployments) / (window.length().as_seconds_f64() / 86_400.0)
    }

    /// Failed over attempted rollouts; `None` when nothing was attempted.
    pub fn change_failure_rate(&self) -> Option<f64> {
        (self.attempted > 0).then(|| count(self.failed) / count(self.attempted))
    }
}

/// Metrics for each named environment, or for every environment in the records if none is named.
pub fn compute(
    records: &Records,
    window: &Window,
    environments: &[String],
) -> Vec<EnvironmentMetrics> {
    let names: Vec<String> = if environments.is_empty() {
        let mut all: Vec<String> = records
            .deployments
            .iter()
            .map(|d| d.environment.clone())
            .collect();
        all.sort();
        all.dedup();
        all
    } else {
        environments.to_vec()
    };
    names
        .into_iter()
        .map(|name| environment_metrics(records, window, name))
        .collect()
}

struct Attempt<'a> {
    at: OffsetDateTime,
    sha: &'a str,
    ok: bool,
    marked_rollback: bool,
}

struct Rollout<'a> {
    sha: &'a str,
    first_at: OffsetDateTime,
    succeeded_at: Option<OffsetDateTime>,
    sync_failed: bool,
    marked_rollback: bool,
    replaced_by_rollback: bool,
}

impl Rollout<'_> {
    fn failed(&self) -> bool {
        self.sync_failed || self.replaced_by_rollback
    }
}

fn environment_metrics(
    records: &Records,
    window: &Window,
    environment: String,
) -> EnvironmentMetrics {
    let attempts = attempts(records, &environment);
    let (rollouts, rollout_of) = rollouts(&attempts, &records.commits);

    let deployments = rollouts
        .iter()
        .filter(|r| r.succeeded_at.is_some_and(|at| window.contains(at)))
        .count();
    let tried: Vec<&Rollout<'_>> = rollouts
        .iter()
        .filter(|r| window.contains(r.first_at))
        .collect();

    let lead_times = lead_times(&rollouts, &records.commits, window);
    let incidents = incidents(&attempts, &rollout_of, &rollouts, window);
    let restores: Vec<Duration> = incidents.iter().filter_map(|i| *i).collect();

    EnvironmentMetrics {
        environment,
        deployments,
        lead_time: median(lead_times.clone()),
        changes: lead_times.len(),
        attempted: tried.len(),
        failed: tried.iter().filter(|r| r.failed()).count(),
        time_to_restore: median(restores.clone()),
        incidents: incidents.len(),
        unrestored: incidents.len() - restores.len(),
    }
}

/// The environment's terminal statuses in time order.
fn attempts<'a>(records: &'a Records, environment: &str) -> Vec<Attempt<'a>> {
    let deployments: HashMap<u64, &Deployment> = records
        .deployments
        .iter()
        .filter(|d| d.environment == environment)
        .map(|d| (d.id, d))
        .collect();
    let mut attempts: Vec<Attempt<'a>> = records
        .statuses
        .iter()
        .filter_map(|status| {
            let deployment = deployments.get(&status.deployment_id()?)?;
            let ok = match status.state {
                State::Success => true,
                State::Failure | State::Error => false,
                _ => return None,
            };
            Some(Attempt {
                at: status.created_at,
                sha: &deployment.sha,
                ok,
                marked_rollback: status
                    .description
                    .as_deref()
                    .is_some_and(|d| d.starts_with(ROLLBACK_PREFIX)),
            })
        })
        .collect();
    attempts.sort_by_key(|a| a.at);
    attempts
}

/// Groups attempts into rollouts and marks rollbacks; also returns each attempt's rollout index.
fn rollouts<'a>(attempts: &[Attempt<'a>], commits: &[Commit]) -> (Vec<Rollout<'a>>, Vec<usize>) {
    let reverts: HashSet<&str> = commits
        .iter()
        .filter(|c| c.commit.message.starts_with(REVERT_PREFIX))
        .map(|c| c.sha.as_str())
        .collect();
    let mut rollouts: Vec<Rollout<'a>> = Vec::new();
    let mut rollout_of = Vec::with_capacity(attempts.len());
    for attempt in attempts {
        if rollouts.last().is_none_or(|r| r.sha != attempt.sha) {
            rollouts.push(Rollout {
                sha: attempt.sha,
                first_at: attempt.at,
                succeeded_at: None,
                sync_failed: false,
                marked_rollback: false,
                replaced_by_rollback: false,
            });
        }
        let rollout = rollouts.last_mut().expect("pushed above");
        if attempt.ok {
            rollout.succeeded_at.get_or_insert(attempt.at);
        } else {
            rollout.sync_failed = true;
        }
        rollout.marked_rollback |= attempt.marked_rollback;
        rollout_of.push(rollouts.len() - 1);
    }
    for i in 1..rollouts.len() {
        let current = &rollouts[i];
        let returns_to_earlier = rollouts[..i]
            .iter()
            .any(|r| r.sha == current.sha && r.succeeded_at.is_some());
        if current.marked_rollback || reverts.contains(current.sha) || returns_to_earlier {
            rollouts[i - 1].replaced_by_rollback = true;
        }
    }
    (rollouts, rollout_of)
}

/// Lead time of every commit first delivered by a success inside the window.
fn lead_times(rollouts: &[Rollout<'_>], commits: &[Commit], window: &Window) -> Vec<Duration> {
    let position: HashMap<&str, usize> = commits
        .iter()
        .enumerate()
        .map(|(i, c)| (c.sha.as_str(), i))
        .collect();
    let mut delivered: HashSet<&str> = HashSet::new();
    let mut running: Option<&str> = None;
    let mut lead_times = Vec::new();
    for rollout in rollouts {
        let Some(succeeded_at) = rollout.succeeded_at else {
            continue;
        };
        // Commits are newest first: the new ones sit between this commit and the one running before.
        let new: &[Commit] = match (
            position.get(rollout.sha),
            running.and_then(|sha| position.get(sha)),
        ) {
            (Some(&this), Some(&before)) if before > this => &commits[this..before],
            (Some(_), Some(_)) | (None, _) => &[],
            (Some(&this), None) => &commits[this..=this],
        };
        for commit in new {
            if delivered.insert(&commit.sha) && window.contains(succeeded_at) {
                lead_times.push(succeeded_at - commit.commit.committer.date);
            }
        }
        running = Some(rollout.sha);
    }
    lead_times
}

/// Each incident that started in the window, with its time to restore if service came back.
fn incidents(
    attempts: &[Attempt<'_>],
    rollout_of: &[usize],
    rollouts: &[Rollout<'_>],
    window: &Window,
) -> Vec<Option<Duration>> {
    let mut incidents = Vec::new();
    let mut down_since: Option<OffsetDateTime> = None;
    for (attempt, &r) in attempts.iter().zip(rollout_of) {
        let bad = !attempt.ok || rollouts[r].replaced_by_rollback;
        match (bad, down_since) {
            (true, None) => down_since = Some(attempt.at),
            (false, Some(start)) => {
                if window.contains(start) {
                    incidents.push(Some(attempt.at - start));
                }
                down_since = None;
            }
            _ => {}
        }
    }
    if down_since.is_some_and(|start| window.contains(start)) {
        incidents.push(None);
    }
    incidents
}

fn median(mut values: Vec<Duration>) -> Option<Duration> {
    values.sort();
    let mid = values.len() / 2;
    match values.len() {
        0 => None,
        n if n % 2 == 1 => Some(values[mid]),
        _ => Some((values[mid - 1] + values[mid]) / 2),
    }
}

fn count(n: usize) -> f64 {
    f64::from(u32::try_from(n).unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minutes(m: i64) -> Duration {
        Duration::minutes(m)
    }

    #[test]
    fn median_of_an_even_count_is_the_mean_of_the_middle_two() {
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![minutes(3)]), Some(minutes(3)));
        assert_eq!(
            median(vec![minutes(45), minutes(15), minutes(20), minutes(10)]),
            Some(Duration::seconds(17 * 60 + 30))
        );
    }

    #[test]
    fn a_window_must_not_be_empty() {
        let t = OffsetDateTime::UNIX_EPOCH;
        assert!(Window::new(t, t).is_err());
        assert!(Window::new(t + minutes(1), t).is_err());
        assert_eq!(
            Window::new(t, t + Duration::days(7)).unwrap().length(),
            Duration::days(7)
        );
    }
}
