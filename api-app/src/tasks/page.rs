//! Paging through the tasks: the query (`limit`, and `cursor` or `offset`), its bounds, the cursor,
//! and the page returned.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use platform::openapi::query_parameter;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::openapi::schema::{SchemaType, Type};
use utoipa::openapi::{OpenApi, RefOr, Schema};
use utoipa::{IntoParams, Number, ToSchema};

use super::model::{MAX_STORED_TASKS, Task};

/// The collection's path, where the page query is read.
pub(crate) const PATH: &str = "/api/tasks";

/// Page size when `limit` is absent.
pub const DEFAULT_PAGE_LIMIT: usize = 100;
/// Largest page a client may ask for.
pub const MAX_PAGE_LIMIT: usize = 1000;
/// Largest `offset` accepted: no store holds more tasks than [`MAX_STORED_TASKS`].
pub const MAX_PAGE_OFFSET: usize = MAX_STORED_TASKS;
/// Every string [`Cursor::encode`] hands out, and only those, as the OpenAPI document publishes
/// it: 9 bytes in unpadded base64url (12 characters) whose first byte is [`Cursor::VERSION`] 1
/// (`A` then one of `Q`-`f`). Any such string is a cursor (after a task, or past them all).
pub const CURSOR_PATTERN: &str = "^A[Q-Za-f][A-Za-z0-9_-]{10}$";

/// Which page of tasks to return: `limit` (1 to [`MAX_PAGE_LIMIT`], default [`DEFAULT_PAGE_LIMIT`])
/// items, either after a `cursor` from an earlier page or from `offset` (0 to [`MAX_PAGE_OFFSET`],
/// default 0). The OpenAPI document publishes these bounds from the same constants
/// ([`document_bounds`]).
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// How many tasks to return.
    #[serde(default, deserialize_with = "limit")]
    pub limit: Option<usize>,
    /// How many tasks to skip, in creation order. Each skipped task is read and thrown away, so a
    /// deep offset costs a scan of every task before it: follow `next_cursor` instead.
    #[serde(default, deserialize_with = "offset")]
    pub offset: Option<usize>,
    /// Continue after the page that returned this `next_cursor` (an opaque string). Costs the same
    /// at any depth. Not together with `offset`.
    pub cursor: Option<String>,
}

/// `limit` as a whole number, or an error that names it and its bounds (the query parser's own
/// says only "invalid digit found in string").
fn limit<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    whole_number(d, "limit", 1, MAX_PAGE_LIMIT)
}

/// `offset` as a whole number, or an error that names it and its bounds.
fn offset<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    whole_number(d, "offset", 0, MAX_PAGE_OFFSET)
}

fn whole_number<'de, D: Deserializer<'de>>(
    d: D,
    name: &str,
    min: usize,
    max: usize,
) -> Result<Option<usize>, D::Error> {
    let text = String::deserialize(d)?;
    text.parse()
        .map(Some)
        .map_err(|_| D::Error::custom(format!("{name} must be a whole number, {min}-{max}")))
}

/// Where a page starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageStart {
    /// After skipping this many tasks in creation order.
    Offset(usize),
    /// Right after the task this cursor points at, in creation order.
    After(Cursor),
}

/// A validated page request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: usize,
    pub start: PageStart,
}

impl PageRequest {
    pub fn parse(q: PageQuery) -> Result<Self, String> {
        let limit = q.limit.unwrap_or(DEFAULT_PAGE_LIMIT);
        if !(1..=MAX_PAGE_LIMIT).contains(&limit) {
            return Err(format!("limit must be 1-{MAX_PAGE_LIMIT}"));
        }
        let start = match (q.offset, q.cursor) {
            (Some(_), Some(_)) => return Err("cursor and offset cannot be combined".into()),
            (_, Some(cursor)) => PageStart::After(
                Cursor::decode(&cursor).ok_or("cursor is not one this API handed out")?,
            ),
            (offset, None) => {
                let offset = offset.unwrap_or(0);
                if offset > MAX_PAGE_OFFSET {
                    return Err(format!("offset must be 0-{MAX_PAGE_OFFSET}"));
                }
                PageStart::Offset(offset)
            }
        };
        Ok(Self { limit, start })
    }

    /// How many entries a store reads for this page: one more than it returns, to know whether
    /// another page follows.
    pub(crate) fn entries_to_read(&self) -> usize {
        self.limit + 1
    }

