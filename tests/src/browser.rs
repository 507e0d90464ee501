//! A real browser for tests: headless Chromium driven over WebDriver (chromedriver
//! from Debian's `chromium-driver`), with a small blocking HTTP/JSON client. The page
//! is read through scripts run in it; a page has no PING/PONG, so [`Browser::wait`]
//! polls a condition with a deadline, as the terminal tests poll a screen.

use crate::process::{free_port, Running};
use base64::Engine;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long a page may take to show something: longer than a line client's wait,
/// since a browser on a loaded machine is slow to lay out and run scripts.
const PAGE_TIMEOUT: Duration = Duration::from_secs(30);

/// The WebDriver name of an element reference (W3C WebDriver §12.1).
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// One headless Chromium with its own profile, behind its own chromedriver.
pub struct Browser {
    port: u16,
    session: String,
    _driver: Running,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a Chromium session with a fresh profile, the window
    /// `width` × `height` CSS pixels.
    pub fn start(width: u32, height: u32) -> Browser {
        let port = free_port();
        let driver = Running::spawn(
            Command::new("chromedriver")
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver never listened");
            std::thread::sleep(Duration::from_millis(50));
        }
        let profile = tempfile::tempdir().unwrap();
        let args = [
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-dev-shm-usage".into(),
            "--hide-scrollbars".into(),
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let mut options = json!({"binary": chromium_binary(), "args": args});
        if width < 500 {
            // A desktop window is at least 500 px wide: a phone's viewport is emulated.
            options["mobileEmulation"] = json!({"deviceMetrics": {
                "width": width, "height": height, "pixelRatio": 2.0, "touch": true,
            }});
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": options,
        }}});
        // A loaded machine may fail to start Chromium in time: try again, a few times.
        let mut tries = 0;
        let session = loop {
            let answer = request(port, "POST", "/session", Some(&caps));
            if let Some(id) = answer["value"]["sessionId"].as_str() {
                break id.to_string();
            }
            tries += 1;
            assert!(tries < 3, "no WebDriver session: {answer}");
        };
        Browser {
            port,
            session,
            _driver: driver,
            _profile: profile,
        }
    }

    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let path = format!("/session/{}{path}", self.session);
        let answer = request(self.port, method, &path, body);
        if answer["value"].get("error").is_some() {
            panic!("WebDriver {method} {path}: {answer}");
        }
        answer
    }

    /// Opens `url`.
    pub fn goto(&self, url: &str) {
        self.call("POST", "/url", Some(&json!({ "url": url })));
    }

    /// Runs `script` (a function body; `arguments` are `args`) and returns its value.
    pub fn js(&self, script: &str, args: Value) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            Some(&json!({"script": script, "args": args})),
        )["value"]
            .clone()
    }

    /// Waits until `condition` (an expression) is true in the page; panics with
    /// `what` and the page's text at the deadline.
    pub fn wait(&self, condition: &str, what: &str) {
        let deadline = Instant::now() + PAGE_TIMEOUT;
        let script = format!("return Boolean({condition});");
        while self.js(&script, json!([])) != json!(true) {
            if Instant::now() >= deadline {
                let text = self.js("return document.body.innerText;", json!([]));
                panic!(
                    "browser: timed out waiting for {what}\npage text:\n{}",
                    text.as_str().unwrap_or("")
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until the messages shown hold `text`.
    pub fn wait_message(&self, text: &str) {
        let cond = format!(
            "document.getElementById('message-list').innerText.includes({})",
            json!(text)
        );
        self.wait(&cond, &format!("message {text:?}"));
    }

    fn element(&self, css: &str) -> String {
        let answer = self.call(
            "POST",
            "/element",
            Some(&json!({"using": "css selector", "value": css})),
        );
        answer["value"][ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {answer}"))
            .to_string()
    }

    /// Clicks the element `css` (as a user would, through WebDriver).
    pub fn click(&self, css: &str) {
        let id = self.element(css);
        self.call("POST", &format!("/element/{id}/click"), Some(&json!({})));
    }

    /// Types `text` into the element `css` with the keyboard; `\n` is Enter.
    pub fn type_keys(&self, css: &str, text: &str) {
        let id = self.element(css);
        let keys = text.replace('\n', "\u{E007}");
        self.call(
            "POST",
            &format!("/element/{id}/value"),
            Some(&json!({ "text": keys })),
        );
    }

    /// Saves a PNG screenshot of the page at `path` (its folder is created).
    pub fn screenshot(&self, path: &Path) {
        let answer = self.call("GET", "/screenshot", None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(answer["value"].as_str().expect("screenshot data"))
            .expect("screenshot is base64");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(path, png).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ends Chromium; chromedriver itself is killed by `Running`.
        let path = format!("/session/{}", self.session);
        let _ = std::panic::catch_unwind(|| request(self.port, "DELETE", &path, None));
    }
}

/// Debian's Chromium (`/usr/bin/chromium` is a wrapper script; chromedriver wants
/// the binary it starts).
fn chromium_binary() -> String {
    for p in ["/usr/lib/chromium/chromium", "/usr/bin/chromium"] {
        if Path::new(p).exists() {
            return p.to_string();
        }
    }
    "chromium".to_string()
}

/// One WebDriver request over HTTP/1.1 (`Connection: close`), its JSON answer.
fn request(port: u16, method: &str, path: &str, body: Option<&Value>) -> Value {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to chromedriver");
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let body = body.map(Value::to_string).unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body.as_bytes()).unwrap();
    // chromedriver may keep the connection open: read the head, then exactly the
    // body it announces.
    let mut got = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(at) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = s.read(&mut buf).expect("chromedriver answers");
        assert!(
            n > 0,
            "chromedriver closed before answering {method} {path}"
        );
        got.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&got[..head_end]).to_ascii_lowercase();
    let length = head.lines().find_map(|l| {
        l.strip_prefix("content-length:")
            .and_then(|v| v.trim().parse::<usize>().ok())
    });
    let chunked = head.contains("transfer-encoding: chunked");
    loop {
        let body = &got[head_end..];
        let done = match length {
            Some(n) => body.len() >= n,
            None if chunked => body.windows(5).any(|w| w == b"0\r\n\r\n"),
            None => false,
        };
        if done {
            break;
        }
        let n = s.read(&mut buf).expect("chromedriver answers");
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    let raw = String::from_utf8_lossy(&got[head_end..]).into_owned();
    let body = if chunked { dechunk(&raw) } else { raw };
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("chromedriver sent {body:?}: {e}"))
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}
