//! The repository's GitHub settings (.github/github-settings.json): scripts/github-settings.sh
//! applies every one of them and its check finds each one that drifted, run against a fake GitHub
//! with state (tests/contract/fake-github.sh).

use integration_tests::facts::ENVS;
use integration_tests::{read_text, repo_root};
use serde_json::{Value as Json, json};

use crate::pipeline::FakeTools;

const APP_ID: &str = "424242";
const REPO: &str = "someone/fork";

/// One repository on the fake GitHub.
struct FakeRepo {
    tools: FakeTools,
}

impl FakeRepo {
    fn new() -> Self {
        let tools = FakeTools::new("github-settings");
        std::fs::copy(
            repo_root().join("tests/contract/fake-github.sh"),
            tools.path().join("gh"),
        )
        .unwrap();
        std::fs::create_dir_all(tools.path().join("github/environments")).unwrap();
        Self { tools }
    }

    /// A repository on which `apply` already ran, as a repository admin: the state of one real
    /// run, copied (each run starts ~100 processes).
    fn applied() -> Self {
        static APPLIED: std::sync::OnceLock<Vec<(String, String)>> = std::sync::OnceLock::new();
        let files = APPLIED.get_or_init(|| {
            let repo = Self::new();
            let (ok, out) = repo.apply();
            assert!(ok, "{out}");
            let dir = repo.tools.path().join("github");
            ["", "environments/"]
                .iter()
                .flat_map(|sub| {
                    std::fs::read_dir(dir.join(sub))
                        .unwrap()
                        .map(move |e| (sub, e.unwrap()))
                })
                .filter(|(_, e)| e.file_type().unwrap().is_file() && e.file_name() != "calls")
                .map(|(sub, e)| {
                    let name = format!("{sub}{}", e.file_name().to_str().unwrap());
                    (name, std::fs::read_to_string(e.path()).unwrap())
                })
                .collect()
        });
        let repo = Self::new();
        for (name, text) in files {
            repo.tools.file(&format!("github/{name}"), text);
        }
        repo
    }

    /// `scripts/github-settings.sh <args> --repo someone/fork`: (success, stdout and stderr).
    fn run(&self, args: &[&str]) -> (bool, String) {
        let args: Vec<&str> = args.iter().copied().chain(["--repo", REPO]).collect();
        let (ok, out, err) = self.tools.run("github-settings.sh", &args, &[], "");
        (ok, format!("{out}{err}"))
    }

    fn apply(&self) -> (bool, String) {
        self.run(&[
            "apply",
            "--app-id",
            APP_ID,
            "--reviewer",
            "team:prod-approvers",
        ])
    }

    fn check_all(&self) -> (bool, String) {
        self.run(&["check", "--app-id", APP_ID])
    }

    fn check_environment(&self, env: &str) -> (bool, String) {
        self.run(&["check", "--environment", env])
    }

    /// A file of the fake repository's state, under `github/`.
    fn state(&self, file: &str) -> Json {
        let text = std::fs::read_to_string(self.tools.path().join("github").join(file))
            .unwrap_or_else(|e| panic!("github/{file}: {e}"));
        serde_json::from_str(&text).unwrap()
    }

    fn write(&self, file: &str, value: &Json) {
        self.tools
            .file(&format!("github/{file}"), &value.to_string());
    }

    fn edit(&self, file: &str, change: impl FnOnce(&mut Json)) {
        let mut value = self.state(file);
        change(&mut value);
        self.write(file, &value);
    }

    fn ruleset(&self, name: &str) -> Json {
        find(&self.state("rulesets.json"), "name", name)
    }

