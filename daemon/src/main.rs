//! `chatd`: parses arguments, loads the config, sets up logging, then
//! `Server::bind()?.run()`. Nothing else lives here.

use chatd::config::{parse_level, Config};
use chatd::server::StartError;
use chatd::Server;
use clap::Parser;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

/// An IRC-compatible chat server. With no arguments it listens on 127.0.0.1:6667
/// and keeps its data in ./data.
#[derive(Parser, Debug)]
#[command(name = "chatd", version)]
struct Args {
    /// TOML configuration file (see conf/chatd.toml for every key and its default).
    #[arg(short, long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address to listen on; repeat for several. Replaces `server.listen`.
    #[arg(short, long, value_name = "ADDR")]
    listen: Vec<SocketAddr>,
    /// Data directory. Replaces `server.data_dir`.
    #[arg(short, long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Log level: error, warn, info, debug or trace. Replaces `log.level`.
    #[arg(long, value_name = "LEVEL")]
    log_level: Option<String>,
}

/// Exit codes: 0 clean stop, 1 runtime failure, 2 usage or configuration error,
/// 3 cannot bind a listener, 4 data directory unusable.
fn main() -> ExitCode {
    let args = Args::parse();
    let mut config = match &args.config {
        Some(path) => match Config::load(path) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("chatd: configuration error: {e}");
                return ExitCode::from(2);
            }
        },
        None => Config::default(),
    };
    if !args.listen.is_empty() {
        config.server.listen = args.listen.clone();
    }
    if let Some(dir) = &args.data_dir {
        config.server.data_dir = dir.clone();
    }
    if let Some(level) = &args.log_level {
        config.log.level = level.clone();
    }
    if let Err(e) = config.validate() {
        eprintln!("chatd: configuration error: {e}");
        return ExitCode::from(2);
    }
    if let Err(e) = init_logging(&config) {
        eprintln!("chatd: cannot set up logging: {e}");
        return ExitCode::from(2);
    }
    let server = match Server::bind(config) {
        Ok(s) => s,
        Err(e) => {
            log::error!("cannot start: {e}");
            return ExitCode::from(match e {
                StartError::Bind(..) => 3,
                StartError::DataDir(..) | StartError::Store(_) => 4,
                StartError::Poll(_) => 1,
            });
        }
    };
    log::info!("{} started", chatd::VERSION);
    match server.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("event loop failed: {e}");
            ExitCode::from(1)
        }
    }
}

fn init_logging(config: &Config) -> Result<(), String> {
    use simplelog::{
        ColorChoice, CombinedLogger, ConfigBuilder, SharedLogger, TermLogger, TerminalMode,
        WriteLogger,
    };
    let level = parse_level(&config.log.level).ok_or("bad log level")?;
    use std::io::IsTerminal;
    let log_config = ConfigBuilder::new()
        .set_time_format_rfc3339()
        .set_target_level(log::LevelFilter::Off)
        .set_thread_level(log::LevelFilter::Off)
        .build();
    // Colour only on a terminal: journald and log files get plain text.
    let mut loggers: Vec<Box<dyn SharedLogger>> = if std::io::stderr().is_terminal() {
        vec![TermLogger::new(
            level,
            log_config.clone(),
            TerminalMode::Stderr,
            ColorChoice::Auto,
        )]
    } else {
        vec![WriteLogger::new(
            level,
            log_config.clone(),
            std::io::stderr(),
        )]
    };
    if let Some(path) = &config.log.file {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| format!("log file {}: {e}", path.display()))?;
        loggers.push(WriteLogger::new(level, log_config, file));
    }
    CombinedLogger::init(loggers).map_err(|e| e.to_string())
}
