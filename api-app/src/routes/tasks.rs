//! `/api/tasks`: create, list, read, update and delete tasks.

use actix_web::http::header::{self, Header as _, IfMatch};
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use platform::error::{ApiError, ErrorBody, ErrorCode};
use uuid::Uuid;

use crate::domain::{NewTask, PageQuery, PageRequest, Precondition, Task, TaskPage, TaskPatch};
use crate::store::TaskStore;
use crate::throttle::Throttle;

/// A single task as a response: the task, with its version as a strong `ETag`.
fn task_response(mut res: actix_web::HttpResponseBuilder, task: &Task) -> HttpResponse {
    res.insert_header(header::ETag(task.etag())).json(task)
}

/// Reads `If-Match`. Absent or `*`: no condition, the last write wins. Otherwise the stored version
/// must match one of the strong tags listed (weak tags never match a write, RFC 9110 13.1.1); a
/// value that is not a list of entity tags matches nothing, so a condition is never dropped.
fn precondition(req: &HttpRequest) -> Precondition {
    if !req.headers().contains_key(header::IF_MATCH) {
        return Precondition::None;
    }
    match IfMatch::parse(req) {
        Ok(IfMatch::Any) => Precondition::None,
        Ok(IfMatch::Items(tags)) => Precondition::VersionIn(
            tags.iter()
                .filter(|t| !t.weak)
                .filter_map(|t| t.tag().parse().ok())
                .collect(),
        ),
        Err(_) => Precondition::VersionIn(Vec::new()),
    }
}

/// Parses a task id from the path: only the canonical form the API hands out (lowercase,
/// hyphenated) names a task, so one task has one URL. Uppercase, braced, `urn:uuid:` and bare-hex
/// spellings are a 400, like any malformed id, not a 404.
fn task_id(raw: &str) -> Result<Uuid, ApiError> {
    let invalid = || {
        ApiError::new(
            ErrorCode::InvalidId,
            "the task id must be a UUID in lowercase hyphenated form",
        )
    };
    let id = Uuid::try_parse(raw).map_err(|_| invalid())?;
    let mut canonical = Uuid::encode_buffer();
    if id.hyphenated().encode_lower(&mut canonical) == raw {
        Ok(id)
    } else {
        Err(invalid())
    }
}

/// List tasks in creation order, one page at a time.
#[utoipa::path(
    tag = "tasks",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of tasks and the total", body = TaskPage),
        (status = 400, description = "Invalid limit or offset", body = ErrorBody),
        (status = 503, description = "The task store is unavailable; retry after Retry-After seconds", body = ErrorBody,
            headers(("retry-after" = u32, description = "Seconds to wait before retrying")))
    )
)]
#[get("/tasks")]
pub async fn list_tasks(
    store: web::Data<dyn TaskStore>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = PageRequest::parse(query.into_inner())
        .map_err(|m| ApiError::new(ErrorCode::InvalidQuery, m))?;
    let found = store.list(page).await?;
    let next = page.offset.saturating_add(found.items.len());
    Ok(HttpResponse::Ok().json(TaskPage {
        next_offset: (next < found.total && !found.items.is_empty()).then_some(next),
        items: found.items,
        total: found.total,
        limit: page.limit,
        offset: page.offset,
    }))
}

/// Create a task.
#[utoipa::path(
    tag = "tasks",
    request_body = NewTask,
    responses(
        (status = 201, description = "Created, and committed: the task survives a restart", body = Task,
            headers(
                ("location" = String, description = "The new task's URL"),
                ("etag" = String, description = "The task's version, for If-Match")
            )),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 409, description = "MAX_TASKS tasks are already stored", body = ErrorBody),
        (status = 413, description = "Body over 16 KiB", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 422, description = "Invalid title or unknown field", body = ErrorBody),
        (status = 429, description = "Too many creates from this client (RATE_LIMITS)", body = ErrorBody,
            headers(("retry-after" = u64, description = "Seconds until a create is accepted again"))),
        (status = 503, description = "The task store is unavailable; retry after Retry-After seconds", body = ErrorBody,
            headers(("retry-after" = u32, description = "Seconds to wait before retrying")))
    )
)]
#[post("/tasks")]
pub async fn create_task(
    req: HttpRequest,
    store: web::Data<dyn TaskStore>,
    throttle: web::Data<Throttle>,
    body: web::Json<NewTask>,
) -> Result<HttpResponse, ApiError> {
    // One client cannot fill the shared store for everyone.
    if let Err(throttled) = throttle.check_create(throttle.client(&req)) {
        return Ok(throttled.response("creates"));
    }
    let task = store.create(body.into_inner()).await?;
    let mut res = HttpResponse::Created();
    res.insert_header((header::LOCATION, format!("/api/tasks/{}", task.id)));
    Ok(task_response(res, &task))
}

