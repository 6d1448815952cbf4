//! halo-mcp: an MCP server for the Halo PSA / Halo ITSM REST API.
//!
//! Dependencies point one way: `server` → `tools` → `catalog` + `halo`. The simulated Halo in
//! `sim` imports nothing from the client, so a misunderstanding of Halo cannot hide in both.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod audit;
pub mod catalog;
pub mod cli;
pub mod clients;
pub mod config;
pub mod doctor;
pub mod halo;
pub mod local;
pub mod remote;
pub mod secret;
pub mod server;
pub mod sim;
pub mod state;
pub mod stdio;
pub mod text;
pub mod tools;
