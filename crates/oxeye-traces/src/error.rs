//! The trace store's error enum; each variant maps to a core [`StatusCode`].

use oxeye_core::{StatusCode, StoreError};
use oxeye_storage::StorageError;

/// Everything that can go wrong in the trace store.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// A span in a write is invalid; the message names it and says why.
    #[error("{0}")]
    InvalidData(String),
    /// The store is closed.
    #[error("trace store is closed")]
    Closed,
    /// The tenant's unwritten spans exceed what memory allows until blocks catch up;
    /// the sender should retry later.
    #[error("{0}")]
    Backpressure(String),
    /// On-disk data failed verification; the message names the file and the problem.
    #[error("corrupt data: {0}")]
    Corrupt(String),
    /// WAL or block-directory failure.
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

impl TraceError {
    /// How an API should answer this error.
    pub fn status_code(&self) -> StatusCode {
        match self {
            TraceError::InvalidData(_) | TraceError::InvalidOption(_) => StatusCode::BadData,
            TraceError::Closed | TraceError::Backpressure(_) => StatusCode::Unavailable,
            TraceError::Storage(e) => e.status_code(),
            TraceError::Corrupt(_) | TraceError::Io { .. } => StatusCode::Internal,
        }
    }

    /// Whether stored data failed verification (a read skips it and counts it), as
    /// opposed to the disk failing to read (a read fails with it).
    pub(crate) fn is_corruption(&self) -> bool {
        matches!(
            self,
            TraceError::Corrupt(_) | TraceError::Storage(StorageError::Corrupt { .. })
        )
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        TraceError::Io {
            context: context.into(),
            source,
        }
    }
}

impl From<TraceError> for StoreError {
    fn from(e: TraceError) -> Self {
        match e {
            TraceError::InvalidData(m) => StoreError::InvalidData(m),
            TraceError::Closed => StoreError::Unavailable("trace store is closed".into()),
            TraceError::Backpressure(m) => StoreError::Unavailable(m),
            TraceError::Storage(e) => e.into(),
            other => StoreError::Internal(other.to_string()),
        }
    }
}

/// Data read from disk (or a WAL record) that does not decode; says what and where.
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
            TraceError::InvalidData("x".into()).status_code(),
            StatusCode::BadData
        );
        assert_eq!(TraceError::Closed.status_code(), StatusCode::Unavailable);
        assert!(matches!(
            StoreError::from(TraceError::InvalidData("bad span".into())),
            StoreError::InvalidData(m) if m == "bad span"
        ));
        assert!(matches!(
            StoreError::from(TraceError::Corrupt("x".into())),
            StoreError::Internal(_)
        ));
    }
}
