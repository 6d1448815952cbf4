//! `halo-mcp`: the command line. Chooses the command; the settings and what each command does
//! live in `halo_mcp::cli`.

use std::process::ExitCode;

use halo_mcp::cli::{self, Command};

fn main() -> ExitCode {
    let cli = match cli::parse() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    match cli.command {
        Some(Command::Domains { markdown, names }) => {
            let out = if names {
                halo_mcp::tools::name_lines()
            } else {
                halo_mcp::tools::domain_table(markdown)
            };
            print(&out)
        }
        Some(Command::Clients { markdown }) => print(&halo_mcp::clients::table(markdown)),
        Some(Command::Simulate(args)) => {
            let log = &args.log;
            if let Err(e) = cli::init_logging(log.log_level.as_deref(), log.log_format.as_deref()) {
                return cli::config_exit(&e);
            }
            run(|rt| rt.block_on(cli::simulate(args)))
        }
        Some(Command::Doctor(args)) => run(|rt| rt.block_on(cli::doctor(*args))),
        Some(Command::Healthcheck(args)) => run(|rt| rt.block_on(cli::healthcheck(args))),
        Some(Command::Serve(args)) => {
            run(|rt| cli::finish(rt, |rt| rt.block_on(cli::serve(*args))))
        }
        None => run(|rt| cli::finish(rt, |rt| rt.block_on(cli::serve(cli.serve)))),
    }
}

/// Writes to stdout; a closed pipe (`| head`) is not an error worth a panic.
fn print(out: &str) -> ExitCode {
    use std::io::Write;
    let _ = std::io::stdout().write_all(out.as_bytes());
    ExitCode::SUCCESS
}

/// Runs a command on a fresh multi-threaded runtime.
fn run(command: impl FnOnce(tokio::runtime::Runtime) -> ExitCode) -> ExitCode {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => command(runtime),
        Err(e) => {
            eprintln!("halo-mcp: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}
