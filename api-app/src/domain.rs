//! Domain types. Each is parsed once at the edge ("parse, don't validate"): a `TaskTitle` that exists
//! is valid, so handlers and the store never check it again.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// Longest accepted title, in characters, after trimming.
pub const MAX_TITLE_CHARS: usize = 200;
/// Longest accepted echo message, in characters.
pub const MAX_ECHO_CHARS: usize = 1024;
/// Page size when `limit` is absent.
pub const DEFAULT_PAGE_LIMIT: usize = 100;
/// Largest page a client may ask for.
pub const MAX_PAGE_LIMIT: usize = 1000;

/// A task title: 1-200 characters after trimming, with no control characters.
// The OpenAPI schema states that rule exactly, as `TITLE_PATTERN`, rather than as `maxLength`:
// surrounding whitespace is trimmed and does not count, so a client reading the spec (or a fuzzer
// generating from it) gets the same answer as `TaskTitle::parse`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, min_length = 1, example = "Write the runbook")]
pub struct TaskTitle(String);

/// Rust's `char::is_whitespace` set (what `trim` removes), as the body of a regex character class.
macro_rules! title_space {
    () => {
        r"\u0009-\u000D\u0020\u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000"
    };
}
/// `char::is_control` (what a title may not contain), as the body of a regex character class.
macro_rules! title_control {
    () => {
        r"\u0000-\u001F\u007F-\u009F"
    };
}

/// [`TaskTitle`]'s rule as a regular expression (ECMA-262 and Python alike): optional whitespace,
/// then 1-200 characters that start and end with a non-space and contain no control character,
/// then optional whitespace. The OpenAPI document publishes it as the title's `pattern`.
pub const TITLE_PATTERN: &str = concat!(
    "^[",
    title_space!(),
    "]*",
    "[^",
    title_control!(),
    title_space!(),
    "]",
    "([^",
    title_control!(),
    "]{0,198}[^",
    title_control!(),
    title_space!(),
    "])?",
    "[",
    title_space!(),
    "]*$"
);

impl TaskTitle {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let title = raw.trim();
        let chars = title.chars().count();
        if chars == 0 || chars > MAX_TITLE_CHARS {
            return Err(format!("title must be 1-{MAX_TITLE_CHARS} characters"));
        }
        if title.chars().any(char::is_control) {
            return Err("title must not contain control characters".into());
        }
        Ok(Self(title.to_owned()))
    }
}

impl TryFrom<String> for TaskTitle {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw)
    }
}

impl From<TaskTitle> for String {
    fn from(t: TaskTitle) -> Self {
        t.0
    }
}

impl AsRef<str> for TaskTitle {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

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
}

/// A JSON object, the only shape a request body may have. serde would otherwise also accept a
/// struct written as an array (`["title", false]`), which no client means.
type JsonObject = serde_json::Map<String, serde_json::Value>;

fn from_object<T: serde::de::DeserializeOwned>(object: JsonObject) -> Result<T, String> {
    serde_json::from_value(serde_json::Value::Object(object)).map_err(|e| e.to_string())
}

/// The body of `POST /api/tasks`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(try_from = "JsonObject", deny_unknown_fields)]
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

impl TryFrom<JsonObject> for NewTask {
    type Error = String;
    fn try_from(object: JsonObject) -> Result<Self, Self::Error> {
        let NewTaskFields { title, completed } = from_object(object)?;
        Ok(Self { title, completed })
    }
}

/// The body of `PATCH /api/tasks/{id}`: the fields to change. At least one must be present.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(try_from = "JsonObject", deny_unknown_fields)]
#[schema(min_properties = 1)]
pub struct TaskPatch {
    #[schema(nullable = false)]
    pub title: Option<TaskTitle>,
    #[schema(nullable = false)]
    pub completed: Option<bool>,
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

impl TryFrom<JsonObject> for TaskPatch {
    type Error = String;
    fn try_from(object: JsonObject) -> Result<Self, Self::Error> {
        let TaskPatchFields { title, completed } = from_object(object)?;
        Ok(Self { title, completed })
    }
}

impl TaskPatch {
    pub fn is_empty(&self) -> bool {
        self.title.is_none() && self.completed.is_none()
    }
}

/// The most tasks `MAX_TASKS` may allow.
pub const MAX_STORED_TASKS: usize = 10_000_000;
/// Largest `offset` accepted: no store holds more tasks than [`MAX_STORED_TASKS`].
pub const MAX_PAGE_OFFSET: usize = MAX_STORED_TASKS;

/// Which page of tasks to return: `limit` (1 to [`MAX_PAGE_LIMIT`], default [`DEFAULT_PAGE_LIMIT`])
/// items from `offset` (0 to [`MAX_PAGE_OFFSET`], default 0). The OpenAPI document publishes these
/// bounds from the same constants (`openapi::QueryBounds`).
#[derive(Debug, Clone, Copy, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// How many tasks to return.
    pub limit: Option<usize>,
    /// How many tasks to skip, in creation order.
    pub offset: Option<usize>,
}

/// A validated page request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: usize,
    pub offset: usize,
}

impl PageRequest {
    pub fn parse(q: PageQuery) -> Result<Self, String> {
        let limit = q.limit.unwrap_or(DEFAULT_PAGE_LIMIT);
        if !(1..=MAX_PAGE_LIMIT).contains(&limit) {
            return Err(format!("limit must be 1-{MAX_PAGE_LIMIT}"));
        }
        let offset = q.offset.unwrap_or(0);
        if offset > MAX_PAGE_OFFSET {
            return Err(format!("offset must be 0-{MAX_PAGE_OFFSET}"));
        }
        Ok(Self { limit, offset })
    }
}

