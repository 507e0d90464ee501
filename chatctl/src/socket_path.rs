//! Which admin socket to talk to: `--socket`, else the config file's `[admin] socket`
//! (or `admin.sock` in its `[server] data_dir`; relative to the file's directory, as
//! chatd resolves them), else `$CHATD_ADMIN_SOCKET`, else
//! `./data/admin.sock`, where chatd with no config puts it, unless only the systemd
//! service's `/run/chatd/admin.sock` exists.

use crate::error::Error;
use serde::Deserialize;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The environment variable naming the socket when neither flag does.
pub const ENV_VAR: &str = "CHATD_ADMIN_SOCKET";

/// chatd's data dir when its config does not name one.
const DEFAULT_DATA_DIR: &str = "data";
const SOCKET_FILE: &str = "admin.sock";
/// Where the shipped systemd unit and config put the socket.
pub const SERVICE_SOCKET: &str = "/run/chatd/admin.sock";

/// The few keys of chatd's config chatctl needs; the rest are the daemon's business
/// and ignored, so chatctl keeps working when the daemon's config grows.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct FileConfig {
    server: ServerSection,
    admin: AdminSection,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ServerSection {
    data_dir: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct AdminSection {
    socket: Option<PathBuf>,
}

/// The socket path from the flags and the environment's `CHATD_ADMIN_SOCKET`.
pub fn resolve(
    socket: Option<&Path>,
    config: Option<&Path>,
    env: Option<OsString>,
) -> Result<PathBuf, Error> {
    if let Some(socket) = socket {
        return Ok(socket.to_path_buf());
    }
    if let Some(config) = config {
        let text = std::fs::read_to_string(config)
            .map_err(|e| Error::Config(format!("cannot read {}: {e}", config.display())))?;
        let dir = config.parent().unwrap_or(Path::new(""));
        return from_config_text(&text, dir)
            .map_err(|e| Error::Config(format!("{}: {e}", config.display())));
    }
    if let Some(env) = env.filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(env));
    }
    let local = Path::new(DEFAULT_DATA_DIR).join(SOCKET_FILE);
    if !local.exists() && Path::new(SERVICE_SOCKET).exists() {
        return Ok(PathBuf::from(SERVICE_SOCKET));
    }
    Ok(local)
}

/// The socket path a config file's text gives, for a file in directory `dir`: as
/// chatd does (`Config::resolve_paths`), relative paths in the file, and the default
/// data dir, are relative to the file's directory.
pub fn from_config_text(text: &str, dir: &Path) -> Result<PathBuf, String> {
    let config: FileConfig = toml::from_str(text).map_err(|e| e.to_string())?;
    let path = match (config.admin.socket, config.server.data_dir) {
        (Some(socket), _) => socket,
        (None, Some(data_dir)) => data_dir.join(SOCKET_FILE),
        (None, None) => Path::new(DEFAULT_DATA_DIR).join(SOCKET_FILE),
    };
    Ok(dir.join(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_text_cases() {
        let cases = [
            ("", "data/admin.sock"),
            ("[server]\ndata_dir = \"/var/lib/chatd\"\n", "/var/lib/chatd/admin.sock"),
            (
                "[server]\ndata_dir = \"/var/lib/chatd\"\n[admin]\nsocket = \"/run/chatd/admin.sock\"\n",
                "/run/chatd/admin.sock",
            ),
            (
                "[server]\nname = \"x\"\nlisten = [\"0.0.0.0:6667\"]\n[limits]\nnick_len = 9\n\
                 [[oper]]\nname = \"a\"\n[admin]\ngroup = \"chatd-admins\"\nallow_uids = [1001]\n",
                "data/admin.sock",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(
                from_config_text(text, Path::new("/etc/chatd")).unwrap(),
                Path::new("/etc/chatd").join(want),
                "{text}"
            );
        }
        let here = Path::new("");
        assert!(from_config_text("[admin]\nsocket = 3\n", here).is_err());
        assert!(from_config_text("not toml at all [", here).is_err());
    }

    #[test]
    fn precedence() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("chatd.toml");
        std::fs::write(&conf, "[admin]\nsocket = \"/from/config.sock\"\n").unwrap();
        let env = || Some(OsString::from("/from/env.sock"));
        let flag = Path::new("/from/flag.sock");

        let got = resolve(Some(flag), Some(&conf), env()).unwrap();
        assert_eq!(got, flag);
        let got = resolve(None, Some(&conf), env()).unwrap();
        assert_eq!(got, Path::new("/from/config.sock"));
        let got = resolve(None, None, env()).unwrap();
        assert_eq!(got, Path::new("/from/env.sock"));
        let got = resolve(None, None, Some(OsString::new())).unwrap();
        assert_eq!(got, Path::new("data/admin.sock"));
        let got = resolve(None, None, None).unwrap();
        assert_eq!(got, Path::new("data/admin.sock"));

        let missing = dir.path().join("missing.toml");
        let e = resolve(None, Some(&missing), None).unwrap_err();
        assert!(e.to_string().starts_with("cannot read "), "{e}");
    }
}
