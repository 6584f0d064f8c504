//! TraceQL: parsing and evaluation over core's [`oxeye_core::trace::TraceQueryable`].
