//! `/api/tasks`: create, list, read, update and delete tasks.

use actix_web::http::header;
use actix_web::{HttpResponse, delete, get, patch, post, web};
use platform::error::{ApiError, ErrorBody, ErrorCode};
use uuid::Uuid;

use crate::domain::{NewTask, PageQuery, PageRequest, Task, TaskPage, TaskPatch};
use crate::store::{StoreError, TaskStore};

/// The `tasks_stored` gauge, moved by successful creates and deletes.
#[derive(Debug, Clone)]
pub struct TasksStored(pub prometheus::IntGauge);

impl TasksStored {
    /// Registers the gauge in the app's registry.
    pub fn register(registry: &prometheus::Registry) -> Result<Self, prometheus::Error> {
        let gauge = prometheus::IntGauge::new("tasks_stored", "Tasks currently stored")?;
        registry.register(Box::new(gauge.clone()))?;
        Ok(Self(gauge))
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::not_found(e.to_string()),
            StoreError::Full { .. } => ApiError::new(ErrorCode::CapacityExceeded, e.to_string()),
        }
    }
}

/// Parses a task id from the path; a malformed id is a 400, not a 404.
fn task_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw)
        .map_err(|_| ApiError::new(ErrorCode::InvalidId, "the task id must be a UUID"))
}

/// List tasks in creation order, one page at a time.
#[utoipa::path(
    tag = "tasks",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of tasks and the total", body = TaskPage),
        (status = 400, description = "Invalid limit or offset", body = ErrorBody)
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
        (status = 201, description = "Created", body = Task,
            headers(("location" = String, description = "The new task's URL"))),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 409, description = "MAX_TASKS tasks are already stored", body = ErrorBody),
        (status = 413, description = "Body over 16 KiB", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 422, description = "Invalid title or unknown field", body = ErrorBody)
    )
)]
#[post("/tasks")]
pub async fn create_task(
    store: web::Data<dyn TaskStore>,
    stored: web::Data<TasksStored>,
    body: web::Json<NewTask>,
) -> Result<HttpResponse, ApiError> {
    let task = store.create(body.into_inner()).await?;
    stored.0.inc();
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/tasks/{}", task.id)))
        .json(task))
}

/// Read one task.
#[utoipa::path(
    tag = "tasks",
    params(("id" = Uuid, Path, description = "The task's UUID")),
    responses(
        (status = 200, description = "The task", body = Task),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 404, description = "No such task", body = ErrorBody)
    )
)]
#[get("/tasks/{id}")]
pub async fn get_task(
    store: web::Data<dyn TaskStore>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let task = store.get(task_id(&id)?).await?;
    Ok(HttpResponse::Ok().json(task))
}

/// Change a task's title or completion.
#[utoipa::path(
    tag = "tasks",
    params(("id" = Uuid, Path, description = "The task's UUID")),
    request_body = TaskPatch,
    responses(
        (status = 200, description = "The updated task", body = Task),
        (status = 400, description = "Malformed id or JSON", body = ErrorBody),
        (status = 404, description = "No such task", body = ErrorBody),
        (status = 413, description = "Body over 16 KiB", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 422, description = "Invalid or empty patch", body = ErrorBody)
    )
)]
#[patch("/tasks/{id}")]
pub async fn update_task(
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
    let task = store.update(id, patch).await?;
    Ok(HttpResponse::Ok().json(task))
}

/// Delete a task.
#[utoipa::path(
    tag = "tasks",
    params(("id" = Uuid, Path, description = "The task's UUID")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 404, description = "No such task", body = ErrorBody)
    )
)]
#[delete("/tasks/{id}")]
pub async fn delete_task(
    store: web::Data<dyn TaskStore>,
    stored: web::Data<TasksStored>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    store.delete(task_id(&id)?).await?;
    stored.0.dec();
    Ok(HttpResponse::NoContent().finish())
}
