//! Unmatched requests: an app's routes with their methods ([`KnownRoutes`], read from the OpenAPI
//! document its registrations build), so that a known path with another method is a 405 with
//! `Allow`, and anything else a 404.

use actix_web::dev::ResourceDef;
use actix_web::http::Method;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError as _, web};

use crate::error::{ApiError, ErrorCode};
use crate::openapi::operations;

/// Every route an app serves, with its methods, so an unmatched request can be told apart:
/// a known path with another method is 405 (with `Allow`), anything else is 404.
#[derive(Debug, Default, Clone)]
pub struct KnownRoutes {
    routes: Vec<(ResourceDef, Vec<Method>)>,
}

impl KnownRoutes {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `method` for `pattern` (an actix pattern such as `/api/tasks/{id}`).
    #[must_use]
    pub fn with(mut self, pattern: &str, method: Method) -> Self {
        if let Some((_, methods)) = self
            .routes
            .iter_mut()
            .find(|(def, _)| def.pattern() == Some(pattern))
        {
            if !methods.contains(&method) {
                methods.push(method);
            }
        } else {
            self.routes.push((ResourceDef::new(pattern), vec![method]));
        }
        self
    }

    /// Every operation of an OpenAPI document built from an app's registrations.
    pub fn from_openapi(doc: &utoipa::openapi::OpenApi) -> Self {
        operations(doc).fold(Self::new(), |known, (path, method, _)| {
            known.with(path, method)
        })
    }

    /// The methods allowed on `path`, if any route matches it.
    pub fn allowed(&self, path: &str) -> Option<&[Method]> {
        self.routes
            .iter()
            .find(|(def, _)| def.is_match(path))
            .map(|(_, methods)| methods.as_slice())
    }
}

/// The app's default service: 405 for a known path with the wrong method, else 404.
pub async fn unmatched(req: HttpRequest, known: web::Data<KnownRoutes>) -> HttpResponse {
    match known.allowed(req.path()) {
        Some(methods) => {
            // Every GET route also answers HEAD (`protocol::rules`).
            let allow = methods
                .iter()
                .flat_map(|m| {
                    let head = (m == Method::GET).then_some("HEAD");
                    std::iter::once(m.as_str()).chain(head)
                })
                .collect::<Vec<_>>()
                .join(", ");
            let mut res = ApiError::new(
                ErrorCode::METHOD_NOT_ALLOWED,
                format!("{} is not allowed here; use {allow}", req.method()),
            )
            .error_response();
            if let Ok(value) = HeaderValue::from_str(&allow) {
                res.headers_mut().insert(header::ALLOW, value);
            }
            res
        }
        None => ApiError::not_found("no route matches this path").error_response(),
    }
}

/// The route to pass to `App::default_service`: [`unmatched`] for every method.
pub fn default_service() -> actix_web::Route {
    web::route().to(unmatched)
}
