//! The integration tests that drive a whole daemon (or the simulator) through its real edges:
//! pseudo-terminals, a SQLite file (or PostgreSQL: pg_support.rs), HTTP on loopback. One test binary instead of one per file:
//! a single link, and the support modules are shared, so a helper no test uses any more is
//! reported as dead code. Run one file's tests with `cargo test --test it api_core::`.

mod api_support;
mod daemon_support;
mod pg_support;
mod sdk_support;
mod sim_support;
mod webhook_support;

mod api_core;
mod api_otp;
mod api_sdk;
mod cluster;
mod codes_first;
mod hooks_auth;
mod hooks_js_sdk;
mod modem_e2e;
mod otp_settings;
mod retention;
mod reverse_spoofing;
mod sim_modem;
mod sim_network;
mod trust_edge;
mod ui_browser;
mod ui_http;
mod verify_otp;
mod verify_redaction;
mod verify_reverse;
mod webhook_api;
mod webhook_delivery;
mod webhook_guard;
