//! terraform/ must agree with k8s/ and the contract: secret names, Pod Identity bindings, cluster
//! names, the ESO policy's secrets and the root Application's path.
//!
//! The HCL is parsed with hcl-rs and the module `locals` are evaluated per environment with the
//! values the env roots pass in, so a renamed local or a changed template breaks these tests.

use std::collections::BTreeSet;

use hcl::Value;
use hcl::eval::Evaluate;
use integration_tests::facts::{ENVS, REPO_URL};
use integration_tests::k8s::{argocd, overlay};
use integration_tests::terraform::{
    ACCOUNT, EnvRoot, PLATFORM, assert_reads_secrets_only, attr, attr_text, block, blocks_in,
    context, hcl_to_json, helm_release, k8s_docs_as_json, local_str, locals_of, platform_locals,
    pod_identities_output,
};
use integration_tests::{of_kind, read_yaml, repo_root};

#[test]
fn clusters_are_named_gitops_dev_and_gitops_prod() {
    let eks = block(&blocks_in(PLATFORM), "module", &["eks"])
        .body()
        .clone();
    assert_eq!(
        attr_text(&eks, "name"),
        "local.name",
        "the EKS cluster takes its name from the seed"
    );
    for env in ENVS {
        let root = EnvRoot::load(env);
        assert_eq!(
            root.module_arg("platform", "env"),
            Value::from(env),
            "envs/{env} must build env {env}"
        );
        assert_eq!(
            local_str(&platform_locals(env), "name"),
            format!("gitops-{env}")
        );
    }
}

