//! `chatctl`: runs one admin command (`chatctl users`) or, with no command, the
//! interactive shell. Everything else lives in the library (see `lib.rs`).

use chatctl::cli::Cli;
use chatctl::{interrupt, run, shell, socket_path, Error};
use clap::Parser;
use std::io::IsTerminal;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let env = std::env::var_os(socket_path::ENV_VAR);
    let outcome = socket_path::resolve(cli.socket.as_deref(), cli.config.as_deref(), env).and_then(
        |socket| match &cli.command {
            None => shell::run(&socket, cli.json),
            Some(command) => {
                // Ctrl-C then ends a stream cleanly (cancelled, exit 0) and any other
                // wait with "interrupted".
                if let Err(e) = interrupt::install() {
                    eprintln!("cannot catch Ctrl-C: {e}");
                }
                let done = run::execute(&socket, command, cli.json, &mut std::io::stdout().lock());
                // The terminal echoed ^C; end its line so the shell prompt starts clean.
                if interrupt::is_set() && std::io::stderr().is_terminal() {
                    eprintln!();
                }
                done
            }
        },
    );
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        // `chatctl tail-log -f | head`: the reader has what it wanted.
        Err(Error::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}
