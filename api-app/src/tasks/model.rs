//! The task and the two request bodies that make or change one. Each is parsed once at the edge
//! ("parse, don't validate"): a `NewTask` or `TaskPatch` that exists is valid, so handlers and the
//! stores never check it again.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use super::title::TaskTitle;

/// The most tasks `MAX_TASKS` may allow.
pub const MAX_STORED_TASKS: usize = 10_000_000;

/// A stored task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Task {
    /// A random UUID assigned by the server.
    pub id: Uuid,
    pub title: TaskTitle,
    pub completed: bool,
    /// When the task was created, RFC 3339 in UTC.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime, example = "2026-11-26T04:00:00Z")]
    pub created_at: OffsetDateTime,
    /// When the task last changed, RFC 3339 in UTC.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime, example = "2026-11-26T04:00:00Z")]
    pub updated_at: OffsetDateTime,
    /// Starts at 1 and grows by one with every change. The `ETag` is this number in quotes, so a
    /// client that read the task from a list can still write it conditionally:
    /// `If-Match: "<version>"`.
    #[schema(minimum = 1, example = 3)]
    pub version: i64,
}

/// A JSON object, the only shape a request body may have. serde would otherwise also accept a
/// struct written as an array (`["title", false]`), which no client means.
type JsonObject = serde_json::Map<String, serde_json::Value>;

/// A JSON object whose keys are all different. `serde_json` keeps the last of a repeated key, so
/// `{"title":"","title":"ok"}` would pass as `ok` here while another parser (a WAF, a proxy, a log
/// pipeline) reads the empty title: a repeated key is refused instead.
#[derive(Debug)]
struct UniqueKeys(JsonObject);

impl<'de> Deserialize<'de> for UniqueKeys {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Keys;
        impl<'de> serde::de::Visitor<'de> for Keys {
            type Value = JsonObject;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<JsonObject, A::Error> {
                let mut object = JsonObject::new();
                while let Some(key) = map.next_key::<String>()? {
                    if object.contains_key(&key) {
                        return Err(serde::de::Error::custom(format_args!(
                            "duplicate field `{key}`"
                        )));
                    }
                    let value = map.next_value()?;
                    object.insert(key, value);
                }
                Ok(object)
            }
        }
        deserializer.deserialize_map(Keys).map(Self)
    }
}

fn from_object<T: serde::de::DeserializeOwned>(object: JsonObject) -> Result<T, String> {
    serde_json::from_value(serde_json::Value::Object(object)).map_err(|e| e.to_string())
}

/// The body of `POST /api/tasks`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(try_from = "UniqueKeys", deny_unknown_fields)]
pub struct NewTask {
    pub title: TaskTitle,
    /// Defaults to false.
    #[schema(default = false, required = false)]
    pub completed: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTaskFields {
    title: TaskTitle,
    #[serde(default)]
    completed: bool,
}

impl TryFrom<UniqueKeys> for NewTask {
    type Error = String;
    fn try_from(object: UniqueKeys) -> Result<Self, Self::Error> {
        let NewTaskFields { title, completed } = from_object(object.0)?;
        Ok(Self { title, completed })
    }
}

#[cfg(test)]
impl NewTask {
    /// A body with `title` (which must be valid), for the unit tests of the stores.
    pub(crate) fn for_tests(title: &str, completed: bool) -> Self {
        Self {
            title: TaskTitle::parse(title).expect("a valid title"),
            completed,
        }
    }
}

/// The body of `PATCH /api/tasks/{id}`: the fields to change. At least one must be present.
// An empty patch is refused while the body is read (a 422), so a `TaskPatch` always changes something.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(try_from = "UniqueKeys", deny_unknown_fields)]
#[schema(min_properties = 1)]
pub struct TaskPatch {
    #[schema(nullable = false)]
    title: Option<TaskTitle>,
    #[schema(nullable = false)]
    completed: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TaskPatchFields {
    #[serde(default, deserialize_with = "present")]
    title: Option<TaskTitle>,
    #[serde(default, deserialize_with = "present")]
    completed: Option<bool>,
}

/// A patch field that is sent must hold a value: `null` is a 422, as the schema (not nullable)
/// says, rather than being read as "leave unchanged".
fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

impl TryFrom<UniqueKeys> for TaskPatch {
    type Error = String;
    fn try_from(object: UniqueKeys) -> Result<Self, Self::Error> {
        let TaskPatchFields { title, completed } = from_object(object.0)?;
        Self::new(title, completed)
            .ok_or_else(|| "the patch must set title or completed".to_owned())
    }
}

impl TaskPatch {
    /// A patch that changes something; `None` when both fields are `None`.
    pub fn new(title: Option<TaskTitle>, completed: Option<bool>) -> Option<Self> {
        (title.is_some() || completed.is_some()).then_some(Self { title, completed })
    }

