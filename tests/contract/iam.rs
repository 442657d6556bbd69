//! Every IAM document terraform/ creates, rendered to JSON with sample values and judged. The render
//! lands in `artifacts/iam/` for a person and for cloudsplaining (scripts/check-iam.py, run by
//! scripts/check-terraform.sh); the tests prove what a scanner cannot: no role of one env reaches
//! the other env's resources, no role changes itself or its boundary, every role carries its env's
//! boundary, and the CI roles cover every resource type CI manages (terraform/iam/actions.json).

use std::collections::{BTreeMap, BTreeSet};

use hcl::eval::{Context, Evaluate};
use hcl::{Block, Body, Expression};
use integration_tests::facts::ENVS;
use integration_tests::repo_root;
use serde_json::{Value as Json, json};

use integration_tests::terraform::{
    ACCOUNT, EnvRoot, PLATFORM, attr, block, blocks_in, context, hcl_to_json, locals_with,
};

const BOOTSTRAP: &str = "terraform/bootstrap";
const REGION: &str = "eu-west-1";
const STATE_BUCKET: &str = "gitops-tfstate-111122223333";
const STATE_KEY_ARN: &str =
    "arn:aws:kms:eu-west-1:111122223333:key/00000000-0000-4000-8000-00000000state";
const CONNECTION_ARN: &str = "arn:aws:codeconnections:eu-west-1:111122223333:connection/00000000-0000-4000-8000-0000000github";

/// What a rendered document is to IAM.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Kind {
    /// A role's own permissions (inline or attached).
    Identity,
    /// A role's permissions boundary: a ceiling, not a grant.
    Boundary,
    /// A role's trust policy.
    Trust,
    /// A resource policy (KMS key, S3 bucket).
    Resource,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Identity => "identity",
            Kind::Boundary => "boundary",
            Kind::Trust => "trust",
            Kind::Resource => "resource",
        }
    }
}

/// One rendered document: whose it is, what it is, and the Terraform block it comes from.
pub(crate) struct Doc {
    pub env: String,
    pub owner: String,
    pub name: String,
    pub kind: Kind,
    pub source: String,
    pub json: Json,
}

/// A role as IAM evaluates it: its identity policies under its boundary.
#[derive(Clone)]
pub(crate) struct Role {
    pub env: String,
    pub arn: String,
    pub identity: Vec<Json>,
    pub boundary: Json,
}

fn role_arn(name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:role/{name}")
}

/// The Terraform CI role of `env` in `mode` (`plan` or `apply`).
fn ci_role<'a>(roles: &'a [Role], env: &str, mode: &str) -> &'a Role {
    roles
        .iter()
        .find(|r| r.arn == role_arn(&format!("gitops-{env}-terraform-{mode}")))
        .unwrap_or_else(|| panic!("gitops-{env}-terraform-{mode} is rendered"))
}

fn parse(doc: &Json, what: &str) -> Json {
    let text = doc
        .as_str()
        .unwrap_or_else(|| panic!("{what} is not a JSON string: {doc}"));
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{what} is not JSON: {e}\n{text}"))
}

fn json_object(v: &Json) -> serde_json::Map<String, Json> {
    v.as_object().cloned().unwrap_or_default()
}

/// Evaluates `key` of a block body in `ctx`, as Terraform would for that resource.
fn eval(body: &Body, key: &str, ctx: &Context<'_>, what: &str) -> Json {
    let expr = attr(body, key).unwrap_or_else(|| panic!("{what} has no {key}"));
    hcl_to_json(
        &expr
            .evaluate(ctx)
            .unwrap_or_else(|e| panic!("{what}.{key}: {e}")),
    )
}

/// `ctx` plus `each` (for a `for_each` resource) and any extra variables.
fn with_each(ctx: &Context<'static>, key: &str, value: &Json) -> Context<'static> {
    let mut ctx = ctx.clone();
    ctx.declare_var(
        "each",
        serde_json::from_value::<hcl::Value>(json!({ "key": key, "value": value })).unwrap(),
    );
    ctx
}

// ---------------------------------------------------------------------------------------------
// aws_iam_policy_document, as the AWS provider renders it
// ---------------------------------------------------------------------------------------------

fn one_or_many(values: Vec<Json>) -> Json {
    if values.len() == 1 {
        values.into_iter().next().unwrap()
    } else {
        Json::Array(values)
    }
}

fn strings_of(v: &Json) -> Vec<Json> {
    match v {
        Json::Array(items) => items.clone(),
        other => vec![other.clone()],
    }
}

/// The JSON of a `data "aws_iam_policy_document"` block: its source documents' statements, then its own.
fn policy_document(block: &Block, ctx: &Context<'_>) -> Json {
    let body = block.body();
    let what = format!(
        "data.aws_iam_policy_document.{}",
        block.labels()[1].as_str()
    );
    let mut statements = Vec::new();
    if attr(body, "source_policy_documents").is_some() {
        for source in strings_of(&eval(body, "source_policy_documents", ctx, &what)) {
            let doc = parse(&source, &what);
            statements.extend(doc["Statement"].as_array().cloned().unwrap_or_default());
        }
    }
    for st in body.blocks().filter(|b| b.identifier() == "statement") {
        let b = st.body();
        let mut out = serde_json::Map::new();
        if attr(b, "sid").is_some() {
            out.insert("Sid".into(), eval(b, "sid", ctx, &what));
        }
        let effect = if attr(b, "effect").is_some() {
            eval(b, "effect", ctx, &what)
        } else {
            json!("Allow")
        };
        out.insert("Effect".into(), effect);
        for (key, name) in [
            ("actions", "Action"),
            ("not_actions", "NotAction"),
            ("resources", "Resource"),
            ("not_resources", "NotResource"),
        ] {
            if attr(b, key).is_some() {
                out.insert(
                    name.into(),
                    one_or_many(strings_of(&eval(b, key, ctx, &what))),
                );
            }
        }
        for (key, name) in [
            ("principals", "Principal"),
            ("not_principals", "NotPrincipal"),
        ] {
            let mut principals = serde_json::Map::new();
            for p in b.blocks().filter(|p| p.identifier() == key) {
                let kind = eval(p.body(), "type", ctx, &what);
                let ids = strings_of(&eval(p.body(), "identifiers", ctx, &what));
                principals.insert(kind.as_str().unwrap().to_owned(), one_or_many(ids));
            }
            if !principals.is_empty() {
                out.insert(name.into(), Json::Object(principals));
            }
        }
        let mut conditions: serde_json::Map<String, Json> = serde_json::Map::new();
        for c in b.blocks().filter(|c| c.identifier() == "condition") {
            let test = eval(c.body(), "test", ctx, &what);
            let variable = eval(c.body(), "variable", ctx, &what);
            let values = one_or_many(strings_of(&eval(c.body(), "values", ctx, &what)));
            conditions
                .entry(test.as_str().unwrap().to_owned())
                .or_insert_with(|| json!({}))
                .as_object_mut()
                .unwrap()
                .insert(variable.as_str().unwrap().to_owned(), values);
        }
        if !conditions.is_empty() {
            out.insert("Condition".into(), Json::Object(conditions));
        }
        statements.push(Json::Object(out));
    }
    json!({ "Version": "2012-10-17", "Statement": statements })
}

// ---------------------------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------------------------

fn variable_default(blocks: &[Block], name: &str) -> Json {
    let var = block(blocks, "variable", &[name]).body();
    eval(var, "default", &Context::new(), &format!("var.{name}"))
}

/// terraform/bootstrap with its defaults (both envs in one account): the CI roles' documents and the
/// state bucket's policy.
fn render_bootstrap(docs: &mut Vec<Doc>, roles: &mut Vec<Role>) {
    let blocks = blocks_in(BOOTSTRAP);
    let vars = json!({
        "region": variable_default(&blocks, "region"),
        "github_subject_prefix": variable_default(&blocks, "github_subject_prefix"),
        "envs": variable_default(&blocks, "envs"),
    });
    let resources = json!({
        "aws_kms_key": { "state": { "arn": STATE_KEY_ARN } },
        "aws_s3_bucket": { "state": { "bucket": STATE_BUCKET, "arn": format!("arn:aws:s3:::{STATE_BUCKET}") } },
        "aws_codeconnections_connection": { "github": { "arn": CONNECTION_ARN } },
        "path": { "module": repo_root().join(BOOTSTRAP) },
    });
    let resources = json_object(&resources);
    let locals: BTreeMap<String, Json> = locals_with(&blocks, &vars, &resources)
        .iter()
        .map(|(k, v)| (k.clone(), hcl_to_json(v)))
        .collect();
    let local = |key: &str| -> &Json {
        locals
            .get(key)
            .unwrap_or_else(|| panic!("bootstrap local.{key} does not evaluate"))
    };
    for env in ENVS {
        let boundary = parse(&local("boundary_policy")[env], "boundary_policy");
        let read = parse(&local("ci_read_policy")[env], "ci_read_policy");
        let apply = parse(&local("ci_apply_policy")[env], "ci_apply_policy");
        for mode in ["plan", "apply"] {
            let owner = format!("gitops-{env}-terraform-{mode}");
            let trust = parse(&local("ci_trust")[env][mode], "ci_trust");
            let mut identity = vec![("terraform-read", read.clone())];
            if mode == "apply" {
                identity.push(("terraform-apply", apply.clone()));
            }
            for (name, doc) in &identity {
                docs.push(Doc {
                    env: env.into(),
                    owner: owner.clone(),
                    name: (*name).into(),
                    kind: Kind::Identity,
                    source: format!("{BOOTSTRAP}/iam/ci-{}.json.tftpl", &name[10..]),
                    json: doc.clone(),
                });
            }
            docs.push(Doc {
                env: env.into(),
                owner: owner.clone(),
                name: "trust".into(),
                kind: Kind::Trust,
                source: format!("{BOOTSTRAP}/iam/ci-{mode}-trust.json.tftpl"),
                json: trust,
            });
            roles.push(Role {
                env: env.into(),
                arn: role_arn(&owner),
                identity: identity.into_iter().map(|(_, d)| d).collect(),
                boundary: boundary.clone(),
            });
        }
        docs.push(Doc {
            env: env.into(),
            owner: format!("gitops-{env}-boundary"),
            name: "boundary".into(),
            kind: Kind::Boundary,
            source: format!("{BOOTSTRAP}/iam/boundary.json.tftpl"),
            json: boundary,
        });
    }
    let ctx = {
        let mut ctx = context(&vars, &BTreeMap::new(), &json!({}));
        for (k, v) in &resources {
            ctx.declare_var(
                k.as_str(),
                serde_json::from_value::<hcl::Value>(v.clone()).unwrap(),
            );
        }
        ctx
    };
    docs.push(Doc {
        env: "shared".into(),
        owner: "gitops-tfstate".into(),
        name: "bucket-policy".into(),
        kind: Kind::Resource,
        source: format!("{BOOTSTRAP}/main.tf"),
        json: policy_document(
            block(
                &blocks,
                "data",
                &["aws_iam_policy_document", "state_bucket"],
            ),
            &ctx,
        ),
    });
}

/// The `iam/*.json.tftpl` template a `templatefile(...)` attribute of the platform module renders.
fn template_of(body: &Body, key: &str, what: &str) -> String {
    let text = text_of(attr(body, key));
    let start = text
        .find("/iam/")
        .unwrap_or_else(|| panic!("{what}.{key} is not an iam/ template: {text}"));
    let end = text[start..].find(".tftpl").unwrap() + start + 6;
    format!("{PLATFORM}{}", &text[start..end])
}

/// Stand-ins for what the platform module reads from other resources and modules in `env`.
fn platform_resources(env: &str) -> serde_json::Map<String, Json> {
    let key = |name: &str| format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/{env}-{name}");
    json_object(&json!({
        "module": {
            "db": {
                "db_instance_arn": format!("arn:aws:rds:{REGION}:{ACCOUNT}:db:gitops-{env}"),
                "db_instance_identifier": format!("gitops-{env}"),
                "db_instance_master_user_secret_arn": format!("arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:rds!db-{env}0000-0000-AbCdEf"),
            },
            "vpc": { "vpc_id": format!("vpc-{env}00000000000"), "private_subnets": ["subnet-a", "subnet-b", "subnet-c"] },
            "eks": { "cluster_name": format!("gitops-{env}") },
            "external_secrets_pod_identity": { "iam_role_arn": role_arn(&format!("gitops-{env}-external-secrets")) },
        },
        "aws_kms_key": {
            "database": { "arn": key("database") },
            "logs": { "arn": key("logs") },
            "api_secret": { "arn": key("api-secret") },
        },
        "data": {
            "aws_partition": { "current": { "partition": "aws" } },
            "aws_caller_identity": { "current": { "account_id": ACCOUNT } },
            "aws_ssm_parameter": { "github_connection": { "insecure_value": CONNECTION_ARN } },
        },
        "path": { "module": repo_root().join(PLATFORM) },
    }))
}

/// modules/platform-cluster evaluated for one env, and what it has rendered so far.
struct Platform<'d> {
    env: &'static str,
    blocks: Vec<Block>,
    vars: Json,
    resources: serde_json::Map<String, Json>,
    ctx: Context<'static>,
    boundary_arn: Json,
    boundary: Json,
    docs: &'d mut Vec<Doc>,
    roles: &'d mut Vec<Role>,
}