    fn edit_ruleset(&self, name: &str, change: impl FnOnce(&mut Json)) {
        self.edit("rulesets.json", |sets| {
            let set = sets
                .as_array_mut()
                .unwrap()
                .iter_mut()
                .find(|r| r["name"] == name)
                .unwrap();
            change(set);
        });
    }

    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.tools.path().join("github/calls"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn forget_calls(&self) {
        self.tools.file("github/calls", "");
    }
}

fn spec() -> Json {
    serde_json::from_str(&read_text(".github/github-settings.json")).unwrap()
}

/// The element of the JSON array `list` whose `key` is `value`.
fn find(list: &Json, key: &str, value: &str) -> Json {
    list.as_array()
        .unwrap()
        .iter()
        .find(|item| item[key] == value)
        .cloned()
        .unwrap_or_else(|| panic!("no {key} {value} in {list}"))
}

fn rule(set: &Json, kind: &str) -> Json {
    find(&set["rules"], "type", kind)
}

fn branch_names(policies: &Json) -> Vec<String> {
    let mut names: Vec<String> = policies
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            format!(
                "{} {}",
                p["type"].as_str().unwrap(),
                p["name"].as_str().unwrap()
            )
        })
        .collect();
    names.sort();
    names
}

#[test]
fn apply_protects_every_environment_as_the_spec_says_with_no_admin_bypass() {
    let repo = FakeRepo::applied();
    let spec = spec();
    let envs = spec["environments"].as_object().unwrap();
    for (env, want) in envs {
        let live = repo.state(&format!("environments/{env}.json"));
        assert_eq!(
            live["can_admins_bypass"], false,
            "{env}: administrators cannot skip its rules"
        );
        let branches: Vec<String> = if want["deployment_branches"] == "any" {
            assert_eq!(
                live["deployment_branch_policy"],
                Json::Null,
                "{env}: any branch"
            );
            vec![]
        } else {
            assert_eq!(
                live["deployment_branch_policy"],
                json!({"protected_branches": false, "custom_branch_policies": true}),
                "{env}: selected branches only"
            );
            want["deployment_branches"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| format!("branch {}", b.as_str().unwrap()))
                .collect()
        };
        assert_eq!(
            branch_names(&repo.state(&format!("environments/{env}.policies.json"))),
            branches,
            "{env}"
        );
        let reviewers: Vec<&Json> = live["protection_rules"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["type"] == "required_reviewers")
            .collect();
        if want["required_reviewers"] == true {
            let [rule] = reviewers[..] else {
                panic!("{env}: one required_reviewers rule: {live}")
            };
            assert_eq!(
                rule["reviewers"],
                json!([{"type": "Team", "reviewer": {"id": 4100}}]),
                "{env}: the reviewer named on the command line"
            );
            assert_eq!(rule["prevent_self_review"], want["prevent_self_review"]);
        } else {
            assert!(reviewers.is_empty(), "{env}: {live}");
        }
    }

    // What the pipeline's promises need, as applied (so a setting dropped from the spec, or one the
    // script stops sending, fails here). Every environment that holds a secret or an apply role's
    // trust deploys from main only; prod's three wait for a reviewer who did not start the run.
    // terraform-dev has none: what reaches main was reviewed, and the dev roles cannot touch prod
    // (tests/contract/iam.rs), so its protection is the branch its apply role trusts.
    // terraform-prod-plan is pull requests' (whose refs no branch policy names), so its reviewer
    // is its one gate, before prod's plan role reads prod for a pull request's code.
    let mut names: Vec<&str> = envs.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "gitops-bot",
            "production",
            "registry",
            "terraform-dev",
            "terraform-prod",
            "terraform-prod-plan"
        ]
    );
    for env in names.iter().filter(|env| **env != "terraform-prod-plan") {
        assert_eq!(
            branch_names(&repo.state(&format!("environments/{env}.policies.json"))),
            ["branch main"],
            "{env} deploys from main only"
        );
    }
    for env in ["production", "terraform-prod", "terraform-prod-plan"] {
        let live = repo.state(&format!("environments/{env}.json"));
        assert_eq!(
            find(&live["protection_rules"], "type", "required_reviewers")["prevent_self_review"],
            true,
            "{env} waits for someone other than whoever started the run"
        );
    }
    assert_eq!(
        repo.state("fork-approval.json")["approval_policy"],
        "all_external_contributors",
        "no fork's workflow runs, on a runner or anywhere, before a maintainer approves it"
    );
}

