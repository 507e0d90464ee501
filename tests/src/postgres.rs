//! A throwaway PostgreSQL server for the cluster tests, started from Debian's
//! packages (`initdb` and `postgres` in `/usr/lib/postgresql/<version>/bin`, the
//! newest version): a data dir in a temp dir, listening on a Unix socket only,
//! run as `nobody` when the tests run as root (PostgreSQL refuses root).
//!
//! [`database`] gives each test a fresh database (`CREATE DATABASE`) on one server
//! shared by the test process, started on first use. [`PgServer::start`] runs a
//! server of a test's own, which it may stop and start again;
//! [`PgServer::start_tls`] one that also listens on 127.0.0.1 with TLS. A server is stopped
//! (SIGINT, a fast shutdown) when its test process ends however it ends
//! (`PR_SET_PDEATHSIG`, the keeper thread never exits), and the data dirs that
//! processes left behind are removed by the next one ([`reap`]).

use crate::client::TIMEOUT;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{mpsc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The prefix of every data dir this kit makes in the temp dir, followed by the pid
/// of the test process.
const PREFIX: &str = "chatd-pg-";

/// The directory of `initdb` and `postgres`, the newest version first.
pub fn postgres_bin() -> Option<PathBuf> {
    let mut dirs: Vec<_> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("initdb").is_file() && bin.join("postgres").is_file())
        .collect();
    dirs.sort();
    dirs.pop()
}

/// A PostgreSQL server of the test process.
pub struct PgServer {
    /// Holds `data/` (the cluster) and `sock/` (the Unix socket).
    dir: PathBuf,
    port: u16,
    /// Also listening on 127.0.0.1:`port`, with TLS (`start_tls`).
    tls: bool,
    /// The postmaster's pid while it runs.
    pid: Mutex<Option<u32>>,
}

/// The uid and gid to run PostgreSQL as: `nobody` when we are root, else ourselves.
fn run_as() -> Option<(u32, u32)> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let name = std::ffi::CString::new("nobody").unwrap();
    // SAFETY: getpwnam with a valid C string; the result is read at once, before
    // any other call that could overwrite it.
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    assert!(!pw.is_null(), "no user nobody to run PostgreSQL as");
    // SAFETY: pw is non-null and points to a valid passwd entry.
    Some(unsafe { ((*pw).pw_uid, (*pw).pw_gid) })
}

fn chown_all(path: &Path, (uid, gid): (u32, u32)) {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid)).expect("chown");
    if path.is_dir() {
        for e in std::fs::read_dir(path).expect("read dir") {
            chown_all(&e.expect("dir entry").path(), (uid, gid));
        }
    }
}

