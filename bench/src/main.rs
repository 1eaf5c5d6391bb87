//! `rustig-bench` (also run as `rustig bench`): measures ingest, hold, restart and release on
//! a synthetic workload and prints the table of BENCHMARKS.md.

// As the `rustig` binary (src/main.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::{Context, Result};
use clap::Parser;
use rustig_bench::Options;
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "rustig bench",
    version,
    about = "Measure ingest, hold, release and restart on a synthetic workload (BENCHMARKS.md)"
)]
struct Cli {
    #[command(flatten)]
    options: Options,
}

#[tokio::main]
async fn main() -> Result<()> {
    // The release loop would log every message at info.
    let filter = EnvFilter::try_from_env("RUSTIG_LOG").unwrap_or_else(|_| EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let opts = Cli::parse().options;
    let progress = |step: &str| eprintln!("bench: {step}");
    let report = rustig_bench::run(&opts, &progress).await?;
    print!("{}", report.table());
    if let Some(path) = &opts.json {
        let json = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, json + "\n").with_context(|| format!("writing {}", path.display()))?;
        eprintln!("bench: results written to {}", path.display());
    }
    Ok(())
}