#[test]
fn apply_protects_main_and_the_gitops_branches_with_no_admin_bypass() {
    let repo = FakeRepo::applied();
    let main = repo.ruleset("main");
    assert_eq!(main["bypass_actors"], json!([]), "no admin bypass");
    assert_eq!(main["enforcement"], "active");
    assert_eq!(
        main["conditions"]["ref_name"]["include"],
        json!(["~DEFAULT_BRANCH"])
    );
    let checks = &rule(&main, "required_status_checks")["parameters"]["required_status_checks"];
    assert_eq!(
        checks,
        &json!([{"context": "required", "integration_id": 15368}]),
        "the one always-running check of ci.yml, from GitHub Actions"
    );
    let ci = crate::workflows::workflow("ci");
    assert_eq!(ci["jobs"]["required"]["name"].as_str(), Some("required"));
    let review = &rule(&main, "pull_request")["parameters"];
    assert_eq!(review["require_code_owner_review"], true);
    assert_eq!(
        review["required_approving_review_count"], 0,
        "the bot-written dev pins have no owner and merge themselves"
    );
    // Approval of the last push asks for one approval by someone other than the pusher even with
    // no approvals required (jordanconway/package-manager-hardening#29), so the App's bump and
    // rollback PRs, which nobody reviews, would wait for a person. Stale approvals are dismissed on
    // push instead, so a push after a code owner's review needs that review again.
    assert_eq!(
        review["require_last_push_approval"], false,
        "nothing may stop the App's own dev PRs from merging themselves"
    );
    assert_eq!(review["dismiss_stale_reviews_on_push"], true);
    assert_eq!(review["allowed_merge_methods"], json!(["squash"]));
    for kind in ["deletion", "non_fast_forward"] {
        rule(&main, kind);
    }

    let gitops = repo.ruleset("gitops branches");
    assert_eq!(gitops["enforcement"], "active");
    assert_eq!(
        gitops["conditions"]["ref_name"]["include"],
        json!(["refs/heads/gitops/**"])
    );
    assert_eq!(
        gitops["bypass_actors"],
        json!([{"actor_id": 424_242, "actor_type": "Integration", "bypass_mode": "always"}]),
        "only the GitOps App writes gitops/* branches"
    );
    for kind in ["creation", "update", "deletion", "non_fast_forward"] {
        rule(&gitops, kind);
    }
}

#[test]
fn apply_is_idempotent_and_puts_back_what_drifted() {
    let repo = FakeRepo::applied();
    let (ok, out) = repo.check_all();
    assert!(ok, "the check passes right after apply: {out}");

    repo.edit("environments/terraform-dev.policies.json", |p| {
        p.as_array_mut().unwrap().extend([
            json!({"id": 90, "name": "*", "type": "branch"}),
            json!({"id": 91, "name": "v*", "type": "tag"}),
        ]);
    });
    repo.edit("environments/production.json", |e| {
        e["can_admins_bypass"] = json!(true);
    });
    repo.edit_ruleset("main", |set| {
        set["bypass_actors"] =
            json!([{"actor_id": 5, "actor_type": "RepositoryRole", "bypass_mode": "always"}]);
    });
    repo.forget_calls();
    let (ok, out) = repo.apply();
    assert!(ok, "{out}");

    let calls = repo.calls();
    assert!(
        !calls
            .iter()
            .any(|c| c.starts_with("POST repos/someone/fork/rulesets")),
        "existing rulesets are replaced, not duplicated: {calls:?}"
    );
    assert_eq!(repo.state("rulesets.json").as_array().unwrap().len(), 2);
    assert_eq!(repo.ruleset("main")["bypass_actors"], json!([]));
    assert_eq!(
        branch_names(&repo.state("environments/terraform-dev.policies.json")),
        ["branch main"]
    );
    assert_eq!(
        repo.state("environments/production.json")["can_admins_bypass"],
        false
    );
}

type Drift = fn(&FakeRepo);

