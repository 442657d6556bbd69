//! terraform/ must agree with k8s/ and the contract: secret names, Pod Identity bindings, cluster
//! names, the ESO policy's secrets and the root Application's path.
//!
//! The HCL is parsed with hcl-rs and the module `locals` are evaluated per environment with the
//! values the env roots pass in, so a renamed local or a changed template breaks these tests.

use std::collections::{BTreeMap, BTreeSet};

use hcl::eval::{Context, Evaluate, FuncArgs, FuncDef, ParamType};
use hcl::{Block, Body, Expression, Value};
use integration_tests::facts::{ENVS, REPO_URL};
use integration_tests::k8s::{argocd, overlay};
use integration_tests::{of_kind, read_yaml, repo_root};

pub(super) const PLATFORM: &str = "terraform/modules/platform-cluster";
const ADDONS: &str = "terraform/modules/cluster-addons";
/// Stands in for `data.aws_caller_identity.current.account_id`.
pub(super) const ACCOUNT: &str = "111122223333";

// ---------------------------------------------------------------------------------------------
// HCL helpers
// ---------------------------------------------------------------------------------------------

/// Every top-level block of the `.tf` files in one directory (not recursive).
pub(crate) fn blocks_in(dir: &str) -> Vec<Block> {
    let mut files: Vec<_> = std::fs::read_dir(repo_root().join(dir))
        .unwrap_or_else(|e| panic!("reading {dir}: {e}"))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "tf"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{dir} has no .tf files");
    files
        .iter()
        .flat_map(|p| {
            let text = std::fs::read_to_string(p).unwrap();
            hcl::parse(&text)
                .unwrap_or_else(|e| panic!("{} is not valid HCL: {e}", p.display()))
                .into_blocks()
        })
        .collect()
}

/// The one block `ident "labels..." {}`; panics if it is missing or duplicated.
pub(crate) fn block<'a>(blocks: &'a [Block], ident: &str, labels: &[&str]) -> &'a Block {
    let found: Vec<_> = blocks
        .iter()
        .filter(|b| {
            b.identifier() == ident
                && b.labels()
                    .iter()
                    .map(hcl::BlockLabel::as_str)
                    .eq(labels.iter().copied())
        })
        .collect();
    assert_eq!(found.len(), 1, "expected exactly one {ident} {labels:?}");
    found[0]
}

pub(super) fn attr<'a>(body: &'a Body, key: &str) -> Option<&'a Expression> {
    body.attributes()
        .find(|a| a.key() == key)
        .map(hcl::Attribute::expr)
}

/// An argument's expression as HCL text with all whitespace removed, for structural comparisons.
pub(crate) fn attr_text(body: &Body, key: &str) -> String {
    attr(body, key)
        .map_or_else(String::new, ToString::to_string)
        .split_whitespace()
        .collect()
}

fn json_to_hcl(v: serde_json::Value) -> Value {
    serde_json::from_value(v).expect("JSON maps onto HCL values")
}

pub(crate) fn hcl_to_json(v: &Value) -> serde_json::Value {
    serde_json::to_value(v).expect("HCL values map onto JSON")
}

// Terraform's encoders, enough for the locals and Helm values (JSON is valid YAML).
#[allow(clippy::needless_pass_by_value)] // hcl's `Func` type takes the arguments by value.
fn encode(args: FuncArgs) -> Result<Value, String> {
    serde_json::to_string(&args[0])
        .map(Value::from)
        .map_err(|e| e.to_string())
}

/// A context with `var`, `local`, `data` and `module` declared, plus jsonencode/yamlencode.
pub(super) fn context(
    vars: &serde_json::Value,
    locals: &BTreeMap<String, Value>,
    module: &serde_json::Value,
) -> Context<'static> {
    let mut ctx = Context::new();
    ctx.declare_var("var", json_to_hcl(vars.clone()));
    ctx.declare_var(
        "data",
        json_to_hcl(serde_json::json!({
            "aws_partition": { "current": { "partition": "aws" } },
            "aws_caller_identity": { "current": { "account_id": ACCOUNT } },
        })),
    );
    ctx.declare_var("module", json_to_hcl(module.clone()));
    let locals: hcl::Map<String, Value> =
        locals.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    ctx.declare_var("local", Value::Object(locals));
    for name in ["jsonencode", "yamlencode"] {
        ctx.declare_func(name, FuncDef::builder().param(ParamType::Any).build(encode));
    }
    ctx.declare_func(
        "title",
        FuncDef::builder().param(ParamType::String).build(title),
    );
    // What the add-ons module reads from k8s/: `file` relative to the repository, as Terraform would.
    ctx.declare_var(
        "path",
        json_to_hcl(serde_json::json!({ "module": repo_root().join(ADDONS) })),
    );
    ctx.declare_func(
        "file",
        FuncDef::builder().param(ParamType::String).build(file),
    );
    ctx.declare_func(
        "yamldecode",
        FuncDef::builder()
            .param(ParamType::String)
            .build(yamldecode),
    );
    ctx.declare_func(
        "merge",
        FuncDef::builder()
            .variadic_param(ParamType::Any)
            .build(merge),
    );
    ctx.declare_func(
        "templatefile",
        FuncDef::builder()
            .param(ParamType::String)
            .param(ParamType::Any)
            .build(templatefile),
    );
    ctx
}

