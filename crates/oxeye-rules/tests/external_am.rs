//! External Alertmanager client against the real Debian Alertmanager.
