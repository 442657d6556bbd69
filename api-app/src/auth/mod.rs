//! Authentication for the protected endpoints: the keys and their rules (`keys`), the guard that
//! checks them on every request (`guard`), the OpenAPI security scheme, and the errors a refused
//! request gets. A change to the key rules stays in this folder.

pub mod guard;
pub mod keys;

use platform::headers::API_KEY_HEADER;
use utoipa::openapi::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};

pub use guard::{ApiKeyGuard, AuthError, ERROR_CODES, NOT_CONFIGURED, UNAUTHORIZED};
pub use keys::{ApiKeys, KeyCheck, MAX_KEY_LEN, MIN_GENERATED_KEY_LEN, MIN_KEY_LEN, SECRET_VARS};

/// The name of the security scheme the protected operations name in the OpenAPI document.
pub const SECURITY_SCHEME: &str = "api_key";

/// Registers the [`SECURITY_SCHEME`] in the OpenAPI document: the key travels in the `x-api-key`
/// header.
pub fn document(doc: &mut OpenApi) {
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        SECURITY_SCHEME,
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
            API_KEY_HEADER.as_str(),
            "The API key from the environment's secret (API_KEY, or API_KEY_PREVIOUS during a rotation)",
        ))),
    );
}
