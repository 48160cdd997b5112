//! One error shape for every HTTP error: `{"error":{"code","message"}}`, and the fallbacks for
//! unknown routes and methods.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use serde_json::json;

use crate::error_code::ErrorCode;
use crate::resolve::{ResolveError, RewriteError};
use crate::rewrite::JsonError;

/// An error answered to an HTTP client. 4xx messages say what to fix; a 500 says nothing and
/// keeps its cause for the log, which the middleware writes once per response.
#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    /// What went wrong inside, for the log only.
    pub cause: Option<String>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            cause: None,
        }
    }

    /// A server-side failure: answered without detail, the cause kept for the log.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        ApiError {
            cause: Some(cause.to_string()),
            ..Self::new(ErrorCode::Internal, "internal error; see the service log")
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)?;
        match &self.cause {
            Some(cause) => write!(f, " ({cause})"),
            None => Ok(()),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.code.status()
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.code.status()).json(json!({"error": {"code": self.code, "message": self.message}}))
    }
}

/// The fallback for paths no route serves.
pub async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::new(
        ErrorCode::NotFound,
        format!("no route for {} {}", req.method(), req.path()),
    ))
}

/// The fallback for a known path with a method it does not take.
pub async fn method_not_allowed(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::new(
        ErrorCode::MethodNotAllowed,
        format!("{} is not allowed on {}", req.method(), req.path()),
    ))
}

impl From<serde_json::Error> for ApiError {
    fn from(e: serde_json::Error) -> Self {
        JsonError::from(e).into()
    }
}

impl From<JsonError> for ApiError {
    fn from(e: JsonError) -> Self {
        if e.too_deep() {
            ApiError::new(ErrorCode::JsonTooDeep, JsonError::TooDeep.to_string())
        } else {
            ApiError::new(ErrorCode::InvalidJson, e.to_string())
        }
    }
}

impl From<RewriteError> for ApiError {
    fn from(e: RewriteError) -> Self {
        match e {
            RewriteError::Json(j) => j.into(),
            too_many => ApiError::new(ErrorCode::TooManyReferences, too_many.to_string()),
        }
    }
}

impl From<ResolveError> for ApiError {
    fn from(e: ResolveError) -> Self {
        ApiError::new(e.code(), e.to_string())
    }
}

impl From<crate::storage::StorageError> for ApiError {
    fn from(e: crate::storage::StorageError) -> Self {
        ApiError::new(e.code(), e.to_string())
    }
}

impl From<crate::auth::AuthError> for ApiError {
    fn from(e: crate::auth::AuthError) -> Self {
        use crate::auth::AuthError;
        let code = match e {
            AuthError::Missing => ErrorCode::Unauthorized,
            AuthError::Basic => ErrorCode::BadBasicAuth,
            AuthError::Invalid(_) => ErrorCode::InvalidToken,
            AuthError::Scope { .. } | AuthError::BasicScope => ErrorCode::InsufficientScope,
        };
        ApiError::new(code, e.to_string())
    }
}

impl From<crate::labelstudio::LsError> for ApiError {
    fn from(e: crate::labelstudio::LsError) -> Self {
        match e {
            crate::labelstudio::LsError::TaskGone(id) => {
                ApiError::new(ErrorCode::TaskNotFound, format!("Label Studio has no task {id}"))
            }
            gone @ crate::labelstudio::LsError::ProjectGone(_) => {
                ApiError::new(ErrorCode::ProjectNotFound, gone.to_string())
            }
            other => ApiError::new(ErrorCode::LabelStudioError, other.to_string()),
        }
    }
}

impl From<crate::writeback::QueueFull> for ApiError {
    fn from(e: crate::writeback::QueueFull) -> Self {
        ApiError::new(ErrorCode::QueueFull, e.to_string())
    }
}
