//! `chatd`: parses arguments, loads the config, sets up logging, then
//! `Server::bind()?.run()`. Nothing else lives here.

use chatd::config::{parse_level, Config};
use chatd::server::StartError;
use chatd::Server;
use clap::Parser;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

/// mimalloc rather than glibc's malloc: the loop allocates a pass's worth of lines
/// and messages and frees them together at the end of the pass, a pattern for which
/// glibc's free (bins full, then consolidation) cost over a third of the loop's time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// An IRC-compatible chat server. With no arguments it listens on 127.0.0.1:6667
/// and keeps its data in ./data.
#[derive(Parser, Debug)]
#[command(name = "chatd", version)]
struct Args {
    /// TOML configuration file (see conf/chatd.toml for every key and its default).
    #[arg(short, long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address to listen on; repeat for several. Replaces `server.listen`.
    #[arg(short, long, value_name = "ADDR", value_parser = parse_listen)]
    listen: Vec<SocketAddr>,
    /// Data directory. Replaces `server.data_dir`.
    #[arg(short, long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Log level: error, warn, info, debug or trace. Replaces `log.level`.
    #[arg(long, value_name = "LEVEL")]
    log_level: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(clap::Subcommand, Debug)]
enum Command {
    /// Read a password from standard input and print its hash, for the `password`
    /// of an `[[oper]]` entry in the config.
    HashPassword {
        /// PBKDF2 iterations.
        #[arg(long, default_value_t = 100_000)]
        iterations: u32,
    },
    /// Copy this node's SQLite database (`server.data_dir`, or `--data-dir`) into
    /// the empty PostgreSQL database of `cluster.database`, then check the row
    /// counts (docs/cluster.md). Run it with chatd stopped.
    Migrate,
}

/// `--listen`: an address and port, with the error in words.
fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    text.parse().map_err(|_| {
        "expected an IP address and port such as 0.0.0.0:6667 or [::]:6667".to_string()
    })
}

/// `chatd hash-password`: one line from stdin, its hash on stdout.
fn hash_password(iterations: u32) -> ExitCode {
    use std::io::IsTerminal;
    if std::io::stdin().is_terminal() {
        eprintln!("Password (the line is shown as you type; pipe it in to avoid that):");
    }
    let mut line = String::new();
    if std::io::stdin().read_line(&mut line).is_err() {
        eprintln!("chatd: cannot read the password from standard input");
        return ExitCode::from(2);
    }
    let password = line.trim_end_matches(['\r', '\n']);
    if password.is_empty() || iterations < 1000 {
        eprintln!("chatd: need a non-empty password and at least 1000 iterations");
        return ExitCode::from(2);
    }
    println!("{}", chatd::store::password::hash(password, iterations));
    ExitCode::SUCCESS
}

/// `chatd migrate`: SQLite in the data dir into PostgreSQL, with what was copied.
fn migrate(config: &Config) -> ExitCode {
    if config.cluster.database.is_empty() {
        eprintln!(
            "chatd: migrate needs cluster.database (the PostgreSQL to copy into) in the config"
        );
        return ExitCode::from(2);
    }
    let data_dir = &config.server.data_dir;
    match chatd::store::migrate_sqlite_to_pg(data_dir, &config.cluster.database) {
        Ok(copied) => {
            for (table, n) in &copied {
                println!("{table}: {n} rows");
            }
            let total: i64 = copied.iter().map(|(_, n)| n).sum();
            println!(
                "copied {total} rows from {} into PostgreSQL; counts checked",
                data_dir.join(chatd::store::DB_FILE).display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("chatd: migrate: {e}");
            ExitCode::from(4)
        }
    }
}

/// Exit codes: 0 clean stop, 1 runtime failure, 2 usage or configuration error,
/// 3 cannot bind a listener, 4 data directory (database, admin socket) unusable,
/// 5 TLS certificate or key unusable.
fn main() -> ExitCode {
    // Files chatd creates hold password hashes and private messages. The store and
    // the log file set 0600 (0700 for the data dir) themselves; this umask covers
    // whatever else is created on chatd's behalf (SQLite's temporary and journal
    // files, a backup's copy), whatever the umask chatd was started with.
    // SAFETY: umask(2) only sets the process's file mode creation mask.
    unsafe {
        libc::umask(0o077);
    }
    let args = Args::parse();
    if let Some(Command::HashPassword { iterations }) = args.command {
        return hash_password(iterations);
    }
    let file_config = match &args.config {
        Some(path) => match Config::load(path) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("chatd: configuration error: {e}");
                return ExitCode::from(2);
            }
        },
        None => Config::default(),
    };
    let mut config = file_config.clone();
    if !args.listen.is_empty() {
        config.server.listen = args.listen.clone();
    }
    if let Some(dir) = &args.data_dir {
        config.server.data_dir = dir.clone();
    }
    if let Some(level) = &args.log_level {
        if parse_level(level).is_none() {
            eprintln!(
                "chatd: invalid value '{level}' for '--log-level': expected one of error, warn, info, debug, trace"
            );
            return ExitCode::from(2);
        }
        config.log.level = level.clone();
    }
    if let Err(e) = config.validate() {
        eprintln!("chatd: configuration error: {e}");
        return ExitCode::from(2);
    }
    if let Some(Command::Migrate) = args.command {
        return migrate(&config);
    }
    if let Err(e) = init_logging(&config) {
        eprintln!("chatd: cannot set up logging: {e}");
        return ExitCode::from(2);
    }
    let server = match Server::bind(config) {
        Ok(mut s) => {
            if let Some(path) = &args.config {
                s.set_config_file(path.clone(), file_config);
            }
            if let Err(e) = s.handle_signals() {
                log::error!("cannot install signal handlers: {e}");
                return ExitCode::from(1);
            }
            s
        }
        Err(e) => {
            log::error!("cannot start: {e}");
            return ExitCode::from(match e {
                StartError::Bind(..) => 3,
                StartError::DataDir(..) | StartError::Store(_) | StartError::Admin(_) => 4,
                StartError::Tls(_) => 5,
                StartError::Poll(_) => 1,
                StartError::Cluster(_) => 6,
            });
        }
    };
    log::info!(
        "{} started (open files limit {})",
        chatd::VERSION,
        chatd::process::raise_nofile()
    );
    chatd::process::notify("READY=1");
    match server.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e)
            if e.get_ref()
                .is_some_and(|e| e.is::<chatd::cluster::IdTaken>()) =>
        {
            log::error!("stopped: {e}");
            ExitCode::from(6)
        }
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
        use std::os::unix::fs::OpenOptionsExt;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| format!("log file {}: {e}", path.display()))?;
        loggers.push(WriteLogger::new(level, log_config, file));
    }
    // `chatctl tail-log -f`: passes on what `level` lets through, only while followed.
    loggers.push(Box::new(chatd::admin::logtap::LogTap { level }));
    // Every line reaches them with control characters escaped (no forged log lines).
    let escaping = chatd::redact::EscapingLogger {
        inner: CombinedLogger::new(loggers),
    };
    log::set_boxed_logger(Box::new(escaping)).map_err(|e| e.to_string())?;
    log::set_max_level(level);
    Ok(())
}
