//! The oxeye binary: command line, configuration, wiring of stores to APIs, signals.
//!
//! `oxeye` / `oxeye serve` run the server ([`run`]); `oxeye check config` validates a file
//! ([`config`]); `oxeye import` sends an exposition file to a running server ([`import`]).

mod alerting;
mod cli;
mod config;
mod import;
mod logging;
mod promqltest;
mod rules_cli;
mod run;
mod status_hooks;
mod store;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{CheckCommand, Cli, Command, SloCommand, TestCommand};

/// The ingest path allocates and frees many small vectors (one per decoded series);
/// mimalloc's thread-local free lists make those much cheaper than the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Check(CheckCommand::Config { files })) => check_config(&files),
        Some(Command::Import(args)) => {
            let quiet = args.quiet;
            match runtime().and_then(|rt| rt.block_on(import::run(args))) {
                Ok((samples, requests)) => {
                    if !quiet {
                        println!("imported {samples} samples in {requests} requests");
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("import failed: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Some(Command::Check(CheckCommand::Rules { files, logql })) => {
            rules_cli::check_rules(&files, logql, &mut std::io::stdout())
        }
        Some(Command::Test(TestCommand::Rules { files })) => {
            rules_cli::test_rules(&files, &mut std::io::stdout())
        }
        Some(Command::Slo(SloCommand::Generate { file })) => {
            rules_cli::slo_generate(&file, &mut std::io::stdout())
        }
        Some(Command::Promqltest { files }) => promqltest::run(&files, &mut std::io::stdout()),
        Some(Command::Serve(args)) => serve(args),
        None => serve(cli.serve),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("oxeye")
        .build()?)
}

fn serve(args: cli::ServeArgs) -> ExitCode {
    if let Err(e) = logging::init(args.log_format, &args.log_level) {
        eprintln!("{e:#}");
        return ExitCode::FAILURE;
    }
    match runtime().and_then(|rt| rt.block_on(run::serve(args))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "oxeye failed");
            ExitCode::FAILURE
        }
    }
}

/// Checks each file like `promtool check config`: prints SUCCESS or the error.
fn check_config(files: &[std::path::PathBuf]) -> ExitCode {
    let mut ok = true;
    for f in files {
        println!("Checking {}", f.display());
        let result = std::fs::read_to_string(f)
            .map_err(anyhow::Error::from)
            .and_then(|text| {
                let mut cfg = config::Config::parse(&text)?;
                cfg.validate()?;
                Ok(cfg)
            });
        match result {
            Ok(cfg) => println!(
                " SUCCESS: {} is valid, {} scrape jobs\n",
                f.display(),
                cfg.scrape_configs.len()
            ),
            Err(e) => {
                eprintln!("  FAILED: {e:#}\n");
                ok = false;
            }
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
