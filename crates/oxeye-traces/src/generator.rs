//! Span metrics and service graph, derived from ingested spans.