/// On a freshly applied repository, `drift` makes the full check fail saying `expected`, and the
/// check of `environment` alone too when the drift is that environment's.
fn assert_check_finds(drift: Drift, environment: Option<&str>, expected: &str) {
    let repo = FakeRepo::applied();
    drift(&repo);
    let (ok, out) = repo.check_all();
    assert!(!ok && out.contains(expected), "{expected}: {out}");
    if let Some(env) = environment {
        let (ok, out) = repo.check_environment(env);
        assert!(
            !ok && out.contains(expected),
            "{env} alone: {expected}: {out}"
        );
    }
}

#[test]
fn the_check_names_every_environment_setting_that_drifted() {
    let cases: [(Drift, &str, &str); 7] = [
        (
            |r| {
                r.edit("environments/production.json", |e| {
                    e["protection_rules"][0]["prevent_self_review"] = json!(false);
                });
            },
            "production",
            "environment production: turn on 'Prevent self-review'",
        ),
        (
            |r| {
                r.tools.file("github/visibility", "private");
                r.edit("environments/terraform-prod.json", |e| {
                    e["protection_rules"] = json!([{"type": "branch_policy"}]);
                });
            },
            "terraform-prod",
            "environment terraform-prod has no required reviewers (a private repository: reviewers on environments need a public repository or GitHub Enterprise)",
        ),
        (
            |r| {
                r.edit("environments/terraform-dev.policies.json", |p| {
                    let extra = json!({"id": 90, "name": "*", "type": "branch"});
                    p.as_array_mut().unwrap().push(extra);
                });
            },
            "terraform-dev",
            "environment terraform-dev deploys from [\"branch *\",\"branch main\"]",
        ),
        (
            |r| {
                r.edit("environments/registry.json", |e| {
                    e["deployment_branch_policy"] = Json::Null;
                });
            },
            "registry",
            "environment registry must deploy from selected branches only",
        ),
        (
            |r| {
                r.edit("environments/terraform-prod-plan.json", |e| {
                    e["deployment_branch_policy"] =
                        json!({"protected_branches": true, "custom_branch_policies": false});
                });
            },
            "terraform-prod-plan",
            "environment terraform-prod-plan must deploy from any branch, as pull requests' plans do",
        ),
        (
            |r| {
                let file = r.tools.path().join("github/environments/gitops-bot.json");
                std::fs::remove_file(file).unwrap();
            },
            "gitops-bot",
            "environment gitops-bot does not exist",
        ),
        (
            |r| {
                r.edit("environments/terraform-prod.json", |e| {
                    e["can_admins_bypass"] = json!(true);
                });
            },
            "terraform-prod",
            "environment terraform-prod lets administrators bypass its protection rules",
        ),
    ];
    for (drift, env, expected) in cases {
        assert_check_finds(drift, Some(env), expected);
    }
}