/// One page of tasks, in creation order, with the total count.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TaskPage {
    pub items: Vec<Task>,
    /// How many tasks are stored in all.
    pub total: usize,
    pub limit: usize,
    pub offset: usize,
    /// The offset of the next page, or null on the last page.
    #[schema(nullable = true)]
    pub next_offset: Option<usize>,
}

/// A message for `GET /api/echo`: 1 to [`MAX_ECHO_CHARS`] characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EchoMessage(String);

impl EchoMessage {
    pub fn parse(raw: Option<String>) -> Result<Self, String> {
        let msg = raw.ok_or_else(|| "the message query parameter is required".to_owned())?;
        let chars = msg.chars().count();
        if chars == 0 || chars > MAX_ECHO_CHARS {
            return Err(format!("message must be 1-{MAX_ECHO_CHARS} characters"));
        }
        Ok(Self(msg))
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn titles_are_trimmed() {
        assert_eq!(TaskTitle::parse("  ship it ").unwrap().as_ref(), "ship it");
    }

    #[test]
    fn blank_and_long_titles_are_rejected() {
        assert!(TaskTitle::parse("   ").is_err());
        assert!(TaskTitle::parse(&"x".repeat(201)).is_err());
        assert!(
            TaskTitle::parse(&"é".repeat(200)).is_ok(),
            "limits count characters, not bytes"
        );
    }

    #[test]
    fn control_characters_are_rejected() {
        assert!(TaskTitle::parse("line\nbreak").is_err());
        assert!(TaskTitle::parse("nul\0").is_err());
    }

    #[test]
    fn page_limits_are_bounded() {
        let q = |limit| PageQuery {
            limit,
            offset: None,
        };
        assert_eq!(PageRequest::parse(q(None)).unwrap().limit, 100);
        assert!(PageRequest::parse(q(Some(0))).is_err());
        assert!(PageRequest::parse(q(Some(1001))).is_err());
        assert_eq!(PageRequest::parse(q(Some(1000))).unwrap().limit, 1000);
    }

    #[test]
    fn a_null_patch_field_is_rejected_not_ignored() {
        assert!(serde_json::from_str::<TaskPatch>(r#"{"title":null,"completed":true}"#).is_err());
        assert!(serde_json::from_str::<TaskPatch>(r#"{"completed":null}"#).is_err());
        let p: TaskPatch = serde_json::from_str(r#"{"completed":true}"#).unwrap();
        assert!(p.title.is_none() && p.completed == Some(true));
    }

    #[test]
    fn page_offsets_are_bounded() {
        let q = |offset| PageQuery {
            limit: None,
            offset,
        };
        assert_eq!(PageRequest::parse(q(None)).unwrap().offset, 0);
        assert!(PageRequest::parse(q(Some(MAX_PAGE_OFFSET))).is_ok());
        assert!(PageRequest::parse(q(Some(MAX_PAGE_OFFSET + 1))).is_err());
    }

    /// The characters in a regex class body made of `\uXXXX` and `\uXXXX-\uXXXX` items.
    fn class_chars(body: &str) -> std::collections::BTreeSet<char> {
        let code = |hex: &str| u32::from_str_radix(hex, 16).unwrap();
        let mut set = std::collections::BTreeSet::new();
        for item in body
            .replace("-\\u", "-")
            .split("\\u")
            .filter(|i| !i.is_empty())
        {
            let (lo, hi) = match item.split_once('-') {
                Some((lo, hi)) => (code(lo), code(hi)),
                None => (code(item), code(item)),
            };
            set.extend((lo..=hi).filter_map(char::from_u32));
        }
        set
    }

    #[test]
    fn the_published_title_pattern_uses_rusts_own_character_sets() {
        let all = || (0..=0x10_FFFF_u32).filter_map(char::from_u32);
        let space: std::collections::BTreeSet<char> = all().filter(|c| c.is_whitespace()).collect();
        let control: std::collections::BTreeSet<char> = all().filter(|c| c.is_control()).collect();
        assert_eq!(class_chars(title_space!()), space);
        assert_eq!(class_chars(title_control!()), control);
        let inner = format!("{{0,{}}}", MAX_TITLE_CHARS - 2);
        assert!(TITLE_PATTERN.contains(&inner), "{TITLE_PATTERN}");
    }

    #[test]
    fn echo_requires_a_bounded_message() {
        assert!(EchoMessage::parse(None).is_err());
        assert!(EchoMessage::parse(Some(String::new())).is_err());
        assert!(EchoMessage::parse(Some("a".repeat(1025))).is_err());
        assert_eq!(
            EchoMessage::parse(Some("hi".into())).unwrap().into_inner(),
            "hi"
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
        /// A title that parses round-trips through JSON unchanged, and is already in canonical form.
        #[test]
        fn parsed_titles_round_trip(raw in "\\PC{0,250}") {
            if let Ok(title) = TaskTitle::parse(&raw) {
                let json = serde_json::to_string(&title).unwrap();
                let back: TaskTitle = serde_json::from_str(&json).unwrap();
                prop_assert_eq!(&back, &title);
                prop_assert_eq!(TaskTitle::parse(title.as_ref()).unwrap(), title.clone());
                let n = title.as_ref().chars().count();
                prop_assert!((1..=MAX_TITLE_CHARS).contains(&n));
            }
        }

        /// Whatever fails to parse as a title fails to deserialize as a NewTask, so it never reaches the store.
        #[test]
        fn unparsable_titles_never_become_tasks(raw in any::<String>()) {
            let body = serde_json::json!({ "title": raw }).to_string();
            let parsed = serde_json::from_str::<NewTask>(&body);
            prop_assert_eq!(parsed.is_ok(), TaskTitle::parse(&raw).is_ok());
        }
    }
}
