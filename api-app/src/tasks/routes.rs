//! `/api/tasks`: create, list, read, update and delete tasks.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use platform::connection_state::WriteUnderway;
use platform::error::{ApiError, ErrorBody, ErrorCode};
use platform::extractors::PlainJson;
use utoipa::openapi::OpenApi;
use utoipa::openapi::path::ParameterIn;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
use uuid::Uuid;

use super::idempotency::{IDEMPOTENT_REPLAYED, IdempotencySettings, KEY_DESCRIPTION, KeyHeader};
use super::json;
use super::model::{NewTask, Task, TaskPatch};
use super::page::{PageQuery, PageRequest, TaskPage};
use super::precondition::{
    Conditions, IF_MATCH_ON_DELETE, IF_MATCH_ON_GET, IF_MATCH_ON_UPDATE, IF_NONE_MATCH_ON_GET,
    IF_NONE_MATCH_ON_WRITE, etag,
};
use super::store::{StoreError, TaskStore};
use crate::throttle::Throttle;

/// The code of a task id that is not one.
pub const INVALID_ID: ErrorCode = ErrorCode::new(
    "invalid_id",
    StatusCode::BAD_REQUEST,
    "A task id that is not a UUID.",
);

/// Why a task request was refused before it reached the store.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaskError {
    #[error("the task id must be a UUID in lowercase hyphenated form")]
    InvalidId,
    #[error("{0}")]
    InvalidPage(String),
}

impl From<TaskError> for ApiError {
    fn from(e: TaskError) -> Self {
        let code = match e {
            TaskError::InvalidId => INVALID_ID,
            TaskError::InvalidPage(_) => ErrorCode::INVALID_QUERY,
        };
        ApiError::new(code, e.to_string())
    }
}

/// The error answers several task operations share, described once for the OpenAPI document.
#[allow(
    dead_code,
    reason = "these types only describe responses; none is ever built"
)]
mod responses {
    use platform::error::ErrorBody;
    use utoipa::IntoResponses;

    /// Any operation that reaches the store, when the store does not answer.
    #[derive(IntoResponses)]
    #[response(
        status = 503,
        description = "The task store is unavailable; retry after Retry-After seconds",
        headers(("retry-after" = u32, description = "Seconds to wait before retrying"))
    )]
    pub(super) struct StoreUnavailable(ErrorBody);

    /// An id no task has.
    #[derive(IntoResponses)]
    #[response(status = 404, description = "No such task")]
    pub(super) struct NoSuchTask(ErrorBody);

    /// A write whose `If-Match` names a version the task has left.
    #[derive(IntoResponses)]
    #[response(
        status = 412,
        description = "If-Match does not name the task's current version, or If-None-Match names it \
            (* when the task exists): nothing was written"
    )]
    pub(super) struct StaleVersion(ErrorBody);

    /// A change refused for the client's rate.
    #[derive(IntoResponses)]
    #[response(
        status = 429,
        description = "Too many changes (PATCH, DELETE) from this client (RATE_LIMITS)",
        headers(("retry-after" = u64, description = "Seconds until a change is accepted again"))
    )]
    pub(super) struct TooManyChanges(ErrorBody);

    /// A body that is too large, or not JSON.
    #[derive(IntoResponses)]
    pub(super) enum UnreadableBody {
        #[response(status = 413, description = "Body over 16 KiB")]
        TooLarge(ErrorBody),
        #[response(status = 415, description = "Body is not JSON")]
        NotJson(ErrorBody),
    }
}

use responses::{NoSuchTask, StaleVersion, StoreUnavailable, TooManyChanges, UnreadableBody};

/// How the OpenAPI document describes the `{id}` path parameter.
const TASK_ID: &str = "The task's UUID";

/// A single task as a response: the task, with its version as a strong `ETag`.
fn task_response(mut res: actix_web::HttpResponseBuilder, task: &Task) -> HttpResponse {
    res.insert_header(header::ETag(etag(task)));
    json::respond(res, json::task(task))
}

/// The one spelling of a task id [`task_id`] accepts, as the API writes it: a UUID, lowercase and
/// hyphenated. The OpenAPI document publishes it on the `id` parameter.
pub const TASK_ID_PATTERN: &str = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$";

/// Publishes [`TASK_ID_PATTERN`] on every `id` path parameter: `format: uuid` alone admits spellings
/// (upper case, braces, no hyphens) that are a 400 here.
pub(super) fn document_id(doc: &mut OpenApi) {
    for param in platform::openapi::parameters_mut(doc)
        .filter(|p| p.name == "id" && p.parameter_in == ParameterIn::Path)
    {
        param.schema = Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)))
                .pattern(Some(TASK_ID_PATTERN))
                .into(),
        );
    }
}

