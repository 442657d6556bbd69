//! Reads `main`'s history the way this platform's workflows write it: which commits are changes,
//! which pin images into an environment, which roll one back, and so which source commit's images
//! each environment runs at any commit.
//!
//! The subjects are the workflows' (tests/contract/delivery.rs binds them): release.yml's bump
//! `deploy(dev): api-app and demo-app 1.0.N (<source sha>)`, promote.yml's
//! `deploy(prod): api-app@sha256:…`, rollback.yml's `rollback(<env>): …` with a `Reverts <sha>`
//! line, and `git revert`'s `Revert "…"` with `This reverts commit <sha>.`

use std::collections::HashMap;

use crate::records::Commit;

/// How release.yml and promote.yml begin a commit that pins images: `deploy(<env>): …`.
pub const DEPLOY_SUBJECT: &str = "deploy(";
/// How rollback.yml begins its commit: `rollback(<env>): …`.
pub const ROLLBACK_SUBJECT: &str = "rollback(";
/// The line of a rollback.yml commit that names the deploy commit it reverts.
pub const ROLLBACK_REVERTS: &str = "Reverts ";
/// The subject `git revert` gives a revert commit (and GitHub's "Revert" button keeps).
pub const REVERT_PREFIX: &str = "Revert \"";
/// The line of a `git revert` commit that names the commit it reverts.
const GIT_REVERTS: &str = "This reverts commit ";
/// Where prod's images come from: promote.yml copies what this environment runs.
pub const PROMOTED_FROM: &str = "dev";

/// `deploy(dev): …` → `dev`, for subjects that start with `prefix` (`deploy(`, `rollback(`).
fn scoped<'a>(subject: &'a str, prefix: &str) -> Option<&'a str> {
    subject
        .strip_prefix(prefix)?
        .split_once("):")
        .map(|(env, _)| env)
}

