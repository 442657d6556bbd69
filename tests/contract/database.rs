//! The database contract: api-app's `DATABASE_*` settings in k8s/, the RDS instance, network and secrets in
//! terraform/, and the interface the code implements (owner role `api_app`, database `tasks`, port 5432,
//! the login user and its password as files from Secret `api-app-db`) must all name the same things.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use hcl::Value;
use hcl::eval::Evaluate;
use integration_tests::facts::ENVS;
use integration_tests::k8s::{configmaps_read, selector_picks};
use integration_tests::{kustomize, read_text};
use serde_json::Value as Json;

use integration_tests::terraform::{
    ACCOUNT, EnvRoot, PLATFORM, attr, attr_text, block, blocks_in, context, hcl_to_json,
    k8s_docs_as_json, local_expr, locals_with, platform_locals,
};

// The interface fixed for issue #10 (api-app reads these; the code helper's config defines them).
const URL_VAR: &str = "DATABASE_URL";
const PASSWORD_FILE_VAR: &str = "DATABASE_PASSWORD_FILE";
const PASSWORD_FILE: &str = "/var/run/secrets/db/password";
// The alternating users (issue 20): the Secret names which of the owner's two login users logs in.
const USER_FILE_VAR: &str = "DATABASE_USER_FILE";
const USER_FILE: &str = "/var/run/secrets/db/username";
const SECRET: &str = "api-app-db";
/// The bootstrap Job's copy of the login, fetched afresh on every sync.
const LOGIN_SECRET: &str = "api-app-db-login";
const SECRET_KEY: &str = "password";
const SECRET_KEYS: [&str; 2] = ["password", "username"];
const APP_USER: &str = "api_app";
const DB_NAME: &str = "tasks";
const PORT: u16 = 5432;

/// The rendered api-app of `dev`, `prod` or `local` (only the api-app-local namespace), as JSON.
fn api_app(env: &str) -> Vec<Json> {
    if env == "local" {
        return local_namespace("api-app-local");
    }
    k8s_docs_as_json(&kustomize(&format!("k8s/overlays/{env}/api-app")))
}

fn local_namespace(ns: &str) -> Vec<Json> {
    k8s_docs_as_json(&kustomize("k8s/overlays/local"))
        .into_iter()
        .filter(|d| d["metadata"]["namespace"] == ns)
        .collect()
}

/// Whether `actual` is `name`, or `name` with the content-hash suffix a kustomize generator adds.
fn is_named(actual: &Json, name: &str) -> bool {
    actual.as_str().is_some_and(|a| {
        a == name
            || a.strip_prefix(name)
                .and_then(|rest| rest.strip_prefix('-'))
                .is_some_and(|hash| {
                    hash.len() == 10 && hash.chars().all(|c| c.is_ascii_alphanumeric())
                })
    })
}

/// A rendered object's part as YAML, for the helpers that read YAML.
fn yaml(value: &Json) -> serde_yaml_ng::Value {
    serde_yaml_ng::to_value(value).expect("JSON maps to YAML")
}

fn find<'a>(docs: &'a [Json], kind: &str, name: &str) -> &'a Json {
    docs.iter()
        .find(|d| d["kind"] == kind && is_named(&d["metadata"]["name"], name))
        .unwrap_or_else(|| panic!("no {kind} named {name}"))
}

/// The bootstrap Job's step `name`: `bootstrap` (psql, an init container) or `migrate` (`api-app
/// migrate`, the container that runs once it has succeeded).
fn job_step<'a>(job: &'a Json, name: &str) -> &'a Json {
    let pod = &job["spec"]["template"]["spec"];
    let (list, expected) = if name == "bootstrap" {
        ("initContainers", "an init container")
    } else {
        ("containers", "a container")
    };
    items(&pod[list])
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("the bootstrap Job's step {name} is {expected}"))
}

/// Every container of a pod spec, init containers first.
fn all_containers(pod: &Json) -> impl Iterator<Item = &Json> {
    items(&pod["initContainers"])
        .iter()
        .chain(items(&pod["containers"]))
}

fn items(v: &Json) -> &[Json] {
    v.as_array().map_or(&[], Vec::as_slice)
}

fn text(v: &Json) -> &str {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a string, got {v}"))
}

/// A value of `api-app`'s `ConfigMap` (the Deployment reads it through envFrom, the bootstrap Job by key).
fn config_value(docs: &[Json], key: &str) -> String {
    let deployment = find(docs, "Deployment", "api-app");
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    let names: Vec<&str> = items(&container["envFrom"])
        .iter()
        .filter_map(|e| e["configMapRef"]["name"].as_str())
        .collect();
    names
        .iter()
        .find_map(|n| find(docs, "ConfigMap", n)["data"][key].as_str())
        .unwrap_or_else(|| panic!("no ConfigMap the pods read sets {key}"))
        .to_owned()
}

/// The parts of a `postgres://user@host:port/db?query` URL, which is all `DATABASE_URL` may hold.
#[derive(Debug, PartialEq)]
struct DbUrl {
    user: String,
    host: String,
    port: u16,
    db: String,
    query: String,
}

fn parse_url(url: &str) -> DbUrl {
    let rest = url
        .strip_prefix("postgres://")
        .unwrap_or_else(|| panic!("{url}: not postgres://"));
    let (user, rest) = rest
        .split_once('@')
        .unwrap_or_else(|| panic!("{url}: names no role"));
    assert!(
        !user.contains(':'),
        "{url}: DATABASE_URL must not carry a password"
    );
    let (server, rest) = rest.split_once('/').expect("a database");
    let (host, port) = server.split_once(':').expect("an explicit port");
    let (db, query) = rest.split_once('?').unwrap_or((rest, ""));
    DbUrl {
        user: user.to_owned(),
        host: host.to_owned(),
        port: port.parse().expect("a numeric port"),
        db: db.to_owned(),
        query: query.to_owned(),
    }
}

/// Terraform's `cidrsubnet` for IPv4.
fn cidrsubnet(prefix: &str, newbits: u32, netnum: u32) -> String {
    let (addr, len) = prefix.split_once('/').unwrap();
    let (addr, len): (Ipv4Addr, u32) = (addr.parse().unwrap(), len.parse().unwrap());
    let new_len = len + newbits;
    let base = u32::from(addr) | (netnum << (32 - new_len));
    format!("{}/{new_len}", Ipv4Addr::from(base))
}

/// An expression of the platform module evaluated for one env, with stand-ins for the modules' outputs.
fn evaluate(env: &str, expr: &hcl::Expression) -> Value {
    let module = serde_json::json!({
        "db": { "db_instance_master_user_secret_arn": master_secret_arn(env) },
    });
    let vars = EnvRoot::load(env).platform_vars();
    let mut modules = serde_json::Map::new();
    modules.insert("module".into(), module.clone());
    expr.evaluate(&context(
        &vars,
        &locals_with(&blocks_in(PLATFORM), &vars, &modules),
        &module,
    ))
    .unwrap_or_else(|e| panic!("{env}: {expr}: {e}"))
}

fn master_secret_arn(env: &str) -> String {
    format!("arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:rds!db-{env}-AbCdEf")
}

/// `local.database.<key>` of the platform module for one env.
fn database_local(env: &str, key: &str) -> Json {
    hcl_to_json(&platform_locals(env)["database"])[key].clone()
}

