//! The one place where errors become HTTP responses.
//!
//! Every handler returns [`ApiError`]; its [`StatusCode`] decides the HTTP status. Write
//! endpoints answer with a plain-text body (what remote-write senders log), read endpoints
//! with Prometheus's JSON error envelope; [`ApiError::json`] switches between the two.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use oxeye_core::{StatusCode, StoreError};

/// An error answered to an HTTP client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request itself is wrong (parameters, body, headers).
    #[error("{0}")]
    BadRequest(String),
    /// The body is over the configured size limit.
    #[error("{0}")]
    TooLarge(String),
    /// The `Content-Type` is not one this endpoint speaks.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The store refused or failed.
    #[error("{0}")]
    Store(#[from] StoreError),
    /// A blocking task panicked or was cancelled.
    #[error("internal error: {0}")]
    Internal(String),
    /// A query failed the way Prometheus reports with its own error types.
    #[error("{message}")]
    Query {
        /// Which of Prometheus's query error types.
        kind: QueryFailure,
        /// What went wrong.
        message: String,
    },
    /// An error already classified by another crate (wire decoding, for example).
    #[error("{message}")]
    Coded {
        /// How to answer.
        code: StatusCode,
        /// What went wrong.
        message: String,
    },
}

/// Query errors Prometheus answers with types of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryFailure {
    /// The query could not be evaluated (`execution`, 422).
    Execution,
    /// The client went away (`canceled`, 499).
    Canceled,
    /// The query ran out of time (`timeout`, 503).
    Timeout,
}

impl ApiError {
    /// A query error of one of Prometheus's query error types.
    pub fn query(kind: QueryFailure, message: impl Into<String>) -> Self {
        ApiError::Query {
            kind,
            message: message.into(),
        }
    }

    /// Wraps an error already classified by the crate that produced it.
    pub fn coded(code: StatusCode, message: impl Into<String>) -> Self {
        ApiError::Coded {
            code,
            message: message.into(),
        }
    }

    /// The transport-independent kind of this error.
    pub fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) | ApiError::UnsupportedMediaType(_) => StatusCode::BadData,
            ApiError::TooLarge(_) => StatusCode::TooLarge,
            ApiError::Store(e) => e.status_code(),
            ApiError::Internal(_) => StatusCode::Internal,
            ApiError::Coded { code, .. } => *code,
            ApiError::Query { kind, .. } => match kind {
                QueryFailure::Execution => StatusCode::BadData,
                QueryFailure::Canceled | QueryFailure::Timeout => StatusCode::Timeout,
            },
        }
    }

    /// The HTTP status of this error.
    pub fn http_status(&self) -> axum::http::StatusCode {
        let code = match self {
            ApiError::UnsupportedMediaType(_) => 415,
            ApiError::Query { kind, .. } => match kind {
                QueryFailure::Execution => 422,
                // nginx's "client closed request", as Prometheus answers
                QueryFailure::Canceled => 499,
                QueryFailure::Timeout => 503,
            },
            other => other.status_code().http_status(),
        };
        axum::http::StatusCode::from_u16(code)
            .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// Prometheus's `errorType` for this error.
    pub fn prometheus_error_type(&self) -> &'static str {
        if let ApiError::Query { kind, .. } = self {
            return match kind {
                QueryFailure::Execution => "execution",
                QueryFailure::Canceled => "canceled",
                QueryFailure::Timeout => "timeout",
            };
        }
        match self.status_code() {
            StatusCode::BadData | StatusCode::TooLarge => "bad_data",
            StatusCode::LimitExceeded => "unavailable",
            StatusCode::NotFound => "not_found",
            StatusCode::Timeout => "timeout",
            StatusCode::Unavailable => "unavailable",
            StatusCode::Internal => "internal",
        }
    }

    /// The same error answered as Prometheus's JSON envelope.
    pub fn json(self) -> JsonApiError {
        JsonApiError(self)
    }
}

/// Headers every retryable answer carries so senders back off.
fn add_retry_after(resp: &mut Response, code: StatusCode) {
    if matches!(code, StatusCode::LimitExceeded | StatusCode::Unavailable) {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.http_status();
        let code = self.status_code();
        if status.is_server_error() {
            tracing::warn!(error = %self, status = status.as_u16(), "request failed");
        } else {
            tracing::debug!(error = %self, status = status.as_u16(), "request refused");
        }
        let mut resp = (
            status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("{self}\n"),
        )
            .into_response();
        add_retry_after(&mut resp, code);
        resp
    }
}

/// An [`ApiError`] answered as `{"status":"error","errorType":...,"error":...}`.
#[derive(Debug)]
pub struct JsonApiError(pub ApiError);

impl From<ApiError> for JsonApiError {
    fn from(e: ApiError) -> Self {
        JsonApiError(e)
    }
}

impl From<StoreError> for JsonApiError {
    fn from(e: StoreError) -> Self {
        JsonApiError(ApiError::Store(e))
    }
}

impl IntoResponse for JsonApiError {
    fn into_response(self) -> Response {
        let status = self.0.http_status();
        let code = self.0.status_code();
        if status.is_server_error() {
            tracing::warn!(error = %self.0, status = status.as_u16(), "query failed");
        }
        let body = serde_json::json!({
            "status": "error",
            "errorType": self.0.prometheus_error_type(),
            "error": self.0.to_string(),
        });
        let mut resp = (status, axum::Json(body)).into_response();
        add_retry_after(&mut resp, code);
        resp
    }
}

/// Runs blocking store work off the async runtime.
pub async fn blocking<T, F>(f: F) -> Result<T, ApiError>
where
    F: FnOnce() -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) => Err(ApiError::Internal(format!("blocking task failed: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(ApiError::BadRequest("x".into()).http_status(), 400);
        assert_eq!(ApiError::TooLarge("x".into()).http_status(), 413);
        assert_eq!(
            ApiError::UnsupportedMediaType("x".into()).http_status(),
            415
        );
        assert_eq!(
            ApiError::Store(StoreError::LimitExceeded("x".into())).http_status(),
            429
        );
        assert_eq!(
            ApiError::Store(StoreError::Unavailable("x".into())).http_status(),
            503
        );
        assert_eq!(ApiError::Internal("x".into()).http_status(), 500);
    }

    #[test]
    fn retryable_errors_carry_retry_after() {
        let r =
            ApiError::Store(StoreError::LimitExceeded("too many series".into())).into_response();
        assert_eq!(r.status(), 429);
        assert!(r.headers().contains_key(header::RETRY_AFTER));
        let r = ApiError::BadRequest("bad".into()).into_response();
        assert!(!r.headers().contains_key(header::RETRY_AFTER));
    }
}
