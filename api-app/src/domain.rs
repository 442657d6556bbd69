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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, min_length = 1, max_length = 200, example = "Write the runbook")]
pub struct TaskTitle(String);

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

/// The body of `POST /api/tasks`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTask {
    pub title: TaskTitle,
    /// Defaults to false.
    #[serde(default)]
    pub completed: bool,
}

/// The body of `PATCH /api/tasks/{id}`: the fields to change. At least one must be present.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(min_properties = 1)]
pub struct TaskPatch {
    #[serde(default)]
    #[schema(nullable = false)]
    pub title: Option<TaskTitle>,
    #[serde(default)]
    #[schema(nullable = false)]
    pub completed: Option<bool>,
}

impl TaskPatch {
    pub fn is_empty(&self) -> bool {
        self.title.is_none() && self.completed.is_none()
    }
}

/// Which page of tasks to return: `limit` (1-1000, default 100) items from `offset` (default 0).
#[derive(Debug, Clone, Copy, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// How many tasks to return, 1-1000.
    #[param(minimum = 1, maximum = 1000, default = 100)]
    pub limit: Option<usize>,
    /// How many tasks to skip, in creation order.
    #[param(minimum = 0, default = 0)]
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
        Ok(Self {
            limit,
            offset: q.offset.unwrap_or(0),
        })
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

/// A message for `GET /api/echo`: 1-1024 characters.
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
