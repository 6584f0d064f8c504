//! Wiring of rules, notifications and SLOs into the server: the rule manager over PromQL
//! (metrics store) and LogQL (log store), the built-in notifier, external Alertmanagers,
//! SLO specs turned into rule groups; applied at start and on every reload.
