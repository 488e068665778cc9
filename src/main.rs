//! Thin: parse the command line, set up telemetry, run.

fn main() -> std::process::ExitCode {
    custos::telemetry::init();
    custos::cli::main()
}