/// One role the module creates: its name, the boundary it is given, its documents.
struct NewRole<'a> {
    owner: String,
    boundary: Json,
    identity: Vec<(&'a str, String, Json)>,
    trust: Option<(String, Json)>,
}

impl<'d> Platform<'d> {
    fn load(env: &'static str, docs: &'d mut Vec<Doc>, roles: &'d mut Vec<Role>) -> Self {
        let blocks = blocks_in(PLATFORM);
        let root = EnvRoot::load(env);
        let mut vars = json_object(&root.platform_vars());
        let schedule = attr(root.module("platform"), "node_scale_down_schedule")
            .map_or(Json::Null, |_| {
                hcl_to_json(&root.module_arg("platform", "node_scale_down_schedule"))
            });
        vars.insert("node_scale_down_schedule".into(), schedule);
        let vars = Json::Object(vars);
        let resources = platform_resources(env);
        let locals = locals_with(&blocks, &vars, &resources);
        let mut ctx = context(&vars, &locals, &resources["module"]);
        for (k, v) in &resources {
            ctx.declare_var(
                k.as_str(),
                serde_json::from_value::<hcl::Value>(v.clone()).unwrap(),
            );
        }
        let boundary_arn =
            hcl_to_json(locals.get("permissions_boundary_arn").unwrap_or_else(|| {
                panic!("{env}: local.permissions_boundary_arn does not evaluate")
            }));
        let boundary = boundary_of(docs, env);
        Self {
            env,
            blocks,
            vars,
            resources,
            ctx,
            boundary_arn,
            boundary,
            docs,
            roles,
        }
    }

    fn body(&self, labels: &[&str]) -> &Body {
        let kind = if labels.len() == 1 {
            "module"
        } else {
            "resource"
        };
        block(&self.blocks, kind, labels).body()
    }

    fn add(&mut self, role: NewRole<'_>) {
        let env = self.env;
        assert_eq!(
            role.boundary, self.boundary_arn,
            "{env}: role {} must carry the env's permissions boundary",
            role.owner
        );
        for (name, source, json) in &role.identity {
            self.docs.push(Doc {
                env: env.into(),
                owner: role.owner.clone(),
                name: (*name).into(),
                kind: Kind::Identity,
                source: source.clone(),
                json: json.clone(),
            });
        }
        if let Some((source, json)) = role.trust {
            self.docs.push(Doc {
                env: env.into(),
                owner: role.owner.clone(),
                name: "trust".into(),
                kind: Kind::Trust,
                source,
                json,
            });
        }
        self.roles.push(Role {
            env: env.into(),
            arn: role_arn(&role.owner),
            identity: role.identity.into_iter().map(|(_, _, j)| j).collect(),
            boundary: self.boundary.clone(),
        });
    }

    /// A controller whose pod-identity module (External Secrets, Argo Rollouts) merges its source
    /// documents into one policy.
    fn custom_pod_identity(&mut self, module: &str) {
        let what = &format!("module.{module}");
        let body = self.body(&[module]);
        let mut statements = Vec::new();
        for doc in strings_of(&eval(body, "source_policy_documents", &self.ctx, what)) {
            statements.extend(statements_of_text(&doc));
        }
        let role = NewRole {
            owner: eval(body, "name", &self.ctx, what)
                .as_str()
                .unwrap()
                .to_owned(),
            boundary: eval(body, "permissions_boundary_arn", &self.ctx, what),
            identity: vec![(
                "custom",
                format!("{PLATFORM}/identities.tf"),
                json!({ "Version": "2012-10-17", "Statement": statements }),
            )],
            trust: None,
        };
        self.add(role);
    }

