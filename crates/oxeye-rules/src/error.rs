//! The crate's error enum; every variant maps to a core [`StatusCode`].

use oxeye_core::StatusCode;

/// Why a rule file, a rule evaluation, a template, a notification or an SLO spec failed.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    /// A rule file, unit-test file, notifier config or SLO spec is invalid; the message
    /// names the file, group or rule and what is wrong.
    #[error("{0}")]
    Invalid(String),
    /// A rule's query failed.
    #[error("{0}")]
    Query(String),
    /// A template did not parse or did not execute.
    #[error("{0}")]
    Template(String),
    /// Something asked for does not exist (a silence id, a rule group).
    #[error("{0}")]
    NotFound(String),
    /// Sending a notification failed; the sender retries.
    #[error("{0}")]
    Notify(String),
    /// Reading or writing state on disk failed.
    #[error("{0}")]
    Io(String),
}

impl RulesError {
    /// What the error means to an API client.
    pub fn status_code(&self) -> StatusCode {
        match self {
            RulesError::Invalid(_) | RulesError::Template(_) => StatusCode::BadData,
            RulesError::Query(_) => StatusCode::BadData,
            RulesError::NotFound(_) => StatusCode::NotFound,
            RulesError::Notify(_) => StatusCode::Unavailable,
            RulesError::Io(_) => StatusCode::Internal,
        }
    }
}