/// Removes the data dirs of test processes that are gone.
pub fn reap() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let Some(pid) = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('-').next())
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        // SAFETY: kill with signal 0 only checks that the process exists.
        let alive = unsafe { libc::kill(pid, 0) } == 0
            || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
        if !alive {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

impl PgServer {
    /// A new cluster (initdb), started. Panics if PostgreSQL is not installed.
    pub fn start() -> PgServer {
        PgServer::init(false)
    }

    /// A new cluster that also listens on 127.0.0.1 with TLS, its certificate for
    /// `localhost` made by [`crate::tls::make_cert`]; the certificate's path, for
    /// `sslrootcert`, is `dir/server.crt` ([`PgServer::cert_path`]).
    pub fn start_tls() -> PgServer {
        PgServer::init(true)
    }

    /// The TLS certificate of a server from [`PgServer::start_tls`].
    pub fn cert_path(&self) -> PathBuf {
        self.dir.join("server.crt")
    }

    fn init(tls: bool) -> PgServer {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        reap();
        let bin = postgres_bin().expect("PostgreSQL is installed (initdb, postgres)");
        let dir = std::env::temp_dir().join(format!(
            "{PREFIX}{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("sock")).expect("create the PostgreSQL dir");
        if tls {
            let (_, key, _) = crate::tls::make_cert(&dir, "server");
            // PostgreSQL refuses a key others may read.
            std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600))
                .expect("chmod the key");
        }
        let user = run_as();
        if let Some(ids) = user {
            chown_all(&dir, ids);
        }
        let mut initdb = Command::new(bin.join("initdb"));
        initdb
            .args(["-D", "data", "-U", "postgres", "-A", "trust", "--no-sync"])
            .args(["-E", "UTF8", "--locale=C"])
            .current_dir(&dir)
            .stdin(Stdio::null());
        if let Some((uid, gid)) = user {
            initdb.uid(uid).gid(gid);
        }
        let out = initdb.output().expect("run initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let server = PgServer {
            dir,
            port: if tls {
                crate::process::free_port()
            } else {
                5432
            },
            tls,
            pid: Mutex::new(None),
        };
        server.run();
        server
    }

    /// Starts the postmaster on the cluster and waits until it takes connections.
    pub fn run(&self) {
        let bin = postgres_bin().expect("PostgreSQL is installed");
        let (tx, rx) = mpsc::channel();
        let (dir, port, user, tls) = (self.dir.clone(), self.port, run_as(), self.tls);
        // The keeper thread spawns the postmaster and waits for it: PR_SET_PDEATHSIG
        // fires when the spawning thread ends, so that thread ends only with the
        // postmaster or the test process.
        std::thread::spawn(move || {
            let mut cmd = Command::new(bin.join("postgres"));
            // The socket dir is absolute: the postmaster works in its data dir.
            let listen = if tls { "127.0.0.1" } else { "" };
            cmd.args([
                "-D",
                "data",
                "-c",
                &format!("listen_addresses={listen}"),
                "-k",
            ])
            .arg(dir.join("sock"))
            .args(["-p", &port.to_string(), "-c", "fsync=off"])
            .args(["-c", "max_connections=200"])
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("log")).map_or(Stdio::null(), Stdio::from));
            if tls {
                cmd.args(["-c", "ssl=on", "-c"])
                    .arg(format!(
                        "ssl_cert_file={}",
                        dir.join("server.crt").display()
                    ))
                    .arg("-c")
                    .arg(format!("ssl_key_file={}", dir.join("server.key").display()));
            }
            if let Some((uid, gid)) = user {
                cmd.uid(uid).gid(gid);
            }
            // SAFETY: prctl is async-signal-safe and touches no memory of ours.
            unsafe {
                cmd.pre_exec(|| {
                    if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGINT) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
            let mut child = cmd.spawn().expect("start postgres");
            let _ = tx.send(child.id());
            let _ = child.wait();
        });
        let pid = rx.recv().expect("the postmaster started");
        *self.pid.lock().unwrap() = Some(pid);
        let deadline = Instant::now() + TIMEOUT;
        loop {
            match postgres::Client::connect(&self.url("postgres"), postgres::NoTls) {
                Ok(_) => return,
                Err(e) if Instant::now() >= deadline => panic!(
                    "PostgreSQL did not start within {TIMEOUT:?}: {e}; its log: {}",
                    std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
                ),
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    /// Stops the postmaster (fast shutdown: clients are disconnected) and waits
    /// until it has exited.
    pub fn stop(&self) {
        let Some(pid) = self.pid.lock().unwrap().take() else {
            return;
        };
        // SAFETY: kill(2) on the postmaster we started.
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGINT) };
        let deadline = Instant::now() + TIMEOUT;
        // SAFETY: signal 0 only checks that the process exists.
        while unsafe { libc::kill(pid as libc::pid_t, 0) } == 0 {
            assert!(Instant::now() < deadline, "PostgreSQL did not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
        // Its pid file goes last; a new postmaster refuses to start while it is there.
        while self.dir.join("data/postmaster.pid").exists() {
            assert!(Instant::now() < deadline, "PostgreSQL left its pid file");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A connection string for database `db` (libpq's key=value form).
    pub fn url(&self, db: &str) -> String {
        format!(
            "host={} port={} user=postgres dbname={db}",
            self.dir.join("sock").display(),
            self.port
        )
    }

    /// A connection string for database `db` over TCP to `localhost` with TLS
    /// required and the server's certificate as the only root (a server from
    /// [`PgServer::start_tls`]).
    pub fn tls_url(&self, db: &str) -> String {
        format!(
            "host=localhost port={} user=postgres dbname={db} sslmode=require sslrootcert={}",
            self.port,
            self.cert_path().display()
        )
    }

    /// A fresh, empty database; its name.
    pub fn create_database_named(&self) -> String {
        let url = self.create_database();
        url.rsplit("dbname=").next().unwrap_or_default().to_string()
    }

    /// A fresh, empty database; its connection string.
    pub fn create_database(&self) -> String {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let name = format!("t{}", SEQ.fetch_add(1, Ordering::Relaxed));
        let mut admin = postgres::Client::connect(&self.url("postgres"), postgres::NoTls)
            .expect("connect to PostgreSQL");
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("CREATE DATABASE");
        self.url(&name)
    }

    /// Runs `sql` on database `url` and returns the first column of its rows, as
    /// text.
    pub fn query(url: &str, sql: &str) -> Vec<String> {
        let mut c = postgres::Client::connect(url, postgres::NoTls).expect("connect");
        c.simple_query(sql)
            .expect("query")
            .into_iter()
            .filter_map(|m| match m {
                postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
                _ => None,
            })
            .collect()
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The test process's shared server, started on first use.
pub fn shared() -> &'static PgServer {
    static SERVER: OnceLock<PgServer> = OnceLock::new();
    SERVER.get_or_init(PgServer::start)
}

/// A fresh database on the shared server; its connection string.
pub fn database() -> String {
    shared().create_database()
}