    /// The new title, if the patch sets one.
    pub fn title(&self) -> Option<&TaskTitle> {
        self.title.as_ref()
    }

    /// The new completion, if the patch sets one.
    pub fn completed(&self) -> Option<bool> {
        self.completed
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn a_null_patch_field_is_rejected_not_ignored() {
        assert!(serde_json::from_str::<TaskPatch>(r#"{"title":null,"completed":true}"#).is_err());
        assert!(serde_json::from_str::<TaskPatch>(r#"{"completed":null}"#).is_err());
        let p: TaskPatch = serde_json::from_str(r#"{"completed":true}"#).unwrap();
        assert!(p.title.is_none() && p.completed == Some(true));
    }

    #[test]
    fn an_empty_patch_is_refused_while_the_body_is_read() {
        let err = serde_json::from_str::<TaskPatch>("{}").unwrap_err();
        assert!(
            err.is_data()
                && err
                    .to_string()
                    .contains("the patch must set title or completed"),
            "{err}"
        );
        assert!(TaskPatch::new(None, None).is_none());
    }

    #[test]
    fn a_repeated_key_is_refused_whatever_its_values() {
        for body in [
            r#"{"title":"","title":"ok"}"#,
            r#"{"title":"ok","title":"ok"}"#,
            r#"{"title":"a","completed":true,"completed":false}"#,
        ] {
            let err = serde_json::from_str::<NewTask>(body).unwrap_err();
            assert!(
                err.is_data() && err.to_string().contains("duplicate field"),
                "{body}: {err}"
            );
        }
        let err = serde_json::from_str::<TaskPatch>(r#"{"completed":true,"completed":true}"#)
            .unwrap_err();
        assert!(
            err.to_string().contains("duplicate field `completed`"),
            "{err}"
        );
    }

    #[test]
    fn new_task_rejects_unknown_fields_and_bad_titles() {
        assert!(serde_json::from_str::<NewTask>(r#"{"title":"a","extra":1}"#).is_err());
        assert!(serde_json::from_str::<NewTask>(r#"{"title":""}"#).is_err());
        assert!(
            serde_json::from_str::<NewTask>(r#"["a", false]"#).is_err(),
            "arrays are not objects"
        );
        assert!(serde_json::from_str::<TaskPatch>("[true]").is_err());
        let t: NewTask = serde_json::from_str(r#"{"title":" a "}"#).unwrap();
        assert_eq!(t.title.as_ref(), "a");
        assert!(!t.completed);
    }

    proptest! {
        /// Whatever fails to parse as a title fails to deserialize as a NewTask, so it never reaches the store.
        #[test]
        fn unparsable_titles_never_become_tasks(raw in any::<String>()) {
            let body = serde_json::json!({ "title": raw }).to_string();
            let parsed = serde_json::from_str::<NewTask>(&body);
            prop_assert_eq!(parsed.is_ok(), TaskTitle::parse(&raw).is_ok());
        }
    }
}
