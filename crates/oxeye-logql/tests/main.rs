//! Integration tests of oxeye-logql.

mod conformance;
mod parser_props;
