//! Tasks: the `/api/tasks` resource and everything it owns: the handlers and their OpenAPI
//! fragments, the title rule, the task model and request bodies, paging, conditional writes, and
//! the store port with its two stores. A change to what a task is stays in this folder.

/// Makes each type an extractor read from the request head alone, through its own
/// `from_request(&HttpRequest) -> Result<Self, ApiError>`: parsed before the handler runs, and
/// its refusal is the JSON error that function returns.
macro_rules! read_from_head {
    ($($extractor:ty),+) => {
        $(
            impl actix_web::FromRequest for $extractor {
                type Error = platform::error::ApiError;
                type Future = std::future::Ready<Result<Self, Self::Error>>;

                fn from_request(
                    req: &actix_web::HttpRequest,
                    _: &mut actix_web::dev::Payload,
                ) -> Self::Future {
                    std::future::ready(Self::from_request(req))
                }
            }
        )+
    };
}

pub mod idempotency;
mod json;
pub mod model;
pub mod page;
pub mod precondition;
pub mod routes;
pub mod store;
pub mod title;

use platform::error::ErrorCode;
use utoipa::openapi::OpenApi;

pub use idempotency::{IdempotencyKey, IdempotencySettings};
pub use model::{MAX_STORED_TASKS, NewTask, Task, TaskPatch};
pub use page::{DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT, MAX_PAGE_OFFSET, PageQuery, PageRequest};
pub use precondition::{Conditions, Precondition};
pub use title::{MAX_TITLE_CHARS, TITLE_PATTERN, TaskTitle};

/// Every code this room answers with, beyond the platform's own.
pub const ERROR_CODES: &[ErrorCode] = &[
    routes::INVALID_ID,
    store::CAPACITY_EXCEEDED,
    store::PRECONDITION_FAILED,
    precondition::TOO_MANY_ETAGS,
    store::STORE_UNAVAILABLE,
    idempotency::INVALID_IDEMPOTENCY_KEY,
    idempotency::IDEMPOTENCY_KEY_REUSED,
    idempotency::IDEMPOTENCY_KEY_IN_USE,
];

/// Adds what the registrations cannot say to the OpenAPI document: the title rule as a pattern and
/// the page bounds, both from the code that enforces them.
pub fn document(doc: &mut OpenApi) {
    title::document_pattern(doc);
    idempotency::document_key(doc);
    page::document_bounds(doc);
    precondition::document_headers(doc);
    routes::document_id(doc);
}
