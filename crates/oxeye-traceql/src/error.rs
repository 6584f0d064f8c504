//! The crate's error type and its mapping to core's [`StatusCode`].

use oxeye_core::{StatusCode, StoreError};

/// Why a TraceQL request failed.
#[derive(Debug, thiserror::Error)]
pub enum TraceqlError {
    /// The query text is not valid TraceQL; `line` and `col` are 1-based.
    #[error("parse error at line {line}, col {col}: {msg}")]
    Parse {
        /// Line of the offending token.
        line: usize,
        /// Column (in characters) of the offending token.
        col: usize,
        /// What was wrong.
        msg: String,
    },
    /// The request around the query is invalid (bad `tags`, durations, limits).
    #[error("{0}")]
    InvalidRequest(String),
    /// The search's deadline passed before it finished.
    #[error("search deadline passed after inspecting {inspected} traces")]
    Timeout {
        /// Traces evaluated before the deadline passed.
        inspected: u64,
    },
    /// The trace store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl TraceqlError {
    /// How the API layer should answer this error.
    pub fn status_code(&self) -> StatusCode {
        match self {
            TraceqlError::Parse { .. } | TraceqlError::InvalidRequest(_) => StatusCode::BadData,
            TraceqlError::Timeout { .. } => StatusCode::Timeout,
            TraceqlError::Store(e) => e.status_code(),
        }
    }

    /// A parse error at byte offset `pos` of `src`.
    pub(crate) fn parse_at(src: &str, pos: usize, msg: impl Into<String>) -> Self {
        let (line, col) = line_col(src, pos);
        TraceqlError::Parse {
            line,
            col,
            msg: msg.into(),
        }
    }
}

/// 1-based line and character column of byte offset `pos` in `src`.
fn line_col(src: &str, pos: usize) -> (usize, usize) {
    let mut line = 1;
    let mut col = 1;
    for (i, c) in src.char_indices() {
        if i >= pos {
            break;
        }
        if c == '\n' {
            line += 1;
            col = 1;
        } else {
            col += 1;
        }
    }
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_characters_and_lines() {
        assert_eq!(line_col("{ }", 2), (1, 3));
        assert_eq!(line_col("{\n  x", 4), (2, 3));
        assert_eq!(line_col("µs x", 3), (1, 3));
        let e = TraceqlError::parse_at("{ a }", 2, "unexpected 'a'");
        assert_eq!(
            e.to_string(),
            "parse error at line 1, col 3: unexpected 'a'"
        );
        assert_eq!(e.status_code(), StatusCode::BadData);
        let s = TraceqlError::from(StoreError::Unavailable("busy".into()));
        assert_eq!(s.status_code(), StatusCode::Unavailable);
    }
}
