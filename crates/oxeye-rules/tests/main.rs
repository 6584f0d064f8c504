//! Integration tests of oxeye-rules, one module per area.

mod external_am;
mod slo_generate;
