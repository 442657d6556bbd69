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
    #[serde(serialize_with = "rfc3339")]
    #[schema(value_type = String, format = DateTime, example = "2026-11-26T04:00:00Z")]
    pub created_at: OffsetDateTime,
    /// When the task last changed, RFC 3339 in UTC.
    #[serde(serialize_with = "rfc3339")]
    #[schema(value_type = String, format = DateTime, example = "2026-11-26T04:00:00Z")]
    pub updated_at: OffsetDateTime,
    /// Starts at 1 and grows by one with every change; the `ETag` carries it, the body does not.
    #[serde(skip)]
    pub version: i64,
}

/// A time in RFC 3339, as `time::serde::rfc3339` writes it, but formatted on the stack: that one
/// formats into a `String` of its own, two allocations per task, a hundred per page of 50.
fn rfc3339<S: serde::Serializer>(at: &OffsetDateTime, serializer: S) -> Result<S::Ok, S::Error> {
    use serde::ser::Error as _;
    let mut text = [0u8; RFC3339_MAX];
    let text = rfc3339_text(*at, &mut text).map_err(S::Error::custom)?;
    serializer.serialize_str(std::str::from_utf8(text).map_err(S::Error::custom)?)
}

/// Room for the longest RFC 3339 time `time` writes: `9999-12-31T23:59:59.999999999+23:59`, 35
/// bytes.
pub(crate) const RFC3339_MAX: usize = 40;

/// `at` in RFC 3339, the bytes `time`'s `Rfc3339` format writes (or its error), in `buf`. A UTC time
/// in years 0 to 9999 (every time a store hands out) is written digit by digit: through `time`'s
/// formatting machinery it cost about 600 instructions, 60 000 a page of 50.
pub(crate) fn rfc3339_text(
    at: OffsetDateTime,
    buf: &mut [u8; RFC3339_MAX],
) -> Result<&[u8], time::error::Format> {
    let year = at.year();
    if !at.offset().is_utc() || !(0..=9999).contains(&year) {
        let mut rest = &mut buf[..];
        at.format_into(&mut rest, &time::format_description::well_known::Rfc3339)?;
        // What is left of the buffer, not what `format_into` returns: time 0.3.55 leaves the
        // fraction's digits out of its count.
        let len = RFC3339_MAX - rest.len();
        return Ok(&buf[..len]);
    }
    let (hour, minute, second, nanos) = at.to_hms_nano();
    let fields = [
        (0..4, year.unsigned_abs()),
        (5..7, u32::from(u8::from(at.month()))),
        (8..10, u32::from(at.day())),
        (11..13, u32::from(hour)),
        (14..16, u32::from(minute)),
        (17..19, u32::from(second)),
        (20..29, nanos),
    ];
    for (at, value) in fields {
        zero_padded(&mut buf[at], value);
    }
    for (at, separator) in [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b':'),
        (16, b':'),
        (19, b'.'),
    ] {
        buf[at] = separator;
    }
    // The fraction without its trailing zeros (the point stops the search), and without the point
    // when it is zero.
    let mut len = 29;
    while buf[len - 1] == b'0' {
        len -= 1;
    }
    if len == 20 {
        len = 19;
    }
    buf[len] = b'Z';
    Ok(&buf[..=len])
}

/// `value`'s last `out.len()` decimal digits, zero-padded, into `out`.
fn zero_padded(out: &mut [u8], mut value: u32) {
    for digit in out.iter_mut().rev() {
        // Below 10.
        #[allow(clippy::cast_possible_truncation)]
        let d = (value % 10) as u8;
        *digit = b'0' + d;
        value /= 10;
    }
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

    /// A time through [`rfc3339`] and through `time::serde::rfc3339`, as JSON (or the error).
    fn both_spellings(at: OffsetDateTime) -> (Result<String, String>, Result<String, String>) {
        #[derive(Serialize)]
        struct Ours(#[serde(serialize_with = "rfc3339")] OffsetDateTime);
        #[derive(Serialize)]
        struct Theirs(#[serde(with = "time::serde::rfc3339")] OffsetDateTime);
        let json = |r: serde_json::Result<String>| r.map_err(|e| e.to_string());
        (
            json(serde_json::to_string(&Ours(at))),
            json(serde_json::to_string(&Theirs(at))),
        )
    }

    #[test]
    fn timestamps_are_written_as_time_writes_them() {
        use time::macros::datetime;
        for at in [
            datetime!(2026-12-07 06:32:11.408966 UTC),
            datetime!(2026-12-07 06:32:11 UTC),
            datetime!(2026-12-07 06:32:11.4 UTC),
            datetime!(2026-12-07 06:32:11.000000001 UTC),
            datetime!(9999-12-31 23:59:59.999999999 +23:59),
            datetime!(0000-01-01 00:00:00 -01:30),
            datetime!(0000-01-01 00:00:00 UTC),
            datetime!(9999-12-31 23:59:59.999999999 UTC),
            datetime!(2026-12-07 06:32:11.100000000 UTC),
            // Not RFC 3339 either: a year before 0.
            datetime!(-0001-12-31 23:59:59 UTC),
            // Not RFC 3339: both refuse it rather than write something else.
            datetime!(2026-12-07 06:32:11 +01:00:30),
        ] {
            let (ours, theirs) = both_spellings(at);
            assert_eq!(ours, theirs, "{at}");
        }
        assert_eq!(
            both_spellings(datetime!(2026-12-07 06:32:11.408966 UTC)).0,
            Ok(r#""2026-12-07T06:32:11.408966Z""#.to_owned())
        );
    }

    proptest! {
        #[test]
        fn any_time_is_written_as_time_writes_it(
            // Years 0 to 9999 mostly, and any year `time` holds (-9999 on).
            secs in prop_oneof![
                3 => -62_167_219_200i64..253_402_300_800,
                1 => -377_705_116_800i64..253_402_300_800,
            ],
            nanos in prop_oneof![
                0u32..1_000_000_000,
                (0u32..1_000).prop_map(|ms| ms * 1_000_000),
                Just(0),
            ],
            // UTC, what every store hands out, half the time.
            offset_minutes in prop_oneof![Just(0), -(24 * 60 - 1)..(24 * 60)],
        ) {
            let offset = time::UtcOffset::from_whole_seconds(offset_minutes * 60).unwrap();
            let at = OffsetDateTime::from_unix_timestamp(secs).unwrap()
                .replace_nanosecond(nanos).unwrap()
                .to_offset(offset);
            let (ours, theirs) = both_spellings(at);
            prop_assert_eq!(ours, theirs);
        }
    }

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
