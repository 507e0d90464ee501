//! The web client (`daemon/web/`), compiled into the binary so that there is
//! nothing to deploy: each file with its type and an ETag computed at compile time.

/// One file served at `path`.
pub struct File {
    pub path: &'static str,
    pub content_type: &'static str,
    pub body: &'static [u8],
    /// FNV-1a of the body: the ETag, so a reload revalidates with a 304.
    pub etag: u64,
}

/// FNV-1a, 64 bits; `const` so the ETags cost nothing at run time.
const fn fnv(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    hash
}

macro_rules! file {
    ($name:literal, $type:literal) => {
        File {
            path: concat!("/", $name),
            content_type: $type,
            body: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/web/", $name)),
            etag: fnv(include_bytes!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/web/",
                $name
            ))),
        }
    };
}

/// Every file of the web client; `/` is `index.html`.
pub static FILES: &[File] = &[
    file!("index.html", "text/html; charset=utf-8"),
    file!("style.css", "text/css; charset=utf-8"),
    file!("app.js", "text/javascript; charset=utf-8"),
    file!("irc.js", "text/javascript; charset=utf-8"),
    file!("icon.svg", "image/svg+xml"),
];

/// The file served at `path` (without its query string).
pub fn find(path: &str) -> Option<&'static File> {
    let path = if path == "/" { "/index.html" } else { path };
    FILES.iter().find(|f| f.path == path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_is_found_and_etags_differ() {
        assert_eq!(find("/").map(|f| f.path), Some("/index.html"));
        assert!(find("/../Cargo.toml").is_none());
        for f in FILES {
            assert!(find(f.path).is_some());
            assert!(!f.body.is_empty(), "{} is empty", f.path);
        }
        let mut tags: Vec<u64> = FILES.iter().map(|f| f.etag).collect();
        tags.sort_unstable();
        tags.dedup();
        assert_eq!(tags.len(), FILES.len());
    }
}
