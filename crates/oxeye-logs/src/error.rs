//! The log store's error enum; each variant maps to a core [`StatusCode`].

use oxeye_core::{StatusCode, StoreError};
use oxeye_storage::StorageError;

/// Why a log store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LogStoreError {
    /// An entry or stream of a write is invalid; the message names it and says why.
    #[error("{0}")]
    InvalidData(String),
    /// The store is closed.
    #[error("log store is closed")]
    Closed,
    /// The store cannot take the write now (memory held by unwritten entries); retry later.
    #[error("{0}")]
    Unavailable(String),
    /// A per-tenant limit would be exceeded (too many streams); nothing was stored.
    #[error("{0}")]
    LimitExceeded(String),
    /// On-disk data failed verification; the message names the file and the problem.
    #[error("corrupt data: {0}")]
    Corrupt(String),
    /// WAL or block-file failure.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A file-system operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Options are inconsistent; the message names the option.
    #[error("invalid option: {0}")]
    InvalidOption(String),
}

impl LogStoreError {
    /// How an API should answer this error.
    pub fn status_code(&self) -> StatusCode {
        match self {
            LogStoreError::InvalidData(_) | LogStoreError::InvalidOption(_) => StatusCode::BadData,
            LogStoreError::Closed | LogStoreError::Unavailable(_) => StatusCode::Unavailable,
            LogStoreError::LimitExceeded(_) => StatusCode::LimitExceeded,
            LogStoreError::Storage(e) => e.status_code(),
            LogStoreError::Corrupt(_) | LogStoreError::Io { .. } => StatusCode::Internal,
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        LogStoreError::Io {
            context: context.into(),
            source,
        }
    }
}

impl From<LogStoreError> for StoreError {
    fn from(e: LogStoreError) -> Self {
        match e {
            LogStoreError::InvalidData(m) => StoreError::InvalidData(m),
            LogStoreError::Closed => StoreError::Unavailable("log store is closed".into()),
            LogStoreError::Unavailable(m) => StoreError::Unavailable(m),
            LogStoreError::LimitExceeded(m) => StoreError::LimitExceeded(m),
            LogStoreError::Storage(e) => e.into(),
            other => StoreError::Internal(other.to_string()),
        }
    }
}

/// Bytes (a WAL record, a chunk, a file footer) that do not decode; says what and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DecodeError(pub String);

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_to_status_codes() {
        assert_eq!(
            LogStoreError::InvalidData("x".into()).status_code(),
            StatusCode::BadData
        );
        assert_eq!(LogStoreError::Closed.status_code(), StatusCode::Unavailable);
        assert!(matches!(
            StoreError::from(LogStoreError::InvalidData("bad entry".into())),
            StoreError::InvalidData(m) if m == "bad entry"
        ));
        assert!(matches!(
            StoreError::from(LogStoreError::Corrupt("x".into())),
            StoreError::Internal(_)
        ));
        assert!(matches!(
            StoreError::from(LogStoreError::Closed),
            StoreError::Unavailable(_)
        ));
    }
}