/// Terraform's `templatefile` for the IAM templates (`terraform/**/iam/*.json.tftpl`): each `${name}`
/// becomes that variable's string, `$${` is a literal `${`, and anything else (directives,
/// expressions, an undeclared name) is an error, as Terraform would refuse an undeclared one.
#[allow(clippy::needless_pass_by_value)] // hcl's `Func` type takes the arguments by value.
fn templatefile(args: FuncArgs) -> Result<Value, String> {
    let path = args[0].as_str().ok_or("templatefile takes a path")?;
    let vars = args[1]
        .as_object()
        .ok_or("templatefile takes an object of variables")?;
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    render_template(&text, |name| {
        vars.get(name).and_then(Value::as_str).map(str::to_owned)
    })
    .map(Value::from)
    .map_err(|e| format!("{path}: {e}"))
}

/// Substitutes `${name}` in a template with `lookup(name)`; `$${` stays a literal `${`.
pub(crate) fn render_template(
    text: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<String, String> {
    if text.contains("%{") {
        return Err("template directives (%{...}) are not used in IAM templates".into());
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("${") {
        let escaped = at > 0 && rest.as_bytes()[at - 1] == b'$';
        out.push_str(&rest[..if escaped { at - 1 } else { at }]);
        let after = &rest[at + 2..];
        let end = after.find('}').ok_or("unterminated ${")?;
        let name = &after[..end];
        if escaped {
            out.push_str("${");
            out.push_str(name);
            out.push('}');
        } else {
            if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!("${{{name}}}: only plain variable names"));
            }
            out.push_str(&lookup(name).ok_or_else(|| format!("no string variable {name}"))?);
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[allow(clippy::needless_pass_by_value)] // hcl's `Func` type takes the arguments by value.
fn title(args: FuncArgs) -> Result<Value, String> {
    let s = args[0].as_str().ok_or("title takes a string")?;
    let mut chars = s.chars();
    Ok(chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect::<String>())
        .unwrap_or_default()
        .into())
}

#[allow(clippy::needless_pass_by_value)] // hcl's `Func` type takes the arguments by value.
fn file(args: FuncArgs) -> Result<Value, String> {
    let path = args[0].as_str().ok_or("file takes a path")?;
    std::fs::read_to_string(path)
        .map(Value::from)
        .map_err(|e| format!("{path}: {e}"))
}

#[allow(clippy::needless_pass_by_value)] // hcl's `Func` type takes the arguments by value.
fn yamldecode(args: FuncArgs) -> Result<Value, String> {
    let text = args[0].as_str().ok_or("yamldecode takes a string")?;
    let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).map_err(|e| e.to_string())?;
    Ok(json_to_hcl(
        serde_json::to_value(yaml).map_err(|e| e.to_string())?,
    ))
}

#[allow(clippy::needless_pass_by_value)] // hcl's `Func` type takes the arguments by value.
fn merge(args: FuncArgs) -> Result<Value, String> {
    let mut out = hcl::Map::new();
    for arg in args.iter() {
        out.extend(arg.as_object().ok_or("merge takes objects")?.clone());
    }
    Ok(Value::Object(out))
}

/// Evaluates every `locals` entry of a directory that can be evaluated from `vars` (locals that need
/// functions or data we do not model, such as `slice` over AZs, stay out).
fn locals_of(blocks: &[Block], vars: &serde_json::Value) -> BTreeMap<String, Value> {
    locals_with(blocks, vars, &serde_json::Map::new())
}

/// [`locals_of`], with stand-ins for resource attributes the locals read (e.g. `aws_kms_key`).
pub(crate) fn locals_with(
    blocks: &[Block],
    vars: &serde_json::Value,
    resources: &serde_json::Map<String, serde_json::Value>,
) -> BTreeMap<String, Value> {
    let pending: Vec<(String, Expression)> = blocks
        .iter()
        .filter(|b| b.identifier() == "locals")
        .flat_map(|b| {
            b.body()
                .attributes()
                .map(|a| (a.key().to_owned(), a.expr().clone()))
        })
        .collect();
    let mut done = BTreeMap::new();
    loop {
        let mut ctx = context(vars, &done, &serde_json::json!({}));
        for (name, value) in resources {
            ctx.declare_var(name.as_str(), json_to_hcl(value.clone()));
        }
        let newly: Vec<_> = pending
            .iter()
            .filter(|(k, _)| !done.contains_key(k))
            .filter_map(|(k, e)| e.evaluate(&ctx).ok().map(|v| (k.clone(), v)))
            .collect();
        if newly.is_empty() {
            return done;
        }
        done.extend(newly);
    }
}

/// `local.<key>` as a string.
pub(crate) fn local_str(locals: &BTreeMap<String, Value>, key: &str) -> String {
    locals
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("local.{key} is missing or not a string"))
        .to_owned()
}