/// Parses a task id from the path: only the canonical form the API hands out (lowercase,
/// hyphenated) names a task, so one task has one URL. Uppercase, braced, `urn:uuid:` and bare-hex
/// spellings are a 400, like any malformed id, not a 404.
fn task_id(raw: &str) -> Result<Uuid, TaskError> {
    let id = Uuid::try_parse(raw).map_err(|_| TaskError::InvalidId)?;
    let mut canonical = Uuid::encode_buffer();
    if id.hyphenated().encode_lower(&mut canonical) == raw {
        Ok(id)
    } else {
        Err(TaskError::InvalidId)
    }
}

/// List tasks in creation order, one page at a time.
#[utoipa::path(
    tag = "tasks",
    params(PageQuery),
    responses(
        StoreUnavailable,
        (status = 200, description = "A page of tasks and the total", body = TaskPage),
        (status = 400, description = "Invalid limit, offset or cursor, or both offset and cursor", body = ErrorBody)
    )
)]
#[get("/tasks")]
pub async fn list_tasks(
    store: web::Data<dyn TaskStore>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = PageRequest::parse(query.into_inner()).map_err(TaskError::InvalidPage)?;
    let found = store.list(page).await?;
    let page = TaskPage::new(page, found);
    Ok(json::respond(HttpResponse::Ok(), json::page(&page)))
}

/// Create a task. With an `Idempotency-Key`, at most once per key: a retry gets the first answer.
#[utoipa::path(
    tag = "tasks",
    params(("Idempotency-Key" = Option<String>, Header, description = KEY_DESCRIPTION)),
    request_body = NewTask,
    responses(
        StoreUnavailable,
        (status = 201, description = "Created, and committed: the task survives a restart. \
            With an Idempotency-Key seen before (same body), the first create's answer again", body = Task,
            headers(
                ("location" = String, description = "The new task's URL"),
                ("etag" = String, description = "The task's version, for If-Match"),
                ("idempotent-replayed" = String, description = "true when this answer replays an earlier create with the same Idempotency-Key")
            )),
        (status = 400, description = "Malformed JSON, or a malformed Idempotency-Key", body = ErrorBody),
        (status = 409, description = "MAX_TASKS tasks are already stored, or a create with this \
            Idempotency-Key is still in flight (retry after Retry-After seconds)", body = ErrorBody,
            headers(("retry-after" = u32, description = "Seconds to wait, when the key is in flight"))),
        UnreadableBody,
        (status = 422, description = "Invalid title or unknown field, or an Idempotency-Key already \
            used with another body", body = ErrorBody),
        (status = 429, description = "Too many creates from this client (RATE_LIMITS)", body = ErrorBody,
            headers(("retry-after" = u64, description = "Seconds until a create is accepted again")))
    )
)]
#[post("/tasks")]
pub async fn create_task(
    req: HttpRequest,
    store: web::Data<dyn TaskStore>,
    throttle: web::Data<Throttle>,
    keys: web::Data<IdempotencySettings>,
    KeyHeader(key): KeyHeader,
    _plain: PlainJson,
    body: web::Json<NewTask>,
) -> Result<HttpResponse, ApiError> {
    // One client cannot fill the shared store for everyone.
    if let Err(throttled) = throttle.check_create(throttle.client(&req)) {
        return Ok(throttled.response("creates"));
    }
    let new = body.into_inner();
    // From here the request deadline waits for the store's answer: a create it gave up on could
    // still commit.
    let _write = WriteUnderway::begin(&req);
    let (task, replayed) = match key {
        Some(key) => {
            let once = keys.keyed(key, &new);
            let created = store.create_once(new, once).await?;
            (created.task, created.replayed)
        }
        None => (store.create(new).await?, false),
    };
    let mut res = HttpResponse::Created();
    res.insert_header((header::LOCATION, format!("/api/tasks/{}", task.id)));
    if replayed {
        res.insert_header((IDEMPOTENT_REPLAYED, "true"));
    }
    Ok(task_response(res, &task))
}

/// Read one task. With `If-Match` not naming its current version, 412; with `If-None-Match` naming
/// it, 304 and no body (RFC 9110 13.2.2: in that order).
#[utoipa::path(
    tag = "tasks",
    params(
        ("id" = Uuid, Path, description = TASK_ID),
        ("If-Match" = Option<String>, Header, description = IF_MATCH_ON_GET),
        ("If-None-Match" = Option<String>, Header, description = IF_NONE_MATCH_ON_GET)
    ),
    responses(
        StoreUnavailable,
        (status = 200, description = "The task", body = Task,
            headers(("etag" = String, description = "The task's version, for If-Match"))),
        (status = 304, description = "If-None-Match names the task's current version: no body",
            headers(("etag" = String, description = "The task's version"))),
        (status = 400, description = "Malformed id, or more than 16 entity-tags", body = ErrorBody),
        NoSuchTask,
        (status = 412, description = "If-Match does not name the task's current version", body = ErrorBody)
    )
)]
#[get("/tasks/{id}")]
pub async fn get_task(
    store: web::Data<dyn TaskStore>,
    id: web::Path<String>,
    conditions: Conditions,
) -> Result<HttpResponse, ApiError> {
    let task = store.get(task_id(&id)?).await?;
    if !conditions.matching.admits(task.version) {
        return Err(StoreError::PreconditionFailed.into());
    }
    if conditions.held.has(task.version) {
        return Ok(HttpResponse::NotModified()
            .insert_header(header::ETag(etag(&task)))
            .finish());
    }
    Ok(task_response(HttpResponse::Ok(), &task))
}

