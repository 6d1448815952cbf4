#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! End-to-end tests: the real server, driven by rmcp's MCP client over an in-process pipe,
//! against the simulated Halo. One test binary keeps link time down on small machines.

mod audit;
mod auth;
mod bad_input;
mod cancel;
mod catalogue;
mod clients;
mod common;
mod composites;
mod config_errors;
mod doctor;
mod faults;
mod halo_signin;
mod http_limits;
mod layering;
mod layouts;
mod modes;
mod oauth_attacks;
mod packaging;
mod paths;
mod redis_server;
mod registry;
mod remote;
mod replicas;
mod resilience;
mod revenue;
mod schemas;
mod stdio;
mod tree;