fn is_sha(text: &str) -> bool {
    text.len() == 40 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

impl Commit {
    pub fn subject(&self) -> &str {
        self.commit.message.lines().next().unwrap_or_default()
    }

    /// The environment whose images a `deploy(<env>): …` commit pins.
    pub fn deploys_to(&self) -> Option<&str> {
        scoped(self.subject(), DEPLOY_SUBJECT)
    }

    /// The commit the pinned images were built from, when the subject names it (`(<40 hex>)`).
    pub fn image_source(&self) -> Option<&str> {
        self.subject().rsplit(['(', ')']).find(|part| is_sha(part))
    }

    /// Whether a deploy commit's subject names `app` (`api-app and demo-app`, `api-app@sha256:…`).
    fn names(&self, app: &str) -> bool {
        self.subject()
            .split(|c: char| c.is_whitespace() || matches!(c, '@' | ',' | ':'))
            .any(|word| word == app)
    }

    /// The commit this one reverts (rollback.yml's `Reverts <sha>`, git's `This reverts commit <sha>.`).
    pub fn reverts(&self) -> Option<&str> {
        self.commit.message.lines().find_map(|line| {
            let sha = line
                .strip_prefix(ROLLBACK_REVERTS)
                .or_else(|| line.strip_prefix(GIT_REVERTS))?
                .trim_end_matches('.');
            is_sha(sha).then_some(sha)
        })
    }

    /// Whether deploying this commit to `env` takes it back: a rollback.yml commit for `env`, or a
    /// `git revert` (of a deploy or rollback commit of `env`, or of anything not tied to one env).
    pub fn rolls_back(&self, env: &str) -> bool {
        let subject = self.subject();
        if let Some(scope) = scoped(subject, ROLLBACK_SUBJECT) {
            return scope == env;
        }
        let Some(reverted) = subject.strip_prefix(REVERT_PREFIX) else {
            return false;
        };
        match scoped(reverted, DEPLOY_SUBJECT).or_else(|| scoped(reverted, ROLLBACK_SUBJECT)) {
            Some(scope) => scope == env,
            None => true,
        }
    }

    /// The environment a commit pins or rolls back, if it is the bots' (not a change).
    fn pins(&self) -> Option<&str> {
        let subject = self.subject();
        let reverted = subject.strip_prefix(REVERT_PREFIX).unwrap_or(subject);
        scoped(reverted, DEPLOY_SUBJECT).or_else(|| scoped(reverted, ROLLBACK_SUBJECT))
    }

    /// A change is what lead time measures: anything but the commits that pin images or undo a
    /// pin, which carry changes made earlier.
    pub fn is_change(&self) -> bool {
        self.pins().is_none()
    }
}

/// Each commit's position in `commits` (newest first: a larger position is an older commit).
pub(crate) fn positions(commits: &[Commit]) -> HashMap<&str, usize> {
    commits
        .iter()
        .enumerate()
        .map(|(i, c)| (c.sha.as_str(), i))
        .collect()
}

/// For each commit of `commits` (newest first), the position in `commits` of the source commit
/// whose `app` images `env` runs at that commit: the newest deploy of `env` naming the app that no
/// later rollback or revert undid. A deploy to another env than [`PROMOTED_FROM`] that names no
/// source runs what that env ran when it was written (promote.yml's default). `None` where unknown.
pub fn image_sources(commits: &[Commit], app: &str, env: &str) -> Vec<Option<usize>> {
    let position = positions(commits);
    let promoted = (env != PROMOTED_FROM).then(|| image_sources(commits, app, PROMOTED_FROM));
    let mut pins: Vec<(&str, Option<usize>)> = Vec::new();
    let mut sources = vec![None; commits.len()];
    for (i, commit) in commits.iter().enumerate().rev() {
        if commit.deploys_to() == Some(env) && commit.names(app) {
            let source = match commit.image_source() {
                Some(sha) => position.get(sha).copied(),
                None => promoted.as_ref().and_then(|p| p[i]),
            };
            pins.push((&commit.sha, source));
        } else if let Some(reverted) = commit.reverts().filter(|_| commit.rolls_back(env)) {
            pins.retain(|(sha, _)| *sha != reverted);
        }
        sources[i] = pins.last().and_then(|(_, source)| *source);
    }
    sources
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{CommitDetail, Signature};

    fn commit(sha: char, message: &str) -> Commit {
        Commit {
            sha: sha.to_string().repeat(40),
            commit: CommitDetail {
                message: message.to_owned(),
                committer: Signature {
                    date: time::OffsetDateTime::UNIX_EPOCH,
                },
            },
            files: None,
        }
    }

    fn sha(c: char) -> String {
        c.to_string().repeat(40)
    }

    #[test]
    fn the_workflows_subjects_are_read() {
        let bump = commit(
            'b',
            &format!(
                "deploy(dev): api-app and demo-app 1.0.7 ({}) (#12)",
                sha('a')
            ),
        );
        assert_eq!(bump.deploys_to(), Some("dev"));
        assert_eq!(bump.image_source(), Some(sha('a').as_str()));
        assert!(bump.names("api-app") && bump.names("demo-app") && !bump.names("app"));
        assert!(!bump.is_change());

        let rollback = commit(
            'r',
            &format!(
                "rollback(dev): deploy(dev): api-app and demo-app 1.0.7 ({}) (#13)\n\nReverts {}\n",
                sha('a'),
                sha('b')
            ),
        );
        assert_eq!(rollback.deploys_to(), None);
        assert_eq!(rollback.reverts(), Some(sha('b').as_str()));
        assert!(rollback.rolls_back("dev") && !rollback.rolls_back("prod"));
        assert!(!rollback.is_change());

        let promote = commit(
            'p',
            "deploy(prod): api-app@sha256:0123 demo-app@sha256:4567",
        );
        assert_eq!(promote.deploys_to(), Some("prod"));
        assert_eq!(promote.image_source(), None);
        assert!(promote.names("demo-app"));
    }

    #[test]
    fn a_git_revert_of_a_pin_is_scoped_to_its_env_and_of_anything_else_to_all() {
        let of_pin = commit(
            'v',
            &format!(
                "Revert \"deploy(dev): api-app and demo-app 1.0.7 (#12)\"\n\nThis reverts commit {}.\n",
                sha('b')
            ),
        );
        assert!(of_pin.rolls_back("dev") && !of_pin.rolls_back("prod"));
        assert_eq!(of_pin.reverts(), Some(sha('b').as_str()));
        assert!(!of_pin.is_change());

        let of_change = commit('w', "Revert \"k8s: raise the memory limit\" (#20)");
        assert!(of_change.rolls_back("dev") && of_change.rolls_back("prod"));
        assert!(of_change.is_change(), "undoing a change is a change");
        assert!(!commit('x', "api: rollback( is not a prefix here").rolls_back("dev"));
    }

    #[test]
    fn each_env_runs_the_source_of_its_newest_deploy_not_rolled_back() {
        // Oldest last: source a, bump b (a); source c, bump d (c); rollback of d; promote e.
        let commits = vec![
            commit('e', "deploy(prod): api-app@sha256:0123"),
            commit(
                'r',
                &format!("rollback(dev): deploy(dev): … (#3)\n\nReverts {}", sha('d')),
            ),
            commit(
                'd',
                &format!("deploy(dev): api-app and demo-app 1.0.2 ({})", sha('c')),
            ),
            commit('c', "api: a change"),
            commit(
                'b',
                &format!("deploy(dev): api-app and demo-app 1.0.1 ({})", sha('a')),
            ),
            commit('a', "api: first change"),
        ];
        let (a, c) = (Some(5), Some(3));
        assert_eq!(
            image_sources(&commits, "api-app", "dev"),
            [a, a, c, a, a, None]
        );
        // prod's promotion copies what dev ran then: a, since the rollback.
        assert_eq!(
            image_sources(&commits, "api-app", "prod"),
            [a, None, None, None, None, None]
        );
        // demo-app was not promoted.
        assert_eq!(image_sources(&commits, "demo-app", "prod"), [None; 6]);
    }
}
