//! Integration tests of oxeye-logql.

mod conformance;
