//! A fork's first deploy: per environment, a handful of commands on a workstation, and no file
//! edited by hand. terraform/README.md states the count; this file counts the commands it shows and
//! checks that they set every input Terraform needs and hand CI what it reads.

use std::collections::BTreeSet;

use integration_tests::facts::ENVS;
use integration_tests::read_text;

use integration_tests::terraform::{attr, block, blocks_in};

/// The most commands one env's deploy may take from a workstation (issue 20).
const MOST_COMMANDS: usize = 5;
const MARKER: &str = "tests/contract/first_deploy.rs counts the commands of the next block";

/// The first-run part of terraform/README.md.
fn first_run() -> String {
    let readme = read_text("terraform/README.md");
    readme
        .split("## From an empty AWS account")
        .nth(1)
        .expect("terraform/README.md has the first-run steps")
        .split("\n## ")
        .next()
        .unwrap()
        .to_owned()
}

/// The commands of a shell block: continuation lines joined, blank lines and comments left out.
fn commands(block: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in block.lines().map(str::trim) {
        if current.is_empty() && (line.is_empty() || line.starts_with('#')) {
            continue;
        }
        if let Some(part) = line.strip_suffix('\\') {
            current.push_str(part);
        } else {
            current.push_str(line);
            out.push(std::mem::take(&mut current));
        }
    }
    assert!(current.is_empty(), "the block ends inside a continued line");
    out
}

/// The step that deploys one env: its title line and the commands of its counted block.
fn deploy_step() -> (String, Vec<String>) {
    let section = first_run();
    let at = section
        .find(MARKER)
        .expect("the per-env deploy block is marked for this test");
    let title = section[..at]
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with(|c: char| c.is_ascii_digit()))
        .expect("the block sits in a numbered step")
        .to_owned();
    let fenced = section[at..]
        .split("```sh\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a ```sh block follows the marker");
    (title, commands(fenced))
}

#[test]
fn an_env_deploys_from_a_workstation_in_at_most_five_commands_as_the_readme_says() {
    let (title, commands) = deploy_step();
    let n = commands.len();
    assert!(
        (1..=MOST_COMMANDS).contains(&n),
        "one env's first deploy takes {n} commands; at most {MOST_COMMANDS}: {commands:#?}"
    );
    assert!(
        title.contains(&format!("{n} commands")),
        "the step's title states the count ({n} commands): {title}"
    );
    let section = first_run();
    assert!(
        section.contains(&format!("the same {n} commands")),
        "the prod step repeats the same {n} commands"
    );
    // Every command is one a newcomer can run as written, one line each (no chained && lists).
    for c in &commands {
        assert!(!c.contains(" && "), "one command per line: {c}");
    }
}

#[test]
fn the_first_deploy_edits_no_file_and_copies_nothing_into_git() {
    let (_, commands) = deploy_step();
    for c in &commands {
        for writes in [
            " > ",
            ">>",
            " tee ",
            "sed -i",
            "git commit",
            "git add",
            "$EDITOR",
            "cat >",
        ] {
            assert!(
                !c.contains(writes),
                "the deploy writes a file ({writes}): {c}"
            );
        }
    }
    let section = first_run();
    for hand_edit in [
        "REPLACE-WITH",
        "in place of",
        ".auto.tfvars",
        "and commit",
        "commit the",
        "> ops.json",
        "> dockerhub.json",
        "> api-keys.json",
        "> db-password.json",
    ] {
        assert!(
            !section.contains(hand_edit),
            "the first-run steps still ask for a hand edit or a secret file: {hand_edit}"
        );
    }
}