#[test]
fn the_check_names_every_repository_setting_that_drifted() {
    let cases: [(Drift, &str); 7] = [
        (
            |r| {
                r.edit_ruleset("main", |set| {
                    set["bypass_actors"] = json!([
                        {"actor_id": 5, "actor_type": "RepositoryRole", "bypass_mode": "always"}
                    ]);
                });
            },
            "ruleset 'main' differs from github-settings.json: bypass actors",
        ),
        (
            |r| {
                r.edit_ruleset("main", |set| {
                    let rules = set["rules"].as_array_mut().unwrap();
                    rules.retain(|rule| rule["type"] != "required_status_checks");
                });
            },
            "ruleset 'main' differs from github-settings.json: rule required_status_checks",
        ),
        (
            |r| {
                r.edit_ruleset("main", |set| {
                    for rule in set["rules"].as_array_mut().unwrap() {
                        if rule["type"] == "pull_request" {
                            rule["parameters"]["require_code_owner_review"] = json!(false);
                        }
                    }
                });
            },
            "ruleset 'main' differs from github-settings.json: rule pull_request",
        ),
        (
            |r| {
                r.edit("rulesets.json", |sets| {
                    let sets = sets.as_array_mut().unwrap();
                    sets.retain(|s| s["name"] != "gitops branches");
                });
            },
            "ruleset 'gitops branches' does not exist",
        ),
        (
            |r| {
                let policy = json!({"approval_policy": "first_time_contributors"});
                r.write("fork-approval.json", &policy);
            },
            "workflows of fork pull requests run after approval for first_time_contributors, not all_external_contributors",
        ),
        (
            |r| {
                let errors = json!({"errors": [{"line": 6, "kind": "Unknown owner",
                    "message": "Unknown owner on line 6: make sure the team @gitops-platform/maintainers exists\n\n  * @gitops-platform/maintainers"}]});
                r.write("codeowners-errors.json", &errors);
            },
            "CODEOWNERS has lines GitHub ignores (create the teams, or replace them):\nline 6: Unknown owner on line 6",
        ),
        (
            |r| {
                r.tools.file("github/not-admin", "");
            },
            "ruleset 'main' differs from github-settings.json: bypass actors (GitHub shows them to repository admins only)",
        ),
    ];
    for (drift, expected) in cases {
        assert_check_finds(drift, None, expected);
    }
}

#[test]
fn the_check_of_one_environment_reads_only_that_environment() {
    let repo = FakeRepo::applied();
    // terraform-env.yml's protection job: a token that may read Actions and contents, nothing else.
    let (ok, out) = repo.check_environment("terraform-prod");
    assert!(ok, "{out}");
    let calls = repo.calls();
    assert!(!calls.is_empty());
    for call in &calls {
        assert!(
            call.starts_with("GET repos/someone/fork/environments/terraform-prod"),
            "{call}"
        );
    }
    // Drift elsewhere is not this environment's check's business.
    repo.edit("environments/terraform-dev.json", |e| {
        e["can_admins_bypass"] = json!(true);
    });
    assert!(repo.check_environment("terraform-prod").0);

    let (ok, out) = repo.check_environment("staging");
    assert!(
        !ok && out.contains("github-settings.json does not describe environment staging"),
        "{out}"
    );
}

#[test]
fn apply_refuses_a_missing_app_or_reviewer_before_it_writes_anything() {
    let repo = FakeRepo::new();
    for args in [
        &["apply", "--app-id", APP_ID][..],
        &["apply", "--app-id", APP_ID, "--reviewer", "prod-approvers"],
        &["apply", "--reviewer", "team:prod-approvers"],
        &["check"],
    ] {
        let (ok, out) = repo.run(args);
        assert!(!ok, "{args:?}: {out}");
        assert!(
            out.contains("--reviewer") || out.contains("--app-id"),
            "{args:?}: {out}"
        );
    }
    assert!(
        repo.calls().iter().all(|c| c.starts_with("GET ")),
        "{:?}",
        repo.calls()
    );
}