#[test]
fn terraform_secret_names_equal_external_secret_remote_keys() {
    let platform = blocks_in(PLATFORM);
    let secret = block(&platform, "resource", &["aws_secretsmanager_secret", "api"]).body();
    assert_eq!(attr_text(secret, "name"), "local.api_secret_name");
    for env in ENVS {
        let name = local_str(&platform_locals(env), "api_secret_name");
        assert_eq!(name, format!("gitops/demo-api/{env}"));

        let docs = k8s_docs_as_json(&overlay(env, "api-app"));
        let es: Vec<_> = docs
            .iter()
            .filter(|d| d["kind"] == "ExternalSecret" && d["metadata"]["name"] == "api-app-secrets")
            .collect();
        assert_eq!(es.len(), 1, "{env}: one ExternalSecret api-app-secrets");
        let keys: BTreeSet<_> = es[0]["spec"]["data"]
            .as_array()
            .expect("spec.data lists the keys")
            .iter()
            .map(|d| d["remoteRef"]["key"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            keys,
            BTreeSet::from([name]),
            "{env}: ExternalSecret remote keys must be the Terraform secret"
        );
    }
}

#[test]
fn secret_value_never_enters_terraform() {
    for f in integration_tests::files_under("terraform", "tf") {
        let blocks: Vec<hcl::Block> = hcl::parse(&integration_tests::read_text(&f))
            .unwrap()
            .into_blocks()
            .collect();
        // No secret version at all, not even write-only: its every refresh reads the value
        // (GetSecretValue), which no CI role may (tests/contract/iam.rs).
        for b in &blocks {
            assert!(
                !b.labels()
                    .first()
                    .is_some_and(|l| l.as_str().starts_with("aws_secretsmanager_secret_version")),
                "{f}: {} {:?} reads a secret value; write first values with modules/secret-first-value",
                b.identifier(),
                b.labels()
            );
        }
        // The one writer passes the value through a provisioner's environment, built from ephemeral
        // values only (generated, or a person's ephemeral input), so it is never in plan or state.
        if f.starts_with("terraform/modules/secret-first-value/") {
            for b in blocks.iter().filter(|b| b.identifier() == "resource") {
                let exec = b
                    .body()
                    .blocks()
                    .find(|p| p.identifier() == "provisioner")
                    .unwrap_or_else(|| panic!("{f}: {:?} writes no value", b.labels()));
                let env = attr_text(exec.body(), "environment");
                assert!(
                    env.contains("ephemeral.aws_secretsmanager_random_password")
                        && env.contains("var.given_values"),
                    "{f}: the first value is built from ephemeral values only: {env}"
                );
            }
        }
    }
    assert!(
        integration_tests::read_text("terraform/modules/secret-first-value/variables.tf")
            .contains("ephemeral   = true"),
        "given_values must be an ephemeral input"
    );
}

#[test]
fn eso_policy_reads_exactly_the_envs_own_secrets() {
    let mut arns = BTreeSet::new();
    for env in ENVS {
        let locals = platform_locals(env);
        let policy: serde_json::Value =
            serde_json::from_str(&local_str(&locals, "external_secrets_policy")).unwrap();
        let statements = policy["Statement"].as_array().expect("Statement is a list");
        assert_eq!(statements.len(), 1, "{env}: one statement");
        let s = &statements[0];
        assert_reads_secrets_only(s, env);
        let resources: BTreeSet<_> = s["Resource"]
            .as_array()
            .expect("Resource lists the env's secrets")
            .iter()
            .map(|r| r.as_str().unwrap().to_owned())
            .collect();
        let prefix = format!("arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:");
        assert_eq!(
            resources,
            BTreeSet::from([
                format!("{prefix}gitops/demo-api/{env}-??????"),
                format!("{prefix}gitops/dockerhub/{env}-??????"),
                format!("{prefix}gitops/platform-ops/{env}-??????"),
            ]),
            "{env}: the API keys, the registry pull credential and the platform's ops secret, nothing else"
        );
        assert!(
            resources.iter().all(|arn| !arn.contains('*')),
            "{env}: no wildcard in the ESO resource"
        );
        arns.extend(resources);
    }
    assert_eq!(arns.len(), 6, "dev and prod must not share a secret");

    let module = block(
        &blocks_in(PLATFORM),
        "module",
        &["external_secrets_pod_identity"],
    )
    .body()
    .clone();
    assert_eq!(attr_text(&module, "attach_custom_policy"), "true");
    // The API-key policy above, plus the database secrets (tests/contract/database.rs checks that one).
    assert_eq!(
        attr_text(&module, "source_policy_documents"),
        "[local.external_secrets_policy,local.deployment_records_secret_policy,local.external_secrets_database_policy]",
        "the API, registry and ops secrets' document, the deployment records' (tests/contract/delivery.rs) and the database's"
    );
    let extra: Vec<_> = module
        .attributes()
        .map(hcl::Attribute::key)
        .filter(|k| {
            (k.starts_with("attach_") && *k != "attach_custom_policy")
                || [
                    "policy_statements",
                    "additional_policy_arns",
                    "override_policy_documents",
                ]
                .contains(k)
        })
        .collect();
    assert!(
        extra.is_empty(),
        "the ESO role gets no other policy: {extra:?}"
    );
}

#[test]
fn pod_identity_bindings_match_helm_releases_and_k8s() {
    let expected = serde_json::json!({
        "argo_rollouts": { "namespace": "argo-rollouts", "service_account": "argo-rollouts" },
        "aws_load_balancer_controller": { "namespace": "kube-system", "service_account": "aws-load-balancer-controller" },
        "external_secrets": { "namespace": "external-secrets", "service_account": "external-secrets" },
    });
    let platform = blocks_in(PLATFORM);
    for env in ENVS {
        let locals = platform_locals(env);
        assert_eq!(
            pod_identities_output(&locals),
            expected,
            "{env}: the contract's Pod Identity bindings"
        );

        // The associations Terraform creates use exactly those bindings.
        let module = serde_json::json!({ "eks": { "cluster_name": format!("gitops-{env}") } });
        let ctx = context(&EnvRoot::load(env).platform_vars(), &locals, &module);
        for (module_name, key) in [
            ("argo_rollouts_pod_identity", "argo_rollouts"),
            ("aws_lbc_pod_identity", "aws_load_balancer_controller"),
            ("external_secrets_pod_identity", "external_secrets"),
        ] {
            let body = block(&platform, "module", &[module_name]).body();
            let assoc = hcl_to_json(&attr(body, "associations").unwrap().evaluate(&ctx).unwrap());
            let assoc = assoc.as_object().unwrap();
            assert_eq!(assoc.len(), 1, "{module_name}: one association");
            let a = assoc.values().next().unwrap();
            assert_eq!(a["namespace"], expected[key]["namespace"], "{module_name}");
            assert_eq!(
                a["service_account"], expected[key]["service_account"],
                "{module_name}"
            );
            assert_eq!(a["cluster_name"], format!("gitops-{env}"), "{module_name}");
        }

        // The charts install into the same namespaces and create the same service accounts.
        for (release, key) in [
            ("argo_rollouts", "argo_rollouts"),
            (
                "aws_load_balancer_controller",
                "aws_load_balancer_controller",
            ),
            ("external_secrets", "external_secrets"),
        ] {
            let (ns, values) = helm_release(env, release);
            assert_eq!(
                ns,
                expected[key]["namespace"].as_str().unwrap(),
                "{env}: helm_release.{release} namespace"
            );
            assert_eq!(
                values["serviceAccount"]["name"], expected[key]["service_account"],
                "{env}: {release} SA"
            );
            assert_eq!(
                values["serviceAccount"]["create"], true,
                "{env}: {release} creates its SA"
            );
        }

        // The env root hands the platform's bindings to the add-ons, not a second copy.
        assert_eq!(
            attr_text(EnvRoot::load(env).module("addons"), "pod_identities"),
            "module.platform.pod_identities"
        );

        // k8s/: the store has no auth block, so ESO uses its own Pod Identity, in this region.
        let docs = k8s_docs_as_json(&argocd(env));
        let store = docs
            .iter()
            .find(|d| {
                d["kind"] == "ClusterSecretStore" && d["metadata"]["name"] == "aws-secrets-manager"
            })
            .expect("ClusterSecretStore aws-secrets-manager");
        let aws = &store["spec"]["provider"]["aws"];
        assert!(
            aws.get("auth").is_none(),
            "{env}: the store must rely on ESO's Pod Identity, not static auth"
        );
        assert_eq!(aws["service"], "SecretsManager");
        assert_eq!(
            aws["region"],
            hcl_to_json(&EnvRoot::load(env).module_arg("platform", "region"))
        );
    }
}

#[test]
fn alb_controller_is_told_region_and_vpc_because_pods_cannot_reach_imds() {
    for env in ENVS {
        let (_, values) = helm_release(env, "aws_load_balancer_controller");
        assert_eq!(values["clusterName"], format!("gitops-{env}"));
        assert_eq!(values["region"], "eu-west-1");
        assert_eq!(values["vpcId"], "vpc-0123456789abcdef0");
    }
    let eks = block(&blocks_in(PLATFORM), "module", &["eks"])
        .body()
        .clone();
    let groups = attr_text(&eks, "eks_managed_node_groups");
    assert!(groups.contains("http_tokens=\"required\""), "IMDSv2 only");
    assert!(
        groups.contains("http_put_response_hop_limit=1"),
        "pods cannot reach IMDS"
    );
}

#[test]
fn root_application_points_at_existing_k8s_argocd_env_folder() {
    for env in ENVS {
        let (ns, values) = helm_release(env, "argocd_root_app");
        assert_eq!(ns, "argocd");
        let apps = values["applications"]
            .as_object()
            .expect("argocd-apps applications map");
        assert_eq!(apps.len(), 1, "{env}: one root Application");
        let (name, app) = apps.iter().next().unwrap();
        let path = format!("k8s/argocd/{env}");
        assert_eq!(app["source"]["path"], path.as_str());
        assert_eq!(app["source"]["repoURL"], REPO_URL);
        assert_eq!(app["source"]["targetRevision"], "main");
        assert!(
            repo_root().join(&path).join("kustomization.yaml").is_file(),
            "{path} must exist"
        );

        // The Application Git takes over must be the one Terraform bootstrapped.
        let git_root: Vec<_> = read_yaml(&format!("{path}/root.yaml"));
        let git_root = of_kind(&git_root, "Application")
            .next()
            .expect("root.yaml holds the root Application");
        assert_eq!(git_root["metadata"]["name"].as_str(), Some(name.as_str()));
        assert_eq!(
            git_root["spec"]["source"]["path"].as_str(),
            Some(path.as_str())
        );
        assert_eq!(
            git_root["spec"]["source"]["repoURL"].as_str(),
            Some(REPO_URL)
        );
    }
}

#[test]
fn dev_scales_down_after_hours_and_prod_never_does() {
    assert!(
        attr(
            EnvRoot::load("prod").module("platform"),
            "node_scale_down_schedule"
        )
        .is_none(),
        "prod never sleeps"
    );

    // dev's crons: down at 20:00 and up at 07:00, both on weekdays only, so the weekend stays off.
    let dev = EnvRoot::load("dev");
    let schedule = hcl_to_json(&dev.module_arg("platform", "node_scale_down_schedule"));
    let cron = |key: &str| -> Vec<String> {
        let fields: Vec<String> = schedule[key]
            .as_str()
            .unwrap_or_else(|| panic!("{key} is a cron string"))
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        assert_eq!(fields.len(), 5, "{key}: five-field cron");
        fields
    };
    let (down, up) = (cron("scale_down_recurrence"), cron("scale_up_recurrence"));
    assert_eq!(down, ["0", "20", "*", "*", "MON-FRI"], "evening scale-down");
    assert_eq!(up, ["0", "7", "*", "*", "MON-FRI"], "morning scale-up");
    assert_eq!(schedule["time_zone"], "Europe/Dublin");

    // The actions hit the one managed node group's ASG: zero in the evening, node_group sizes in the morning.
    let platform = blocks_in(PLATFORM);
    let eks = block(&platform, "module", &["eks"]).body();
    let groups = attr(eks, "eks_managed_node_groups").expect("node groups");
    let hcl::Expression::Object(groups) = groups else {
        panic!("eks_managed_node_groups is an object literal")
    };
    assert_eq!(
        groups.len(),
        1,
        "one node group, so [0] is the one the schedule targets"
    );
    let nodes = block(
        &platform,
        "resource",
        &["aws_autoscaling_schedule", "nodes"],
    )
    .body();
    assert_eq!(
        attr_text(nodes, "autoscaling_group_name"),
        "module.eks.eks_managed_node_groups_autoscaling_group_names[0]"
    );
    assert_eq!(attr_text(nodes, "recurrence"), "each.value.recurrence");
    assert_eq!(
        attr_text(nodes, "time_zone"),
        "var.node_scale_down_schedule.time_zone"
    );
    let node_group = hcl_to_json(&dev.module_arg("platform", "node_group"));
    let vars =
        serde_json::json!({ "node_scale_down_schedule": schedule, "node_group": node_group });
    let actions = hcl_to_json(&locals_of(&platform, &vars)["node_scale_actions"]);
    assert_eq!(
        actions["down"]["recurrence"],
        schedule["scale_down_recurrence"]
    );
    assert_eq!(actions["down"]["min_size"], 0);
    assert_eq!(actions["down"]["desired"], 0);
    assert_eq!(actions["up"]["recurrence"], schedule["scale_up_recurrence"]);
    assert_eq!(actions["up"]["min_size"], node_group["min_size"]);
    assert_eq!(actions["up"]["desired"], node_group["desired_size"]);
}

#[test]
fn dev_runs_at_most_one_kubernetes_minor_ahead_of_prod() {
    let minor = |env: &str| -> i64 {
        let v = EnvRoot::load(env).module_arg("platform", "kubernetes_version");
        v.as_str()
            .unwrap()
            .split('.')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap()
    };
    let ahead = minor("dev") - minor("prod");
    assert!(
        (0..=1).contains(&ahead),
        "dev may lead prod by one minor, not {ahead}"
    );
}

#[test]
fn each_env_has_its_own_locked_s3_state() {
    let mut keys = BTreeSet::new();
    let bootstrap = blocks_in("terraform/bootstrap");
    let state_key_alias = attr_text(
        block(&bootstrap, "resource", &["aws_kms_alias", "state"]).body(),
        "name",
    );
    for env in ENVS {
        let root = EnvRoot::load(env);
        let tf = root
            .blocks()
            .iter()
            .find(|b| {
                b.identifier() == "terraform"
                    && b.body().blocks().any(|b| b.identifier() == "backend")
            })
            .expect("a backend");
        let backend = tf
            .body()
            .blocks()
            .find(|b| b.identifier() == "backend")
            .unwrap();
        assert_eq!(backend.labels()[0].as_str(), "s3");
        assert_eq!(
            attr_text(backend.body(), "use_lockfile"),
            "true",
            "{env}: S3-native locking"
        );
        assert_eq!(attr_text(backend.body(), "encrypt"), "true");
        // `encrypt` alone writes with SSE-S3; the state key must be named (the bucket refuses less).
        assert_eq!(
            attr_text(backend.body(), "kms_key_id"),
            state_key_alias,
            "{env}: state written under the bootstrap's state key"
        );
        let key = attr_text(backend.body(), "key");
        assert!(key.contains(&format!("/{env}/")), "{env}: state key {key}");
        keys.insert(key);
    }
    assert_eq!(keys.len(), 2, "dev and prod never share state");
}

#[test]
fn community_modules_are_pinned_to_the_supported_majors() {
    let platform = blocks_in(PLATFORM);
    for (name, source, pin) in [
        ("vpc", "terraform-aws-modules/vpc/aws", "\"6."),
        ("eks", "terraform-aws-modules/eks/aws", "\"21."),
        (
            "external_secrets_pod_identity",
            "terraform-aws-modules/eks-pod-identity/aws",
            "\"2.",
        ),
        (
            "aws_lbc_pod_identity",
            "terraform-aws-modules/eks-pod-identity/aws",
            "\"2.",
        ),
    ] {
        let body = block(&platform, "module", &[name]).body();
        assert_eq!(attr_text(body, "source"), format!("\"{source}\""), "{name}");
        assert!(
            attr_text(body, "version").starts_with(pin),
            "module {name} must be pinned {pin}"
        );
    }
}
