//! custos: a compliance archive for customer dossiers.
//!
//! ```text
//! HTTP request
//!   → api/      authenticate (bearer token → Principal), X-Purpose, request id
//!   → archive/  the use case (dossiers, subjects and consent, audit queries,
//!               retention: holds, disposition batches, erasure, certificates)
//!        → policy/  purposes, Cedar access per field class, masking,
//!                   retention rules (pure)
//!        → crypto/  seal / open segments under per-dossier and per-subject keys
//!        → audit/   ONE durable group-committed batch = change + audit entry
//!        → store/   RocksDB column families (append-only versions)
//!   → response: problem+json on error, X-Request-Id always
//! ```
//!
//! Every layer below `api/` is plain Rust with no HTTP types, so the CLI and
//! the scheduled jobs call the same use cases as the REST handlers.

pub mod api;
pub mod archive;
pub mod audit;
pub mod bench;
pub mod cli;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod domain;
pub mod jobs;
pub mod metrics;
pub mod policy;
pub mod search;
pub mod server;
pub mod store;
pub mod telemetry;