#[test]
fn every_rendering_sets_the_database_settings_api_app_reads() {
    // Until api-app's config reads these, this fails: the manifests would set variables the app ignores.
    let reads: BTreeSet<String> = api_app::config::env_var_names().into_iter().collect();
    for var in [URL_VAR, USER_FILE_VAR, PASSWORD_FILE_VAR] {
        assert!(reads.contains(var), "api-app does not read {var}");
    }
    for env in ["dev", "prod", "local"] {
        let docs = api_app(env);
        assert_eq!(
            config_value(&docs, PASSWORD_FILE_VAR),
            PASSWORD_FILE,
            "{env}"
        );
        assert_eq!(config_value(&docs, USER_FILE_VAR), USER_FILE, "{env}");
        let url = parse_url(&config_value(&docs, URL_VAR));
        assert_eq!(
            (url.user.as_str(), url.db.as_str(), url.port),
            (APP_USER, DB_NAME, PORT),
            "{env}: DATABASE_URL names role {APP_USER}, database {DB_NAME}, port {PORT}"
        );
    }
}

#[test]
fn the_password_is_a_file_from_secret_api_app_db_that_rotation_can_rewrite() {
    let (dir, file) = PASSWORD_FILE.rsplit_once('/').unwrap();
    assert_eq!(file, SECRET_KEY, "the file is named after the Secret key");
    assert_eq!(
        USER_FILE.rsplit_once('/'),
        Some((dir, "username")),
        "both files from the one mount, swapped together"
    );
    for env in ["dev", "prod", "local"] {
        let docs = api_app(env);
        let deployment = find(&docs, "Deployment", "api-app");
        let pod = &deployment["spec"]["template"]["spec"];
        let mounts: Vec<&Json> = items(&pod["containers"][0]["volumeMounts"])
            .iter()
            .filter(|m| m["mountPath"] == dir)
            .collect();
        assert_eq!(mounts.len(), 1, "{env}: one mount at {dir}");
        assert_eq!(mounts[0]["readOnly"], true, "{env}");
        // A subPath mount is a copy the kubelet never updates: rotation would need a restart.
        assert!(mounts[0].get("subPath").is_none(), "{env}: no subPath");
        let volume = items(&pod["volumes"])
            .iter()
            .find(|v| v["name"] == mounts[0]["name"])
            .expect("the mounted volume");
        assert!(
            is_named(&volume["secret"]["secretName"], SECRET),
            "{env}: {volume}"
        );
        assert!(
            volume["secret"].get("items").is_none(),
            "{env}: every key, by its own name"
        );

        // Nothing restarts the pods when the password changes: api-app re-reads the file.
        let reload = deployment["metadata"]["annotations"]["secret.reloader.stakater.com/reload"]
            .as_str()
            .unwrap_or_default();
        assert!(
            !reload.split(',').any(|s| s.trim() == SECRET),
            "{env}: {reload}"
        );

        let keys: BTreeSet<String> = if env == "local" {
            find(&docs, "Secret", SECRET)["data"]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect()
        } else {
            let es = docs
                .iter()
                .find(|d| d["kind"] == "ExternalSecret" && d["spec"]["target"]["name"] == SECRET)
                .expect("an ExternalSecret writes api-app-db");
            items(&es["spec"]["data"])
                .iter()
                .map(|d| text(&d["secretKey"]).to_owned())
                .collect()
        };
        assert_eq!(
            keys,
            BTreeSet::from(SECRET_KEYS.map(str::to_owned)),
            "{env}"
        );
        if env == "local" {
            // The first of the alternating login users, as Terraform's first value names it.
            let secret = find(&docs, "Secret", SECRET);
            assert_eq!(
                secret["data"]["username"], "YXBpX2FwcF9h",
                "username api_app_a (base64)"
            );
        }
    }
}

#[test]
fn database_url_names_the_host_port_role_and_database_terraform_builds() {
    let platform = blocks_in(PLATFORM);
    let db = block(&platform, "module", &["db"]).body();
    for (key, local) in [
        ("port", "local.database.port"),
        ("db_name", "local.database.name"),
        ("engine_version", "local.database.engine_version"),
    ] {
        assert_eq!(attr_text(db, key), local, "module.db {key}");
    }
    assert_eq!(
        attr_text(db, "ca_cert_identifier"),
        "local.database.ca_identifier",
        "the instance's certificate chains to the CA the pods trust"
    );
    let rule = block(
        &platform,
        "resource",
        &["aws_vpc_security_group_ingress_rule", "database"],
    )
    .body();
    assert_eq!(attr_text(rule, "from_port"), "local.database.port");
    assert_eq!(attr_text(rule, "to_port"), "local.database.port");

    for env in ENVS {
        assert_eq!(database_local(env, "app_user"), APP_USER, "{env}");
        assert_eq!(database_local(env, "name"), DB_NAME, "{env}");
        assert_eq!(database_local(env, "port"), PORT, "{env}");
        assert_eq!(
            database_local(env, "ca_identifier"),
            "rds-ca-rsa2048-g1",
            "{env}: one of the roots components/database-tls ships"
        );
        let ca_file = database_local(env, "ca_bundle_file");
        let ca_file = text(&ca_file);

        // Git's URL: everything but the endpoint, which Terraform hands in (tests/contract/cluster_facts.rs).
        let docs = api_app(env);
        let git = parse_url(&config_value(&docs, URL_VAR));
        let terraform = parse_url(&integration_tests::terraform::platform_database_url(env));
        assert_eq!(
            git.host, "SET-BY-TERRAFORM",
            "{env}: the endpoint exists only after apply"
        );
        assert_eq!(
            terraform.host,
            integration_tests::terraform::sample_database_endpoint(env),
            "{env}: the instance's own endpoint, the name its certificate covers"
        );
        assert_eq!(
            (&git.user, git.port, &git.db, &git.query),
            (
                &terraform.user,
                terraform.port,
                &terraform.db,
                &terraform.query
            ),
            "{env}: Git's URL and terraform output database_url differ only in the host"
        );
        assert_eq!(
            git.query,
            format!("sslmode=verify-full&sslrootcert={ca_file}"),
            "{env}: TLS verified against RDS's CA, to the host's name"
        );

        // The CA file the URL names is the bundle mounted in the app and in the bootstrap Job.
        let (dir, key) = ca_file.rsplit_once('/').unwrap();
        let bundle = find(&docs, "ConfigMap", "rds-ca");
        let pem = text(&bundle["data"][key]);
        assert_eq!(
            pem.matches("-----BEGIN CERTIFICATE-----").count(),
            3,
            "{env}"
        );
        let region = hcl_to_json(&EnvRoot::load(env).module_arg("platform", "region"));
        assert_eq!(
            read_text(&format!(
                "k8s/components/database-tls/{}-bundle.pem",
                text(&region)
            )),
            pem,
            "{env}: the bundle of the env's region"
        );
        for (kind, name) in [("Deployment", "api-app"), ("Job", "api-app-db-bootstrap")] {
            let pod = &find(&docs, kind, name)["spec"]["template"]["spec"];
            let volume = items(&pod["volumes"])
                .iter()
                .find(|v| is_named(&v["configMap"]["name"], "rds-ca"))
                .unwrap_or_else(|| panic!("{env}: {kind} {name} mounts ConfigMap rds-ca"));
            for c in all_containers(pod) {
                let mounted = items(&c["volumeMounts"])
                    .iter()
                    .any(|m| m["name"] == volume["name"] && m["mountPath"] == dir);
                assert!(
                    mounted,
                    "{env}: {kind} {name}'s {} mounts rds-ca at {dir}",
                    c["name"]
                );
            }
        }
    }

    // Locally the URL names the in-cluster PostgreSQL's Service.
    let url = parse_url(&config_value(&api_app("local"), URL_VAR));
    let postgres = local_namespace("postgres-local");
    let svc = find(&postgres, "Service", "postgres");
    assert_eq!(url.host, "postgres.postgres-local.svc");
    assert_eq!(svc["spec"]["ports"][0]["port"], PORT);
}

