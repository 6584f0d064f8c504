//! Static types of field expressions, checked while parsing so that mistakes such as
//! `{ name = 1 }` fail with the operator's position instead of silently matching nothing.

use crate::ast::{BinOp, Intrinsic, Static};

/// Static type of a field expression; `Any` for attributes, whose type is known only
/// per span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ty {
    Bool,
    Num,
    Str,
    Status,
    Kind,
    Nil,
    Any,
}

impl Ty {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Ty::Bool => "boolean",
            Ty::Num => "number",
            Ty::Str => "string",
            Ty::Status => "status",
            Ty::Kind => "kind",
            Ty::Nil => "nil",
            Ty::Any => "attribute",
        }
    }

    pub(crate) fn of_static(s: &Static) -> Ty {
        match s {
            Static::Nil => Ty::Nil,
            Static::Str(_) => Ty::Str,
            Static::Int(_) | Static::Float(_) | Static::Duration(_) => Ty::Num,
            Static::Bool(_) => Ty::Bool,
            Static::Status(_) => Ty::Status,
            Static::Kind(_) => Ty::Kind,
        }
    }

    pub(crate) fn of_intrinsic(i: Intrinsic) -> Ty {
        match i {
            Intrinsic::Status => Ty::Status,
            Intrinsic::Kind => Ty::Kind,
            Intrinsic::Duration
            | Intrinsic::ChildCount
            | Intrinsic::NestedSetLeft
            | Intrinsic::NestedSetRight
            | Intrinsic::NestedSetParent
            | Intrinsic::TraceDuration
            | Intrinsic::EventTimeSinceStart => Ty::Num,
            Intrinsic::Name
            | Intrinsic::StatusMessage
            | Intrinsic::SpanId
            | Intrinsic::ParentId
            | Intrinsic::TraceId
            | Intrinsic::RootName
            | Intrinsic::RootService
            | Intrinsic::EventName
            | Intrinsic::LinkTraceId
            | Intrinsic::LinkSpanId
            | Intrinsic::InstrumentationName
            | Intrinsic::InstrumentationVersion => Ty::Str,
        }
    }
}

/// The type of `l op r`, or why the operands do not fit the operator.
pub(crate) fn check_binary(op: BinOp, l: Ty, r: Ty) -> Result<Ty, String> {
    let sym = op.as_str();
    match op {
        BinOp::And | BinOp::Or => {
            for t in [l, r] {
                if !matches!(t, Ty::Bool | Ty::Any) {
                    return Err(format!(
                        "operator '{sym}' needs boolean operands, got {}",
                        t.name()
                    ));
                }
            }
            Ok(Ty::Bool)
        }
        BinOp::Eq | BinOp::Neq => {
            let ok = l == Ty::Any || r == Ty::Any || l == Ty::Nil || r == Ty::Nil || l == r;
            if !ok {
                return Err(format!(
                    "cannot compare {} with {} using '{sym}'",
                    l.name(),
                    r.name()
                ));
            }
            Ok(Ty::Bool)
        }
        BinOp::Gt | BinOp::Gte | BinOp::Lt | BinOp::Lte => {
            let orderable = |t: Ty| matches!(t, Ty::Num | Ty::Str | Ty::Any);
            let ok = orderable(l) && orderable(r) && (l == Ty::Any || r == Ty::Any || l == r);
            if !ok {
                return Err(format!(
                    "cannot compare {} with {} using '{sym}'",
                    l.name(),
                    r.name()
                ));
            }
            Ok(Ty::Bool)
        }
        _ => {
            for t in [l, r] {
                if !matches!(t, Ty::Num | Ty::Any) {
                    return Err(format!(
                        "operator '{sym}' needs numeric operands, got {}",
                        t.name()
                    ));
                }
            }
            Ok(Ty::Num)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operands_must_fit_operators() {
        assert_eq!(check_binary(BinOp::Eq, Ty::Str, Ty::Any), Ok(Ty::Bool));
        assert_eq!(check_binary(BinOp::Neq, Ty::Status, Ty::Nil), Ok(Ty::Bool));
        assert_eq!(check_binary(BinOp::Lt, Ty::Str, Ty::Str), Ok(Ty::Bool));
        assert_eq!(check_binary(BinOp::Mul, Ty::Num, Ty::Any), Ok(Ty::Num));
        assert_eq!(
            check_binary(BinOp::Eq, Ty::Kind, Ty::Status),
            Err("cannot compare kind with status using '='".to_string())
        );
        assert!(check_binary(BinOp::Gt, Ty::Any, Ty::Nil).is_err());
        assert!(check_binary(BinOp::Gt, Ty::Status, Ty::Status).is_err());
        assert!(check_binary(BinOp::And, Ty::Bool, Ty::Num).is_err());
        assert!(check_binary(BinOp::Add, Ty::Str, Ty::Num).is_err());
    }
}
