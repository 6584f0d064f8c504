//! Integration tests of oxeye-rules through its public API.

mod template_expand;
