//! Argo CD Notifications as far as the deployment records go, following argoproj/notifications-engine:
//! a trigger's conditions and their oncePer keys (`pkg/triggers`, `pkg/controller/state.go`), the
//! templates rendered as Go templates with the sprig functions they call (gtmpl), and the GitHub
//! service's deployments (`pkg/services/github.go`: one deployment per ref and environment, reused
//! when it exists, one status per notification, the message cut to 140 characters).
//!
//! Fed the Application states the controller would see, it writes the GitHub Deployments and
//! statuses delivery-metrics reads, shaped as the REST API returns them.

use std::collections::{BTreeMap, BTreeSet};

use gtmpl::{Context, FuncError, Template};
use serde_json::{Value as Json, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::expr::{self, Env, Node, Value};

const API: &str = "https://api.github.com/repos/gitops-platform/gitops-platform";

struct Condition {
    when: Node,
    once_per: Option<Node>,
    send: Vec<String>,
}

/// The GitHub parts of one template: the message, the revision, the deployment's state and env.
struct GitHubTemplate {
    message: Template,
    revision: Template,
    state: Template,
    environment: Template,
}

pub struct Notifications {
    conditions: Vec<Condition>,
    templates: BTreeMap<String, GitHubTemplate>,
    /// Per Application, the keys already sent (the engine's `notified.notifications.argoproj.io`).
    sent: BTreeMap<String, BTreeSet<String>>,
    pub deployments: Vec<Json>,
    pub statuses: Vec<Json>,
}

/// Sprig's `trunc`: the first `n` characters, or for a negative `n` the last `-n`.
fn trunc(args: &[gtmpl::Value]) -> Result<gtmpl::Value, FuncError> {
    let [gtmpl::Value::Number(n), gtmpl::Value::String(s)] = args else {
        return Err(FuncError::Generic(format!(
            "trunc wants (int, string), got {args:?}"
        )));
    };
    let n = n
        .as_i64()
        .ok_or_else(|| FuncError::Generic("trunc wants an int".into()))?;
    let chars: Vec<char> = s.chars().collect();
    let len = i64::try_from(chars.len()).unwrap();
    let kept: String = match n {
        n if n < 0 && len + n > 0 => chars[usize::try_from(len + n).unwrap()..].iter().collect(),
        n if n >= 0 && len > n => chars[..usize::try_from(n).unwrap()].iter().collect(),
        _ => s.clone(),
    };
    Ok(gtmpl::Value::from(kept))
}

/// The sprig functions the templates call; any other function fails the parse.
fn template(source: &str) -> Template {
    let mut t = Template::default();
    t.add_func("trunc", trunc);
    t.parse(source)
        .unwrap_or_else(|e| panic!("the template {source:?} does not parse: {e}"));
    t
}

fn to_gtmpl(json: &Json) -> gtmpl::Value {
    match json {
        Json::Null => gtmpl::Value::Nil,
        Json::Bool(b) => gtmpl::Value::Bool(*b),
        Json::Number(n) => n.as_i64().map_or_else(
            || gtmpl::Value::from(n.as_f64().unwrap()),
            gtmpl::Value::from,
        ),
        Json::String(s) => gtmpl::Value::from(s.clone()),
        Json::Array(a) => gtmpl::Value::Array(a.iter().map(to_gtmpl).collect()),
        Json::Object(o) => {
            gtmpl::Value::Map(o.iter().map(|(k, v)| (k.clone(), to_gtmpl(v))).collect())
        }
    }
}

fn render(t: &Template, vars: &gtmpl::Value) -> String {
    t.render(&Context::from(vars.clone()))
        .unwrap_or_else(|e| panic!("a deployment-record template fails to render: {e}"))
}

impl Notifications {
    /// The trigger `trigger` and the templates it sends, from the argo-cd chart's values.
    pub fn from_values(values: &Json, trigger: &str) -> Self {
        let entry = |section: &str, key: &str| -> Json {
            let text = values["notifications"][section][key]
                .as_str()
                .unwrap_or_else(|| panic!("notifications.{section}.{key} is set"));
            serde_yaml_ng::from_str(text).unwrap()
        };
        let conditions: Vec<Condition> = entry("triggers", &format!("trigger.{trigger}"))
            .as_array()
            .expect("a trigger is a list of conditions")
            .iter()
            .map(|c| Condition {
                when: expr::parse(c["when"].as_str().expect("when")).unwrap(),
                once_per: c["oncePer"].as_str().map(|o| expr::parse(o).unwrap()),
                send: c["send"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|s| s.as_str().unwrap().to_owned())
                    .collect(),
            })
            .collect();
        let names: BTreeSet<&String> = conditions.iter().flat_map(|c| &c.send).collect();
        let templates = names
            .into_iter()
            .map(|name| {
                let t = entry("templates", &format!("template.{name}"));
                let github = &t["github"];
                let text = |v: &Json| v.as_str().unwrap_or_default().to_owned();
                (
                    name.clone(),
                    GitHubTemplate {
                        message: template(&text(&t["message"])),
                        revision: template(&text(&github["revisionPath"])),
                        state: template(&text(&github["deployment"]["state"])),
                        environment: template(&text(&github["deployment"]["environment"])),
                    },
                )
            })
            .collect();
        Self {
            conditions,
            templates,
            sent: BTreeMap::new(),
            deployments: Vec::new(),
            statuses: Vec::new(),
        }
    }

    /// The controller sees `app` at `at`: every condition is evaluated, and each that holds and
    /// was not sent for its oncePer key sends its templates. A condition without oncePer is sent
    /// again only after it stopped holding.
    pub fn observe(&mut self, app: &Json, at: OffsetDateTime) {
        let name = app["metadata"]["name"].as_str().unwrap().to_owned();
        let value = Value::from_json(app);
        let env = Env {
            app: &value,
            now: at,
        };
        let vars = to_gtmpl(&json!({ "app": app }));
        let mut to_send = Vec::new();
        let sent = self.sent.entry(name).or_default();
        for (i, condition) in self.conditions.iter().enumerate() {
            let holds = expr::eval(&condition.when, &env) == Ok(Value::Bool(true));
            let key = match (&condition.once_per, holds) {
                (None, false) => {
                    sent.remove(&format!("[{i}]"));
                    continue;
                }
                (_, false) => continue,
                (None, true) => format!("[{i}]"),
                (Some(once_per), true) => format!(
                    "{}:[{i}]",
                    expr::eval(once_per, &env).map_or_else(|_| String::new(), |v| v.to_go_string())
                ),
            };
            if sent.insert(key) {
                to_send.extend(condition.send.iter().cloned());
            }
        }
        for name in to_send {
            let t = &self.templates[&name];
            self.record(
                &render(&t.revision, &vars),
                &render(&t.environment, &vars),
                &render(&t.state, &vars),
                &render(&t.message, &vars),
                at,
            );
        }
    }

    /// The GitHub service: the newest deployment of `reference` to `environment`, else a new one,
    /// and a status on it.
    fn record(
        &mut self,
        reference: &str,
        environment: &str,
        state: &str,
        message: &str,
        at: OffsetDateTime,
    ) {
        let at = at.format(&Rfc3339).unwrap();
        let existing = self
            .deployments
            .iter()
            .rev()
            .find(|d| d["ref"] == reference && d["environment"] == environment)
            .map(|d| d["id"].as_u64().unwrap());
        let id = existing.unwrap_or_else(|| {
            let id = 500 + self.deployments.len() as u64;
            self.deployments.push(json!({
                "url": format!("{API}/deployments/{id}"), "id": id, "sha": reference,
                "ref": reference, "environment": environment, "created_at": at,
            }));
            id
        });
        let description: String = if message.chars().count() > 140 {
            message.chars().take(137).chain("...".chars()).collect()
        } else {
            message.to_owned()
        };
        self.statuses.push(json!({
            "id": 9000 + self.statuses.len(), "state": state, "description": description,
            "environment": environment, "created_at": at,
            "deployment_url": format!("{API}/deployments/{id}"),
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trunc_is_sprigs() {
        let t = |n: i64, s: &str| trunc(&[gtmpl::Value::from(n), gtmpl::Value::from(s)]).unwrap();
        assert_eq!(t(3, "abcdef"), gtmpl::Value::from("abc"));
        assert_eq!(t(-2, "abcdef"), gtmpl::Value::from("ef"));
        assert_eq!(t(9, "abc"), gtmpl::Value::from("abc"));
    }
}