    /// The Load Balancer Controller: the pod-identity module writes its policy (the controller's
    /// published one); terraform/iam/modules.json keeps the module's HCL of it at the pinned tag.
    fn load_balancer_controller(&mut self) {
        let what = "module.aws_lbc_pod_identity";
        let module = self.body(&["aws_lbc_pod_identity"]);
        let source = text_of(attr(module, "source"));
        let source = source.trim_matches('"');
        let modules = read_json("terraform/iam/modules.json");
        let recorded = &modules["modules"][source];
        let hcl_text = recorded["policies"]["lb_controller"]["hcl"]
            .as_str()
            .unwrap_or_else(|| {
                panic!("terraform/iam/modules.json has no lb_controller policy of {source}")
            });
        assert_eq!(
            text_of(attr(module, "attach_aws_lb_controller_policy")),
            "true"
        );
        let body: Body = hcl::from_str(hcl_text).unwrap();
        let doc = body.blocks().next().expect("the module's policy document");
        let mut data = self.resources["data"].clone();
        data["aws_iam_policy_document"] =
            json!({ "base": [{ "json": r#"{"Version":"2012-10-17","Statement":[]}"# }] });
        let mut ctx = self.ctx.clone();
        ctx.declare_var("data", serde_json::from_value::<hcl::Value>(data).unwrap());
        let role = NewRole {
            owner: eval(module, "name", &self.ctx, what)
                .as_str()
                .unwrap()
                .to_owned(),
            boundary: eval(module, "permissions_boundary_arn", &self.ctx, what),
            identity: vec![(
                "aws-lb-controller",
                format!(
                    "{source} {} ({}, via terraform/iam/modules.json)",
                    recorded["tag"].as_str().unwrap(),
                    recorded["policies"]["lb_controller"]["file"]
                        .as_str()
                        .unwrap()
                ),
                policy_document(doc, &ctx),
            )],
            trust: None,
        };
        self.add(role);
    }

    /// A role resource and its one inline policy, evaluated in `ctx` (with `each`, for a pool).
    fn role_with_policy(
        &self,
        labels: [&str; 2],
        policy_name: &'static str,
        ctx: &Context<'_>,
    ) -> NewRole<'static> {
        let what = format!("aws_iam_role.{}", labels[1]);
        let role = self.body(&["aws_iam_role", labels[1]]);
        let policy = self.body(&["aws_iam_role_policy", labels[1]]);
        let template = |body: &Body, key: &str| template_of(body, key, &what);
        NewRole {
            owner: eval(role, "name", ctx, &what).as_str().unwrap().to_owned(),
            boundary: eval(role, "permissions_boundary", ctx, &what),
            identity: vec![(
                policy_name,
                template(policy, "policy"),
                parse(&eval(policy, "policy", ctx, &what), &what),
            )],
            trust: Some((
                template(role, "assume_role_policy"),
                parse(&eval(role, "assume_role_policy", ctx, &what), &what),
            )),
        }
    }

    /// The runner pools' `CodeBuild` service roles.
    fn runners(&mut self) {
        let pools = self.ctx_eval_local("ci_runner_pools");
        for (mode, pool) in json_object(&pools) {
            let each = with_each(&self.ctx, &mode, &pool);
            let role =
                self.role_with_policy(["aws_iam_role", "ci_runner"], "codebuild-runner", &each);
            self.add(role);
        }
    }

    /// The database scheduler, where the env sleeps at night (`local.database_schedule` is empty
    /// exactly when the env has no night schedule: database.tf).
    fn scheduler(&mut self) {
        if self.vars["node_scale_down_schedule"].is_null() {
            assert_eq!(self.env, "prod", "only prod never sleeps");
            return;
        }
        let ctx = self.ctx.clone();
        let role =
            self.role_with_policy(["aws_iam_role", "database_scheduler"], "stop-start", &ctx);
        self.add(role);
    }

    /// AWS Chatbot's channel role (alarms.tf): a trust and no permissions. Rendered as if
    /// `alarm_slack` were set, which is when it exists.
    fn chatbot(&mut self) {
        let what = "aws_iam_role.chatbot";
        let role = self.body(&["aws_iam_role", "chatbot"]);
        let role = NewRole {
            owner: eval(role, "name", &self.ctx, what)
                .as_str()
                .unwrap()
                .to_owned(),
            boundary: eval(role, "permissions_boundary", &self.ctx, what),
            identity: vec![],
            trust: Some((
                template_of(role, "assume_role_policy", what),
                parse(&eval(role, "assume_role_policy", &self.ctx, what), what),
            )),
        };
        self.add(role);
    }

    /// The key policies: `key_admin` first, since the others build on it.
    fn keys(&mut self) {
        let doc = |labels: [&str; 2]| block(&self.blocks, "data", &labels);
        let key_admin = policy_document(doc(["aws_iam_policy_document", "key_admin"]), &self.ctx);
        self.resources["data"]["aws_iam_policy_document"] =
            json!({ "key_admin": { "json": key_admin.to_string() } });
        let mut ctx = self.ctx.clone();
        ctx.declare_var(
            "data",
            serde_json::from_value::<hcl::Value>(self.resources["data"].clone()).unwrap(),
        );
        let mut keys = vec![
            (
                "logs",
                policy_document(doc(["aws_iam_policy_document", "logs_key"]), &ctx),
            ),
            (
                "alarms",
                policy_document(doc(["aws_iam_policy_document", "alarms_key"]), &ctx),
            ),
        ];
        let secret_key = doc(["aws_iam_policy_document", "secret_key"]);
        for (name, value) in json_object(&eval(secret_key.body(), "for_each", &ctx, "secret_key")) {
            let each = with_each(&ctx, &name, &value);
            let alias = if name == "api_secret" {
                "api-secret"
            } else {
                "database"
            };
            keys.push((alias, policy_document(secret_key, &each)));
        }
        for (name, json) in keys {
            self.docs.push(Doc {
                env: self.env.into(),
                owner: format!("alias/gitops-{}-{name}", self.env),
                name: "key-policy".into(),
                kind: Kind::Resource,
                source: format!("{PLATFORM}/*.tf (data aws_iam_policy_document)"),
                json,
            });
        }
    }

    fn ctx_eval_local(&self, key: &str) -> Json {
        let expr: Expression = hcl::from_str::<Body>(&format!("x = local.{key}"))
            .unwrap()
            .attributes()
            .next()
            .unwrap()
            .expr()
            .clone();
        hcl_to_json(
            &expr
                .evaluate(&self.ctx)
                .unwrap_or_else(|e| panic!("local.{key}: {e}")),
        )
    }
}

fn statements_of_text(doc: &Json) -> Vec<Json> {
    parse(doc, "a policy document")["Statement"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// modules/platform-cluster for one env: the controllers' roles, the runners', the scheduler's, and
/// the keys.
fn render_platform(env: &'static str, docs: &mut Vec<Doc>, roles: &mut Vec<Role>) {
    let mut platform = Platform::load(env, docs, roles);
    platform.custom_pod_identity("external_secrets_pod_identity");
    platform.custom_pod_identity("argo_rollouts_pod_identity");
    platform.load_balancer_controller();
    platform.runners();
    platform.scheduler();
    platform.chatbot();
    platform.keys();
}

fn boundary_of(docs: &[Doc], env: &str) -> Json {
    docs.iter()
        .find(|d| d.env == env && d.kind == Kind::Boundary)
        .unwrap_or_else(|| panic!("no boundary rendered for {env}"))
        .json
        .clone()
}

/// Every document and every role, rendered for both envs.
pub(crate) fn render() -> (Vec<Doc>, Vec<Role>) {
    let (mut docs, mut roles) = (Vec::new(), Vec::new());
    render_bootstrap(&mut docs, &mut roles);
    for env in ENVS {
        render_platform(env, &mut docs, &mut roles);
    }
    (docs, roles)
}

// ---------------------------------------------------------------------------------------------
// Policy evaluation: enough of IAM's logic to ask "may this role do that to this resource?"
// ---------------------------------------------------------------------------------------------

/// `*` and `?` wildcards, as IAM matches actions (case-insensitive) and resources.
fn glob(pattern: &str, text: &str, ignore_case: bool) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = if ignore_case {
        (
            pattern.to_lowercase().chars().collect(),
            text.to_lowercase().chars().collect(),
        )
    } else {
        (pattern.chars().collect(), text.chars().collect())
    };
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

fn list(v: &Json) -> Vec<String> {
    match v {
        Json::Null => vec![],
        Json::Array(items) => items
            .iter()
            .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
            .collect(),
        Json::String(s) => vec![s.clone()],
        other => vec![other.to_string()],
    }
}

/// One request: an action on a resource, by a principal, with its request context.
pub(crate) struct Request<'a> {
    pub action: &'a str,
    pub resource: &'a str,
    pub context: BTreeMap<String, Vec<String>>,
}

impl<'a> Request<'a> {
    pub(crate) fn new(action: &'a str, resource: &'a str) -> Self {
        Self {
            action,
            resource,
            context: BTreeMap::new(),
        }
    }

    pub(crate) fn with(mut self, key: &str, values: &[&str]) -> Self {
        self.context.insert(
            key.to_lowercase(),
            values.iter().map(|v| (*v).to_owned()).collect(),
        );
        self
    }
}

fn condition_holds(operator: &str, key: &str, wanted: &[String], request: &Request<'_>) -> bool {
    let (set, op) = match operator.split_once(':') {
        Some((set, op)) => (Some(set), op),
        None => (None, operator),
    };
    let (op, if_exists) = match op.strip_suffix("IfExists") {
        Some(op) => (op, true),
        None => (op, false),
    };
    let present = request.context.get(&key.to_lowercase());
    if op == "Null" {
        let want_missing = wanted.iter().any(|w| w == "true");
        return want_missing == present.is_none();
    }
    let negated = op.contains("Not");
    let Some(values) = present else {
        return if_exists || negated || set == Some("ForAllValues");
    };
    let one = |value: &str| -> bool {
        wanted.iter().any(|w| match op.replace("Not", "").as_str() {
            "StringEquals" | "ArnEquals" => w == value,
            "StringEqualsIgnoreCase" | "Bool" => w.eq_ignore_ascii_case(value),
            "StringLike" | "ArnLike" => glob(w, value, false),
            other => panic!("condition operator {other} is not modelled"),
        })
    };
    let matches = |value: &String| one(value) != negated;
    match set {
        Some("ForAllValues") => values.iter().all(matches),
        // ForAnyValue, or a single-valued key.
        _ => values.iter().any(matches),
    }
}

fn statement_applies(statement: &Json, request: &Request<'_>, principal: &str) -> bool {
    let action_ok = if statement.get("NotAction").is_some() {
        !list(&statement["NotAction"])
            .iter()
            .any(|a| glob(a, request.action, true))
    } else {
        list(&statement["Action"])
            .iter()
            .any(|a| glob(a, request.action, true))
    };
    let resource_matches = |patterns: &Json| {
        list(patterns)
            .iter()
            .map(|r| r.replace("${aws:PrincipalArn}", principal))
            .any(|r| glob(&r, request.resource, false))
    };
    let resource_ok = if statement.get("NotResource").is_some() {
        !resource_matches(&statement["NotResource"])
    } else {
        resource_matches(&statement["Resource"])
    };
    action_ok
        && resource_ok
        && json_object(&statement["Condition"])
            .iter()
            .all(|(operator, keys)| {
                json_object(keys)
                    .iter()
                    .all(|(key, wanted)| condition_holds(operator, key, &list(wanted), request))
            })
}

fn allow_all() -> Json {
    json!({ "Version": "2012-10-17", "Statement": [{ "Effect": "Allow", "Action": "*", "Resource": "*" }] })
}

fn statements(doc: &Json) -> Vec<Json> {
    match &doc["Statement"] {
        Json::Array(items) => items.clone(),
        other => vec![other.clone()],
    }
}

impl Role {
    fn matching(&self, docs: &[&Json], effect: &str, request: &Request<'_>) -> bool {
        docs.iter()
            .flat_map(|d| statements(d))
            .any(|s| s["Effect"] == effect && statement_applies(&s, request, &self.arn))
    }

    /// The role with a boundary that allows everything: what its own policies alone permit.
    pub(crate) fn own_policies_only(&self) -> Self {
        Self {
            boundary: allow_all(),
            ..self.clone()
        }
    }

    /// The role with own policies that allow everything: what its boundary alone permits.
    pub(crate) fn boundary_only(&self) -> Self {
        Self {
            identity: vec![allow_all()],
            ..self.clone()
        }
    }

    /// IAM's decision within one account: an explicit Deny anywhere wins; otherwise the role's own
    /// policies and its boundary must both allow.
    pub(crate) fn may(&self, request: &Request<'_>) -> bool {
        let all: Vec<&Json> = self.identity.iter().chain([&self.boundary]).collect();
        let own: Vec<&Json> = self.identity.iter().collect();
        !self.matching(&all, "Deny", request)
            && self.matching(&own, "Allow", request)
            && self.matching(&[&self.boundary], "Allow", request)
    }
}

// ---------------------------------------------------------------------------------------------
// The rendered files
// ---------------------------------------------------------------------------------------------

/// Writes every document to `artifacts/iam/<env>/<owner>/<name>.json`, plus `index.json`, which
/// scripts/check-iam.py reads: cloudsplaining judges the identity documents and the boundaries.
#[test]
fn every_iam_document_renders_to_json_for_cloudsplaining() {
    let (docs, roles) = render();
    let out = repo_root().join("artifacts/iam");
    let _ = std::fs::remove_dir_all(&out);
    let mut index = Vec::new();
    let mut seen = BTreeSet::new();
    for doc in &docs {
        assert_eq!(
            doc.json["Version"], "2012-10-17",
            "{}/{}",
            doc.owner, doc.name
        );
        assert!(
            !statements(&doc.json).is_empty(),
            "{}/{}: no statement",
            doc.owner,
            doc.name
        );
        let rel = format!(
            "{}/{}/{}.json",
            doc.env,
            doc.owner.replace('/', "_"),
            doc.name
        );
        assert!(seen.insert(rel.clone()), "{rel} rendered twice");
        let path = out.join(&rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(
            &path,
            serde_json::to_string_pretty(&doc.json).unwrap() + "\n",
        )
        .unwrap();
        index.push(json!({
            "file": rel, "env": doc.env, "owner": doc.owner, "name": doc.name,
            "kind": doc.kind.as_str(), "source": doc.source,
        }));
    }
    std::fs::write(
        out.join("index.json"),
        serde_json::to_string_pretty(&index).unwrap() + "\n",
    )
    .unwrap();

    // Each env: the two CI roles, three controllers (ESO, the Load Balancer Controller, Argo
    // Rollouts), two runner pools, Chatbot's, dev's scheduler; a boundary, four keys.
    for env in ENVS {
        let count = roles.iter().filter(|r| r.env == env).count();
        assert_eq!(
            count,
            if env == "dev" { 9 } else { 8 },
            "{env}: roles rendered"
        );
    }
    assert_inventory_is_complete(&docs);
}

/// A new IAM role, policy or document in terraform/ must be rendered above, or this fails.
fn assert_inventory_is_complete(docs: &[Doc]) {
    let rendered: BTreeSet<&str> = docs.iter().map(|d| d.source.as_str()).collect();
    let known: BTreeMap<(&str, &str), &str> = BTreeMap::from([
        (
            ("aws_iam_role", "ci"),
            "terraform/bootstrap/iam/ci-plan-trust.json.tftpl",
        ),
        (
            ("aws_iam_role_policy", "ci_read"),
            "terraform/bootstrap/iam/ci-read.json.tftpl",
        ),
        (
            ("aws_iam_role_policy", "ci_apply"),
            "terraform/bootstrap/iam/ci-apply.json.tftpl",
        ),
        (
            ("aws_iam_policy", "boundary"),
            "terraform/bootstrap/iam/boundary.json.tftpl",
        ),
        (
            ("aws_iam_policy_document", "state_bucket"),
            "terraform/bootstrap/main.tf",
        ),
        (
            ("aws_s3_bucket_policy", "state"),
            "terraform/bootstrap/main.tf",
        ),
        (
            ("aws_iam_role", "ci_runner"),
            "terraform/modules/platform-cluster/iam/ci-runner-trust.json.tftpl",
        ),
        (
            ("aws_iam_role_policy", "ci_runner"),
            "terraform/modules/platform-cluster/iam/ci-runner.json.tftpl",
        ),
        (
            ("aws_iam_role", "database_scheduler"),
            "terraform/modules/platform-cluster/iam/database-scheduler-trust.json.tftpl",
        ),
        (
            ("aws_iam_role_policy", "database_scheduler"),
            "terraform/modules/platform-cluster/iam/database-scheduler.json.tftpl",
        ),
        (
            ("aws_iam_policy_document", "key_admin"),
            "terraform/modules/platform-cluster/*.tf (data aws_iam_policy_document)",
        ),
        (
            ("aws_iam_policy_document", "logs_key"),
            "terraform/modules/platform-cluster/*.tf (data aws_iam_policy_document)",
        ),
        (
            ("aws_iam_policy_document", "alarms_key"),
            "terraform/modules/platform-cluster/*.tf (data aws_iam_policy_document)",
        ),
        (
            ("aws_iam_role", "chatbot"),
            "terraform/modules/platform-cluster/iam/chatbot-trust.json.tftpl",
        ),
        (
            ("aws_iam_policy_document", "secret_key"),
            "terraform/modules/platform-cluster/*.tf (data aws_iam_policy_document)",
        ),
    ]);
    for dir in [
        BOOTSTRAP,
        PLATFORM,
        "terraform/modules/cluster-addons",
        "terraform/envs/dev",
        "terraform/envs/prod",
    ] {
        for b in blocks_in(dir) {
            let labels: Vec<&str> = b.labels().iter().map(hcl::BlockLabel::as_str).collect();
            let is_iam = matches!(b.identifier(), "resource" | "data")
                && labels.first().is_some_and(|t| {
                    t.starts_with("aws_iam_role")
                        || t.starts_with("aws_iam_polic")
                        || t.ends_with("_policy")
                });
            if !is_iam || labels[0] == "aws_iam_openid_connect_provider" {
                continue;
            }
            let source = known.get(&(labels[0], labels[1])).unwrap_or_else(|| {
                panic!(
                    "{dir}: {} {:?} is an IAM document tests/contract/iam.rs does not render",
                    b.identifier(),
                    labels
                )
            });
            assert!(
                rendered.contains(source),
                "{labels:?}: {source} was not rendered"
            );
        }
    }
    // The module-made documents: ESO's policy is ours (rendered); the rest are AWS managed policies
    // or the Load Balancer Controller's published policy, attached to roles that carry the boundary.
    assert!(rendered.contains(format!("{PLATFORM}/identities.tf").as_str()));
}

/// `Expression` of an attribute as text without whitespace.
fn text_of(expr: Option<&Expression>) -> String {
    expr.map_or_else(String::new, ToString::to_string)
        .split_whitespace()
        .collect()
}

#[test]
fn every_role_terraform_creates_carries_its_envs_boundary() {
    // Our own roles (the CI roles in bootstrap, the runners' and the scheduler's in the module).
    for dir in [BOOTSTRAP, PLATFORM] {
        for b in blocks_in(dir) {
            if b.identifier() == "resource" && b.labels()[0].as_str() == "aws_iam_role" {
                let boundary = text_of(attr(b.body(), "permissions_boundary"));
                assert!(
                    boundary == "local.permissions_boundary_arn"
                        || boundary == "aws_iam_policy.boundary[each.value.env].arn",
                    "{dir}: aws_iam_role.{} has no permissions boundary ({boundary})",
                    b.labels()[1].as_str()
                );
            }
        }
    }
    // Every community module that makes a role gets the boundary for each of its roles.
    let platform = blocks_in(PLATFORM);
    for (module, inputs) in [
        ("eks", vec!["iam_role_permissions_boundary"]),
        ("vpc", vec!["vpc_flow_log_permissions_boundary"]),
        ("db", vec!["monitoring_role_permissions_boundary"]),
        (
            "external_secrets_pod_identity",
            vec!["permissions_boundary_arn"],
        ),
        ("aws_lbc_pod_identity", vec!["permissions_boundary_arn"]),
        (
            "argo_rollouts_pod_identity",
            vec!["permissions_boundary_arn"],
        ),
    ] {
        let body = block(&platform, "module", &[module]).body();
        for input in inputs {
            assert_eq!(
                text_of(attr(body, input)),
                "local.permissions_boundary_arn",
                "module.{module}.{input}"
            );
        }
    }
    let groups = text_of(attr(
        block(&platform, "module", &["eks"]).body(),
        "eks_managed_node_groups",
    ));
    assert!(
        groups.contains("iam_role_permissions_boundary=local.permissions_boundary_arn"),
        "the node group's role carries the boundary"
    );
    // And the boundary's ARN is the policy bootstrap creates for the env.
    for env in ENVS {
        assert_eq!(
            integration_tests::terraform::local_str(
                &integration_tests::terraform::platform_locals(env),
                "permissions_boundary_arn"
            ),
            format!("arn:aws:iam::{ACCOUNT}:policy/gitops-{env}-boundary")
        );
    }
    let bootstrap = blocks_in(BOOTSTRAP);
    let policy = block(&bootstrap, "resource", &["aws_iam_policy", "boundary"]).body();
    assert_eq!(
        text_of(attr(policy, "name")),
        "\"gitops-${each.key}-boundary\""
    );
}

// ---------------------------------------------------------------------------------------------
// Blast radius
// ---------------------------------------------------------------------------------------------

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

fn arn_in(service: &str, rest: &str) -> &'static str {
    leak(format!("arn:aws:{service}:{REGION}:{ACCOUNT}:{rest}"))
}

fn tagged_for(env: &str, request: Request<'static>) -> Request<'static> {
    request.with(
        "aws:ResourceTag/gitops/environment",
        &[leak(env.to_owned())],
    )
}

/// Sample requests against `env`'s resources that a role of another env must never be allowed.
fn requests_against(env: &str) -> Vec<Request<'static>> {
    let mut all = identity_and_data_requests(env);
    all.extend(infrastructure_requests(env));
    all
}

/// On `env`'s roles, boundary, secrets, keys and state.
fn identity_and_data_requests(env: &str) -> Vec<Request<'static>> {
    let tagged = |r| tagged_for(env, r);
    let role = leak(role_arn(&format!("gitops-{env}-external-secrets")));
    let apply_role = leak(role_arn(&format!("gitops-{env}-terraform-apply")));
    let boundary = leak(format!(
        "arn:aws:iam::{ACCOUNT}:policy/gitops-{env}-boundary"
    ));
    let secret = arn_in(
        "secretsmanager",
        &format!("secret:gitops/demo-api/{env}-AbCdEf"),
    );
    let db_secret = arn_in(
        "secretsmanager",
        &format!("secret:gitops/demo-api/{env}/db-AbCdEf"),
    );
    let key = arn_in("kms", &format!("key/{env}-database"));
    let state = leak(format!(
        "arn:aws:s3:::{STATE_BUCKET}/gitops/{env}/terraform.tfstate"
    ));
    vec![
        tagged(Request::new("iam:AttachRolePolicy", role)),
        tagged(Request::new("iam:PutRolePolicy", role)),
        tagged(Request::new("iam:UpdateAssumeRolePolicy", role)),
        tagged(Request::new("iam:PassRole", role)),
        tagged(Request::new("sts:AssumeRole", role)),
        tagged(Request::new("iam:PutRolePolicy", apply_role)),
        Request::new("iam:PutRolePolicy", apply_role),
        Request::new("iam:CreatePolicyVersion", boundary),
        tagged(Request::new("secretsmanager:GetSecretValue", secret)),
        tagged(Request::new("secretsmanager:PutSecretValue", secret)),
        tagged(Request::new("secretsmanager:DeleteSecret", db_secret)),
        tagged(Request::new("secretsmanager:UpdateSecret", db_secret)),
        tagged(Request::new("kms:Decrypt", key)),
        tagged(Request::new("kms:Decrypt", key))
            .with(
                "kms:ViaService",
                &["secretsmanager.eu-west-1.amazonaws.com"],
            )
            .with("kms:EncryptionContext:SecretARN", &[db_secret]),
        tagged(Request::new("kms:PutKeyPolicy", key)),
        tagged(Request::new("kms:ScheduleKeyDeletion", key)),
        Request::new(
            "kms:UpdateAlias",
            arn_in("kms", &format!("alias/gitops-{env}-database")),
        ),
        Request::new("s3:GetObject", state),
        Request::new("s3:PutObject", state),
    ]
}

/// On `env`'s cluster, network, nodes, database, logs, WAF, schedules, runners and DNS names.
fn infrastructure_requests(env: &str) -> Vec<Request<'static>> {
    let tagged = |r| tagged_for(env, r);
    let cluster = arn_in("eks", &format!("cluster/gitops-{env}"));
    let log_group = arn_in("logs", &format!("log-group:/aws/eks/gitops-{env}/cluster"));
    let asg = arn_in(
        "autoscaling",
        &format!("autoScalingGroup:uuid:autoScalingGroupName/eks-gitops-{env}-default-uuid"),
    );
    let instance = arn_in("ec2", "instance/i-0123456789abcdef0");
    let vpc = arn_in("ec2", "vpc/vpc-0123456789abcdef0");
    let sg = arn_in("ec2", "security-group/sg-0123456789abcdef0");
    let eni = arn_in("ec2", "network-interface/eni-0123456789abcdef0");
    let env_vpc = arn_in("ec2", &format!("vpc/vpc-{env}00000000000"));
    let db = arn_in("rds", &format!("db:gitops-{env}"));
    let acl = arn_in("wafv2", &format!("regional/webacl/gitops-{env}-alb/uuid"));
    let schedule = arn_in(
        "scheduler",
        &format!("schedule/default/gitops-{env}-database-stop"),
    );
    let project = arn_in("codebuild", &format!("project/gitops-{env}-ci-apply"));
    let zone = "arn:aws:route53:::hostedzone/Z0123456789";
    let public = leak(format!("gitops-{env}.example.com"));
    let validation = leak(format!("_0123456789abcdef.gitops-{env}.example.com"));
    let certificate = arn_in("acm", "certificate/00000000-0000-4000-8000-000000000000");
    vec![
        tagged(Request::new("eks:DeleteCluster", cluster)),
        tagged(Request::new("eks:CreateAccessEntry", cluster)),
        tagged(Request::new("logs:DeleteLogGroup", log_group)),
        tagged(Request::new("logs:PutRetentionPolicy", log_group)),
        Request::new("autoscaling:PutScheduledUpdateGroupAction", asg).with(
            "aws:ResourceTag/eks:cluster-name",
            &[leak(format!("gitops-{env}"))],
        ),
        tagged(Request::new("ec2:TerminateInstances", instance)),
        tagged(Request::new("ec2:ModifyInstanceAttribute", instance)),
        tagged(Request::new("ec2:CreateSubnet", vpc)),
        tagged(Request::new("ec2:AuthorizeSecurityGroupIngress", sg)),
        tagged(Request::new("ec2:DeleteTags", sg)),
        Request::new("ec2:RunInstances", instance)
            .with("aws:RequestTag/gitops/environment", &[leak(env.to_owned())]),
        Request::new("ec2:DeleteNetworkInterface", eni).with("ec2:Vpc", &[env_vpc]),
        Request::new("ec2:CreateNetworkInterfacePermission", eni)
            .with("ec2:Vpc", &[env_vpc])
            .with("ec2:AuthorizedService", &["codebuild.amazonaws.com"]),
        tagged(Request::new("rds:DeleteDBInstance", db)),
        tagged(Request::new("rds:ModifyDBInstance", db)),
        tagged(Request::new("rds:StopDBInstance", db)),
        tagged(Request::new("wafv2:UpdateWebACL", acl)),
        tagged(Request::new("scheduler:UpdateSchedule", schedule)),
        tagged(Request::new("codebuild:UpdateProject", project)),
        tagged(Request::new("codebuild:StartBuild", project)),
        Request::new("route53:ChangeResourceRecordSets", zone).with(
            "route53:ChangeResourceRecordSetsNormalizedRecordNames",
            &[public, validation],
        ),
        tagged(Request::new("acm:DeleteCertificate", certificate)),
        Request::new("acm:RequestCertificate", "*")
            .with("aws:RequestTag/gitops/environment", &[leak(env.to_owned())]),
    ]
}

/// Whether the boundary alone must stop a request: anything tagged for the other env, its state,
/// the CI roles and the boundaries. (Untaggable things, such as aliases and DNS names, are the own
/// policies' to scope by name.)
fn the_boundary_alone_stops(request: &Request<'_>) -> bool {
    request
        .context
        .contains_key("aws:resourcetag/gitops/environment")
        || request
            .context
            .contains_key("aws:requesttag/gitops/environment")
        || request.resource.contains(":s3:::")
        || request.resource.contains("-terraform-")
        || request.resource.ends_with("-boundary")
}

#[test]
fn no_role_of_one_env_reaches_the_other_envs_resources() {
    let (_, roles) = render();
    for role in &roles {
        // Two walls, each enough on its own: the role's own policies (scoped by the env's names and
        // tag), and the boundary (everything tagged for another env, its state, the CI roles). The
        // Load Balancer Controller's own policy is the controller's published one, which scopes by
        // its cluster tag's presence, not its value: for it the boundary is the wall.
        let upstream_policy = role.arn.ends_with("-aws-lbc");
        let own = role.own_policies_only();
        let boundary = role.boundary_only();
        for other in ENVS.iter().filter(|e| **e != role.env) {
            for request in requests_against(other) {
                let what = || {
                    format!(
                        "{} on {}'s {} ({:?})",
                        request.action, other, request.resource, request.context
                    )
                };
                assert!(!role.may(&request), "{} may {}", role.arn, what());
                assert!(
                    upstream_policy || !own.may(&request),
                    "{}'s own policies allow {}",
                    role.arn,
                    what()
                );
                if the_boundary_alone_stops(&request) {
                    assert!(
                        !boundary.may(&request),
                        "{}'s boundary does not stop {}",
                        role.arn,
                        what()
                    );
                }
            }
        }
    }
}

/// Ways out of an env that no tag of the other env's marks: a principal the boundary cannot bind (an
/// IAM user or group with keys and any policy, an identity provider), a change to a role or policy
/// outside the env's names (an account administrator's role, say), and assuming a role not tagged
/// for the env. A role of the env whose own policies gained `iam:*` (a pod role the apply role
/// wrote, for instance) could take any of them to act on the other env.
fn ways_out_of(env: &str) -> Vec<Request<'static>> {
    let iam = |rest: &str| leak(format!("arn:aws:iam::{ACCOUNT}:{rest}"));
    let admin = "arn:aws:iam::aws:policy/AdministratorAccess";
    let (user, group) = (iam("user/x"), iam("group/x"));
    let outsider = iam("role/OrganizationAccountAccessRole");
    let other_named = iam(&format!("role/{env}-gitops-x"));
    vec![
        Request::new("iam:CreateUser", user),
        Request::new("iam:AttachUserPolicy", user).with("iam:PolicyARN", &[admin]),
        Request::new("iam:PutUserPolicy", user),
        Request::new("iam:CreateAccessKey", user),
        Request::new("iam:CreateLoginProfile", user),
        Request::new("iam:CreateGroup", group),
        Request::new("iam:AttachGroupPolicy", group).with("iam:PolicyARN", &[admin]),
        Request::new("iam:AddUserToGroup", group),
        Request::new("iam:CreateOpenIDConnectProvider", iam("oidc-provider/x")),
        Request::new("iam:CreateSAMLProvider", iam("saml-provider/x")),
        Request::new("iam:PutRolePolicy", outsider),
        Request::new("iam:AttachRolePolicy", outsider).with("iam:PolicyARN", &[admin]),
        Request::new("iam:UpdateAssumeRolePolicy", outsider),
        Request::new("iam:PassRole", outsider),
        Request::new("sts:AssumeRole", outsider),
        Request::new("iam:CreateRole", other_named).with(
            "iam:PermissionsBoundary",
            &[iam(&format!("policy/gitops-{env}-boundary"))],
        ),
        Request::new("iam:CreatePolicyVersion", iam("policy/someone-elses")),
        Request::new("iam:CreateInstanceProfile", iam("instance-profile/x")),
    ]
}

#[test]
fn the_boundary_alone_closes_every_way_out_of_the_env() {
    let (_, roles) = render();
    for role in &roles {
        let boundary = role.boundary_only();
        for request in ways_out_of(&role.env) {
            assert!(
                !boundary.may(&request),
                "{}'s boundary allows {} on {} ({:?})",
                role.arn,
                request.action,
                request.resource,
                request.context
            );
            assert!(
                !role.may(&request),
                "{} may {} on {}",
                role.arn,
                request.action,
                request.resource
            );
        }
        // The same boundary still lets the env's own names be managed.
        let own = leak(role_arn(&format!("gitops-{}-x", role.env)));
        for action in ["iam:PutRolePolicy", "iam:PassRole", "iam:TagRole"] {
            assert!(
                boundary.may(&Request::new(action, own)),
                "{}'s boundary stops {action} on {own}",
                role.arn
            );
        }
    }
}

/// Both envs keep their state in one bucket under one key, which the bootstrap owns and tags for
/// neither env, so the tag walls do not cover them. Tagging the key for its own env would have made
/// it the env's to manage (its policy, its deletion) and the other env's to be refused: one env
/// could lock the other out of its state. Each role may only read the bucket and use the key.
#[test]
fn no_role_claims_or_manages_the_state_bucket_or_its_key() {
    let (_, roles) = render();
    let bucket = leak(format!("arn:aws:s3:::{STATE_BUCKET}"));
    for role in &roles {
        let own_env = leak(role.env.clone());
        let claim = |action| {
            Request::new(action, STATE_KEY_ARN)
                .with("aws:RequestTag/gitops/environment", &[own_env])
        };
        let mut requests = vec![claim("kms:TagResource"), claim("kms:CreateGrant")];
        for action in [
            "kms:PutKeyPolicy",
            "kms:ScheduleKeyDeletion",
            "kms:DisableKey",
            "kms:UntagResource",
        ] {
            // Whether or not it already carries a tag: the key is not an env's.
            requests.push(Request::new(action, STATE_KEY_ARN));
            requests.push(tagged_for(own_env, Request::new(action, STATE_KEY_ARN)));
        }
        for action in [
            "s3:PutBucketPolicy",
            "s3:DeleteBucketPolicy",
            "s3:DeleteBucket",
            "s3:PutEncryptionConfiguration",
            "s3:PutBucketVersioning",
            "s3:PutLifecycleConfiguration",
            "s3:PutBucketPublicAccessBlock",
            "s3:PutBucketOwnershipControls",
        ] {
            requests.push(Request::new(action, bucket));
        }
        let boundary = role.boundary_only();
        for request in &requests {
            assert!(
                !boundary.may(request),
                "{}'s boundary allows {} on {} ({:?})",
                role.arn,
                request.action,
                request.resource,
                request.context
            );
            assert!(!role.may(request), "{} may {}", role.arn, request.action);
        }
        // What state needs still passes the boundary.
        for action in [
            "kms:Decrypt",
            "kms:Encrypt",
            "kms:GenerateDataKey",
            "kms:DescribeKey",
        ] {
            assert!(
                boundary.may(&Request::new(action, STATE_KEY_ARN)),
                "{}'s boundary stops {action} on the state key",
                role.arn
            );
        }
        let prefix = leak(format!("gitops/{}/*", role.env));
        assert!(boundary.may(&Request::new("s3:ListBucket", bucket).with("s3:prefix", &[prefix])));
    }
    // And the CI roles still reach their own state through both walls.
    for env in ENVS {
        let state = leak(format!(
            "arn:aws:s3:::{STATE_BUCKET}/gitops/{env}/terraform.tfstate"
        ));
        let plan = ci_role(&roles, env, "plan");
        let apply = ci_role(&roles, env, "apply");
        for (role, action, resource) in [
            (plan, "kms:Decrypt", STATE_KEY_ARN),
            (plan, "s3:GetObject", state),
            (apply, "kms:GenerateDataKey", STATE_KEY_ARN),
            (apply, "kms:Decrypt", STATE_KEY_ARN),
            (apply, "s3:PutObject", state),
        ] {
            assert!(
                role.may(&Request::new(action, resource)),
                "{} may not {action} on {resource}",
                role.arn
            );
        }
    }
}

#[test]
fn the_apply_role_builds_its_own_env_and_changes_neither_itself_nor_its_boundary() {
    let (_, roles) = render();
    for env in ENVS {
        let apply = ci_role(&roles, env, "apply");
        let boundary = format!("arn:aws:iam::{ACCOUNT}:policy/gitops-{env}-boundary");
        let other_boundary = format!(
            "arn:aws:iam::{ACCOUNT}:policy/gitops-{}-boundary",
            if env == "dev" { "prod" } else { "dev" }
        );
        let new_role = role_arn(&format!("gitops-{env}-new"));
        let own_tag = ("aws:ResourceTag/gitops/environment", env);

        // What it must be able to do in its own env (a regression here is AccessDenied at apply).
        for request in [
            Request::new("iam:CreateRole", &new_role).with("iam:PermissionsBoundary", &[&boundary]),
            Request::new("iam:PutRolePolicy", &new_role),
            // A restore builds its own instance beside the live one (database.tf, module.db_restore).
            Request::new(
                "rds:RestoreDBInstanceFromDBSnapshot",
                &format!("arn:aws:rds:{REGION}:{ACCOUNT}:db:gitops-{env}-restore"),
            ),
            Request::new(
                "eks:CreateCluster",
                &format!("arn:aws:eks:{REGION}:{ACCOUNT}:cluster/gitops-{env}"),
            ),
            Request::new("ec2:CreateVpc", "arn:aws:ec2:eu-west-1:111122223333:vpc/*")
                .with("aws:RequestTag/gitops/environment", &[env]),
            Request::new(
                "ec2:AuthorizeSecurityGroupIngress",
                "arn:aws:ec2:eu-west-1:111122223333:security-group/sg-1",
            )
            .with(own_tag.0, &[own_tag.1]),
            Request::new(
                "kms:PutKeyPolicy",
                &format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/k"),
            )
            .with(own_tag.0, &[own_tag.1]),
            Request::new("secretsmanager:CreateSecret", "*").with(
                "secretsmanager:Name",
                &[&format!("gitops/demo-api/{env}/db")],
            ),
            Request::new(
                "secretsmanager:UpdateSecret",
                &format!(
                    "arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:gitops/demo-api/{env}/db-AbCdEf"
                ),
            ),
            Request::new(
                "s3:PutObject",
                &format!("arn:aws:s3:::{STATE_BUCKET}/gitops/{env}/terraform.tfstate.tflock"),
            ),
            Request::new("acm:RequestCertificate", "*")
                .with("aws:RequestTag/gitops/environment", &[env]),
            Request::new(
                "route53:ChangeResourceRecordSets",
                "arn:aws:route53:::hostedzone/Z1",
            )
            .with(
                "route53:ChangeResourceRecordSetsNormalizedRecordNames",
                &[
                    &format!("_0123.gitops-{env}.example.com"),
                    &format!("gitops-{env}.example.com"),
                ],
            ),
        ] {
            assert!(
                apply.may(&request),
                "{env} apply may not {} on {}",
                request.action,
                request.resource
            );
        }

        // What no role may do: change itself or any CI role, touch a boundary, create a role
        // without its env's boundary, or read a secret's value.
        for request in [
            Request::new("iam:PutRolePolicy", &apply.arn),
            Request::new("iam:AttachRolePolicy", &apply.arn),
            Request::new("iam:DeleteRolePermissionsBoundary", &apply.arn),
            Request::new("iam:PutRolePermissionsBoundary", &apply.arn)
                .with("iam:PermissionsBoundary", &[&boundary]),
            Request::new(
                "iam:UpdateAssumeRolePolicy",
                &role_arn(&format!("gitops-{env}-terraform-plan")),
            ),
            Request::new("iam:CreatePolicyVersion", &boundary),
            Request::new("iam:DeletePolicy", &boundary),
            Request::new(
                "iam:CreatePolicyVersion",
                &format!("arn:aws:iam::{ACCOUNT}:policy/gitops-{env}-terraform-apply"),
            ),
            Request::new("iam:CreateRole", &new_role),
            Request::new("iam:CreateRole", &new_role)
                .with("iam:PermissionsBoundary", &[&other_boundary]),
            Request::new("iam:DeleteRolePermissionsBoundary", &new_role),
            // The state's history is the bucket's versioning; only the lock object is deleted.
            Request::new(
                "s3:DeleteObject",
                &format!("arn:aws:s3:::{STATE_BUCKET}/gitops/{env}/terraform.tfstate"),
            ),
            // Snapshots of the env's disks and database are never shared with another account.
            Request::new(
                "ec2:ModifySnapshotAttribute",
                "arn:aws:ec2:eu-west-1::snapshot/snap-0123456789abcdef0",
            )
            .with(own_tag.0, &[own_tag.1]),
            Request::new(
                "rds:ModifyDBSnapshotAttribute",
                &format!("arn:aws:rds:{REGION}:{ACCOUNT}:snapshot:gitops-{env}-final"),
            ),
            // The final snapshot a teardown keeps (database.tf) outlives every apply.
            Request::new(
                "rds:DeleteDBSnapshot",
                &format!("arn:aws:rds:{REGION}:{ACCOUNT}:snapshot:gitops-{env}-final-20261207"),
            ),
            Request::new(
                "ec2:CreateNetworkInterfacePermission",
                "arn:aws:ec2:eu-west-1:111122223333:network-interface/eni-0123456789abcdef0",
            )
            .with(own_tag.0, &[own_tag.1]),
            Request::new(
                "rds:CreateDBInstanceReadReplica",
                &format!("arn:aws:rds:{REGION}:{ACCOUNT}:db:gitops-{env}"),
            ),
            Request::new(
                "secretsmanager:GetSecretValue",
                &format!(
                    "arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:gitops/demo-api/{env}-AbCdEf"
                ),
            ),
            Request::new(
                "ec2:CreateTags",
                "arn:aws:ec2:eu-west-1:111122223333:vpc/vpc-1",
            )
            .with(own_tag.0, &[own_tag.1])
            .with("aws:RequestTag/gitops/environment", &["prod-or-dev-other"]),
        ] {
            assert!(
                !apply.may(&request),
                "{env} apply may {} on {}",
                request.action,
                request.resource
            );
            // Its own policies never grant these either, except on the CI roles and the boundary
            // (they carry the env's own name) and a retag to another env: those are the boundary's.
            let boundarys_job = request.resource.contains("-terraform-")
                || request.resource.ends_with("-boundary")
                || request
                    .context
                    .contains_key("aws:requesttag/gitops/environment");
            if !boundarys_job {
                assert!(
                    !apply.own_policies_only().may(&request),
                    "{env} apply's own policies allow {} on {}",
                    request.action,
                    request.resource
                );
            }
            if request.action.starts_with("iam:") {
                assert!(
                    !apply.boundary_only().may(&request),
                    "{env}'s boundary does not stop {} on {}",
                    request.action,
                    request.resource
                );
            }
        }
    }
    // And every role, not only the CI ones, is stopped from rewriting itself by its boundary.
    for role in &roles {
        for action in [
            "iam:PutRolePolicy",
            "iam:AttachRolePolicy",
            "iam:DeleteRolePermissionsBoundary",
        ] {
            assert!(
                !role.boundary_only().may(&Request::new(action, &role.arn)),
                "{}'s boundary lets it {action} on itself",
                role.arn
            );
            assert!(
                !role.may(&Request::new(action, &role.arn)),
                "{} may {action} on itself",
                role.arn
            );
        }
    }
}

/// The state bucket's policy keeps every state and lock object under KMS: the env backends name the
/// state key, and a write asking for SSE-S3 (what `encrypt = true` alone sends) is refused, whoever
/// sends it. A write asking for nothing gets the bucket's KMS default and passes: each part of a
/// multipart upload (a state over 5 MiB) carries no encryption header.
#[test]
fn state_and_lock_objects_are_written_under_kms_only() {
    let (docs, _) = render();
    let policy = &docs
        .iter()
        .find(|d| d.owner == "gitops-tfstate" && d.name == "bucket-policy")
        .expect("the state bucket's policy is rendered")
        .json;
    let denied = |request: &Request<'_>| {
        statements(policy)
            .iter()
            .any(|s| s["Effect"] == "Deny" && statement_applies(s, request, &role_arn("anyone")))
    };
    for env in ENVS {
        let state = format!("arn:aws:s3:::{STATE_BUCKET}/gitops/{env}/terraform.tfstate");
        for object in [state.clone(), format!("{state}.tflock")] {
            let put =
                || Request::new("s3:PutObject", &object).with("aws:SecureTransport", &["true"]);
            assert!(
                !denied(&put().with("s3:x-amz-server-side-encryption", &["aws:kms"])),
                "a KMS write of {object} is refused"
            );
            assert!(
                !denied(&put()),
                "a part of a multipart upload of {object} (no header: the bucket's KMS default) is refused"
            );
            for other in ["AES256", "aws:kms:dsse"] {
                assert!(
                    denied(&put().with("s3:x-amz-server-side-encryption", &[other])),
                    "{object} written with {other} is allowed"
                );
            }
        }
    }
}