#[test]
fn external_secrets_read_the_secrets_terraform_creates_and_nothing_else() {
    let platform = blocks_in(PLATFORM);
    let secret = block(
        &platform,
        "resource",
        &["aws_secretsmanager_secret", "database_app"],
    )
    .body();
    assert_eq!(attr_text(secret, "name"), "local.database.app_secret_name");
    let db = block(&platform, "module", &["db"]).body();
    assert_eq!(
        attr_text(db, "manage_master_user_password"),
        "true",
        "RDS keeps the master password out of Terraform"
    );
    let eso = block(&platform, "module", &["external_secrets_pod_identity"]).body();
    assert!(
        attr_text(eso, "source_policy_documents")
            .contains("local.external_secrets_database_policy")
    );

    for env in ENVS {
        let name = format!("gitops/demo-api/{env}/db");
        assert_eq!(database_local(env, "app_secret_name"), name.as_str());
        let docs = api_app(env);

        let es = find(&docs, "ExternalSecret", SECRET);
        let data = items(&es["spec"]["data"]);
        let mut properties = BTreeSet::new();
        for d in data {
            assert_eq!(d["remoteRef"]["key"], name.as_str(), "{env}");
            assert_eq!(d["secretKey"], d["remoteRef"]["property"], "{env}");
            properties.insert(text(&d["remoteRef"]["property"]));
        }
        assert_eq!(properties, BTreeSet::from(SECRET_KEYS), "{env}");

        // The master credentials: the keys of an RDS-managed secret, only during a sync.
        let admin = find(&docs, "ExternalSecret", "api-app-db-admin");
        let annotations = &admin["metadata"]["annotations"];
        assert_eq!(annotations["argocd.argoproj.io/hook"], "Sync", "{env}");
        assert!(
            text(&annotations["argocd.argoproj.io/hook-delete-policy"]).contains("HookSucceeded"),
            "{env}: the admin Secret is gone after a successful sync"
        );
        let properties: BTreeSet<&str> = items(&admin["spec"]["data"])
            .iter()
            .map(|d| text(&d["remoteRef"]["property"]))
            .collect();
        assert_eq!(
            properties,
            BTreeSet::from(["password", "username"]),
            "{env}"
        );

        // ESO's database policy: the same two actions as for the API key, on exactly those two ARNs.
        let expr = local_expr(&platform, "external_secrets_database_policy");
        let policy: Json = serde_json::from_str(evaluate(env, expr).as_str().unwrap()).unwrap();
        let resources: Vec<&str> = items(&policy["Statement"])
            .iter()
            .map(|s| text(&s["Resource"]))
            .collect();
        assert_eq!(
            resources,
            [
                format!("arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:{name}-??????"),
                master_secret_arn(env),
            ],
            "{env}"
        );
        for s in items(&policy["Statement"]) {
            integration_tests::terraform::assert_reads_secrets_only(s, env);
        }
    }
}

#[test]
fn pods_reach_postgres_in_the_database_subnets_only_on_5432() {
    let platform = blocks_in(PLATFORM);
    assert_eq!(
        attr_text(
            block(&platform, "module", &["vpc"]).body(),
            "database_subnets"
        ),
        "local.database_subnets"
    );
    assert_eq!(
        local_expr(&platform, "database_subnets_cidr")
            .to_string()
            .split_whitespace()
            .collect::<String>(),
        "cidrsubnet(var.vpc_cidr,6,14)"
    );
    for env in ENVS {
        let vpc = hcl_to_json(&EnvRoot::load(env).module_arg("platform", "vpc_cidr"));
        let subnets = cidrsubnet(text(&vpc), 6, 14);
        let docs = api_app(env);
        let egress_5432: Vec<&Json> = docs
            .iter()
            .filter(|d| d["kind"] == "NetworkPolicy")
            .flat_map(|p| items(&p["spec"]["egress"]))
            .filter(|r| items(&r["ports"]).iter().any(|p| p["port"] == PORT))
            .collect();
        assert_eq!(egress_5432.len(), 1, "{env}: one egress rule to {PORT}");
        let rule = egress_5432[0];
        let to: Vec<&str> = items(&rule["to"])
            .iter()
            .map(|t| text(&t["ipBlock"]["cidr"]))
            .collect();
        assert_eq!(to, [subnets.as_str()], "{env}: the database subnets only");
        let ports: Vec<&Json> = items(&rule["ports"]).iter().map(|p| &p["port"]).collect();
        assert_eq!(ports, [&Json::from(PORT)], "{env}");

        // The policy covers the app's pods (the Rollout runs the Deployment's template) and the
        // bootstrap Job's, evaluated as Kubernetes evaluates the selector.
        let policy = find(&docs, "NetworkPolicy", "api-app-allow-postgres");
        let selector = yaml(&policy["spec"]["podSelector"]);
        for (kind, name) in [("Deployment", "api-app"), ("Job", "api-app-db-bootstrap")] {
            let labels = yaml(&find(&docs, kind, name)["spec"]["template"]["metadata"]["labels"]);
            assert!(
                selector_picks(&selector, &labels),
                "{env}: the policy selects {kind} {name}'s pods"
            );
        }
    }
}

#[test]
fn nothing_opens_the_database_beyond_the_clusters_nodes() {
    let platform = blocks_in(PLATFORM);
    let db = block(&platform, "module", &["db"]).body();
    assert_eq!(
        attr_text(db, "vpc_security_group_ids"),
        "[aws_security_group.database.id]"
    );
    assert_eq!(attr_text(db, "storage_encrypted"), "true");
    assert_eq!(attr_text(db, "kms_key_id"), "aws_kms_key.database.arn");
    assert_eq!(
        attr_text(db, "publicly_accessible"),
        "local.database_protection.publicly_accessible"
    );
    for env in ENVS {
        let protection = hcl_to_json(&platform_locals(env)["database_protection"]);
        assert_eq!(protection["publicly_accessible"], false, "{env}");
        assert_eq!(protection["multi_az"], env == "prod", "{env}");
        assert_eq!(protection["deletion_protection"], env == "prod", "{env}");
    }

    // The group carries no inline rules; the one rule resource admits the node security group.
    let sg = block(&platform, "resource", &["aws_security_group", "database"]).body();
    assert!(sg.blocks().next().is_none(), "no inline ingress or egress");
    let rules: Vec<&hcl::Block> = platform
        .iter()
        .filter(|b| {
            b.identifier() == "resource"
                && b.labels().first().is_some_and(|l| {
                    [
                        "aws_vpc_security_group_ingress_rule",
                        "aws_security_group_rule",
                    ]
                    .contains(&l.as_str())
                })
                && attr_text(b.body(), "security_group_id") == "aws_security_group.database.id"
        })
        .collect();
    assert_eq!(rules.len(), 1, "one ingress rule for the database");
    let rule = rules[0].body();
    assert_eq!(
        attr_text(rule, "referenced_security_group_id"),
        "each.value"
    );
    assert_eq!(attr_text(rule, "for_each"), "local.database_clients");
    for key in ["cidr_ipv4", "cidr_ipv6", "prefix_list_id"] {
        assert!(attr(rule, key).is_none(), "the rule must not use {key}");
    }
    assert_eq!(
        local_expr(&platform, "database_clients")
            .to_string()
            .split_whitespace()
            .collect::<String>(),
        "{eks_nodes=module.eks.node_security_group_id}"
    );
    assert!(
        !read_text(&format!("{PLATFORM}/database.tf")).contains("0.0.0.0/0"),
        "database.tf never names the open internet"
    );
}

