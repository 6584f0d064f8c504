//! Query evaluation: validates the request, then runs a log query ([`logs`]) or a
//! metric query.

mod logs;
mod metric;
mod range;

use oxeye_core::TenantId;
use oxeye_core::logs::LogQueryable;

use crate::ast::Expr;
use crate::{EngineLimits, LogqlError, Output, Query, QueryKind, parse};

/// Runs `q` against `store`.
pub(crate) fn query(
    store: &dyn LogQueryable,
    limits: &EngineLimits,
    tenant: &TenantId,
    q: &Query,
) -> Result<Output, LogqlError> {
    let expr = parse(&q.text)?;
    if q.kind == QueryKind::Range && q.end_ns < q.start_ns {
        return Err(LogqlError::BadQuery(
            "end timestamp must not be before or equal to start time".into(),
        ));
    }
    match &expr {
        Expr::Log(log) => {
            if q.limit == 0 {
                return Err(LogqlError::BadQuery(
                    "limit must be a positive value".into(),
                ));
            }
            logs::run(store, limits, tenant, log, q)
        }
        Expr::Sample(s) => metric::run(store, limits, tenant, s, q),
    }
}