/// An env root (`terraform/envs/<env>`): its blocks and the literal locals it feeds the modules.
pub(crate) struct EnvRoot {
    blocks: Vec<Block>,
    locals: BTreeMap<String, Value>,
}

impl EnvRoot {
    pub(crate) fn load(env: &str) -> Self {
        let blocks = blocks_in(&format!("terraform/envs/{env}"));
        let locals = locals_of(&blocks, &serde_json::json!({}));
        Self { blocks, locals }
    }

    pub(super) fn module(&self, name: &str) -> &Body {
        block(&self.blocks, "module", &[name]).body()
    }

    /// Evaluates an argument of `module "<name>"` in the root's scope.
    pub(crate) fn module_arg(&self, name: &str, key: &str) -> Value {
        let expr =
            attr(self.module(name), key).unwrap_or_else(|| panic!("module {name} sets no {key}"));
        expr.evaluate(&context(
            &serde_json::json!({}),
            &self.locals,
            &serde_json::json!({}),
        ))
        .unwrap_or_else(|e| panic!("module {name}.{key}: {e}"))
    }

    /// The variables the platform module receives (the ones the contract tests need).
    pub(super) fn platform_vars(&self) -> serde_json::Value {
        let mut vars = serde_json::json!({
            "env": hcl_to_json(&self.module_arg("platform", "env")),
            "region": hcl_to_json(&self.module_arg("platform", "region")),
        });
        // The database's variables, as the root sets them or the module defaults them.
        let module = blocks_in(PLATFORM);
        for name in ["database_engine_version", "database_restore"] {
            let value = if attr(self.module("platform"), name).is_some() {
                hcl_to_json(&self.module_arg("platform", name))
            } else {
                let default = attr(block(&module, "variable", &[name]).body(), "default")
                    .unwrap_or_else(|| panic!("variable {name} has a default"));
                hcl_to_json(
                    &default
                        .evaluate(&Context::new())
                        .unwrap_or_else(|e| panic!("var.{name}: {e}")),
                )
            };
            vars[name] = value;
        }
        vars
    }
}

pub(crate) fn platform_locals(env: &str) -> BTreeMap<String, Value> {
    locals_of(&blocks_in(PLATFORM), &EnvRoot::load(env).platform_vars())
}

/// The pod identities as modules/platform-cluster outputs them (namespace + service account).
fn pod_identities_output(locals: &BTreeMap<String, Value>) -> serde_json::Value {
    let all = hcl_to_json(&locals["pod_identities"]);
    let map = all.as_object().expect("local.pod_identities is an object");
    serde_json::Value::Object(
        map.iter()
            .map(|(k, v)| {
                (k.clone(), serde_json::json!({ "namespace": v["namespace"], "service_account": v["service_account"] }))
            })
            .collect(),
    )
}

fn addons_vars(env: &str, platform: &BTreeMap<String, Value>) -> serde_json::Value {
    serde_json::json!({
        "env": env,
        "region": "eu-west-1",
        "cluster_name": local_str(platform, "name"),
        "vpc_id": "vpc-0123456789abcdef0",
        "pod_identities": pod_identities_output(platform),
        "deployment_records_secret_name": local_str(platform, "deployment_records_secret_name"),
        "wait_for_pods": true,
        "certificate_arn": SAMPLE_CERTIFICATE_ARN,
        "web_acl_arn": format!("arn:aws:wafv2:eu-west-1:{ACCOUNT}:regional/webacl/{}/{SAMPLE_ID}", local_str(platform, "web_acl_name")),
        "database_url": platform_database_url(env),
        "database_master_secret_arn": format!("arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:rds!db-{SAMPLE_ID}-AbCdEf"),
    })
}

/// Stand-ins for what exists only after an apply, as modules/platform-cluster would output them.
pub(crate) const SAMPLE_ID: &str = "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0";
pub(crate) const SAMPLE_CERTIFICATE_ARN: &str =
    "arn:aws:acm:eu-west-1:111122223333:certificate/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0";