/// A resource's Argo CD sync wave (0 when unset).
fn wave(d: &Json) -> i64 {
    d["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]
        .as_str()
        .unwrap_or("0")
        .parse()
        .unwrap()
}

/// On the local cluster Argo CD syncs the bootstrap hook too (the kind job's `local` Application), and
/// there nothing else provides what it needs: no `ExternalSecret`, no RDS, no `CreateNamespace`. Argo CD
/// starts a hook only once every earlier wave is healthy, and no later wave while it runs, so each
/// of those must sync in an earlier wave, or the sync waits on the hook until its deadline.
#[test]
fn on_the_local_cluster_everything_the_bootstrap_hook_needs_syncs_before_it() {
    let docs = k8s_docs_as_json(&kustomize("k8s/overlays/local"));
    let job = find(&docs, "Job", "api-app-db-bootstrap");
    let before_job = |d: &Json, why: &str| {
        assert!(
            wave(d) < wave(job),
            "{} {} ({why}) is in wave {}, not before the bootstrap hook's {}",
            d["kind"],
            d["metadata"]["name"],
            wave(d),
            wave(job)
        );
    };
    for ns in docs.iter().filter(|d| d["kind"] == "Namespace") {
        let name = text(&ns["metadata"]["name"]);
        for d in docs.iter().filter(|d| d["metadata"]["namespace"] == name) {
            // In one wave Argo CD applies Namespaces first.
            assert!(
                wave(ns) <= wave(d),
                "Namespace {name} must sync no later than {} {}",
                d["kind"],
                d["metadata"]["name"]
            );
        }
    }
    let pod = &job["spec"]["template"]["spec"];
    let secrets: Vec<&str> = items(&pod["volumes"])
        .iter()
        .filter_map(|v| v["secret"]["secretName"].as_str())
        .collect();
    assert_eq!(secrets.len(), 2, "the login and the admin: {secrets:?}");
    for name in secrets {
        before_job(find(&docs, "Secret", name), "the hook mounts it");
    }
    let server = find(&docs, "StatefulSet", "postgres");
    before_job(server, "the hook connects to it");
    before_job(
        find(&docs, "Service", "postgres"),
        "the hook connects to it",
    );
    // The policies that let the hook reach the server, at both ends.
    let ends = [
        (&job["metadata"]["namespace"], &pod_labels(job)),
        (&server["metadata"]["namespace"], &pod_labels(server)),
    ];
    for (namespace, labels) in ends {
        let allowing: Vec<&Json> = docs
            .iter()
            .filter(|d| d["kind"] == "NetworkPolicy" && &d["metadata"]["namespace"] == namespace)
            .filter(|d| {
                !items(&d["spec"]["egress"]).is_empty() || !items(&d["spec"]["ingress"]).is_empty()
            })
            .filter(|d| selector_picks(&yaml(&d["spec"]["podSelector"]), &yaml(labels)))
            .collect();
        assert!(!allowing.is_empty(), "a policy lets {labels} connect");
        for policy in allowing {
            before_job(policy, "it lets the hook reach the server");
        }
    }
}

/// The labels of a workload's pods.
fn pod_labels(workload: &Json) -> Json {
    workload["spec"]["template"]["metadata"]["labels"].clone()
}

/// The volume the bootstrap Job reads the app's login from: the one mounted where the app reads it.
fn job_login_volume(job: &Json) -> &Json {
    let (dir, _) = PASSWORD_FILE.rsplit_once('/').unwrap();
    let mount = items(&job_step(job, "bootstrap")["volumeMounts"])
        .iter()
        .find(|m| m["mountPath"] == dir)
        .expect("the Job reads the login where the app does");
    items(&job["spec"]["template"]["spec"]["volumes"])
        .iter()
        .find(|v| v["name"] == mount["name"])
        .expect("the mounted volume")
}

#[test]
fn bootstrap_runs_before_the_pods_with_the_apps_own_settings() {
    for env in ENVS {
        let docs = api_app(env);
        let job = find(&docs, "Job", "api-app-db-bootstrap");
        let deployment = find(&docs, "Deployment", "api-app");
        assert_eq!(
            job["metadata"]["annotations"]["argocd.argoproj.io/hook"],
            "Sync"
        );
        assert!(
            wave(job) < wave(deployment),
            "{env}: the Job runs before the pods"
        );
        // Everything the Job reads exists in an earlier wave.
        let pod = &job["spec"]["template"]["spec"];
        let mut needs: Vec<(&str, String)> = configmaps_read(&yaml(pod))
            .into_iter()
            .map(|n| ("ConfigMap", n))
            .collect();
        for v in items(&pod["volumes"]) {
            if let Some(n) = v["secret"]["secretName"].as_str() {
                let es = docs
                    .iter()
                    .find(|d| d["kind"] == "ExternalSecret" && d["spec"]["target"]["name"] == n)
                    .unwrap_or_else(|| panic!("{env}: nothing writes Secret {n}"));
                needs.push(("ExternalSecret", text(&es["metadata"]["name"]).to_owned()));
            }
        }
        assert!(needs.len() >= 4, "{env}: {needs:?}");
        for (kind, name) in needs {
            assert!(
                wave(find(&docs, kind, &name)) < wave(job),
                "{env}: {kind} {name} must sync before the Job"
            );
        }
    }
    for env in ["dev", "prod", "local"] {
        let docs = api_app(env);
        let job = find(&docs, "Job", "api-app-db-bootstrap");
        let container = job_step(job, "bootstrap");
        let config = text(
            &items(
                &find(&docs, "Deployment", "api-app")["spec"]["template"]["spec"]["containers"][0]
                    ["envFrom"],
            )[0]["configMapRef"]["name"],
        );
        for var in [URL_VAR, USER_FILE_VAR, PASSWORD_FILE_VAR] {
            let from = items(&container["env"])
                .iter()
                .find(|e| e["name"] == var)
                .unwrap_or_else(|| panic!("{env}: the Job gets {var}"));
            assert_eq!(
                from["valueFrom"]["configMapKeyRef"]["name"], config,
                "{env}"
            );
            assert_eq!(from["valueFrom"]["configMapKeyRef"]["key"], var, "{env}");
        }
        let volume = job_login_volume(job);
        assert!(
            volume["secret"]["secretName"].is_string(),
            "{env}: the login comes from a Secret ({volume})"
        );
    }
}

/// Least privilege for the pods' login: the Job's second step applies the release's migrations,
/// logged in as the database's admin, before any pod of the release starts; the pods only check
/// them (`DATABASE_MIGRATIONS=verify`), so their login needs no right to change the schema
/// (`scripts/check-db-bootstrap.sh` proves the rights on a real server).
#[test]
fn the_release_migrates_in_the_job_as_the_admin_and_the_pods_only_verify() {
    for env in ["dev", "prod", "local"] {
        let docs = api_app(env);
        let job = find(&docs, "Job", "api-app-db-bootstrap");
        let bootstrap = job_step(job, "bootstrap");
        let migrate = job_step(job, "migrate");
        let app =
            &find(&docs, "Deployment", "api-app")["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(
            migrate["image"], app["image"],
            "{env}: the release's own image"
        );
        assert_eq!(migrate["args"], serde_json::json!(["migrate"]), "{env}");
        assert!(
            migrate["command"].is_null(),
            "{env}: the image's entrypoint"
        );

        // The app's settings, and no Secret but the admin's login: no API key reaches the Job.
        let config: Vec<&Json> = items(&migrate["envFrom"])
            .iter()
            .map(|e| &e["configMapRef"]["name"])
            .collect();
        assert_eq!(
            config,
            [&items(&app["envFrom"])[0]["configMapRef"]["name"]],
            "{env}"
        );
        assert!(
            items(&migrate["envFrom"])
                .iter()
                .all(|e| e["secretRef"].is_null())
                && items(&migrate["env"])
                    .iter()
                    .all(|e| e["valueFrom"].is_null()),
            "{env}: {migrate}"
        );
        let admin_dir = items(&bootstrap["env"])
            .iter()
            .find(|e| e["name"] == "ADMIN_SECRET_DIR")
            .map(|e| text(&e["value"]))
            .expect("the bootstrap step names the admin's login");
        let admin_volume = |c: &Json| {
            items(&c["volumeMounts"])
                .iter()
                .find(|m| m["mountPath"] == admin_dir)
                .map(|m| m["name"].clone())
        };
        assert_eq!(admin_volume(migrate), admin_volume(bootstrap), "{env}");
        assert!(admin_volume(migrate).is_some(), "{env}: {migrate}");
        for (var, file) in [(USER_FILE_VAR, "username"), (PASSWORD_FILE_VAR, "password")] {
            let value = items(&migrate["env"])
                .iter()
                .find(|e| e["name"] == var)
                .map(|e| text(&e["value"]));
            assert_eq!(value, Some(format!("{admin_dir}/{file}").as_str()), "{env}");
        }
        let mounted: Vec<&Json> = items(&migrate["volumeMounts"])
            .iter()
            .map(|m| &m["name"])
            .collect();
        let login = items(&bootstrap["volumeMounts"])
            .iter()
            .find(|m| m["mountPath"] == USER_FILE.rsplit_once('/').unwrap().0)
            .map(|m| &m["name"]);
        assert!(
            !mounted.iter().any(|m| Some(*m) == login),
            "{env}: the migrate step never sees the pods' login"
        );

        assert_eq!(
            config_value(&docs, "DATABASE_MIGRATIONS"),
            "verify",
            "{env}: the pods never migrate"
        );
    }
    assert!(
        api_app::config::env_var_names()
            .iter()
            .any(|n| n == "DATABASE_MIGRATIONS")
    );
}

/// The alternating-users rotation (issues 20 and 27): the bootstrap Job reads the login as Secrets
/// Manager holds it at this sync (a Sync hook `ExternalSecret`, recreated on every sync), not the pods'
/// `api-app-db`, which the rotation forces only after the Job has set the new user's password.
#[test]
fn the_bootstrap_job_reads_a_fresh_copy_of_the_login() {
    for env in ["dev", "prod", "local"] {
        let docs = api_app(env);
        let job = find(&docs, "Job", "api-app-db-bootstrap");
        let volume = job_login_volume(job);
        assert!(
            is_named(&volume["secret"]["secretName"], LOGIN_SECRET),
            "{env}: {volume}"
        );
        if env == "local" {
            assert_eq!(
                find(&docs, "Secret", LOGIN_SECRET)["data"],
                find(&docs, "Secret", SECRET)["data"],
                "local: the Job's copy of the login is the pods'"
            );
            continue;
        }
        let pods = find(&docs, "ExternalSecret", SECRET);
        let hook = find(&docs, "ExternalSecret", LOGIN_SECRET);
        assert_eq!(hook["spec"]["target"]["name"], LOGIN_SECRET, "{env}");
        assert_eq!(
            hook["spec"]["data"], pods["spec"]["data"],
            "{env}: the same keys of the same secret"
        );
        let annotations = &hook["metadata"]["annotations"];
        assert_eq!(annotations["argocd.argoproj.io/hook"], "Sync", "{env}");
        assert_eq!(
            annotations["argocd.argoproj.io/hook-delete-policy"],
            "BeforeHookCreation,HookSucceeded",
            "{env}: recreated (and so fetched afresh) on every sync, gone once it succeeds"
        );
        assert!(wave(hook) < wave(job), "{env}");
    }
}

/// The `postgres:<major>-alpine@sha256:<digest>` image of a container.
fn postgres_image(container: &Json) -> String {
    let image = text(&container["image"]).to_owned();
    let (name, digest) = image
        .split_once("@sha256:")
        .unwrap_or_else(|| panic!("{image} is not pinned by digest"));
    assert!(
        digest.len() == 64 && digest.chars().all(|c| c.is_ascii_hexdigit()),
        "{image}"
    );
    assert!(
        name.starts_with("docker.io/library/postgres:"),
        "{image}: the official image"
    );
    image
}

#[test]
fn local_postgres_and_rds_run_the_same_major_and_local_runs_non_root() {
    let major = database_local("dev", "engine_version");
    let platform = blocks_in(PLATFORM);
    let db = block(&platform, "module", &["db"]).body();
    assert_eq!(attr_text(db, "engine"), "\"postgres\"");
    assert_eq!(
        attr_text(db, "family"),
        "\"postgres${local.database.engine_version}\""
    );

    let postgres = local_namespace("postgres-local");
    let sts = find(&postgres, "StatefulSet", "postgres");
    let template = &sts["spec"]["template"];
    let image = postgres_image(&template["spec"]["containers"][0]);
    assert!(
        image.contains(&format!("postgres:{}-alpine@", text(&major))),
        "{image}: PostgreSQL {major}, as on RDS"
    );
    for env in ["dev", "prod", "local"] {
        let docs = api_app(env);
        let job = find(&docs, "Job", "api-app-db-bootstrap");
        assert_eq!(
            postgres_image(job_step(job, "bootstrap")),
            image,
            "{env}: psql matches the server"
        );
    }

    let pod = &template["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_ne!(pod["securityContext"]["runAsUser"], 0);
    assert_eq!(pod["automountServiceAccountToken"], false);
    let c = &pod["containers"][0];
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
    let data_mount = items(&c["volumeMounts"])
        .iter()
        .find(|m| m["name"] == "data")
        .expect("a data volume");
    assert!(
        items(&sts["spec"]["volumeClaimTemplates"])
            .iter()
            .any(|t| t["metadata"]["name"] == data_mount["name"]),
        "the data survives a pod restart"
    );

    // The superuser password the server starts with is the one the bootstrap Job logs in with.
    let api = api_app("local");
    let admin = &find(&api, "Secret", "api-app-db-admin")["data"];
    let server = &find(&postgres, "Secret", "postgres-admin")["data"];
    assert_eq!(admin["password"], server["password"]);
    assert_eq!(
        admin["username"], "cG9zdGdyZXM=",
        "username postgres (base64)"
    );

    // Only api-app-local may connect, on 5432.
    let ingress: Vec<&Json> = postgres
        .iter()
        .filter(|d| d["kind"] == "NetworkPolicy")
        .flat_map(|p| items(&p["spec"]["ingress"]))
        .collect();
    assert_eq!(ingress.len(), 1);
    assert_eq!(ingress[0]["ports"][0]["port"], PORT);
    assert_eq!(
        ingress[0]["from"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"],
        "api-app-local"
    );
}

/// The bootstrap Job pulls `postgres` from Docker Hub like the app pulls its own image: with the
/// env's pull credential, never anonymously (anonymous pulls share the NAT IP's rate limit), and the
/// credential's Secret is written in an earlier wave than the hook that needs it.
#[test]
fn the_bootstrap_job_pulls_postgres_with_the_registry_credential() {
    for env in ENVS {
        for app in ["api-app", "demo-app"] {
            let docs = k8s_docs_as_json(&kustomize(&format!("k8s/overlays/{env}/{app}")));
            let pull = docs
                .iter()
                .find(|d| d["kind"] == "ExternalSecret" && d["metadata"]["name"] == "registry-pull")
                .unwrap_or_else(|| panic!("{env}/{app}: ExternalSecret registry-pull"));
            let mut pods = 0;
            for d in docs
                .iter()
                .filter(|d| d["kind"] == "Deployment" || d["kind"] == "Job")
            {
                let pod = &d["spec"]["template"]["spec"];
                let what = format!("{env}/{app}: {} {}", d["kind"], d["metadata"]["name"]);
                let from_docker_hub = pod["containers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|c| c["image"].as_str().unwrap().starts_with("docker.io/"));
                assert!(
                    from_docker_hub,
                    "{what}: every image here comes from Docker Hub"
                );
                pods += 1;
                let sa_name = pod["serviceAccountName"].as_str().unwrap();
                let sa = docs
                    .iter()
                    .find(|s| s["kind"] == "ServiceAccount" && s["metadata"]["name"] == sa_name)
                    .unwrap_or_else(|| panic!("{what}: ServiceAccount {sa_name}"));
                let secrets: Vec<&str> = sa["imagePullSecrets"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .chain(pod["imagePullSecrets"].as_array().into_iter().flatten())
                    .map(|r| r["name"].as_str().unwrap())
                    .collect();
                assert!(
                    secrets.contains(&"registry-pull"),
                    "{what}: pulls anonymously ({sa_name} has no registry-pull)"
                );
                assert!(
                    wave(pull) < wave(d),
                    "{what} (wave {}) may start before Secret registry-pull exists (wave {})",
                    wave(d),
                    wave(pull)
                );
            }
            let want = if app == "api-app" { 2 } else { 1 };
            assert_eq!(
                pods, want,
                "{env}/{app}: the Deployment (and api-app's bootstrap Job)"
            );
        }
    }
}

/// The `### <title>` section of terraform/README.md, which the runbook tests read.
fn runbook_section(title: &str) -> String {
    read_text("terraform/README.md")
        .split("\n### ")
        .find(|s| s.starts_with(title))
        .unwrap_or_else(|| panic!("terraform/README.md has a section \"{title}\""))
        .to_owned()
}

/// Issue 27: a restore never takes the live instance down. The live module has no
/// `snapshot_identifier` (setting one replaced it, and leaving it set restored stale data on any later
/// replacement); a restore is a second instance beside it, gated by `var.database_restore`, which
/// api-app moves to only when told to. No instance deletes its automated backups with it.
#[test]
fn a_restore_builds_beside_the_live_instance_and_never_replaces_it() {
    let platform = blocks_in(PLATFORM);
    let live = block(&platform, "module", &["db"]).body();
    assert!(
        attr(live, "snapshot_identifier").is_none(),
        "module.db must never be built from a snapshot: that replaces the live instance"
    );
    assert_eq!(attr_text(live, "identifier"), "local.name");
    let restore = block(&platform, "module", &["db_restore"]).body();
    assert_eq!(
        attr_text(restore, "count"),
        "var.database_restore==null?0:1",
        "the restore instance exists only while a restore is asked for"
    );
    assert_eq!(
        attr_text(restore, "snapshot_identifier"),
        "var.database_restore.snapshot_identifier"
    );
    assert_eq!(
        attr_text(restore, "identifier"),
        "\"${local.name}-restore\""
    );
    for (name, body) in [("db", live), ("db_restore", restore)] {
        assert_eq!(
            attr_text(body, "delete_automated_backups"),
            "false",
            "module.{name}: its backups outlive it"
        );
        for key in [
            "source",
            "version",
            "kms_key_id",
            "db_subnet_group_name",
            "vpc_security_group_ids",
            "ca_cert_identifier",
            "multi_az",
            "deletion_protection",
            "port",
        ] {
            assert_eq!(
                attr_text(body, key),
                attr_text(live, key),
                "module.{name} {key}: as the live instance"
            );
        }
    }
    // api-app, the bootstrap hook and the dev schedule follow the serving instance, the live one
    // unless `serve` is set.
    assert_eq!(
        local_expr(&platform, "database_serving")
            .to_string()
            .split_whitespace()
            .collect::<String>(),
        "local.database_serves_restore?one(module.db_restore):module.db"
    );
    let url = local_expr(&platform, "database_url").to_string();
    assert!(
        url.contains("${local.database_serving.db_instance_address}"),
        "{url}"
    );
    for env in ENVS {
        assert!(
            attr(EnvRoot::load(env).module("platform"), "database_restore").is_none(),
            "{env}: no restore is running in Git (set it only for the procedure in terraform/README.md)"
        );
    }
    // The runbook restores side by side and names its duration.
    let section = runbook_section("Restore from a snapshot");
    for needed in [
        "database_restore",
        "serve = true",
        "minutes",
        "28P01",
        "migrat",
    ] {
        assert!(
            section.contains(needed),
            "the restore runbook covers {needed}"
        );
    }
    assert!(
        !section.contains("database_restore_snapshot_identifier"),
        "the runbook no longer replaces the live instance"
    );
}

/// Issue 27: dev's database runs on weekdays from the nodes' start minus the lead to their stop plus
/// the lag, in Europe/Dublin time; RDS takes no automated backup of a stopped instance, so its backup
/// and maintenance windows (UTC) must fall inside those hours in summer (UTC+1) and winter (UTC+0).
#[test]
fn dev_backs_up_and_is_maintained_while_its_database_runs() {
    let dev = EnvRoot::load("dev");
    let schedule = hcl_to_json(&dev.module_arg("platform", "node_scale_down_schedule"));
    assert_eq!(
        schedule["time_zone"], "Europe/Dublin",
        "offsets below are Dublin's"
    );
    let offsets_min = [0, 60];
    let minute = |cron: &str| -> i64 {
        let f: Vec<i64> = cron
            .split_whitespace()
            .take(2)
            .map(|x| x.parse().unwrap())
            .collect();
        f[1] * 60 + f[0]
    };
    let days = |cron: &str| cron.split_whitespace().nth(4).unwrap().to_owned();
    let locals = platform_locals("dev");
    let num = |k: &str| hcl_to_json(&locals[k]).as_i64().unwrap();
    let up = schedule["scale_up_recurrence"].as_str().unwrap();
    let down = schedule["scale_down_recurrence"].as_str().unwrap();
    assert_eq!((days(up), days(down)), ("MON-FRI".into(), "MON-FRI".into()));
    let (start, stop) = (
        minute(up) - num("database_start_lead_minutes"),
        minute(down) + num("database_stop_lag_minutes"),
    );
    let windows = hcl_to_json(&locals["database_windows"]);
    let hm = |t: &str| -> i64 {
        let (h, m) = t.split_once(':').unwrap();
        h.parse::<i64>().unwrap() * 60 + m.parse::<i64>().unwrap()
    };
    let span = |w: &str| -> (i64, i64) {
        let (a, b) = w.split_once('-').unwrap();
        let strip = |x: &str| {
            x.rsplit(':')
                .take(2)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join(":")
        };
        (hm(&strip(a)), hm(&strip(b)))
    };
    let backup = windows["backup"].as_str().unwrap();
    let maintenance = windows["maintenance"].as_str().unwrap();
    let day = maintenance.split(':').next().unwrap();
    assert!(
        ["mon", "tue", "wed", "thu", "fri"].contains(&day),
        "dev's maintenance window falls on a weekday, when the database runs: {maintenance}"
    );
    for (what, w) in [("backup", backup), ("maintenance", maintenance)] {
        let (from, to) = span(w);
        assert!(
            to - from >= 30,
            "{what} window {w}: RDS needs at least 30 minutes"
        );
        for offset in offsets_min {
            assert!(
                start <= from + offset && to + offset <= stop,
                "dev {what} window {w} UTC is {}-{} in Dublin (UTC+{}), outside the database's {}-{}",
                from + offset,
                to + offset,
                offset / 60,
                start,
                stop
            );
        }
    }
    let (b, m) = (span(backup), span(maintenance));
    assert!(
        b.1 <= m.0 || m.1 <= b.0,
        "the backup and maintenance windows may not overlap"
    );
    let platform = blocks_in(PLATFORM);
    for name in ["db", "db_restore"] {
        let db = block(&platform, "module", &[name]).body();
        assert_eq!(
            attr_text(db, "backup_window"),
            "local.database_windows.backup"
        );
        assert_eq!(
            attr_text(db, "maintenance_window"),
            "local.database_windows.maintenance"
        );
    }
}

/// Issue 27: a major upgrade is one variable (engine version and parameter family follow it) and
/// cannot happen by accident: `allow_major_version_upgrade` is its own variable, off by default.
#[test]
fn a_major_upgrade_changes_one_variable_and_is_gated() {
    let platform = blocks_in(PLATFORM);
    let database = local_expr(&platform, "database").to_string();
    assert!(
        database
            .split_whitespace()
            .collect::<String>()
            .contains("engine_version=var.database_engine_version"),
        "local.database.engine_version is the variable: {database}"
    );
    for name in ["db", "db_restore"] {
        let db = block(&platform, "module", &[name]).body();
        for key in ["engine_version", "major_engine_version"] {
            assert_eq!(
                attr_text(db, key),
                "local.database.engine_version",
                "module.{name} {key}"
            );
        }
        assert_eq!(
            attr_text(db, "allow_major_version_upgrade"),
            "var.database_allow_major_version_upgrade",
            "module.{name}"
        );
    }
    let vars = blocks_in(PLATFORM);
    let allow = block(&vars, "variable", &["database_allow_major_version_upgrade"]).body();
    assert_eq!(attr_text(allow, "default"), "false");
    for env in ENVS {
        assert!(
            attr(
                EnvRoot::load(env).module("platform"),
                "database_allow_major_version_upgrade"
            )
            .is_none(),
            "{env}: the gate is set only in the upgrade's own PR"
        );
    }
    let section = runbook_section("Major PostgreSQL upgrade");
    for needed in [
        "database_engine_version",
        "database_allow_major_version_upgrade",
        "snapshot",
        "dev first",
        "maintenance window",
        "Blue/Green",
    ] {
        assert!(
            section.contains(needed),
            "the major-upgrade runbook covers {needed}"
        );
    }
}

/// Issue 27: the final snapshot (and retained backups) stay readable after a teardown: their key
/// refuses a destroy, and the teardown takes it out of state before destroying the rest.
#[test]
fn the_final_snapshots_key_outlives_the_teardown() {
    let platform = blocks_in(PLATFORM);
    let key = block(&platform, "resource", &["aws_kms_key", "database"]).body();
    let lifecycle = key
        .blocks()
        .find(|b| b.identifier() == "lifecycle")
        .expect("aws_kms_key.database has a lifecycle block");
    assert_eq!(attr_text(lifecycle.body(), "prevent_destroy"), "true");
    for name in ["db", "db_restore"] {
        let db = block(&platform, "module", &[name]).body();
        assert_eq!(
            attr_text(db, "kms_key_id"),
            "aws_kms_key.database.arn",
            "module.{name}"
        );
    }
    let readme = read_text("terraform/README.md");
    let teardown = readme
        .split("\n## Teardown")
        .nth(1)
        .expect("a teardown section");
    let rm = teardown
        .find("state rm 'module.platform.aws_kms_key.database'")
        .expect("the teardown takes the database key out of state");
    let destroy = teardown
        .find("envs/<env> destroy`")
        .expect("the teardown destroys");
    assert!(rm < destroy, "the key leaves state before the destroy");
}

/// Issue 27: a password rotation cannot race, and (issue 20) refuses no connection. The pods' Secret is
/// fetched only when forced (an hourly refresh carried an unsynced value into the pods); the documented
/// rotation gives the inactive user its password in the sync (whose hook reads its own, fresh copy)
/// *before* it forces the pods' Secret, and then waits for that fetch to land (`status.refreshTime`,
/// not `Ready`, which is true before). `scripts/rotate-db-login.sh` does it; its order is proved by
/// `the_rotation_script_moves_to_the_inactive_user_in_the_gapless_order`.
#[test]
fn a_password_rotation_reaches_the_pods_and_the_role_together() {
    for env in ENVS {
        let docs = api_app(env);
        let es = find(&docs, "ExternalSecret", "api-app-db");
        assert_eq!(
            text(&es["spec"]["refreshInterval"]),
            "0s",
            "{env}: api-app-db is fetched only when forced"
        );
    }
    let script = read_text("scripts/rotate-db-login.sh");
    let step = |needle: &str| {
        script
            .find(needle)
            .unwrap_or_else(|| panic!("scripts/rotate-db-login.sh runs {needle}"))
    };
    let (put, sync, force, wait) = (
        step("aws secretsmanager put-secret-value"),
        step("argocd app sync \"api-app-$env\""),
        step("annotate externalsecret api-app-db force-sync="),
        step("jsonpath='{.status.refreshTime}') != \"$before\""),
    );
    assert!(
        put < sync && sync < force && force < wait,
        "put, then sync (the hook sets the new user's password), then force the pods' Secret and wait for it"
    );
    let readme = read_text("terraform/README.md");
    let rotation = readme
        .split("- **Rotating api-app's database login.**")
        .nth(1)
        .expect("terraform/README.md documents the rotation")
        .split("\n- **")
        .next()
        .unwrap();
    assert!(
        rotation.contains("scripts/rotate-db-login.sh") && rotation.contains("*inactive* user"),
        "the rotation is the script's, to the inactive user"
    );
    assert!(
        !rotation.contains("28P01 gap") && !rotation.contains("is refused with 28P01"),
        "no documented refused-connection gap"
    );
}

/// Issue 27: a Reloader restart (or any rollout) is a rolling update with `maxSurge` 100 %: every new
/// pod starts beside the old ones, so for about a minute the pods and their pools double. The database
/// must take that peak: replicas plus the surge, times the pool, plus the bootstrap Job, stays under
/// the instance's `max_connections` (`LEAST(DBInstanceClassMemory/9531392, 5000)`, the class memory
/// less the OS's share, about a quarter). The docs say so instead of "one by one".
#[test]
fn a_rollout_doubles_the_pods_and_the_database_takes_the_peak() {
    use integration_tests::k8s::{one, overlay, pod_env};
    for env in ENVS {
        let docs = overlay(env, "api-app");
        // The Rollout runs the pods: a promotion (or a Reloader restart) surges by its canary maxSurge.
        let rollout = one(&docs, "Rollout");
        let replicas = rollout["spec"]["replicas"].as_u64().unwrap();
        let max_surge = &rollout["spec"]["strategy"]["canary"]["maxSurge"];
        let surge: u64 = max_surge
            .as_str()
            .and_then(|p| p.strip_suffix('%'))
            .map_or_else(
                || max_surge.as_u64().unwrap(),
                |p| (replicas * p.parse::<u64>().unwrap()).div_ceil(100),
            );
        let vars = pod_env(&docs);
        assert!(
            vars.contains_key("DATABASE_URL"),
            "{env}: api-app runs on PostgreSQL"
        );
        let pool_max = vars.get("DATABASE_POOL_MAX").cloned().flatten();
        // The pool size as api-app parses it (its default when the overlay sets none); the URL only
        // has to parse here.
        let pool = api_app::tasks::store::PgSettings::parse(&api_app::tasks::store::PgVars {
            url: "postgres://api_app@db.example:5432/tasks",
            pool_max: pool_max.as_deref(),
            ..Default::default()
        })
        .unwrap()
        .pool_max as u64;
        let peak = (replicas + surge) * pool + 1;
        let class =
            hcl_to_json(&EnvRoot::load(env).module_arg("platform", "database"))["instance_class"]
                .as_str()
                .unwrap()
                .to_owned();
        let gib = hcl_to_json(&platform_locals(env)["database_memory_gib"])[&class]
            .as_u64()
            .unwrap_or_else(|| panic!("{env}: {class} has no memory in alarms.tf"));
        let max_connections = (gib * 1_073_741_824 * 3 / 4 / 9_531_392).min(5000);
        assert!(
            peak <= max_connections,
            "{env}: a rollout peaks at ({replicas} + {surge}) pods × {pool} connections + 1 = {peak}, over {class}'s ~{max_connections}"
        );
    }
    let readme = read_text("terraform/README.md");
    assert!(
        !readme.contains("one by one"),
        "a Reloader restart is a rollout with maxSurge 100 %, not one pod at a time"
    );
    assert!(
        readme.contains("Reloader") && readme.contains("double"),
        "terraform/README.md says a Reloader restart briefly doubles the pods and their connections"
    );
}

/// A stand-in for the cluster, Secrets Manager and Argo CD that `scripts/rotate-db-login.sh` talks to:
/// fake `kubectl`, `aws` and `argocd` on `PATH` over a few files, each call that changes something
/// logged in order.
struct RotationWorld {
    dir: std::path::PathBuf,
}

impl RotationWorld {
    /// The pods' Secret names `pods`, Secrets Manager `stored`; `argocd app sync` exits `sync_rc`.
    fn new(pods: &str, stored: &str, sync_rc: u8) -> Self {
        let dir = std::env::temp_dir().join(format!("rotation-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(dir.join("bin")).unwrap();
        let world = Self { dir };
        world.put("pods", pods);
        world.put(
            "stored",
            &format!(r#"{{"username":"{stored}","password":"old"}}"#),
        );
        world.put("refresh", "1");
        world.put("sync", "Synced");
        world.put("log", "");
        let w = world.dir.display();
        for (tool, body) in [
            (
                "kubectl",
                format!(
                    r#"case "$*" in
  *"get secret api-app-db"*) printf %s "$(cat {w}/pods)" | base64 ;;
  *"get externalsecret api-app-db"*) cat {w}/refresh ;;
  *"annotate externalsecret api-app-db force-sync="*)
    echo force-sync >>{w}/log; jq -j .username {w}/stored >{w}/pods
    echo $(($(cat {w}/refresh) + 1)) >{w}/refresh.new; mv {w}/refresh.new {w}/refresh ;;
  *) echo "unexpected kubectl $*" >&2; exit 1 ;;
esac"#
                ),
            ),
            (
                "aws",
                format!(
                    r#"case "$*" in
  *get-secret-value*) cat {w}/stored ;;
  *get-random-password*) echo NewRandomPassword0123456789abcdefghijklmnopqrstuv ;;
  *put-secret-value*)
    file=${{*##*file://}}; file=${{file%% *}}
    cp "$file" {w}/stored; echo "put $(jq -j .username {w}/stored)" >>{w}/log ;;
  *) echo "unexpected aws $*" >&2; exit 1 ;;
esac"#
                ),
            ),
            (
                "argocd",
                format!(
                    r#"case "$*" in
  "app get api-app-dev -o json") printf '{{"status":{{"sync":{{"status":"%s"}}}}}}' "$(cat {w}/sync)" ;;
  "app sync api-app-dev")
    echo "sync sets the password of $(jq -j .username {w}/stored)" >>{w}/log
    exit {sync_rc} ;;
  *) echo "unexpected argocd $*" >&2; exit 1 ;;
esac"#
                ),
            ),
        ] {
            let path = world.dir.join("bin").join(tool);
            std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
            let mut perms = std::fs::metadata(&path).unwrap().permissions();
            std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
            std::fs::set_permissions(&path, perms).unwrap();
        }
        world
    }

    fn put(&self, file: &str, text: &str) {
        std::fs::write(self.dir.join(file), text).unwrap();
    }

    fn get(&self, file: &str) -> String {
        std::fs::read_to_string(self.dir.join(file)).unwrap()
    }

    fn rotate(&self) -> (bool, String) {
        let path = format!(
            "{}:{}",
            self.dir.join("bin").display(),
            std::env::var("PATH").unwrap()
        );
        let root = integration_tests::repo_root();
        integration_tests::run_for_text(
            std::process::Command::new(root.join("scripts/rotate-db-login.sh"))
                .arg("dev")
                .current_dir(&root)
                .env("PATH", path),
        )
    }
}

