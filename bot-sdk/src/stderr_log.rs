//! [`log_to_stderr`]: what a bot does (connecting, logging in, reconnecting, errors)
//! as lines on stderr, for the examples and for bots without a logger of their own.

use std::io::Write;

/// Prints the bot's log to stderr, one line per event with the time and level:
/// connections, logins, disconnections and the delay before the next try, and
/// errors. The level is `info`, or the `BOT_LOG` environment variable (`error`,
/// `warn`, `info`, `debug`, `trace`: the last shows every line sent and received,
/// passwords redacted). Does nothing if the program set a logger already.
pub fn log_to_stderr() {
    let level = std::env::var("BOT_LOG")
        .ok()
        .and_then(|v| v.parse::<log::LevelFilter>().ok())
        .unwrap_or(log::LevelFilter::Info);
    static LOGGER: std::sync::OnceLock<StderrLog> = std::sync::OnceLock::new();
    let logger = LOGGER.get_or_init(|| StderrLog { level });
    if log::set_logger(logger).is_ok() {
        log::set_max_level(logger.level);
    }
}

struct StderrLog {
    level: log::LevelFilter,
}

impl log::Log for StderrLog {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= self.level
    }

    fn log(&self, record: &log::Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let time = chrono::Utc::now().format("%H:%M:%S");
        let level = record.level().as_str().to_lowercase();
        // One write per line, so that lines from several threads do not mix.
        let line = format!("{time} {level}: {}\n", record.args());
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    fn flush(&self) {}
}