/// Every environment a workflow job runs in.
fn workflow_environments() -> std::collections::BTreeSet<String> {
    crate::workflows::workflow_names()
        .iter()
        .flat_map(|name| {
            let wf = crate::workflows::workflow(name);
            crate::workflows::jobs(&wf)
                .into_iter()
                .flat_map(|(_, job)| job_environments(job))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The environments one job may run in: a literal name, the quoted names of an expression, and
/// `format('terraform-{0}', inputs.env)` for each env; for a call of a reusable workflow, the
/// `environment` it passes (terraform-env.yml runs its jobs in `${{ inputs.environment }}`).
fn job_environments(job: &serde_yaml_ng::Value) -> std::collections::BTreeSet<String> {
    let mut names = std::collections::BTreeSet::new();
    if let Some(passed) = job["with"]["environment"].as_str() {
        names.insert(passed.to_owned());
    }
    let env = &job["environment"];
    let Some(value) = env.as_str().or_else(|| env["name"].as_str()) else {
        return names;
    };
    if !value.contains("${{") {
        names.insert(value.to_owned());
        return names;
    }
    // A quoted literal is a value the expression yields when it follows `&&` or `||` (not `==`),
    // or when it is format()'s pattern.
    let parts: Vec<&str> = value.split('\'').collect();
    for (before, quoted) in parts.iter().zip(&parts[1..]).step_by(2) {
        let before = before.trim_end();
        if let Some(prefix) = quoted
            .strip_suffix("{0}")
            .filter(|_| before.ends_with("format("))
        {
            names.extend(ENVS.iter().map(|env| format!("{prefix}{env}")));
        } else if !quoted.is_empty() && (before.ends_with("&&") || before.ends_with("||")) {
            names.insert((*quoted).to_owned());
        }
    }
    names
}

/// The secrets .github/README.md keeps in environments, and which environments hold each: its
/// table rows `| `NAME` | secret | environment(s) `a` and `b` | …`.
fn environment_secrets() -> std::collections::BTreeMap<String, std::collections::BTreeSet<String>> {
    read_text(".github/README.md")
        .lines()
        .filter_map(|row| {
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            let (name, kind, place) = (cells.get(1)?, cells.get(2)?, cells.get(3)?);
            if *kind != "secret" || !place.starts_with("environment") {
                return None;
            }
            let holders = place
                .split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_owned)
                .collect();
            Some((name.trim_matches('`').to_owned(), holders))
        })
        .collect()
}

/// An environment secret is empty to a job outside its environments: the job would run on, with
/// a blank key, and fail where it is used (terraform-lock's App token did, outside `gitops-bot`).
#[test]
fn a_job_that_reads_an_environment_secret_runs_only_where_it_is_kept() {
    let held = environment_secrets();
    assert!(
        held.contains_key("GITOPS_APP_PRIVATE_KEY") && held.contains_key("DOCKERHUB_TOKEN"),
        "the reader finds the README's environment secrets: {held:?}"
    );
    for name in crate::workflows::workflow_names() {
        let wf = crate::workflows::workflow(&name);
        for (id, job) in crate::workflows::jobs(&wf) {
            let text = serde_yaml_ng::to_string(job).unwrap();
            for (secret, holders) in &held {
                if !text.contains(&format!("secrets.{secret}")) {
                    continue;
                }
                let runs_in = job_environments(job);
                assert!(
                    !runs_in.is_empty() && runs_in.is_subset(holders),
                    "{name}.yml job {id} reads {secret}, kept in {holders:?}, but runs in {runs_in:?}"
                );
            }
        }
    }
}

#[test]
fn the_spec_describes_exactly_the_environments_the_workflows_run_in() {
    let spec = spec();
    let described: std::collections::BTreeSet<String> = spec["environments"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let used = workflow_environments();
    assert!(
        used.contains("production") && used.contains("terraform-prod"),
        "the reader finds the environments: {used:?}"
    );
    assert_eq!(
        described, used,
        "an environment a job runs in that nobody protects, or one the spec keeps for nothing"
    );
}

#[test]
fn the_docs_send_everyone_to_the_one_script_and_its_spec() {
    let steps = read_text("terraform/README.md");
    let first_run = &steps[steps
        .find("1. **")
        .expect("terraform/README.md has numbered first-run steps")..];
    let step_one = &first_run[..first_run.find("2. **").unwrap()];
    assert!(
        step_one.contains("scripts/github-settings.sh apply --app-id"),
        "terraform/README.md's first step applies the GitHub settings: {step_one}"
    );
    for doc in [".github/README.md", "SECURITY.md", "scripts/README.md"] {
        let text = read_text(doc);
        assert!(
            text.contains("github-settings.json") && text.contains("github-settings.sh"),
            "{doc} names the settings script and its spec"
        );
    }
    for doc in [
        "README.md",
        ".github/README.md",
        "SECURITY.md",
        "scripts/README.md",
        "terraform/README.md",
        ".github/CODEOWNERS",
    ] {
        assert!(
            !read_text(doc).contains("bootstrap/github-settings"),
            "{doc} points at a settings script that no longer exists"
        );
    }
}