    /// Keeps this page's share of what a store read (at most [`Self::entries_to_read`] entries, in
    /// creation order, `seq` giving each one's sequence number) and returns where the next page
    /// starts: after the last entry kept, or nowhere when no entry followed it.
    pub(crate) fn keep_page<T>(
        &self,
        read: &mut Vec<T>,
        seq: impl Fn(&T) -> u64,
    ) -> Option<Cursor> {
        if read.len() <= self.limit {
            return None;
        }
        read.truncate(self.limit);
        read.last().map(|last| Cursor(seq(last)))
    }

    /// The offset asked for, if the page starts at one.
    pub fn offset(&self) -> Option<usize> {
        match self.start {
            PageStart::Offset(offset) => Some(offset),
            PageStart::After(_) => None,
        }
    }
}

/// A position in creation order: the page after it starts with the next task created. Clients see
/// it as an opaque string ([`Cursor::encode`]); inside, it is the creation sequence number of the
/// last task of a page, so the next page is one index range read, however deep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cursor(pub u64);

impl Cursor {
    /// The first byte of an encoded cursor, so another layout can come later.
    const VERSION: u8 = 1;

    /// The string a client gets as `next_cursor`.
    pub fn encode(self) -> String {
        let mut bytes = [0_u8; 9];
        bytes[0] = Self::VERSION;
        bytes[1..].copy_from_slice(&self.0.to_be_bytes());
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// The cursor a client sent back, if it is one [`Cursor::encode`] made.
    pub fn decode(text: &str) -> Option<Self> {
        let bytes: [u8; 9] = URL_SAFE_NO_PAD.decode(text).ok()?.try_into().ok()?;
        let seq: [u8; 8] = bytes[1..].try_into().ok()?;
        (bytes[0] == Self::VERSION).then(|| Self(u64::from_be_bytes(seq)))
    }
}

/// What a store returns for a page: the tasks, the total, and where the next page starts.
#[derive(Debug, Clone)]
pub struct Page {
    pub items: Vec<Task>,
    pub total: usize,
    /// Set when at least one task follows the page (a store reads one task more than it returns
    /// to know it).
    pub next: Option<Cursor>,
}

/// One page of tasks, in creation order, with the total count.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TaskPage {
    pub items: Vec<Task>,
    /// How many tasks are stored in all.
    pub total: usize,
    pub limit: usize,
    /// The offset this page started at; null for a page reached by `cursor`.
    #[schema(nullable = true)]
    pub offset: Option<usize>,
    /// The offset of the next page, or null on the last page (and on pages reached by `cursor`).
    #[schema(nullable = true)]
    pub next_offset: Option<usize>,
    /// Pass it as `cursor` to get the next page; null on the last page. Opaque: its content may
    /// change between releases.
    #[schema(nullable = true, example = "AQAAAAAAAAAy")]
    pub next_cursor: Option<String>,
}

impl TaskPage {
    /// The page `request` asked for, as the store found it.
    pub fn new(request: PageRequest, page: Page) -> Self {
        let next_offset = request.offset().and_then(|offset| {
            let next = offset.saturating_add(page.items.len());
            (next < page.total && !page.items.is_empty()).then_some(next)
        });
        Self {
            next_offset,
            next_cursor: page.next.map(Cursor::encode),
            items: page.items,
            total: page.total,
            limit: request.limit,
            offset: request.offset(),
        }
    }
}

