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
//!                 → domain type; the console's forms → the same DTOs (form.rs) and
//!                 the same conversions (commands.rs); the use case runs off the
//!                 executor (offload);
//!                 errors → problem+json (error.rs); console sessions
//!   → api/ | console/   REST routes and DTOs | server-rendered pages
//!   → archive/    the services, lowest first (docs/architecture.md, "Services"):
//!                 gate/ (every decision: Cedar operations, the purpose check,
//!                 refusals as typed Denials, audited), vault/ (every sealed record
//!                 kind sealed and opened through one codec; a shredded key reads as
//!                 erased, anything else that does not open is an error), identity/
//!                 (principals, tokens, enrollment, authentication), trail/ (audit queries, proofs, checkpoints,
//!                 alerts), index/ (the search index's upkeep), backups/; and the
//!                 use cases above them, one folder or file each: dossiers/{create,
//!                 read,update,plan,search}, subjects, documents, governance,
//!                 registers, customers, retention/{close,holds,due,batches,destroy,
//!                 certificate,erasure,sweep}; Archive builds them all (Archive::open)
//!        → policy/   pure decisions: Cedar access per field class, purposes, masking,
//!                    retention due/keep, alert rules (no IO, no clock)
//!        → crypto/   keyring: per-dossier / per-subject data keys wrapped by the master key
//!        → audit/    ONE durable group-committed batch = change + audit entry (+ Merkle nodes)
//!        → store/    RocksDB column families; every key layout in store/keys.rs;
//!                    typed tables (store::Table) with compare-and-set changes,
//!                    lookup rows (store::Lookup), mark rows (store::Marks);
//!                    one record codec (store::codec)
//!        → search/   tantivy index (kept by archive::index), after the batch is durable
//!   → response: released fields clear, masked masked, withheld listed in `redactions`
//!
//! jobs/ (one Scheduler, graceful shutdown): checkpoint, retention sweep, alerts
//! domain/: parsed newtypes (ids, roles, classes, purposes), the dossier template and
//!          its field catalog (catalog.rs: paths, classes, labels, inputs, import headers)
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
pub mod layout;
pub mod metrics;
pub mod policy;
pub mod search;
pub mod server;
pub mod sheet;
pub mod store;
pub mod telemetry;
pub mod web;
