//! custos: a compliance archive for customer dossiers.
//!
//! ```text
//! main.rs ─ cli/ ─┬─ server.rs  (wires: config → policies → store → archive → jobs → HTTP;
//!                 │              assembles api/ and console/ routes behind web::app)
//!                 └─ offline jobs (retention run, index rebuild, audit verify, policy check/show)
//!
//! HTTP request
//!   → web/        the one edge: request id + span, authenticate (token → Principal),
//!                 X-Purpose parsed once (StatedPurpose), bounded bodies → DTO (body.rs)
//!                 → domain type; the use case runs off the executor (offload);
//!                 errors → problem+json (error.rs); console sessions
//!   → api/ | console/   REST routes and DTOs | server-rendered pages
//!   → archive/gate      operations on the archive as a whole decided by Cedar
//!                       (Archive::decide, Archive::may)
//!   → archive/    the use cases, one folder or file each: dossiers/{create,read,update,plan},
//!                 subjects, documents, search, retention/{close,holds,due,batches,destroy,
//!                 certificate,erasure,sweep}, principals, audit_log, transparency, alerts
//!        → policy/   pure decisions: Cedar access per field class, purposes, masking,
//!                    retention due/keep, alert rules (no IO, no clock)
//!        → codec     seal / open a version's segments (archive/codec.rs): segment names,
//!                    AAD, one rule for a destroyed key (reads as erased)
//!        → crypto/   keyring: per-dossier / per-subject data keys wrapped by the master key
//!        → audit/    ONE durable group-committed batch = change + audit entry (+ Merkle nodes)
//!        → store/    RocksDB column families; every key layout in store/keys.rs;
//!                    typed tables (store::Table) with compare-and-set changes
//!        → search/   tantivy index, after the batch is durable
//!   → response: released fields clear, masked masked, withheld listed in `redactions`
//!
//! jobs/ (one Scheduler, graceful shutdown): checkpoint, retention sweep, alerts
//! domain/: parsed newtypes (ids, roles, classes, purposes) and the dossier template
//! ```
//!
//! Every layer below `api/` is plain Rust with no HTTP types, so the CLI and
//! the scheduled jobs call the same use cases as the REST handlers.
//! docs/architecture.md says which room owns what and where the coming
//! capabilities live.

pub mod api;
pub mod archive;
pub mod audit;
pub mod backup;
pub mod cli;
pub mod clock;
pub mod config;
pub mod console;
pub mod crypto;
pub mod domain;
pub mod jobs;
pub mod metrics;
pub mod policy;
pub mod search;
pub mod server;
pub mod sheet;
pub mod store;
pub mod telemetry;
pub mod web;
