//! The secrets a machine can make are generated, long enough for api-app outside `local`: by
//! Terraform for the first value, by the runbook for a rotation.

use std::collections::{BTreeMap, BTreeSet};

use api_app::auth::MIN_GENERATED_KEY_LEN;
use hcl::eval::Evaluate;
use integration_tests::{kustomize, of_kind, read_text};

use integration_tests::terraform::{
    EnvRoot, PLATFORM, attr, attr_text, block, blocks_in, context, hcl_to_json, platform_locals,
};

/// Every `openssl rand -base64 N` in the key runbook yields a key api-app accepts in dev and prod.
#[test]
fn the_documented_key_generator_makes_keys_long_enough_for_dev_and_prod() {
    let runbook = read_text("terraform/README.md");
    let sizes: Vec<usize> = runbook
        .match_indices("openssl rand -base64 ")
        .map(|(at, found)| {
            runbook[at + found.len()..]
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .and_then(|n| n.parse().ok())
                .expect("a byte count after openssl rand -base64")
        })
        .collect();
    assert!(!sizes.is_empty(), "terraform/README.md generates the key");
    for bytes in sizes {
        // base64 writes 4 characters per 3 bytes.
        let chars = bytes.div_ceil(3) * 4;
        assert!(
            chars >= MIN_GENERATED_KEY_LEN && bytes * 8 >= 256,
            "openssl rand -base64 {bytes} gives {chars} characters; api-app needs {MIN_GENERATED_KEY_LEN}"
        );
    }
}

/// A module call of `modules/secret-first-value` in `modules/platform-cluster`: the secret it writes,
/// the keys it generates and the keys it is given (literal or a person's ephemeral input).
struct FirstValue {
    secret: String,
    made: BTreeSet<String>,
    given: BTreeMap<String, String>,
}

fn first_values(env: &str) -> Vec<FirstValue> {
    let platform = blocks_in(PLATFORM);
    let ctx = context(
        &EnvRoot::load(env).platform_vars(),
        &platform_locals(env),
        &serde_json::json!({}),
    );
    platform
        .iter()
        .filter(|b| {
            b.identifier() == "module"
                && attr_text(b.body(), "source") == "\"../secret-first-value\""
        })
        .map(|b| {
            let secret_id = attr_text(b.body(), "secret_id");
            // aws_secretsmanager_secret.<name>.id -> that resource's name argument, evaluated.
            let resource = secret_id
                .strip_prefix("aws_secretsmanager_secret.")
                .and_then(|r| r.strip_suffix(".id"))
                .unwrap_or_else(|| panic!("secret_id names a secret of this module: {secret_id}"));
            let name = attr(
                block(&platform, "resource", &["aws_secretsmanager_secret", resource]).body(),
                "name",
            )
            .unwrap()
            .evaluate(&ctx)
            .unwrap();
            let made: BTreeSet<String> = attr(b.body(), "generated_keys").map_or_else(BTreeSet::new, |e| {
                hcl_to_json(&e.evaluate(&ctx).unwrap())
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|k| k.as_str().unwrap().to_owned())
                    .collect()
            });
            if !made.is_empty() {
                let length = attr(b.body(), "length")
                    .map(|e| hcl_to_json(&e.evaluate(&ctx).unwrap()))
                    .and_then(|l| l.as_u64())
                    .expect("an explicit length");
                assert!(
                    usize::try_from(length).unwrap() >= MIN_GENERATED_KEY_LEN,
                    "{resource}: generated values of {length} characters; api-app needs {MIN_GENERATED_KEY_LEN}"
                );
            }
            // The given values as written: a literal ("") or the person's input (var.<name>).
            let given = match attr(b.body(), "given_values") {
                Some(hcl::Expression::Object(o)) => o
                    .iter()
                    .map(|(k, v)| {
                        (
                            k.to_string().trim_matches('"').to_owned(),
                            v.to_string().split_whitespace().collect(),
                        )
                    })
                    .collect(),
                Some(other) => panic!("{resource}: given_values is an object literal, not {other}"),
                None => BTreeMap::new(),
            };
            FirstValue {
                secret: name.as_str().unwrap().to_owned(),
                made,
                given,
            }
        })
        .collect()
}

