//! One client connection of the generator: its socket, where it is in its life, the
//! unfinished line it read and the bytes waiting to go out; and the socket options
//! the abuse test sets (a small-window connect, a reset on close). A [`Pool`] holds
//! the links of the clients one `Poll` drives; what a client does with its lines is
//! its scenario's.
//!
//! [`Pool`]: crate::pool::Pool

use crate::wire;
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use std::io::{self, Read};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, RawFd};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conn {
    /// Not connected yet.
    Waiting,
    /// `connect` was called; the first readiness event tells how it went.
    Connecting,
    Open,
    Closed,
}

pub struct Link {
    pub sock: Option<TcpStream>,
    pub conn: Conn,
    /// The unfinished line of the last read.
    pub partial: Vec<u8>,
    /// Bytes to write.
    pub out: Vec<u8>,
    /// The socket took everything so far (false after `WouldBlock` until the next
    /// writable event).
    pub writable: bool,
    /// Readiness events lead to reads (false once the client stops reading).
    pub reading: bool,
    /// On the owner's dirty list already.
    queued: bool,
}

/// What one read from a link gave.
pub enum Got {
    /// This many bytes, in the buffer given.
    Data(usize),
    /// Nothing more for now.
    Drained,
    /// The server closed the connection.
    Closed,
    Failed(io::Error),
    /// The link has no socket.
    Gone,
}

/// After a readiness event on a connecting socket.
pub enum Connected {
    Now,
    NotYet,
    Failed(io::Error),
}

impl Link {
    pub fn new() -> Link {
        Link {
            sock: None,
            conn: Conn::Waiting,
            partial: Vec::new(),
            out: Vec::new(),
            writable: false,
            reading: true,
            queued: false,
        }
    }

    /// Connects with `connect` and registers the socket under `token`.
    pub fn connect(
        &mut self,
        registry: &Registry,
        token: Token,
        connect: impl FnOnce() -> io::Result<TcpStream>,
    ) -> io::Result<()> {
        let mut sock = connect()?;
        registry.register(&mut sock, token, Interest::READABLE | Interest::WRITABLE)?;
        self.sock = Some(sock);
        self.conn = Conn::Connecting;
        Ok(())
    }

    /// Whether a connecting socket is connected now. On success the link is open,
    /// writable, and has `TCP_NODELAY`.
    pub fn finish_connect(&mut self) -> Connected {
        let Some(sock) = self.sock.as_mut() else {
            return Connected::NotYet;
        };
        let status = match sock.take_error() {
            Ok(Some(e)) | Err(e) => Err(e),
            Ok(None) => sock.peer_addr().map(|_| ()),
        };
        match status {
            Ok(()) => {
                let _ = sock.set_nodelay(true);
                self.conn = Conn::Open;
                self.writable = true;
                Connected::Now
            }
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Connected::NotYet,
            Err(e) => Connected::Failed(e),
        }
    }

    /// Appends `bytes` to the output of an open link. True if the link must go on the
    /// owner's dirty list (see [`Link::mark_queued`]).
    pub fn queue(&mut self, bytes: &[u8]) -> bool {
        if self.conn != Conn::Open {
            return false;
        }
        self.out.extend_from_slice(bytes);
        self.mark_queued()
    }

    /// For an owner that wrote into `out` itself: true the first time since the last
    /// flush, when the link must go on the owner's dirty list.
    pub fn mark_queued(&mut self) -> bool {
        !std::mem::replace(&mut self.queued, true)
    }

    /// Writes what the socket takes now (see [`wire::write_pending`]); the error
    /// that ends the connection, if any.
    pub fn flush(&mut self) -> Option<io::Error> {
        self.queued = false;
        let sock = self.sock.as_mut()?;
        wire::write_pending(sock, &mut self.out, &mut self.writable)
    }

    /// One read into `buf`.
    pub fn read(&mut self, buf: &mut [u8]) -> Got {
        let Some(sock) = self.sock.as_mut() else {
            return Got::Gone;
        };
        loop {
            return match sock.read(buf) {
                Ok(0) => Got::Closed,
                Ok(n) => Got::Data(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Got::Drained,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => Got::Failed(e),
            };
        }
    }
}

/// Sets SO_LINGER to 0, so that closing `sock` sends an RST instead of a FIN; best
/// effort.
pub fn set_linger_zero(sock: &TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: the fd is open (the caller owns the socket) and `linger` lives for the call.
    unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

/// Sets an integer socket option, best effort.
fn set_int_opt(fd: RawFd, level: libc::c_int, name: libc::c_int, value: libc::c_int) {
    // SAFETY: `fd` is an open socket of the caller's and `value` lives for the call.
    unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

/// Starts a non-blocking connect from a socket with the given MSS and receive
/// buffer, which only count if set before the handshake. IPv4 only (spawned servers
/// listen on 127.0.0.1); other addresses get a plain connect.
pub fn connect_small(
    addr: SocketAddr,
    mss: libc::c_int,
    rcvbuf: libc::c_int,
) -> io::Result<TcpStream> {
    let SocketAddr::V4(v4) = addr else {
        return TcpStream::connect(addr);
    };
    let flags = libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
    // SAFETY: plain socket(2) call; the result is checked.
    let fd = unsafe { libc::socket(libc::AF_INET, flags, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a new socket that nothing else owns; the stream closes it.
    let sock = unsafe { std::net::TcpStream::from_raw_fd(fd) };
    set_int_opt(fd, libc::IPPROTO_TCP, libc::TCP_MAXSEG, mss);
    set_int_opt(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, rcvbuf);
    let sa = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: v4.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*v4.ip()).to_be(),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: `sa` is a valid sockaddr_in that lives for the call.
    let r = unsafe {
        libc::connect(
            fd,
            (&sa as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    if r != 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINPROGRESS) {
            return Err(e);
        }
    }
    Ok(TcpStream::from_std(sock))
}
