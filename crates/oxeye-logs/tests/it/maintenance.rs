//! Retention, head cuts, filters, corrupt files.