/// The JSON properties the env's `ExternalSecrets` read from one Secrets Manager secret.
fn properties_read(env: &str, secret: &str) -> BTreeSet<String> {
    let mut docs: Vec<serde_yaml_ng::Value> = ["api-app", "demo-app", "monitoring"]
        .iter()
        .flat_map(|app| kustomize(&format!("k8s/overlays/{env}/{app}")))
        .collect();
    docs.extend(kustomize(&format!("k8s/argocd/{env}")));
    of_kind(&docs, "ExternalSecret")
        .flat_map(|es| {
            es["spec"]["data"]
                .as_sequence()
                .cloned()
                .unwrap_or_default()
        })
        .filter(|d| d["remoteRef"]["key"].as_str() == Some(secret))
        .map(|d| d["remoteRef"]["property"].as_str().unwrap().to_owned())
        .collect()
}

/// Whether `name` is declared `ephemeral = true` in a directory: never in plan or state.
fn is_ephemeral_variable(dir: &str, name: &str) -> bool {
    attr_text(
        block(&blocks_in(dir), "variable", &[name]).body(),
        "ephemeral",
    ) == "true"
}

/// Every secret a machine can make is made by Terraform (the API key, the app's database password,
/// the GitHub webhook secret); what only a person has (the Docker Hub token, the Slack and heartbeat
/// URLs) is typed into the first apply as an ephemeral input. Both are written once, write-only, with
/// exactly the JSON keys the `ExternalSecrets` read, and neither is ever in plan, state or a file.
#[test]
fn every_secret_a_machine_can_make_is_generated_and_only_a_persons_are_typed_in() {
    for env in ["dev", "prod"] {
        let first = first_values(env);
        for (secret, made, given) in [
            (
                format!("gitops/demo-api/{env}"),
                vec!["API_KEY"],
                vec![("API_KEY_PREVIOUS", "\"\"")],
            ),
            (
                format!("gitops/demo-api/{env}/db"),
                vec!["password"],
                vec![],
            ),
            (
                format!("gitops/platform-ops/{env}"),
                vec!["GITHUB_WEBHOOK_SECRET"],
                vec![
                    ("HEARTBEAT_URL", "var.heartbeat_url"),
                    ("SLACK_WEBHOOK_URL", "var.slack_webhook_url"),
                ],
            ),
            (
                format!("gitops/dockerhub/{env}"),
                vec![],
                vec![
                    ("token", "var.dockerhub_token"),
                    ("username", "var.dockerhub_username"),
                ],
            ),
        ] {
            let v = first
                .iter()
                .find(|g| g.secret == secret)
                .unwrap_or_else(|| panic!("{env}: {secret} gets its first value from Terraform"));
            let made: BTreeSet<String> = made.into_iter().map(str::to_owned).collect();
            let given: BTreeMap<String, String> = given
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            assert_eq!(v.made, made, "{env}: {secret} generates");
            assert_eq!(v.given, given, "{env}: {secret} is given");
            for input in v.given.values().filter_map(|g| g.strip_prefix("var.")) {
                assert!(
                    is_ephemeral_variable(PLATFORM, input)
                        && is_ephemeral_variable(&format!("terraform/envs/{env}"), input),
                    "{env}: var.{input} must be ephemeral in the module and the env root"
                );
            }
            let all: BTreeSet<String> = v.made.iter().chain(v.given.keys()).cloned().collect();
            assert_eq!(
                all,
                properties_read(env, &secret),
                "{env}: {secret} is written with exactly the keys the ExternalSecrets read"
            );
        }
        // The GitHub App's key (deployment records) is optional and set by hand (terraform/README.md).
        assert_eq!(first.len(), 4, "{env}");
    }
}