/// Read one task.
#[utoipa::path(
    tag = "tasks",
    params(("id" = Uuid, Path, description = "The task's UUID")),
    responses(
        (status = 200, description = "The task", body = Task,
            headers(("etag" = String, description = "The task's version, for If-Match"))),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 404, description = "No such task", body = ErrorBody),
        (status = 503, description = "The task store is unavailable; retry after Retry-After seconds", body = ErrorBody,
            headers(("retry-after" = u32, description = "Seconds to wait before retrying")))
    )
)]
#[get("/tasks/{id}")]
pub async fn get_task(
    store: web::Data<dyn TaskStore>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let task = store.get(task_id(&id)?).await?;
    Ok(task_response(HttpResponse::Ok(), &task))
}

/// Change a task's title or completion. With `If-Match`, only if the task is still at that version;
/// without it, the last write wins.
#[utoipa::path(
    tag = "tasks",
    params(
        ("id" = Uuid, Path, description = "The task's UUID"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read (e.g. \"3\"), or *. \
            When it no longer matches, nothing changes and the answer is 412. Without it, the last write wins.")
    ),
    request_body = TaskPatch,
    responses(
        (status = 200, description = "The updated task", body = Task,
            headers(("etag" = String, description = "The task's new version"))),
        (status = 400, description = "Malformed id or JSON", body = ErrorBody),
        (status = 404, description = "No such task", body = ErrorBody),
        (status = 412, description = "If-Match does not name the task's current version", body = ErrorBody),
        (status = 413, description = "Body over 16 KiB", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 422, description = "Invalid or empty patch", body = ErrorBody),
        (status = 503, description = "The task store is unavailable; retry after Retry-After seconds", body = ErrorBody,
            headers(("retry-after" = u32, description = "Seconds to wait before retrying")))
    )
)]
#[patch("/tasks/{id}")]
pub async fn update_task(
    req: HttpRequest,
    store: web::Data<dyn TaskStore>,
    id: web::Path<String>,
    body: web::Json<TaskPatch>,
) -> Result<HttpResponse, ApiError> {
    let id = task_id(&id)?;
    let patch = body.into_inner();
    if patch.is_empty() {
        return Err(ApiError::validation(
            "the patch must set title or completed",
        ));
    }
    let task = store.update(id, patch, precondition(&req)).await?;
    Ok(task_response(HttpResponse::Ok(), &task))
}

/// Delete a task. With `If-Match`, only if the task is still at that version.
#[utoipa::path(
    tag = "tasks",
    params(
        ("id" = Uuid, Path, description = "The task's UUID"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read (e.g. \"3\"), or *. \
            When it no longer matches, nothing is deleted and the answer is 412. Without it, the delete always applies.")
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 404, description = "No such task", body = ErrorBody),
        (status = 412, description = "If-Match does not name the task's current version", body = ErrorBody),
        (status = 503, description = "The task store is unavailable; retry after Retry-After seconds", body = ErrorBody,
            headers(("retry-after" = u32, description = "Seconds to wait before retrying")))
    )
)]
#[delete("/tasks/{id}")]
pub async fn delete_task(
    req: HttpRequest,
    store: web::Data<dyn TaskStore>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    store.delete(task_id(&id)?, precondition(&req)).await?;
    Ok(HttpResponse::NoContent().finish())
}
