//! Integration tests of oxeye-rules, one module per area.

mod external_am;
mod notify_dispatch;
mod notify_receivers;
mod notify_restart;
mod notify_support;
mod slo_generate;
mod template_expand;
mod unittest_run;
