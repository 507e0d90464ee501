//! Who is on the other end of the admin socket (`SO_PEERCRED`), and the socket
//! file's mode and group.

use mio::net::UnixStream;
use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::io::AsRawFd;
use std::path::Path;

/// The peer's uid and gid, from the kernel (`SO_PEERCRED`), not from anything it sent.
pub fn cred_of(sock: &UnixStream) -> io::Result<(u32, u32)> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `cred` and `len` are valid for writes of the sizes given, and the fd is
    // an open socket owned by `sock` for the duration of the call.
    let rc = unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    if rc == 0 {
        Ok((cred.uid, cred.gid))
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Who may use the socket besides chatd's own uid and root.
#[derive(Debug, Clone, Default)]
pub struct Allowed {
    pub uids: Vec<u32>,
    /// The configured group: its gid, and its members' uids.
    pub gid: Option<u32>,
    pub members: Vec<u32>,
}

impl Allowed {
    /// The configured uids, plus the group's gid and members when a group is set.
    pub fn new(uids: &[u32], group: Option<&str>) -> Allowed {
        let mut allowed = Allowed {
            uids: uids.to_vec(),
            ..Allowed::default()
        };
        if let Some(group) = group {
            allowed.gid = gid_of(group);
            allowed.members = members_of(group);
        }
        allowed
    }

    /// Our own uid, root, the configured uids, and the configured group (as primary
    /// group or member).
    pub fn admits(&self, uid: u32, gid: u32) -> bool {
        // SAFETY: geteuid has no preconditions and cannot fail.
        let me = unsafe { libc::geteuid() };
        uid == me
            || uid == 0
            || self.uids.contains(&uid)
            || self.gid == Some(gid)
            || self.members.contains(&uid)
    }
}

/// uids of the users listed as members of `group` in the group database.
fn members_of(group: &str) -> Vec<u32> {
    let Ok(name) = CString::new(group) else {
        return Vec::new();
    };
    let mut names = Vec::new();
    // SAFETY: as in `gid_of`; the member list is a null-terminated array of C strings
    // in the same static storage, copied out before any other call.
    unsafe {
        let entry = libc::getgrnam(name.as_ptr());
        if entry.is_null() {
            return Vec::new();
        }
        let mut p = (*entry).gr_mem;
        while !p.is_null() && !(*p).is_null() {
            names.push(std::ffi::CStr::from_ptr(*p).to_owned());
            p = p.add(1);
        }
    }
    names
        .iter()
        .filter_map(|n| {
            // SAFETY: `n` is a valid C string; getpwnam returns null or a valid entry,
            // read at once.
            unsafe {
                let pw = libc::getpwnam(n.as_ptr());
                (!pw.is_null()).then(|| (*pw).pw_uid)
            }
        })
        .collect()
}

/// `0600`, or `0660` owned by `group`.
pub fn set_mode(path: &Path, group: Option<&str>) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = if group.is_some() { 0o660 } else { 0o600 };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("cannot set the mode of {}: {e}", path.display()))?;
    let Some(group) = group else {
        return Ok(());
    };
    let gid = gid_of(group).ok_or_else(|| format!("admin.group: no group named {group:?}"))?;
    let c_path = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| format!("bad path {}", path.display()))?;
    // SAFETY: `c_path` is a valid NUL-terminated string; -1 leaves the owner unchanged.
    let rc = unsafe { libc::chown(c_path.as_ptr(), u32::MAX, gid) };
    if rc != 0 {
        return Err(format!(
            "cannot give {} to group {group}: {}",
            path.display(),
            io::Error::last_os_error()
        ));
    }
    Ok(())
}

fn gid_of(group: &str) -> Option<u32> {
    let name = CString::new(group).ok()?;
    // SAFETY: `name` is a valid NUL-terminated string. getgrnam returns a pointer into
    // static storage or null; it is read at once, before any other call that may
    // reuse that storage (the loop thread is the only caller).
    let entry = unsafe { libc::getgrnam(name.as_ptr()) };
    if entry.is_null() {
        return None;
    }
    // SAFETY: non-null, so it points at a valid `group` struct.
    Some(unsafe { (*entry).gr_gid })
}
