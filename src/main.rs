//! The `wenshu` command line.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                // async-openai logs a reply it cannot parse, whole, as an
                // error; Wenshu logs one line per call itself.
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,async_openai=off")),
        )
        .with_writer(std::io::stderr)
        .init();

    let arguments = cli::Arguments::parse();
    match cli::run(arguments) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