/// Change a task's title or completion. With `If-Match`, only if the task is still at that version
/// (with `If-None-Match`, only if it is not); without either, the last write wins.
#[utoipa::path(
    tag = "tasks",
    params(
        ("id" = Uuid, Path, description = TASK_ID),
        ("If-Match" = Option<String>, Header, description = IF_MATCH_ON_UPDATE),
        ("If-None-Match" = Option<String>, Header, description = IF_NONE_MATCH_ON_WRITE)
    ),
    request_body = TaskPatch,
    responses(
        StoreUnavailable,
        (status = 200, description = "The updated task", body = Task,
            headers(("etag" = String, description = "The task's new version"))),
        (status = 400, description = "Malformed id or JSON, or more than 16 entity-tags", body = ErrorBody),
        NoSuchTask,
        StaleVersion,
        UnreadableBody,
        (status = 422, description = "Invalid or empty patch", body = ErrorBody),
        TooManyChanges
    )
)]
#[patch("/tasks/{id}")]
pub async fn update_task(
    req: HttpRequest,
    store: web::Data<dyn TaskStore>,
    throttle: web::Data<Throttle>,
    id: web::Path<String>,
    expected: Conditions,
    _plain: PlainJson,
    body: web::Json<TaskPatch>,
) -> Result<HttpResponse, ApiError> {
    // One client cannot make everyone's writes to a task queue behind its own.
    if let Err(throttled) = throttle.check_change(throttle.client(&req)) {
        return Ok(throttled.response("changes"));
    }
    let _write = WriteUnderway::begin(&req);
    let task = store
        .update(task_id(&id)?, body.into_inner(), expected)
        .await?;
    Ok(task_response(HttpResponse::Ok(), &task))
}

/// Delete a task. With `If-Match`, only if the task is still at that version; with `If-None-Match`,
/// only if it is not.
#[utoipa::path(
    tag = "tasks",
    params(
        ("id" = Uuid, Path, description = TASK_ID),
        ("If-Match" = Option<String>, Header, description = IF_MATCH_ON_DELETE),
        ("If-None-Match" = Option<String>, Header, description = IF_NONE_MATCH_ON_WRITE)
    ),
    responses(
        StoreUnavailable,
        (status = 204, description = "Deleted"),
        (status = 400, description = "Malformed id, or more than 16 entity-tags", body = ErrorBody),
        NoSuchTask,
        StaleVersion,
        TooManyChanges
    )
)]
#[delete("/tasks/{id}")]
pub async fn delete_task(
    req: HttpRequest,
    store: web::Data<dyn TaskStore>,
    throttle: web::Data<Throttle>,
    id: web::Path<String>,
    expected: Conditions,
) -> Result<HttpResponse, ApiError> {
    // One client cannot empty the shared store for everyone.
    if let Err(throttled) = throttle.check_change(throttle.client(&req)) {
        return Ok(throttled.response("changes"));
    }
    let _write = WriteUnderway::begin(&req);
    store.delete(task_id(&id)?, expected).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod tests {
    use utoipa::openapi::path::{OperationBuilder, ParameterBuilder, PathItem};
    use utoipa::openapi::{HttpMethod, OpenApiBuilder, PathsBuilder};

    use super::*;

    fn parameter(name: &str, at: ParameterIn) -> utoipa::openapi::path::Parameter {
        ParameterBuilder::new().name(name).parameter_in(at).build()
    }

    #[test]
    fn only_a_path_parameter_named_id_gets_the_task_id_pattern() {
        let operation = OperationBuilder::new()
            .parameter(parameter("id", ParameterIn::Path))
            .parameter(parameter("id", ParameterIn::Query))
            .parameter(parameter("other", ParameterIn::Path))
            .build();
        let mut doc = OpenApiBuilder::new()
            .paths(
                PathsBuilder::new()
                    .path("/x/{id}/{other}", PathItem::new(HttpMethod::Get, operation)),
            )
            .build();
        document_id(&mut doc);
        let patterned: Vec<(String, bool)> = platform::openapi::parameters_mut(&mut doc)
            .map(|p| {
                let json = serde_json::to_string(&p.schema).unwrap();
                (p.name.clone(), json.contains(TASK_ID_PATTERN))
            })
            .collect();
        assert_eq!(
            patterned,
            [
                ("id".to_owned(), true),
                ("id".to_owned(), false),
                ("other".to_owned(), false)
            ]
        );
    }
}