/// The RDS endpoint of `gitops-<env>` as AWS would name it (the hash is per account and region).
pub(crate) fn sample_database_endpoint(env: &str) -> String {
    format!("gitops-{env}.c0ffee123abc.eu-west-1.rds.amazonaws.com")
}

/// The expression of `local.<key>` in a module's blocks.
pub(crate) fn local_expr<'a>(blocks: &'a [Block], key: &str) -> &'a Expression {
    blocks
        .iter()
        .filter(|b| b.identifier() == "locals")
        .find_map(|b| attr(b.body(), key))
        .unwrap_or_else(|| panic!("no local.{key}"))
}

/// modules/platform-cluster's `local.database_url` for one env, with the sample RDS endpoint.
pub(crate) fn platform_database_url(env: &str) -> String {
    let blocks = blocks_in(PLATFORM);
    let expr = local_expr(&blocks, "database_url");
    let module =
        serde_json::json!({ "db": { "db_instance_address": sample_database_endpoint(env) } });
    let vars = EnvRoot::load(env).platform_vars();
    let mut modules = serde_json::Map::new();
    modules.insert("module".into(), module.clone());
    expr.evaluate(&context(
        &vars,
        &locals_with(&blocks, &vars, &modules),
        &module,
    ))
    .unwrap_or_else(|e| panic!("{env}: local.database_url: {e}"))
    .as_str()
    .unwrap()
    .to_owned()
}

/// A `helm_release` of the add-ons module evaluated for one env: (namespace, its `values` documents
/// merged the way Helm merges them: maps deeply, later documents winning).
pub(crate) fn helm_release(env: &str, name: &str) -> (String, serde_json::Value) {
    let platform = platform_locals(env);
    let addons = blocks_in(ADDONS);
    let vars = addons_vars(env, &platform);
    let locals = locals_of(&addons, &vars);
    let ctx = context(&vars, &locals, &serde_json::json!({}));
    let body = block(&addons, "resource", &["helm_release", name]).body();
    let namespace = attr(body, "namespace")
        .expect("namespace")
        .evaluate(&ctx)
        .unwrap();
    let values = attr(body, "values")
        .expect("values")
        .evaluate(&ctx)
        .unwrap();
    let mut merged = serde_json::json!({});
    for doc in values.as_array().expect("values = [yamlencode(...), ...]") {
        let yaml = doc
            .as_str()
            .expect("each values document is yamlencode(...)");
        let parsed: serde_yaml_ng::Value = serde_yaml_ng::from_str(yaml).unwrap();
        merge_values(&mut merged, serde_json::to_value(parsed).unwrap());
    }
    (namespace.as_str().unwrap().to_owned(), merged)
}

fn merge_values(into: &mut serde_json::Value, from: serde_json::Value) {
    match (into, from) {
        (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
            for (k, v) in b {
                merge_values(a.entry(k).or_insert(serde_json::Value::Null), v);
            }
        }
        (slot, v) => *slot = v,
    }
}

pub(crate) fn k8s_docs_as_json(docs: &[serde_yaml_ng::Value]) -> Vec<serde_json::Value> {
    docs.iter()
        .map(|d| serde_json::to_value(d).unwrap())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

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

/// Asserts an IAM statement only reads secrets: `Allow` with exactly `DescribeSecret` and
/// `GetSecretValue` (ESO reads keys by name, so no `ListSecrets` or `BatchGetSecretValue`).
pub(crate) fn assert_reads_secrets_only(statement: &serde_json::Value, what: &str) {
    assert_eq!(statement["Effect"], "Allow", "{what}");
    let actions: BTreeSet<&str> = statement["Action"]
        .as_array()
        .unwrap_or_else(|| panic!("{what}: Action is a list"))
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        BTreeSet::from([
            "secretsmanager:DescribeSecret",
            "secretsmanager:GetSecretValue"
        ]),
        "{what}"
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
        "aws_load_balancer_controller": { "namespace": "kube-system", "service_account": "aws-load-balancer-controller" },
        "external_secrets": { "namespace": "external-secrets", "service_account": "external-secrets" },
    });
    let platform = blocks_in(PLATFORM);
    for env in ENVS {
        let locals = platform_locals(env);
        assert_eq!(
            pod_identities_output(&locals),
            expected,
            "{env}: the contract's two Pod Identity bindings"
        );

        // The associations Terraform creates use exactly those bindings.
        let module = serde_json::json!({ "eks": { "cluster_name": format!("gitops-{env}") } });
        let ctx = context(&EnvRoot::load(env).platform_vars(), &locals, &module);
        for (module_name, key) in [
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
    for env in ENVS {
        let root = EnvRoot::load(env);
        let tf = root
            .blocks
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
