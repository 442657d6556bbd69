//! The HCL evaluator the contract tests read terraform/ with: blocks and attributes by name, module
//! `locals` evaluated per environment with the values the env roots pass in (plus the functions the
//! modules call: templatefile, yamldecode, merge, ...), Helm release values, and sample values that
//! stand in for what exists only after an apply.
//!
//! The HCL is parsed with hcl-rs, so a renamed local or a changed template breaks the tests that read
//! it.

use std::collections::{BTreeMap, BTreeSet};

use crate::repo_root;
use hcl::eval::{Context, Evaluate, FuncArgs, FuncDef, ParamType};
use hcl::{Block, Body, Expression, Value};

pub const PLATFORM: &str = "terraform/modules/platform-cluster";
pub const ADDONS: &str = "terraform/modules/cluster-addons";
/// Stands in for `data.aws_caller_identity.current.account_id`.
pub const ACCOUNT: &str = "111122223333";

// ---------------------------------------------------------------------------------------------
// HCL helpers
// ---------------------------------------------------------------------------------------------

/// Every top-level block of the `.tf` files in one directory (not recursive).
pub fn blocks_in(dir: &str) -> Vec<Block> {
    let mut files: Vec<_> = std::fs::read_dir(repo_root().join(dir))
        .unwrap_or_else(|e| panic!("reading {dir}: {e}"))
        .map(|e| e.unwrap_or_else(|e| panic!("reading {dir}: {e}")).path())
        .filter(|p| p.extension().is_some_and(|x| x == "tf"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{dir} has no .tf files");
    files
        .iter()
        .flat_map(|p| {
            let text = std::fs::read_to_string(p)
                .unwrap_or_else(|e| panic!("reading {}: {e}", p.display()));
            hcl::parse(&text)
                .unwrap_or_else(|e| panic!("{} is not valid HCL: {e}", p.display()))
                .into_blocks()
        })
        .collect()
}

/// The one block `ident "labels..." {}`; panics if it is missing or duplicated.
pub fn block<'a>(blocks: &'a [Block], ident: &str, labels: &[&str]) -> &'a Block {
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

pub fn attr<'a>(body: &'a Body, key: &str) -> Option<&'a Expression> {
    body.attributes()
        .find(|a| a.key() == key)
        .map(hcl::Attribute::expr)
}

/// An argument's expression as HCL text with all whitespace removed, for structural comparisons.
pub fn attr_text(body: &Body, key: &str) -> String {
    attr(body, key)
        .map_or_else(String::new, ToString::to_string)
        .split_whitespace()
        .collect()
}

fn json_to_hcl(v: serde_json::Value) -> Value {
    serde_json::from_value(v).expect("JSON maps onto HCL values")
}

