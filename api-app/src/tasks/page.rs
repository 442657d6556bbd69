//! Paging through the tasks: the query (`limit`, `offset`), its bounds, and the page returned.

use platform::openapi::query_parameter;
use serde::{Deserialize, Serialize};
use utoipa::openapi::OpenApi;
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

/// Which page of tasks to return: `limit` (1 to [`MAX_PAGE_LIMIT`], default [`DEFAULT_PAGE_LIMIT`])
/// items from `offset` (0 to [`MAX_PAGE_OFFSET`], default 0). The OpenAPI document publishes these
/// bounds from the same constants ([`document_bounds`]).
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

impl TaskPage {
    /// The page `request` asked for, holding `items` of `total` tasks.
    pub fn new(request: PageRequest, items: Vec<Task>, total: usize) -> Self {
        let next = request.offset.saturating_add(items.len());
        Self {
            next_offset: (next < total && !items.is_empty()).then_some(next),
            items,
            total,
            limit: request.limit,
            offset: request.offset,
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn page_offsets_are_bounded() {
        let q = |offset| PageQuery {
            limit: None,
            offset,
        };
        assert_eq!(PageRequest::parse(q(None)).unwrap().offset, 0);
        assert!(PageRequest::parse(q(Some(MAX_PAGE_OFFSET))).is_ok());
        assert!(PageRequest::parse(q(Some(MAX_PAGE_OFFSET + 1))).is_err());
    }
}
