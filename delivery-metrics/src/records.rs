//! Reads the GitHub REST API responses `gh api --paginate` saved: deployments, their statuses and commits.

use std::path::Path;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use time::OffsetDateTime;

/// What went wrong reading a saved API response; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum RecordsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a saved GitHub API response: {source}")]
    Json {
        path: String,
        source: serde_json::Error,
    },
    #[error("{path}: a deployment status names no deployment id in its deployment_url ({url})")]
    DeploymentUrl { path: String, url: String },
}

/// `GET /repos/{owner}/{repo}/deployments`: one deployment of a commit to an environment.
#[derive(Debug, Clone, Deserialize)]
pub struct Deployment {
    pub id: u64,
    pub sha: String,
    pub environment: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// The states GitHub allows on a deployment status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Success,
    Failure,
    Error,
    Inactive,
    InProgress,
    Queued,
    Pending,
    /// A state added to the API after this was written: not a terminal outcome we know.
    #[serde(other)]
    Other,
}

/// `GET /repos/{owner}/{repo}/deployments/{id}/statuses`: what happened to a deployment, and when.
#[derive(Debug, Clone, Deserialize)]
pub struct DeploymentStatus {
    pub state: State,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// `…/deployments/{id}`: the only link from a status back to its deployment.
    deployment_url: String,
}

impl DeploymentStatus {
    /// The id at the end of `deployment_url`.
    pub fn deployment_id(&self) -> Option<u64> {
        self.deployment_url.rsplit('/').next()?.parse().ok()
    }
}

/// A commit on the deployed branch, shaped like `GET /repos/{owner}/{repo}/commits/{sha}`
/// (`fetch-records.sh` writes it from `git log`).
#[derive(Debug, Clone, Deserialize)]
pub struct Commit {
    pub sha: String,
    pub commit: CommitDetail,
    /// The paths it changed; absent (the commit list endpoint) means unknown: it touches everything.
    #[serde(default)]
    pub files: Option<Vec<ChangedFile>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ChangedFile {
    pub filename: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CommitDetail {
    pub message: String,
    pub committer: Signature,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Signature {
    #[serde(with = "time::serde::rfc3339")]
    pub date: OffsetDateTime,
}

/// Everything the metrics are computed from.
#[derive(Debug, Clone, Default)]
pub struct Records {
    pub deployments: Vec<Deployment>,
    pub statuses: Vec<DeploymentStatus>,
    /// Newest first, as the commits endpoint lists them.
    pub commits: Vec<Commit>,
}

impl Records {
    /// Loads the three files the metrics workflow saves.
    pub fn load(deployments: &Path, statuses: &Path, commits: &Path) -> Result<Self, RecordsError> {
        let records = Self {
            deployments: read_pages(deployments)?,
            statuses: read_pages(statuses)?,
            commits: read_pages(commits)?,
        };
        if let Some(bad) = records
            .statuses
            .iter()
            .find(|s| s.deployment_id().is_none())
        {
            return Err(RecordsError::DeploymentUrl {
                path: statuses.display().to_string(),
                url: bad.deployment_url.clone(),
            });
        }
        Ok(records)
    }
}

/// Items of every page in a file. `gh api --paginate` writes each page's array one after the
/// other (`[…][…]`), `--slurp` wraps them in one array (`[[…],[…]]`), and a loop over nothing
/// writes nothing: all three are accepted.
pub fn parse_pages<T: DeserializeOwned>(text: &str) -> Result<Vec<T>, serde_json::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Page<T> {
        Slurped(Vec<Vec<T>>),
        Items(Vec<T>),
    }
    let mut items = Vec::new();
    for page in serde_json::Deserializer::from_str(text).into_iter::<Page<T>>() {
        match page? {
            Page::Slurped(pages) => items.extend(pages.into_iter().flatten()),
            Page::Items(page) => items.extend(page),
        }
    }
    Ok(items)
}

fn read_pages<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>, RecordsError> {
    let text = std::fs::read_to_string(path).map_err(|source| RecordsError::Read {
        path: path.display().to_string(),
        source,
    })?;
    parse_pages(&text).map_err(|source| RecordsError::Json {
        path: path.display().to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Item {
        id: u8,
    }

    #[test]
    fn pages_concatenated_slurped_or_absent_all_parse() {
        let ids = |text: &str| -> Vec<u8> {
            parse_pages::<Item>(text)
                .unwrap()
                .into_iter()
                .map(|i| i.id)
                .collect()
        };
        assert_eq!(ids(r#"[{"id":1},{"id":2}]"#), [1, 2]);
        assert_eq!(ids("[{\"id\":1}]\n[{\"id\":2}]\n"), [1, 2]);
        assert_eq!(ids(r#"[[{"id":1}],[{"id":2}]]"#), [1, 2]);
        assert_eq!(ids("[]"), Vec::<u8>::new());
        assert_eq!(ids(""), Vec::<u8>::new());
    }

    #[test]
    fn a_page_that_is_not_a_list_is_an_error() {
        assert!(parse_pages::<Item>(r#"{"message":"Not Found"}"#).is_err());
    }

    #[test]
    fn a_status_knows_its_deployment_by_url() {
        let status: DeploymentStatus = serde_json::from_str(
            r#"{"state":"success","created_at":"2026-11-23T10:45:00Z",
                "deployment_url":"https://api.github.com/repos/o/r/deployments/42"}"#,
        )
        .unwrap();
        assert_eq!(status.deployment_id(), Some(42));
        assert_eq!(status.state, State::Success);
    }
}