impl Drop for RotationWorld {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Issues 20 and 27: the rotation moves to the inactive user, and in the order that refuses no
/// connection: the new value is put, the sync's hook sets it on that user, and only then are the pods'
/// files (`ExternalSecret` api-app-db) forced to it. A failed sync stops before the pods move; a
/// half-done earlier rotation, or an app with unsynced changes its sync would release, is refused
/// rather than built on; the password is never printed.
#[test]
fn the_rotation_script_moves_to_the_inactive_user_in_the_gapless_order() {
    let world = RotationWorld::new("api_app_a", "api_app_a", 0);
    for (from, to) in [("api_app_a", "api_app_b"), ("api_app_b", "api_app_a")] {
        world.put("log", "");
        let (ok, out) = world.rotate();
        assert!(ok, "{out}");
        assert_eq!(
            world.get("log"),
            format!("put {to}\nsync sets the password of {to}\nforce-sync\n"),
            "from {from}"
        );
        assert_eq!(world.get("pods"), to);
        let stored: Json = serde_json::from_str(&world.get("stored")).unwrap();
        assert_eq!(
            stored["password"],
            "NewRandomPassword0123456789abcdefghijklmnopqrstuv"
        );
        assert!(!out.contains("NewRandomPassword"), "{out}");
    }

    let failing_sync = RotationWorld::new("api_app_a", "api_app_a", 1);
    let (ok, out) = failing_sync.rotate();
    assert!(!ok && out.contains("sync failed"), "{out}");
    assert_eq!(failing_sync.get("pods"), "api_app_a", "the pods stay");
    assert!(!failing_sync.get("log").contains("force-sync"));

    let out_of_sync = RotationWorld::new("api_app_a", "api_app_a", 0);
    out_of_sync.put("sync", "OutOfSync");
    let (ok, out) = out_of_sync.rotate();
    assert!(!ok && out.contains("not Synced"), "{out}");
    assert_eq!(out_of_sync.get("log"), "", "nothing changed");

    let half_done = RotationWorld::new("api_app_a", "api_app_b", 0);
    let (ok, out) = half_done.rotate();
    assert!(!ok && out.contains("half done"), "{out}");
    assert_eq!(half_done.get("log"), "", "nothing changed");

    let read = read_text("terraform/README.md");
    assert!(
        read.contains("scripts/rotate-db-login.sh"),
        "terraform/README.md documents the rotation script"
    );
}
