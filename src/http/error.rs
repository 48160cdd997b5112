//! One error shape for every HTTP error: `{"error":{"code","message"}}`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

use crate::resolve::ResolveError;
use crate::storage::StorageError;

/// An error answered to an HTTP client. 4xx messages say what to fix; 5xx messages are generic
/// and the cause goes to the log.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// A server-side failure: logged in full, answered without detail.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        log::error!("internal error: {cause}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; see the service log",
        )
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status).json(json!({"error": {"code": self.code, "message": self.message}}))
    }
}

impl From<serde_json::Error> for ApiError {
    fn from(e: serde_json::Error) -> Self {
        crate::rewrite::JsonError::from(e).into()
    }
}

impl From<crate::rewrite::JsonError> for ApiError {
    fn from(e: crate::rewrite::JsonError) -> Self {
        if e.too_deep() {
            ApiError::bad_request("json_too_deep", crate::rewrite::JsonError::TooDeep.to_string())
        } else {
            ApiError::bad_request("invalid_json", e.to_string())
        }
    }
}

impl From<crate::resolve::RewriteError> for ApiError {
    fn from(e: crate::resolve::RewriteError) -> Self {
        match e {
            crate::resolve::RewriteError::Json(j) => j.into(),
            too_many => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_many_references",
                too_many.to_string(),
            ),
        }
    }
}

impl From<ResolveError> for ApiError {
    fn from(e: ResolveError) -> Self {
        let status = match &e {
            ResolveError::NoLinkSecret => StatusCode::CONFLICT,
            ResolveError::Storage(s) => match s {
                StorageError::NotConfigured(_) | StorageError::PrefixNotAllowed(_) => StatusCode::FORBIDDEN,
                StorageError::NotFound(_) => StatusCode::NOT_FOUND,
                StorageError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
                StorageError::Refused { .. } | StorageError::Unreachable { .. } => {
                    log::warn!("storage error: {e}");
                    StatusCode::BAD_GATEWAY
                }
            },
        };
        ApiError::new(status, e.code(), e.to_string())
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        ResolveError::from(e).into()
    }
}

impl From<crate::auth::AuthError> for ApiError {
    fn from(e: crate::auth::AuthError) -> Self {
        use crate::auth::AuthError;
        let (status, code) = match e {
            AuthError::Missing => (StatusCode::UNAUTHORIZED, "unauthorized"),
            AuthError::Basic => (StatusCode::UNAUTHORIZED, "bad_basic_auth"),
            AuthError::Invalid(_) => (StatusCode::UNAUTHORIZED, "invalid_token"),
            AuthError::Scope { .. } | AuthError::BasicScope => (StatusCode::FORBIDDEN, "insufficient_scope"),
        };
        ApiError::new(status, code, e.to_string())
    }
}

impl From<crate::labelstudio::LsError> for ApiError {
    fn from(e: crate::labelstudio::LsError) -> Self {
        match e {
            crate::labelstudio::LsError::TaskGone(id) => ApiError::new(
                StatusCode::NOT_FOUND,
                "task_not_found",
                format!("Label Studio has no task {id}"),
            ),
            other => {
                log::warn!("Label Studio call failed: {other}");
                ApiError::new(StatusCode::BAD_GATEWAY, "label_studio_error", other.to_string())
            }
        }
    }
}

impl From<crate::writeback::QueueFull> for ApiError {
    fn from(e: crate::writeback::QueueFull) -> Self {
        log::error!("webhook refused: {e}");
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "queue_full", e.to_string())
    }
}