#[test]
fn every_trust_policy_names_a_service_or_this_accounts_github_oidc_only() {
    let (docs, _) = render();
    for doc in docs.iter().filter(|d| d.kind == Kind::Trust) {
        for s in statements(&doc.json) {
            let principal = &s["Principal"];
            let ok = principal
                .get("Service")
                .is_some_and(|svc| list(svc).iter().all(|x| x.ends_with(".amazonaws.com")))
                || principal["Federated"]
                    == format!(
                        "arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"
                    );
            assert!(ok, "{}: trusts {principal}", doc.owner);
            assert!(
                s.get("Condition").is_some(),
                "{}: a trust without a condition",
                doc.owner
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The CI roles cover what they manage (terraform/iam/actions.json, derived from pike)
// ---------------------------------------------------------------------------------------------

/// Actions a mapping lists that the apply role is not granted, and why: denied on purpose, or not an
/// action IAM has.
const WITHHELD: &[(&str, &str)] = &[
    (
        "iam:DeleteRolePermissionsBoundary",
        "no role may lose its permissions boundary (boundary.json.tftpl); Terraform only ever sets one",
    ),
    (
        "rds:DeleteEventSubscriptions",
        "not an IAM action: pike's aws_db_event_subscription mapping adds an s to \
         rds:DeleteEventSubscription, which is granted",
    ),
];

/// The roots CI plans and applies (terraform/bootstrap is applied once by a person); every local
/// module they call, at any depth, is managed too (`ci_dirs`).
const CI_ROOTS: &[&str] = &["terraform/envs/dev", "terraform/envs/prod"];

/// The CI roots and every directory a local `source = "../..."` reaches from them.
fn ci_dirs() -> Vec<String> {
    let mut dirs: Vec<String> = Vec::new();
    let mut todo: Vec<std::path::PathBuf> = CI_ROOTS.iter().map(std::path::PathBuf::from).collect();
    while let Some(dir) = todo.pop() {
        let rel = dir.to_string_lossy().into_owned();
        if dirs.contains(&rel) {
            continue;
        }
        for b in blocks_in(&rel)
            .iter()
            .filter(|b| b.identifier() == "module")
        {
            let source = text_of(attr(b.body(), "source"));
            let source = source.trim_matches('"');
            if source.starts_with("./") || source.starts_with("../") {
                let mut next = dir.clone();
                for part in source.split('/') {
                    match part {
                        "." => {}
                        ".." => assert!(
                            next.pop(),
                            "{rel}: module source {source} leaves the repository"
                        ),
                        p => next.push(p),
                    }
                }
                todo.push(next);
            }
        }
        dirs.push(rel);
    }
    dirs.sort();
    dirs
}

fn read_json(rel: &str) -> Json {
    serde_json::from_str(&integration_tests::read_text(rel))
        .unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Does a Terraform version constraint admit a release tag (`~> 21.19`, `~> 2.8.1`, `21.19.0`)?
fn admits(constraint: &str, tag: &str) -> bool {
    let num = |v: &str| -> Vec<u64> {
        v.trim()
            .trim_start_matches('v')
            .split('.')
            .map(|p| p.parse().unwrap())
            .collect()
    };
    let have = num(tag);
    if let Some(pessimistic) = constraint.trim().strip_prefix("~>") {
        let want = num(pessimistic);
        let fixed = want.len() - 1;
        have[..fixed] == want[..fixed] && have[fixed..] >= want[fixed..]
    } else {
        num(constraint.trim().trim_start_matches('=')) == have
    }
}

/// The AWS resource and data types CI creates or reads, from our code and the modules it calls.
fn managed_types(modules: &Json) -> BTreeMap<&'static str, BTreeSet<String>> {
    let mut types: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for dir in &ci_dirs() {
        for b in blocks_in(dir) {
            let labels: Vec<&str> = b.labels().iter().map(hcl::BlockLabel::as_str).collect();
            match b.identifier() {
                kind @ ("resource" | "data" | "ephemeral") if labels[0].starts_with("aws_") => {
                    let kind = match kind {
                        "resource" => "resource",
                        "data" => "data",
                        _ => "ephemeral",
                    };
                    types.entry(kind).or_default().insert(labels[0].to_owned());
                }
                "module" => {
                    let source = text_of(attr(b.body(), "source"));
                    let source = source.trim_matches('"');
                    if source.starts_with('.') {
                        continue;
                    }
                    let recorded = &modules["modules"][source];
                    assert!(
                        recorded.is_object(),
                        "{dir}: module {source} is not in terraform/iam/modules.json: run terraform/iam/derive.py"
                    );
                    let version = text_of(attr(b.body(), "version"));
                    let tag = recorded["tag"].as_str().unwrap();
                    assert!(
                        admits(version.trim_matches('"'), tag),
                        "{dir}: {source} {version} is not the recorded {tag}: run terraform/iam/derive.py"
                    );
                    let not_created = json_object(&recorded["not_created"]);
                    for t in list(&recorded["resources"])
                        .into_iter()
                        .filter(|t| t.starts_with("aws_") && !not_created.contains_key(t))
                    {
                        types.entry("resource").or_default().insert(t);
                    }
                    for t in list(&recorded["data"])
                        .into_iter()
                        .filter(|t| t.starts_with("aws_"))
                    {
                        types.entry("data").or_default().insert(t);
                    }
                }
                _ => {}
            }
        }
    }
    types
}

/// The IAM actions of every `aws <service> <operation>` call in a script of a CI-managed directory
/// (modules/secret-first-value/write.sh), with the script that makes it: the AWS CLI names an
/// operation in kebab case (`put-secret-value` is `secretsmanager:PutSecretValue`).
fn script_calls() -> BTreeMap<String, String> {
    let mut calls = BTreeMap::new();
    for dir in ci_dirs() {
        for script in integration_tests::files_under(&dir, "sh") {
            for line in integration_tests::read_text(&script).lines() {
                let words: Vec<&str> = line.split('#').next().unwrap().split_whitespace().collect();
                // `aws ...`, also inside a command substitution (`x=$(aws ...`).
                for w in words
                    .windows(3)
                    .filter(|w| w[0].rsplit('(').next() == Some("aws"))
                {
                    let operation: String = w[2]
                        .split('-')
                        .map(|p| p[..1].to_uppercase() + &p[1..])
                        .collect();
                    calls.insert(format!("{}:{operation}", w[1]), script.clone());
                }
            }
        }
    }
    calls
}

impl Role {
    /// May the role call `action` on some resource? (Its resource and condition scoping is what the
    /// blast-radius tests check; here only that the action is granted at all and not denied outright.)
    fn grants(&self, action: &str) -> bool {
        let matches = |s: &Json| {
            if s.get("NotAction").is_some() {
                !list(&s["NotAction"]).iter().any(|a| glob(a, action, true))
            } else {
                list(&s["Action"]).iter().any(|a| glob(a, action, true))
            }
        };
        let denied_outright = self
            .identity
            .iter()
            .chain([&self.boundary])
            .flat_map(statements)
            .any(|s| {
                s["Effect"] == "Deny"
                    && matches(&s)
                    && list(&s["Resource"]) == ["*"]
                    && s.get("Condition").is_none()
            });
        let allowed = |docs: &[&Json]| {
            docs.iter()
                .flat_map(|d| statements(d))
                .any(|s| s["Effect"] == "Allow" && matches(&s))
        };
        !denied_outright
            && allowed(&self.identity.iter().collect::<Vec<_>>())
            && allowed(&[&self.boundary])
    }
}

/// What CI's plans and applies call, each action with a resource type (or script) that calls it:
/// the refresh calls (plan), and those plus create, update and destroy (apply).
fn ci_needs() -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let actions = read_json("terraform/iam/actions.json");
    let modules = read_json("terraform/iam/modules.json");
    let types = managed_types(&modules);
    let (mut plan_needs, mut apply_needs) = (BTreeMap::new(), BTreeMap::new());
    for (kind, names) in &types {
        for name in names {
            let mapping = &actions[*kind][name];
            assert!(
                mapping.is_object(),
                "{kind} {name} is managed but has no actions in terraform/iam/actions.json: run terraform/iam/derive.py"
            );
            for a in list(&mapping["plan"]) {
                plan_needs.entry(a.clone()).or_insert_with(|| name.clone());
                apply_needs.entry(a).or_insert_with(|| name.clone());
            }
            for a in list(&mapping["apply"]) {
                apply_needs.entry(a).or_insert_with(|| name.clone());
            }
        }
    }
    for (action, script) in script_calls() {
        apply_needs.entry(action).or_insert(script);
    }
    (plan_needs, apply_needs)
}

#[test]
fn the_ci_roles_cover_every_resource_type_ci_manages() {
    let (plan_needs, apply_needs) = ci_needs();
    let (_, roles) = render();
    let withheld: BTreeMap<&str, &str> = WITHHELD.iter().copied().collect();
    for env in ENVS {
        let role = |mode: &str| ci_role(&roles, env, mode);
        for (action, t) in &plan_needs {
            assert!(
                role("plan").grants(action),
                "{env}: the plan role lacks {action} ({t} needs it to refresh)"
            );
        }
        for (action, t) in &apply_needs {
            if let Some(why) = withheld.get(action.as_str()) {
                assert!(
                    !role("apply").grants(action) || !role("apply").may(&Request::new(action, "*")),
                    "{action} is withheld ({why}) but granted"
                );
                continue;
            }
            assert!(
                role("apply").grants(action),
                "{env}: the apply role lacks {action} ({t} needs it)"
            );
        }
    }
    for (action, _) in WITHHELD {
        assert!(
            apply_needs.contains_key(*action),
            "{action} is withheld but no mapping asks for it any more"
        );
    }
}

/// What the CI roles are granted beyond the calls `actions.json` maps for the types they manage, each
/// with its reason: a wildcard (and what it must cover), a call the mappings miss (with the code or
/// document that makes it), or a grant not yet confirmed either way (with the `CloudTrail` check that
/// would settle it). A grant with no mapped call and no row here fails
/// `every_ci_grant_is_a_mapped_call_or_has_its_reason`, and so does a row nothing needs any more.
const BEYOND_THE_MAPPINGS: &[(&str, &str)] = &[
    // The state (Terraform 1.11's S3 backend docs, "S3 Bucket Permissions"); no resource type maps it.
    (
        "s3:ListBucket",
        "the S3 backend lists the env's own state prefix at init (prefix-scoped)",
    ),
    (
        "s3:GetObject",
        "the S3 backend reads the env's state and lock objects",
    ),
    (
        "s3:PutObject",
        "the S3 backend writes the env's state and takes its lock object",
    ),
    (
        "s3:DeleteObject",
        "the S3 backend releases its lock by deleting the lock object (the lock only)",
    ),
    (
        "kms:Decrypt",
        "the plan role reads state written under the state key",
    ),
    (
        "kms:Encrypt",
        "the S3 backend docs require it on the state key once kms_key_id is set",
    ),
    (
        "sts:GetCallerIdentity",
        "data.aws_caller_identity and allowed_account_ids; it needs no permission, listed for the reader",
    ),
    // Metadata reads.
    ("autoscaling:Describe*", READS),
    ("ec2:Describe*", READS),
    ("eks:Describe*", READS),
    ("eks:List*", READS),
    ("elasticloadbalancing:Describe*", READS),
    ("logs:Describe*", READS),
    ("rds:Describe*", READS),
    ("route53:Get*", READS),
    ("route53:List*", READS),
    (
        "chatbot:ListTagsForResource",
        "refreshing aws_chatbot_slack_channel_configuration reads its tags; pike's mapping lacks it",
    ),
    // Calls the provider makes that pike's mappings lack (terraform-provider-aws v6 source).
    (
        "iam:UpdateAssumeRolePolicy",
        "aws_iam_role update: every change of a *-trust.json.tftpl (iam/role.go)",
    ),
    (
        "iam:UpdateRole",
        "aws_iam_role update when max_session_duration changes (iam/role.go); own roles only",
    ),
    (
        "iam:CreatePolicyVersion",
        "aws_iam_policy update: a changed document is a new version (iam/policy.go)",
    ),
    (
        "iam:DeletePolicyVersion",
        "aws_iam_policy: versions past five are pruned, and old ones deleted before the policy",
    ),
    (
        "ec2:ModifyLaunchTemplate",
        "aws_launch_template update: the node group module keeps the new version the default",
    ),
    (
        "ec2:ModifySecurityGroupRules",
        "aws_vpc_security_group_ingress_rule update (vpc_security_group_ingress_rule.go)",
    ),
    (
        "logs:TagResource",
        "provider v6 tags log groups by ARN; CreateLogGroup with tags needs it too",
    ),
    (
        "logs:UntagResource",
        "provider v6 removes log group tags by ARN",
    ),
    (
        "cloudwatch:UntagResource",
        "a tag removed from an alarm (default_tags); pike maps only the tagging call",
    ),
    (
        "sns:UntagResource",
        "a tag removed from the alarms topic (default_tags); pike maps only the tagging call",
    ),
    (
        "rds:RestoreDBInstanceFromDBSnapshot",
        "module.db_restore sets snapshot_identifier: the provider restores instead of creating",
    ),
    (
        "secretsmanager:UpdateSecret",
        "aws_secretsmanager_secret update: a description or kms_key_id change (secret.go)",
    ),
    (
        "acm:UpdateCertificateOptions",
        "aws_acm_certificate update of options (the transparency logging preference it sets)",
    ),
    (
        "wafv2:DeleteLoggingConfiguration",
        "destroying aws_wafv2_web_acl_logging_configuration; pike maps no destroy call for it",
    ),
    // WAF logging to CloudWatch Logs is a vended log: its caller manages the delivery.
    (
        "logs:PutResourcePolicy",
        "WAF logging: the caller writes the log group's resource policy (CloudWatch Logs docs)",
    ),
    (
        "logs:DescribeResourcePolicies",
        "WAF logging: the caller reads the resource policy first",
    ),
    ("logs:GetLogDelivery", UNCONFIRMED_LOG_DELIVERY),
    ("logs:ListLogDeliveries", UNCONFIRMED_LOG_DELIVERY),
    ("logs:UpdateLogDelivery", UNCONFIRMED_LOG_DELIVERY),
    ("logs:DeleteLogDelivery", UNCONFIRMED_LOG_DELIVERY),
    // Wildcards on resources that only this env's names or tags reach.
    ("eks:Associate*", OWN_CLUSTER),
    ("eks:Create*", OWN_CLUSTER),
    ("eks:Delete*", OWN_CLUSTER),
    ("eks:Disassociate*", OWN_CLUSTER),
    ("eks:Update*", OWN_CLUSTER),
    ("ec2:Create*", OWN_NETWORK),
    ("ec2:Assign*", OWN_NETWORK),
    ("ec2:Associate*", OWN_NETWORK),
    ("ec2:Attach*", OWN_NETWORK),
    ("ec2:Authorize*", OWN_NETWORK),
    ("ec2:Delete*", OWN_NETWORK),
    ("ec2:Detach*", OWN_NETWORK),
    ("ec2:Disassociate*", OWN_NETWORK),
    ("ec2:Replace*", OWN_NETWORK),
    ("ec2:Revoke*", OWN_NETWORK),
    ("ec2:Unassign*", OWN_NETWORK),
    // Not confirmed either way without an AWS account.
    ("codeconnections:PassConnection", UNCONFIRMED_CONNECTION),
    ("codeconnections:GetConnection", UNCONFIRMED_CONNECTION),
    ("codeconnections:GetConnectionToken", UNCONFIRMED_CONNECTION),
    ("codeconnections:UseConnection", UNCONFIRMED_CONNECTION),
];

const READS: &str = "covers the refresh calls actions.json maps for this service; metadata reads \
                     of this kind cannot be scoped to resources";
const OWN_CLUSTER: &str = "on this env's cluster ARNs only; covers eks:UpdateClusterVersion, which \
                           every Kubernetes upgrade calls and pike lacks";
const OWN_NETWORK: &str = "network changes on resources tagged for this env only (created with the \
                           tag); an explicit list needs CloudTrail's record of a whole create, \
                           update and destroy of an env";
const UNCONFIRMED_LOG_DELIVERY: &str = "unconfirmed: other vended-log sources document it, WAF's \
    docs name only the create; to settle it, change and destroy the WAF logging without it and read \
    CloudTrail for AccessDenied";
const UNCONFIRMED_CONNECTION: &str = "unconfirmed: the runner project and webhook take the GitHub \
    connection (PassConnection governs handing it over); CodeBuild documents the other three for \
    the project's service role. To settle it, recreate the project and webhook without them and \
    read CloudTrail for AccessDenied (GetConnectionToken hands out a GitHub token: drop it first)";

#[test]
fn every_ci_grant_is_a_mapped_call_or_has_its_reason() {
    let (plan_needs, apply_needs) = ci_needs();
    let reasons: BTreeMap<&str, &str> = BEYOND_THE_MAPPINGS.iter().copied().collect();
    let (_, roles) = render();
    let (mut unexplained, mut used) = (BTreeSet::new(), BTreeSet::new());
    for env in ENVS {
        for (mode, needs) in [("plan", &plan_needs), ("apply", &apply_needs)] {
            let role = ci_role(&roles, env, mode);
            for statement in role.identity.iter().flat_map(statements) {
                if statement["Effect"] != "Allow" {
                    continue;
                }
                assert!(
                    statement.get("NotAction").is_none(),
                    "{env} {mode}: an Allow with NotAction grants what nobody listed"
                );
                for action in list(&statement["Action"]) {
                    if !action.contains('*') && needs.contains_key(&action) {
                        continue;
                    }
                    if reasons.contains_key(action.as_str()) {
                        used.insert(action);
                    } else {
                        unexplained.insert(format!("{action} ({mode} role, {})", statement["Sid"]));
                    }
                }
            }
        }
    }
    assert!(
        unexplained.is_empty(),
        "granted to a CI role, though no managed type's mapping calls it; remove it or give its \
         reason in BEYOND_THE_MAPPINGS:\n{}",
        unexplained.into_iter().collect::<Vec<_>>().join("\n")
    );
    for (action, _) in BEYOND_THE_MAPPINGS {
        assert!(
            used.contains(*action),
            "{action} has a reason in BEYOND_THE_MAPPINGS, but no CI role needs one for it any more"
        );
    }
}

/// No CI role reads a secret's value: neither the plan role (pull requests assume it) nor the apply
/// role. A resource type whose refresh calls `GetSecretValue` (`aws_secretsmanager_secret_version`,
/// even write-only) cannot be managed at all: modules/secret-first-value writes through write.sh.
#[test]
fn no_ci_role_reads_a_secret_value_and_first_values_are_written_by_script() {
    let calls = script_calls();
    for action in [
        "secretsmanager:PutSecretValue",
        "secretsmanager:ListSecretVersionIds",
    ] {
        assert!(
            calls.contains_key(action),
            "modules/secret-first-value/write.sh no longer calls {action}: {calls:?}"
        );
    }
    assert!(
        !calls
            .keys()
            .any(|a| a.starts_with("secretsmanager:GetSecretValue")
                || a.starts_with("secretsmanager:BatchGetSecretValue")),
        "a script reads a secret value: {calls:?}"
    );
    let (_, roles) = render();
    for env in ENVS {
        for mode in ["plan", "apply"] {
            let role = ci_role(&roles, env, mode);
            for secret in [
                format!("gitops/demo-api/{env}-AbCdEf"),
                format!("gitops/demo-api/{env}/db-AbCdEf"),
                format!("gitops/platform-ops/{env}-AbCdEf"),
                format!("gitops/dockerhub/{env}-AbCdEf"),
            ] {
                let arn = format!("arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{secret}");
                for action in [
                    "secretsmanager:GetSecretValue",
                    "secretsmanager:BatchGetSecretValue",
                ] {
                    assert!(
                        !role.may(&Request::new(action, &arn)),
                        "{env} {mode} may {action} on {secret}"
                    );
                }
                let put = Request::new("secretsmanager:PutSecretValue", &arn);
                assert_eq!(
                    role.may(&put),
                    mode == "apply",
                    "{env} {mode}: PutSecretValue on {secret}"
                );
            }
        }
    }
}

#[test]
fn module_versions_are_compared_the_way_terraform_does() {
    assert!(admits("~> 21.19", "v21.19.0"));
    assert!(admits("~> 21.19", "v21.20.3"));
    assert!(!admits("~> 21.19", "v22.0.0"));
    assert!(!admits("~> 21.19", "v21.18.9"));
    assert!(admits("~> 2.8.1", "v2.8.4"));
    assert!(!admits("~> 2.8.1", "v2.9.0"));
    assert!(admits("21.19.0", "v21.19.0"));
    assert!(!admits("21.19.0", "v21.19.1"));
}

#[test]
fn everything_an_env_creates_carries_its_env_tag_and_may_pin_its_account() {
    for env in ENVS {
        // The provider tags every resource, which is what the boundaries and policies scope by...
        let root = blocks_in(&format!("terraform/envs/{env}"));
        let aws = block(&root, "provider", &["aws"]).body();
        let default_tags = aws
            .blocks()
            .find(|b| b.identifier() == "default_tags")
            .expect("default_tags");
        assert!(
            text_of(attr(default_tags.body(), "tags")).contains("\"gitops/environment\"=local.env"),
            "{env}: the provider tags every resource gitops/environment"
        );
        assert_eq!(
            integration_tests::terraform::local_str(
                &integration_tests::terraform::platform_locals(env),
                "name"
            ),
            format!("gitops-{env}")
        );
        // ...the one-account-per-env option pins the account...
        assert_eq!(
            text_of(attr(aws, "allowed_account_ids")),
            "var.allowed_account_ids",
            "{env}"
        );
        // ...and the Load Balancer Controller tags what it creates the same way.
        let (_, values) =
            integration_tests::terraform::helm_release(env, "aws_load_balancer_controller");
        assert_eq!(
            values["defaultTags"]["gitops/environment"], env,
            "{env}: LBC defaultTags"
        );
    }
    let bootstrap = blocks_in(BOOTSTRAP);
    let aws = block(&bootstrap, "provider", &["aws"]).body();
    assert_eq!(
        text_of(attr(aws, "allowed_account_ids")),
        "var.allowed_account_ids"
    );
}

#[test]
fn the_managed_directories_follow_every_local_module_from_the_env_roots() {
    let dirs = ci_dirs();
    for called in [
        "terraform/modules/platform-cluster",
        "terraform/modules/cluster-addons",
        "terraform/modules/secret-first-value",
    ] {
        assert!(
            dirs.iter()
                .any(|d| std::path::Path::new(d) == std::path::Path::new(called)),
            "{called} is not reached from the env roots: {dirs:?}"
        );
    }
}
