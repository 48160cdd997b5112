//! Every machine-readable error code the service answers with, and its HTTP status: one table,
//! so a code cannot be answered with two statuses, and docs/API.md is checked against it.

use actix_web::http::StatusCode;

macro_rules! error_codes {
    ($($(#[doc = $doc:literal])* $variant:ident = $code:literal, $status:ident;)*) => {
        /// A stable error code: `{"error": {"code": ...}}`, `LS-Presign-Errors`, `/v1/sign` results.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($(#[doc = $doc])* $variant,)*
        }

        impl ErrorCode {
            /// Every code, in the order of docs/API.md's table.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),*];

            /// The code as clients see it (`invalid_json`).
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $code,)*
                }
            }

            /// The status every response with this code has.
            pub const fn status(self) -> StatusCode {
                match self {
                    $(ErrorCode::$variant => StatusCode::$status,)*
                }
            }
        }
    };
}

error_codes! {
    InvalidJson = "invalid_json", BAD_REQUEST;
    JsonTooDeep = "json_too_deep", BAD_REQUEST;
    EmptyBody = "empty_body", BAD_REQUEST;
    InvalidMode = "invalid_mode", BAD_REQUEST;
    InvalidQuery = "invalid_query", BAD_REQUEST;
    InvalidUri = "invalid_uri", BAD_REQUEST;
    InvalidMethod = "invalid_method", BAD_REQUEST;
    InvalidRequest = "invalid_request", BAD_REQUEST;
    InvalidBody = "invalid_body", BAD_REQUEST;
    InvalidWebhook = "invalid_webhook", BAD_REQUEST;
    InvalidPath = "invalid_path", BAD_REQUEST;
    Unauthorized = "unauthorized", UNAUTHORIZED;
    InvalidToken = "invalid_token", UNAUTHORIZED;
    LoginRequired = "login_required", UNAUTHORIZED;
    BadBasicAuth = "bad_basic_auth", UNAUTHORIZED;
    InsufficientScope = "insufficient_scope", FORBIDDEN;
    InvalidLink = "invalid_link", FORBIDDEN;
    UnknownBucket = "unknown_bucket", FORBIDDEN;
    PrefixNotAllowed = "prefix_not_allowed", FORBIDDEN;
    ObjectNotFound = "object_not_found", NOT_FOUND;
    NotFound = "not_found", NOT_FOUND;
    TaskNotFound = "task_not_found", NOT_FOUND;
    ProjectNotFound = "project_not_found", NOT_FOUND;
    MethodNotAllowed = "method_not_allowed", METHOD_NOT_ALLOWED;
    LinksDisabled = "links_disabled", CONFLICT;
    BodyTooLarge = "body_too_large", PAYLOAD_TOO_LARGE;
    TooManyReferences = "too_many_references", PAYLOAD_TOO_LARGE;
    ObjectTooLarge = "object_too_large", PAYLOAD_TOO_LARGE;
    UnsupportedMediaType = "unsupported_media_type", UNSUPPORTED_MEDIA_TYPE;
    Internal = "internal", INTERNAL_SERVER_ERROR;
    StorageRefused = "storage_refused", BAD_GATEWAY;
    StorageUnreachable = "storage_unreachable", BAD_GATEWAY;
    LabelStudioError = "label_studio_error", BAD_GATEWAY;
    LabelStudioNotConfigured = "label_studio_not_configured", SERVICE_UNAVAILABLE;
    QueueFull = "queue_full", SERVICE_UNAVAILABLE;
    Timeout = "timeout", GATEWAY_TIMEOUT;
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_snake_case_errors() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            let s = code.as_str();
            assert!(seen.insert(s), "{s} twice");
            assert!(s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "{s}");
            assert!(
                code.status().is_client_error() || code.status().is_server_error(),
                "{s}"
            );
        }
    }
}
