//! Computes deployment frequency, lead time, change failure rate and time to restore per environment.
//!
//! The model, in the order the code applies it:
//! - An *attempt* is a terminal deployment status: `success`, or `failure`/`error` (a failed sync,
//!   or the app went Degraded after it). Other states (`in_progress`, `inactive`, …) say nothing
//!   about the outcome and are skipped.
//! - Consecutive attempts of one commit in one environment are one *rollout*: a re-sync, a
//!   recovery or a second record of the commit that is already running is not a new deployment.
//! - A rollout is a *rollback* when its commit takes the environment back (rollback.yml's
//!   `rollback(<env>): …`, a `git revert`; see [`crate::history`]) or when its commit is older on
//!   `main` than the one it replaces (Argo CD's history; for commits `main` no longer lists: one
//!   that already ran there). A rollback marks the rollout it replaces as failed. Deploying again a
//!   newer commit that was rolled back is not a rollback.
//! - A rollout *failed* if one of its attempts failed or a rollback replaced it.
//! - Service is *down* from a failed attempt, or from the success of a rollout a rollback later
//!   replaced, until the next good success; that span is one incident, its length the time to
//!   restore (detection and the decision included: it starts when the bad version went live).
//! - A *change* is a commit on `main` that is not a pin (`deploy(<env>): …`) or a rollback. Its
//!   lead time runs from its commit date to the first success of a rollout that carries it to the
//!   environment: a change to the Application's manifests rides the rollout of any later commit;
//!   a change to its image's inputs rides the rollout of a commit whose pinned image was built
//!   from it or later (the bump names that source commit; prod runs what dev ran when promoted;
//!   where no pin in the history names one, the rollout's own commit stands in); a change to both
//!   rides the later of the two, the one whose image carries its code.
//!   Only changes to what the Application deploys count ([`crate::applications`]). The first
//!   rollout seen in an environment is the baseline: what it carries is not timed.

use std::collections::{HashMap, HashSet};

use time::{Duration, OffsetDateTime};

use crate::applications::{self, Touches};
use crate::history::{image_sources, positions};
use crate::records::{Commit, Deployment, Records, State};

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
}

struct Rollout<'a> {
    sha: &'a str,
    first_at: OffsetDateTime,
    succeeded_at: Option<OffsetDateTime>,
    attempt_failed: bool,
    replaced_by_rollback: bool,
}

impl Rollout<'_> {
    fn failed(&self) -> bool {
        self.attempt_failed || self.replaced_by_rollback
    }
}

fn environment_metrics(
    records: &Records,
    window: &Window,
    environment: String,
) -> EnvironmentMetrics {
    let attempts = attempts(records, &environment);
    let (rollouts, rollout_of) = rollouts(&attempts, &records.commits, &environment);

    let deployments = rollouts
        .iter()
        .filter(|r| r.succeeded_at.is_some_and(|at| window.contains(at)))
        .count();
    let tried: Vec<&Rollout<'_>> = rollouts
        .iter()
        .filter(|r| window.contains(r.first_at))
        .collect();

    let lead_times = lead_times(&rollouts, &records.commits, &environment, window);
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
            })
        })
        .collect();
    attempts.sort_by_key(|a| a.at);
    attempts
}

/// Groups attempts into rollouts and marks rollbacks; also returns each attempt's rollout index.
fn rollouts<'a>(
    attempts: &[Attempt<'a>],
    commits: &[Commit],
    environment: &str,
) -> (Vec<Rollout<'a>>, Vec<usize>) {
    let env = applications::split_name(environment).map_or(environment, |(_, env)| env);
    let rolls_back: HashSet<&str> = commits
        .iter()
        .filter(|c| c.rolls_back(env))
        .map(|c| c.sha.as_str())
        .collect();
    let position = positions(commits);
    let mut rollouts: Vec<Rollout<'a>> = Vec::new();
    let mut rollout_of = Vec::with_capacity(attempts.len());
    for attempt in attempts {
        if rollouts.last().is_none_or(|r| r.sha != attempt.sha) {
            rollouts.push(Rollout {
                sha: attempt.sha,
                first_at: attempt.at,
                succeeded_at: None,
                attempt_failed: false,
                replaced_by_rollback: false,
            });
        }
        let rollout = rollouts.last_mut().expect("pushed above");
        if attempt.ok {
            rollout.succeeded_at.get_or_insert(attempt.at);
        } else {
            rollout.attempt_failed = true;
        }
        rollout_of.push(rollouts.len() - 1);
    }
    for i in 1..rollouts.len() {
        let (current, replaced) = (&rollouts[i], &rollouts[i - 1]);
        // Commits are newest first: a larger position is an older commit.
        let goes_back = match (position.get(current.sha), position.get(replaced.sha)) {
            (Some(now), Some(before)) => now > before,
            _ => rollouts[..i]
                .iter()
                .any(|r| r.sha == current.sha && r.succeeded_at.is_some()),
        };
        if rolls_back.contains(current.sha) || goes_back {
            rollouts[i - 1].replaced_by_rollback = true;
        }
    }
    (rollouts, rollout_of)
}

/// Lead time of every change first delivered by a success inside the window.
fn lead_times(
    rollouts: &[Rollout<'_>],
    commits: &[Commit],
    environment: &str,
    window: &Window,
) -> Vec<Duration> {
    let position = positions(commits);
    let application = applications::find(environment);
    let sources = application.map(|(a, env)| image_sources(commits, a.app, env));
    let touches = |commit: &Commit| match (application, &commit.files) {
        (Some((a, env)), Some(files)) => a.touches(env, files.iter().map(|f| f.filename.as_str())),
        _ => Touches::EVERYTHING,
    };
    let mut delivered: HashSet<usize> = HashSet::new();
    let mut baseline = true;
    let mut lead_times = Vec::new();
    for rollout in rollouts {
        let (Some(succeeded_at), Some(&at)) = (rollout.succeeded_at, position.get(rollout.sha))
        else {
            continue;
        };
        // Commits are newest first: what this rollout carries is at `at` or older.
        let source = sources.as_ref().and_then(|s| s[at]).unwrap_or(at);
        for (i, commit) in commits.iter().enumerate().skip(at) {
            if delivered.contains(&i) || !commit.is_change() {
                continue;
            }
            // Delivered once all of it this application deploys is out: a commit that changes the
            // code and a manifest is out when the image built from it is, not with the manifest.
            let t = touches(commit);
            if (t.manifests || t.image) && (!t.image || i >= source) {
                delivered.insert(i);
                if !baseline && window.contains(succeeded_at) {
                    lead_times.push(succeeded_at - commit.commit.committer.date);
                }
            }
        }
        baseline = false;
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