pub fn hcl_to_json(v: &Value) -> serde_json::Value {
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
pub fn context(
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
pub fn render_template(
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
pub fn locals_of(blocks: &[Block], vars: &serde_json::Value) -> BTreeMap<String, Value> {
    locals_with(blocks, vars, &serde_json::Map::new())
}

/// [`locals_of`], with stand-ins for resource attributes the locals read (e.g. `aws_kms_key`).
pub fn locals_with(
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
pub fn local_str(locals: &BTreeMap<String, Value>, key: &str) -> String {
    locals
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("local.{key} is missing or not a string"))
        .to_owned()
}

/// An env root (`terraform/envs/<env>`): its blocks and the literal locals it feeds the modules.
#[derive(Debug)]
pub struct EnvRoot {
    blocks: Vec<Block>,
    locals: BTreeMap<String, Value>,
}

impl EnvRoot {
    pub fn load(env: &str) -> Self {
        let blocks = blocks_in(&format!("terraform/envs/{env}"));
        let locals = locals_of(&blocks, &serde_json::json!({}));
        Self { blocks, locals }
    }

    /// Every top-level block of the root's `.tf` files.
    pub fn blocks(&self) -> &[Block] {
        &self.blocks
    }

    pub fn module(&self, name: &str) -> &Body {
        block(&self.blocks, "module", &[name]).body()
    }

    /// Evaluates an argument of `module "<name>"` in the root's scope.
    pub fn module_arg(&self, name: &str, key: &str) -> Value {
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
    pub fn platform_vars(&self) -> serde_json::Value {
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

pub fn platform_locals(env: &str) -> BTreeMap<String, Value> {
    locals_of(&blocks_in(PLATFORM), &EnvRoot::load(env).platform_vars())
}

/// The pod identities as modules/platform-cluster outputs them (namespace + service account).
pub fn pod_identities_output(locals: &BTreeMap<String, Value>) -> serde_json::Value {
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

pub fn addons_vars(env: &str, platform: &BTreeMap<String, Value>) -> serde_json::Value {
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
pub const SAMPLE_ID: &str = "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0";
pub const SAMPLE_CERTIFICATE_ARN: &str =
    "arn:aws:acm:eu-west-1:111122223333:certificate/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0";

/// The RDS endpoint of `gitops-<env>` as AWS would name it (the hash is per account and region).
pub fn sample_database_endpoint(env: &str) -> String {
    format!("gitops-{env}.c0ffee123abc.eu-west-1.rds.amazonaws.com")
}

/// The expression of `local.<key>` in a module's blocks.
pub fn local_expr<'a>(blocks: &'a [Block], key: &str) -> &'a Expression {
    blocks
        .iter()
        .filter(|b| b.identifier() == "locals")
        .find_map(|b| attr(b.body(), key))
        .unwrap_or_else(|| panic!("no local.{key}"))
}

/// modules/platform-cluster's `local.database_url` for one env, with the sample RDS endpoint.
pub fn platform_database_url(env: &str) -> String {
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
    .expect("local.database_url is a string")
    .to_owned()
}

/// A `helm_release` of the add-ons module evaluated for one env: (namespace, its `values` documents
/// merged the way Helm merges them: maps deeply, later documents winning).
pub fn helm_release(env: &str, name: &str) -> (String, serde_json::Value) {
    let platform = platform_locals(env);
    let addons = blocks_in(ADDONS);
    let vars = addons_vars(env, &platform);
    let locals = locals_of(&addons, &vars);
    let ctx = context(&vars, &locals, &serde_json::json!({}));
    let body = block(&addons, "resource", &["helm_release", name]).body();
    let namespace = attr(body, "namespace")
        .expect("namespace")
        .evaluate(&ctx)
        .unwrap_or_else(|e| panic!("{env}: helm_release.{name}.namespace: {e}"));
    let values = attr(body, "values")
        .expect("values")
        .evaluate(&ctx)
        .unwrap_or_else(|e| panic!("{env}: helm_release.{name}.values: {e}"));
    let mut merged = serde_json::json!({});
    for doc in values.as_array().expect("values = [yamlencode(...), ...]") {
        let yaml = doc
            .as_str()
            .expect("each values document is yamlencode(...)");
        let parsed: serde_yaml_ng::Value = serde_yaml_ng::from_str(yaml)
            .unwrap_or_else(|e| panic!("{env}: helm_release.{name}: a values document: {e}"));
        merge_values(
            &mut merged,
            serde_json::to_value(parsed).expect("YAML maps to JSON"),
        );
    }
    (
        namespace
            .as_str()
            .expect("namespace is a string")
            .to_owned(),
        merged,
    )
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

pub fn k8s_docs_as_json(docs: &[serde_yaml_ng::Value]) -> Vec<serde_json::Value> {
    docs.iter()
        .map(|d| serde_json::to_value(d).expect("YAML maps to JSON"))
        .collect()
}

/// Asserts an IAM statement only reads secrets: `Allow` with exactly `DescribeSecret` and
/// `GetSecretValue` (ESO reads keys by name, so no `ListSecrets` or `BatchGetSecretValue`).
pub fn assert_reads_secrets_only(statement: &serde_json::Value, what: &str) {
    assert_eq!(statement["Effect"], "Allow", "{what}");
    let actions: BTreeSet<&str> = statement["Action"]
        .as_array()
        .unwrap_or_else(|| panic!("{what}: Action is a list"))
        .iter()
        .map(|a| {
            a.as_str()
                .unwrap_or_else(|| panic!("{what}: an action is a string"))
        })
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
