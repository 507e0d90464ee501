//! Who is on the other end of the admin socket (`SO_PEERCRED`), and who the socket
//! file lets connect: its mode and group, and a POSIX ACL for `allow_uids`.

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

/// `e_tag` values of a Linux POSIX ACL entry (`linux/posix_acl.h`).
const ACL_USER_OBJ: u16 = 0x01;
const ACL_USER: u16 = 0x02;
const ACL_GROUP_OBJ: u16 = 0x04;
const ACL_MASK: u16 = 0x10;
const ACL_OTHER: u16 = 0x20;
/// The id of the entries that have none.
const ACL_UNDEFINED_ID: u32 = u32::MAX;
/// Read and write: what `connect(2)` on a Unix socket needs.
const ACL_RW: u16 = 0o6;

/// The `system.posix_acl_access` value that lets the file's owner, each of `uids`
/// and (with `group`) the file's group read and write, and nobody else: version 2,
/// then (tag, perm, id) entries, little-endian, sorted by tag then id.
fn acl_value(uids: &[u32], group: bool) -> Vec<u8> {
    let mut uids = uids.to_vec();
    uids.sort_unstable();
    uids.dedup();
    let mut entries = vec![(ACL_USER_OBJ, ACL_RW, ACL_UNDEFINED_ID)];
    entries.extend(uids.iter().map(|&uid| (ACL_USER, ACL_RW, uid)));
    let group_perm = if group { ACL_RW } else { 0 };
    entries.push((ACL_GROUP_OBJ, group_perm, ACL_UNDEFINED_ID));
    entries.push((ACL_MASK, ACL_RW, ACL_UNDEFINED_ID));
    entries.push((ACL_OTHER, 0, ACL_UNDEFINED_ID));
    let mut value = 2u32.to_le_bytes().to_vec();
    for (tag, perm, id) in entries {
        value.extend_from_slice(&tag.to_le_bytes());
        value.extend_from_slice(&perm.to_le_bytes());
        value.extend_from_slice(&id.to_le_bytes());
    }
    value
}

/// Lets each of `uids` open the socket file, through a POSIX access ACL (as
/// `setfacl -m u:<uid>:rw` would), keeping the group's access as `set_mode` left it
/// and everyone else out. chatd's uid and root need no entry.
pub fn grant_uids(path: &Path, uids: &[u32], group: bool) -> Result<(), String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    let uids: Vec<u32> = uids
        .iter()
        .copied()
        .filter(|&u| u != me && u != 0)
        .collect();
    if uids.is_empty() {
        return Ok(());
    }
    let value = acl_value(&uids, group);
    let c_path = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| format!("bad path {}", path.display()))?;
    // SAFETY: both strings are valid and NUL-terminated, and `value` is valid for
    // reads of its length for the duration of the call.
    let rc = unsafe {
        libc::setxattr(
            c_path.as_ptr(),
            c"system.posix_acl_access".as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if rc != 0 {
        let e = io::Error::last_os_error();
        let why = if e.raw_os_error() == Some(libc::EOPNOTSUPP) {
            "the file system has no POSIX ACLs; put the socket on one that has (ext4, xfs, \
             tmpfs such as /run) or use admin.group instead"
                .to_string()
        } else {
            e.to_string()
        };
        return Err(format!(
            "admin.allow_uids: cannot let uids {uids:?} open {}: {why}",
            path.display()
        ));
    }
    Ok(())
}

/// Who the socket's directory keeps out although the config lets them in: a
/// warning for each (the socket file's own permissions cannot help them).
pub fn unreachable_warnings(path: &Path, uids: &[u32], group: Option<&str>) -> Vec<String> {
    use std::os::unix::fs::MetadataExt;
    let dir = match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(d) => d,
        None => Path::new("."),
    };
    let Ok(meta) = std::fs::metadata(dir) else {
        return Vec::new();
    };
    let mode = meta.mode();
    let other_x = mode & 0o001 != 0;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    let mut warnings = Vec::new();
    let shut_out: Vec<u32> = uids
        .iter()
        .copied()
        .filter(|&u| u != me && u != 0 && u != meta.uid() && !other_x)
        .collect();
    let advice = "set admin.socket to a path in a directory they may enter, such as \
                  /run/chatd/admin.sock";
    if !shut_out.is_empty() {
        warnings.push(format!(
            "admin.allow_uids: uids {shut_out:?} cannot reach {}: its directory {} is mode \
             {:04o}; {advice}",
            path.display(),
            dir.display(),
            mode & 0o7777
        ));
    }
    if let Some(group) = group {
        let group_x = gid_of(group) == Some(meta.gid()) && mode & 0o010 != 0;
        if !group_x && !other_x {
            warnings.push(format!(
                "admin.group: members of {group} cannot reach {}: its directory {} is mode \
                 {:04o}; {advice}",
                path.display(),
                dir.display(),
                mode & 0o7777
            ));
        }
    }
    warnings
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_acl_lists_each_uid_once_in_order_and_shuts_out_the_rest() {
        let value = acl_value(&[1002, 1001, 1002], false);
        let entries: Vec<(u16, u16, u32)> = value[4..]
            .chunks(8)
            .map(|e| {
                (
                    u16::from_le_bytes([e[0], e[1]]),
                    u16::from_le_bytes([e[2], e[3]]),
                    u32::from_le_bytes([e[4], e[5], e[6], e[7]]),
                )
            })
            .collect();
        assert_eq!(&value[..4], &2u32.to_le_bytes());
        assert_eq!(
            entries,
            vec![
                (ACL_USER_OBJ, 6, ACL_UNDEFINED_ID),
                (ACL_USER, 6, 1001),
                (ACL_USER, 6, 1002),
                (ACL_GROUP_OBJ, 0, ACL_UNDEFINED_ID),
                (ACL_MASK, 6, ACL_UNDEFINED_ID),
                (ACL_OTHER, 0, ACL_UNDEFINED_ID),
            ]
        );
        let with_group = acl_value(&[1001], true);
        assert_eq!(&with_group[20..22], &ACL_GROUP_OBJ.to_le_bytes());
        assert_eq!(&with_group[22..24], &6u16.to_le_bytes());
    }

    #[test]
    fn a_private_directory_is_named_in_a_warning() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("admin.sock");
        let set = |mode| {
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(mode)).unwrap()
        };
        set(0o700);
        let warnings = unreachable_warnings(&socket, &[4242], None);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("4242") && warnings[0].contains("0700"));
        set(0o755);
        assert!(unreachable_warnings(&socket, &[4242], None).is_empty());
        assert!(unreachable_warnings(&socket, &[], None).is_empty());
    }
}
