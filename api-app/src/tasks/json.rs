//! Tasks and pages of tasks as JSON, written straight into the response body. The derived
//! `Serialize` of [`Task`] and [`TaskPage`] stays the definition of the shape (the OpenAPI schema
//! comes from the same types); this writes the bytes `serde_json` writes from it, which the tests
//! hold it to, at a fraction of the cost: `serde_json` escapes every key and every value byte by
//! byte, and a page of 50 spent 150 000 instructions there, more than reading it from PostgreSQL.
//! What needs escaping or number formatting (titles, counts, the cursor) still goes through
//! `serde_json`; times are written by [`rfc3339_text`], held to `time`'s own RFC 3339 format (the
//! derived `Serialize` uses `time::serde::rfc3339`).

use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

use super::model::Task;
use super::page::TaskPage;

/// The JSON of `task`, appended to `out`.
pub(crate) fn write_task(out: &mut Vec<u8>, task: &Task) -> serde_json::Result<()> {
    out.extend_from_slice(br#"{"id":""#);
    out.extend_from_slice(
        task.id
            .hyphenated()
            .encode_lower(&mut Uuid::encode_buffer())
            .as_bytes(),
    );
    out.extend_from_slice(br#"","title":"#);
    value(out, &task.title)?;
    out.extend_from_slice(if task.completed {
        br#","completed":true,"created_at":""#
    } else {
        br#","completed":false,"created_at":""#
    });
    timestamp(out, task.created_at)?;
    out.extend_from_slice(br#"","updated_at":""#);
    timestamp(out, task.updated_at)?;
    out.extend_from_slice(br#"","version":"#);
    value(out, &task.version)?;
    out.push(b'}');
    Ok(())
}

/// The JSON of `task` alone.
pub(crate) fn task(task: &Task) -> serde_json::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(estimated_len(task));
    write_task(&mut out, task)?;
    Ok(out)
}

/// About how long `task`'s JSON is: its title and 190 bytes, the rest (id, times, version, keys,
/// quotes) being about 165, rounded up so a title that needs escaping rarely makes the buffer grow.
fn estimated_len(task: &Task) -> usize {
    190 + task.title.as_ref().len()
}

/// The JSON of `page`, in a buffer sized for it up front (grown by doubling from empty, as
/// `HttpResponse::json` does, a page of 50 was copied a dozen times).
pub(crate) fn page(page: &TaskPage) -> serde_json::Result<Vec<u8>> {
    let size = 160 + page.items.iter().map(estimated_len).sum::<usize>();
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(br#"{"items":["#);
    for (n, task) in page.items.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        write_task(&mut out, task)?;
    }
    out.extend_from_slice(br#"],"total":"#);
    value(&mut out, &page.total)?;
    out.extend_from_slice(br#","limit":"#);
    value(&mut out, &page.limit)?;
    out.extend_from_slice(br#","offset":"#);
    value(&mut out, &page.offset)?;
    out.extend_from_slice(br#","next_offset":"#);
    value(&mut out, &page.next_offset)?;
    out.extend_from_slice(br#","next_cursor":"#);
    value(&mut out, &page.next_cursor)?;
    out.push(b'}');
    Ok(out)
}

/// A `200`-family response with `body` as its JSON, or the `500` `HttpResponse::json` answers a
/// value it cannot serialize with.
pub(crate) fn respond(
    mut res: actix_web::HttpResponseBuilder,
    body: serde_json::Result<Vec<u8>>,
) -> actix_web::HttpResponse {
    match body {
        Ok(body) => res.content_type(mime::APPLICATION_JSON).body(body),
        Err(e) => {
            actix_web::HttpResponse::from_error(actix_web::error::JsonPayloadError::Serialize(e))
        }
    }
}

/// A value as `serde_json` writes it.
fn value(out: &mut Vec<u8>, value: &impl Serialize) -> serde_json::Result<()> {
    serde_json::to_writer(out, value)
}

/// A time's RFC 3339 text, which needs no escaping (digits, `-`, `:`, `.`, `T`, `Z`, `+`).
fn timestamp(out: &mut Vec<u8>, at: OffsetDateTime) -> serde_json::Result<()> {
    let mut text = [0u8; RFC3339_MAX];
    let text = rfc3339_text(at, &mut text).map_err(serde::ser::Error::custom)?;
    out.extend_from_slice(text);
    Ok(())
}

/// Room for the longest RFC 3339 time `time` writes: `9999-12-31T23:59:59.999999999+23:59`, 35
/// bytes.
const RFC3339_MAX: usize = 40;

/// `at` in RFC 3339, the bytes `time`'s `Rfc3339` format writes (or its error), in `buf`. A UTC time
/// in years 0 to 9999 (every time a store hands out) is written digit by digit: through `time`'s
/// formatting machinery it cost about 600 instructions, 60 000 a page of 50.
fn rfc3339_text(
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
    // The fraction without its trailing zeros, and without the point when it is zero. A search,
    // not a loop counting down: no mutant of it can hang the tests.
    let digits = buf[20..29]
        .iter()
        .rposition(|&d| d != b'0')
        .map_or(0, |last| last + 1);
    let len = if digits == 0 { 19 } else { 20 + digits };
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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::tasks::title::TaskTitle;

    fn a_time() -> impl Strategy<Value = OffsetDateTime> {
        (
            // Years 0 to 9999 mostly; now and then one before year 0, which RFC 3339 cannot hold.
            prop_oneof![
                9 => -62_167_219_200i64..253_402_300_800,
                1 => -377_705_116_800i64..-62_167_219_200,
            ],
            prop_oneof![0u32..1_000_000_000, Just(0)],
            prop_oneof![3 => Just(0), 1 => -(24 * 60 - 1)..(24 * 60)],
        )
            .prop_map(|(secs, nanos, offset_minutes)| {
                let offset = time::UtcOffset::from_whole_seconds(offset_minutes * 60).unwrap();
                OffsetDateTime::from_unix_timestamp(secs)
                    .unwrap()
                    .replace_nanosecond(nanos)
                    .unwrap()
                    .to_offset(offset)
            })
    }

    fn a_task() -> impl Strategy<Value = Task> {
        (
            any::<u128>(),
            // Any text a store might hold: quotes, backslashes, control characters, any script.
            prop_oneof![any::<String>(), "[ -~]{1,30}", r#"["\\\x00-\x1f\x7f]{1,8}"#],
            any::<bool>(),
            a_time(),
            a_time(),
            any::<i64>(),
        )
            .prop_map(
                |(id, title, completed, created_at, updated_at, version)| Task {
                    id: Uuid::from_u128(id),
                    title: TaskTitle::from_store(title),
                    completed,
                    created_at,
                    updated_at,
                    version,
                },
            )
    }

    /// What `serde_json` writes from the derived `Serialize`, or its error.
    fn serde<T: Serialize>(value: &T) -> Result<Vec<u8>, String> {
        serde_json::to_vec(value).map_err(|e| e.to_string())
    }

    proptest! {
        #[test]
        fn a_task_is_written_as_serde_writes_it(task in a_task()) {
            prop_assert_eq!(super::task(&task).map_err(|e| e.to_string()), serde(&task));
        }

        #[test]
        fn a_page_is_written_as_serde_writes_it(
            items in prop::collection::vec(a_task(), 0..4),
            total in any::<usize>(),
            limit in any::<usize>(),
            offset in any::<Option<usize>>(),
            next_offset in any::<Option<usize>>(),
            next_cursor in any::<Option<String>>(),
        ) {
            let page = TaskPage { items, total, limit, offset, next_offset, next_cursor };
            prop_assert_eq!(super::page(&page).map_err(|e| e.to_string()), serde(&page));
        }
    }

    #[test]
    fn a_task_reads_back_with_every_field() {
        use time::macros::datetime;
        let task = Task {
            id: Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef),
            title: TaskTitle::from_store("say \"hi\"\n".to_owned()),
            completed: true,
            created_at: datetime!(2026-12-07 06:32:11.408966 UTC),
            updated_at: datetime!(2026-12-07 06:32:12 UTC),
            version: 3,
        };
        let written = super::task(&task).unwrap();
        assert_eq!(
            std::str::from_utf8(&written).unwrap(),
            r#"{"id":"01234567-89ab-cdef-0123-456789abcdef","title":"say \"hi\"\n","completed":true,"created_at":"2026-12-07T06:32:11.408966Z","updated_at":"2026-12-07T06:32:12Z","version":3}"#
        );
    }

    /// A time through [`rfc3339_text`] and through `time`'s own `Rfc3339` format (or the error).
    fn both_spellings(at: OffsetDateTime) -> (Result<String, String>, Result<String, String>) {
        let mut text = [0u8; RFC3339_MAX];
        let ours = rfc3339_text(at, &mut text)
            .map(|text| String::from_utf8(text.to_vec()).expect("RFC 3339 is ASCII"))
            .map_err(|e| e.to_string());
        let theirs = at
            .format(&time::format_description::well_known::Rfc3339)
            .map_err(|e| e.to_string());
        (ours, theirs)
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
            Ok("2026-12-07T06:32:11.408966Z".to_owned())
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
}
