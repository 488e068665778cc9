//! Thin: parse the command line, set up telemetry, run.

// glibc malloc showed as ~17% of server CPU under load (many small JSON and
// audit-entry allocations across threads); mimalloc cuts that.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    // While the process has one thread: the local offset (for backup_at)
    // cannot be read soundly later.
    let _ = custos::config::local_offset();
    custos::telemetry::init();
    custos::cli::main()
}
