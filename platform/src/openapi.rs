//! Reading an OpenAPI document built from an app's registrations: its operations, and the schema
//! of a query parameter an app publishes bounds on.

use actix_web::http::Method;
use utoipa::openapi::path::Parameter;
use utoipa::openapi::{Object, OpenApi, RefOr, Schema};

/// Each operation of an OpenAPI document: its path, method and description.
pub fn operations(
    doc: &OpenApi,
) -> impl Iterator<Item = (&str, Method, &utoipa::openapi::path::Operation)> {
    doc.paths.paths.iter().flat_map(|(path, item)| {
        [
            (Method::GET, &item.get),
            (Method::POST, &item.post),
            (Method::PUT, &item.put),
            (Method::PATCH, &item.patch),
            (Method::DELETE, &item.delete),
        ]
        .into_iter()
        .filter_map(move |(method, op)| op.as_ref().map(|op| (path.as_str(), method, op)))
    })
}

/// The schema of query parameter `name` of `GET path`, when it is an inline object: where an app
/// publishes the bounds its code enforces (utoipa's attributes take only literals).
pub fn query_parameter<'d>(doc: &'d mut OpenApi, path: &str, name: &str) -> Option<&'d mut Object> {
    let schema = doc
        .paths
        .paths
        .get_mut(path)
        .and_then(|item| item.get.as_mut())
        .and_then(|op| op.parameters.as_mut())
        .and_then(|params| {
            params.iter_mut().find_map(|p| match p {
                RefOr::T(p) if p.name == name => p.schema.as_mut(),
                _ => None,
            })
        });
    match schema {
        Some(RefOr::T(Schema::Object(object))) => Some(object),
        _ => None,
    }
}

/// Every inline parameter of every operation, for an app to complete what utoipa's attributes
/// cannot say (a pattern, a plain string where `Option<String>` made a nullable one).
pub fn parameters_mut(doc: &mut OpenApi) -> impl Iterator<Item = &mut Parameter> {
    doc.paths.paths.values_mut().flat_map(|item| {
        [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ]
        .into_iter()
        .filter_map(|op| op.as_mut())
        .filter_map(|op| op.parameters.as_mut())
        .flatten()
        .filter_map(|p| match p {
            RefOr::T(p) => Some(p),
            RefOr::Ref(_) => None,
        })
    })
}