/// Publishes the bounds of `limit` and `offset` on `GET /api/tasks` from the constants that enforce
/// them (utoipa's attributes take only literals, which would say each number twice).
pub(crate) fn document_bounds(doc: &mut OpenApi) {
    let bounds = [
        ("limit", 1, MAX_PAGE_LIMIT, DEFAULT_PAGE_LIMIT),
        ("offset", 0, MAX_PAGE_OFFSET, 0),
    ];
    for (name, min, max, default) in bounds {
        if let Some(schema) = query_parameter(doc, PATH, name) {
            schema.minimum = Some(Number::UInt(min));
            schema.maximum = Some(Number::UInt(max));
            schema.default = Some(default.into());
        }
    }
    if let Some(schema) = query_parameter(doc, PATH, "cursor") {
        // A plain string: an absent cursor is not a `null` one (a fuzzer would send the text "null").
        schema.schema_type = SchemaType::Type(Type::String);
        schema.pattern = Some(CURSOR_PATTERN.to_owned());
    }
    // A page's own `limit` is the one it was asked for: within the same bounds.
    let page_limit = doc
        .components
        .as_mut()
        .and_then(|c| c.schemas.get_mut("TaskPage"))
        .and_then(|s| match s {
            RefOr::T(Schema::Object(page)) => page.properties.get_mut("limit"),
            _ => None,
        });
    if let Some(RefOr::T(Schema::Object(limit))) = page_limit {
        limit.minimum = Some(Number::UInt(1));
        limit.maximum = Some(Number::UInt(MAX_PAGE_LIMIT));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_limits_are_bounded() {
        let q = |limit| PageQuery {
            limit,
            offset: None,
            cursor: None,
        };
        assert_eq!(PageRequest::parse(q(None)).unwrap().limit, 100);
        assert!(PageRequest::parse(q(Some(0))).is_err());
        assert!(PageRequest::parse(q(Some(1001))).is_err());
        assert_eq!(PageRequest::parse(q(Some(1000))).unwrap().limit, 1000);
    }

    #[test]
    fn page_offsets_are_bounded() {
        let q = |offset| PageQuery {
            limit: None,
            offset,
            cursor: None,
        };
        assert_eq!(PageRequest::parse(q(None)).unwrap().offset(), Some(0));
        assert!(PageRequest::parse(q(Some(MAX_PAGE_OFFSET))).is_ok());
        assert!(PageRequest::parse(q(Some(MAX_PAGE_OFFSET + 1))).is_err());
    }

    #[test]
    fn cursors_read_back_as_they_were_handed_out_and_nothing_else_reads_as_one() {
        for seq in [0, 1, 50, u64::from(u32::MAX), u64::MAX] {
            let text = Cursor(seq).encode();
            assert!(
                text.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
                "usable in a query string as it is: {text}"
            );
            assert_eq!(Cursor::decode(&text), Some(Cursor(seq)));
        }
        let v2 = URL_SAFE_NO_PAD.encode([2, 0, 0, 0, 0, 0, 0, 0, 7]);
        for bad in [
            "",
            "50",
            "AQAAAAAAAAAy=",
            "AQAAAAAAAAA",
            "AQAAAAAAAAAyAA",
            v2.as_str(),
            "a b",
        ] {
            assert_eq!(Cursor::decode(bad), None, "{bad}");
        }
    }

    proptest::proptest! {
        /// The published pattern is exactly the cursors: every one handed out matches it, and
        /// every string that matches it reads back as a cursor that encodes to the same string.
        #[test]
        fn the_cursor_pattern_is_exactly_the_cursors_handed_out(
            seq in proptest::prelude::any::<u64>(),
            text in "A[Q-Za-f][A-Za-z0-9_-]{10}",
        ) {
            let pattern = CURSOR_PATTERN.trim_start_matches('^').trim_end_matches('$');
            proptest::prop_assert_eq!(pattern, "A[Q-Za-f][A-Za-z0-9_-]{10}");
            let encoded = Cursor(seq).encode();
            proptest::prop_assert_eq!(encoded.len(), 12);
            proptest::prop_assert!(encoded.starts_with('A'), "{}", encoded);
            proptest::prop_assert!(
                matches!(encoded.as_bytes()[1], b'Q'..=b'Z' | b'a'..=b'f'),
                "{}",
                encoded
            );
            proptest::prop_assert!(encoded.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
            let read = Cursor::decode(&text);
            proptest::prop_assert!(read.is_some(), "{} matches the pattern", text);
            proptest::prop_assert_eq!(read.unwrap().encode(), text);
        }
    }

    #[test]
    fn a_store_reads_one_entry_more_and_the_next_page_starts_after_the_last_kept() {
        let page = PageRequest {
            limit: 3,
            start: PageStart::Offset(0),
        };
        assert_eq!(page.entries_to_read(), 4);
        let mut read = vec![10_u64, 11, 15, 20];
        assert_eq!(page.keep_page(&mut read, |s| *s), Some(Cursor(15)));
        assert_eq!(
            read,
            [10, 11, 15],
            "the extra entry is not part of the page"
        );
        for mut last_page in [vec![10_u64, 11, 15], vec![10], vec![]] {
            let kept = last_page.clone();
            assert_eq!(page.keep_page(&mut last_page, |s| *s), None);
            assert_eq!(last_page, kept);
        }
    }

    #[test]
    fn a_page_starts_at_a_cursor_or_an_offset_never_both() {
        let q = |offset, cursor: Option<&str>| PageQuery {
            limit: Some(10),
            offset,
            cursor: cursor.map(str::to_owned),
        };
        let cursor = Cursor(41).encode();
        assert_eq!(
            PageRequest::parse(q(None, Some(&cursor))).unwrap().start,
            PageStart::After(Cursor(41))
        );
        assert_eq!(
            PageRequest::parse(q(Some(3), None)).unwrap().start,
            PageStart::Offset(3)
        );
        assert!(PageRequest::parse(q(Some(0), Some(&cursor))).is_err());
        assert!(PageRequest::parse(q(None, Some("not-a-cursor"))).is_err());
    }
}