/// The names after `-var` and `TF_VAR_` in the deploy's commands.
fn variables_set(commands: &[String]) -> BTreeSet<String> {
    let mut set = BTreeSet::new();
    for c in commands {
        for word in c.split_whitespace() {
            let word = word.trim_start_matches('\'');
            if let Some(rest) = word.strip_prefix("TF_VAR_") {
                set.insert(rest.split('=').next().unwrap().to_owned());
            }
        }
        for (i, _) in c.match_indices("-var ") {
            let rest = c[i + 5..].trim_start_matches('\'');
            set.insert(rest.split('=').next().unwrap().to_owned());
        }
    }
    set
}

#[test]
fn the_deploy_sets_every_input_terraform_needs_and_hands_ci_the_rest() {
    let (_, commands) = deploy_step();
    let set = variables_set(&commands);
    for env in ENVS {
        let root = blocks_in(&format!("terraform/envs/{env}"));
        let variables: Vec<&hcl::Block> = root
            .iter()
            .filter(|b| b.identifier() == "variable")
            .collect();
        for v in &variables {
            let name = v.labels()[0].as_str();
            let required = attr(v.body(), "default").is_none();
            let person = attr(v.body(), "ephemeral").is_some();
            if required || person {
                assert!(
                    set.contains(name),
                    "envs/{env}: the first deploy must set var.{name}: {set:?}"
                );
            }
        }
        for name in &set {
            assert!(
                variables.iter().any(|v| v.labels()[0].as_str() == name),
                "envs/{env}: the deploy sets var.{name}, which the root does not declare"
            );
        }
        // What the deploy hands CI (one `gh variable set` per output key) is what CI reads.
        let output = block(&root, "output", &["github_variables"]);
        let hcl::Expression::Object(values) = attr(output.body(), "value").unwrap() else {
            panic!("github_variables is an object literal")
        };
        let handed: BTreeSet<String> = values
            .iter()
            .map(|(k, _)| k.to_string().trim_matches('"').to_owned())
            .collect();
        let suffix = format!("_{}", env.to_uppercase());
        let mut read = BTreeSet::new();
        for wf in ["terraform.yml", "terraform-env.yml", "terraform-drift.yml"] {
            let text = read_text(&format!(".github/workflows/{wf}"));
            for (i, _) in text.match_indices("vars.") {
                let name: String = text[i + 5..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                // The env's own inputs, and DNS_ZONE_NAME which both envs share.
                let per_env = name.ends_with(&suffix)
                    && [
                        "AWS_PLAN_ROLE_ARN",
                        "AWS_APPLY_ROLE_ARN",
                        "CLUSTER_ADMIN_ROLE_ARNS",
                        "ENDPOINT_PUBLIC_ACCESS_CIDRS",
                    ]
                    .iter()
                    .any(|p| name.starts_with(p));
                if per_env || name == "DNS_ZONE_NAME" {
                    read.insert(name);
                }
            }
            // A per-env variable read by name (`vars[format('ALARM_SLACK_{0}', inputs.env)]`).
            for (i, _) in text.match_indices("vars[format('") {
                let prefix: String = text[i + 13..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                assert!(
                    text[i + 13 + prefix.len()..].starts_with("{0}'"),
                    "{wf}: a per-env variable is <NAME>_{{0}} with the env"
                );
                read.insert(format!("{prefix}{}", env.to_uppercase()));
            }
        }
        assert!(
            read.contains("DNS_ZONE_NAME"),
            "CI passes the zone to Terraform"
        );
        assert_eq!(
            handed, read,
            "envs/{env}: github_variables is exactly what CI reads"
        );
    }
}

#[test]
fn commands_are_counted_as_a_shell_reads_them() {
    let block = "# a comment\nread -rsp 'x' a b\n\nterraform apply \\\n  -var a=1 \\\n  -var b=2\ngh workflow run x\n";
    let c = commands(block);
    assert_eq!(c.len(), 3, "{c:?}");
    assert!(c[1].contains("-var a=1") && c[1].contains("-var b=2"));
    assert_eq!(
        variables_set(&c),
        BTreeSet::from(["a".to_owned(), "b".to_owned()])
    );
}
