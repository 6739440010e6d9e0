//! USR1 under `--user`: the master reopens the log files and hands the open files to each
//! worker over a unix datagram socket (`SCM_RIGHTS`), so a worker never opens a log file by
//! path. Owns the message (one datagram: a tag byte per descriptor, `e` error log, `a`
//! access log, and the descriptors in that order); when to send is the supervisor's.
//!
//! Why not only gunicorn's way (the master `chown`s the files to the workers' user, and each
//! worker reopens by path): that needs the workers' user to reach the files, and a log
//! directory made by a package (`/var/log/myapp`, root, 0700 or 0750) does not let it.
//! The chown stays for Python `logging` handlers (`--log-config`), which reopen by path.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// A sink's tag in the datagram.
pub const ERROR_LOG: u8 = b'e';
pub const ACCESS_LOG: u8 = b'a';
/// The tag of a hand-over without files (the master logs to the console or to Python).
const NOTHING: u8 = b'-';

/// Room for the descriptors of one datagram (the error log and the access log).
const MAX_FDS: usize = 2;

/// A connected pair of unix datagram sockets, close-on-exec and non-blocking: the master
/// keeps the first, the worker the second.
///
/// # Errors
/// socketpair(2) failed.
pub fn channel() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: `fds` has room for the two descriptors socketpair writes.
    let rc = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            0,
            fds.as_mut_ptr(),
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: socketpair succeeded, so both are fresh descriptors we own.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Sends `files` (tag, open descriptor) as one datagram; the descriptors are duplicated
/// into the receiver, ours stay open. No files is still a datagram (`NOTHING`): the
/// worker's Python `logging` handlers reopen on it.
///
/// # Errors
/// sendmsg(2) failed (the worker is gone, or has not read a dozen earlier hand-overs).
pub fn send(socket: &OwnedFd, files: &[(u8, RawFd)]) -> io::Result<()> {
    let files = &files[..files.len().min(MAX_FDS)];
    let fds: Vec<RawFd> = files.iter().map(|(_, fd)| *fd).collect();
    let mut tags: Vec<u8> = files.iter().map(|(tag, _)| *tag).collect();
    if tags.is_empty() {
        tags.push(NOTHING);
    }
    let mut iov = libc::iovec {
        iov_base: tags.as_mut_ptr().cast(),
        iov_len: tags.len(),
    };
    let mut control = ControlBuffer::new();
    // SAFETY: msghdr is plain data; every pointer set below outlives the sendmsg call, and
    // the control buffer has room for `fds.len()` descriptors (MAX_FDS at most).
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &raw mut iov;
        msg.msg_iovlen = 1;
        if !fds.is_empty() {
            msg.msg_control = control.bytes.as_mut_ptr().cast();
            msg.msg_controllen = libc::CMSG_SPACE(fd_bytes(fds.len())) as usize;
            let cmsg = libc::CMSG_FIRSTHDR(&raw const msg);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(fd_bytes(fds.len())) as usize;
            std::ptr::copy_nonoverlapping(
                fds.as_ptr().cast::<u8>(),
                libc::CMSG_DATA(cmsg),
                fds.len() * std::mem::size_of::<RawFd>(),
            );
        }
        if libc::sendmsg(socket.as_raw_fd(), &raw const msg, libc::MSG_NOSIGNAL) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The files of the newest datagram waiting on `socket` (tag, descriptor), earlier ones
/// closed; `None` when none is waiting (a USR1 that did not come from the master).
///
/// # Errors
/// recvmsg(2) failed for another reason than an empty queue.
pub fn receive(socket: &OwnedFd) -> io::Result<Option<Vec<(u8, OwnedFd)>>> {
    let mut newest = None;
    loop {
        let mut tags = [0u8; MAX_FDS];
        let mut iov = libc::iovec {
            iov_base: tags.as_mut_ptr().cast(),
            iov_len: tags.len(),
        };
        let mut control = ControlBuffer::new();
        // SAFETY: as in `send`; the kernel writes at most `msg_controllen` bytes of control
        // data and `iov_len` bytes of payload into our buffers.
        let (n, fds) = unsafe {
            let mut msg: libc::msghdr = std::mem::zeroed();
            msg.msg_iov = &raw mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = control.bytes.as_mut_ptr().cast();
            msg.msg_controllen = control.bytes.len();
            let n = libc::recvmsg(
                socket.as_raw_fd(),
                &raw mut msg,
                libc::MSG_DONTWAIT | libc::MSG_CMSG_CLOEXEC,
            );
            if n < 0 {
                let err = io::Error::last_os_error();
                if err.kind() == io::ErrorKind::WouldBlock {
                    return Ok(newest);
                }
                return Err(err);
            }
            let mut fds = Vec::new();
            let mut cmsg = libc::CMSG_FIRSTHDR(&raw const msg);
            while !cmsg.is_null() {
                if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                    let data = libc::CMSG_DATA(cmsg);
                    let bytes = (*cmsg).cmsg_len - (data as usize - cmsg as usize);
                    for i in 0..bytes / std::mem::size_of::<RawFd>() {
                        let mut raw = [0u8; std::mem::size_of::<RawFd>()];
                        std::ptr::copy_nonoverlapping(
                            data.add(i * raw.len()),
                            raw.as_mut_ptr(),
                            raw.len(),
                        );
                        let fd = RawFd::from_ne_bytes(raw);
                        // The kernel installed it in this process for us: ours to own.
                        fds.push(OwnedFd::from_raw_fd(fd));
                    }
                }
                cmsg = libc::CMSG_NXTHDR(&raw const msg, cmsg);
            }
            (usize::try_from(n).unwrap_or(0), fds)
        };
        if n == 0 {
            // Not ours (ours carry a tag at least); the queue may hold more.
            continue;
        }
        // Pair tags with descriptors; a descriptor without a tag is closed (dropped).
        newest = Some(tags[..n.min(fds.len())].iter().copied().zip(fds).collect());
    }
}

fn fd_bytes(count: usize) -> u32 {
    u32::try_from(count * std::mem::size_of::<RawFd>()).expect("at most MAX_FDS descriptors")
}

/// A control-message buffer aligned for `cmsghdr`, with room for `MAX_FDS` descriptors.
#[repr(C, align(8))]
struct ControlBuffer {
    bytes: [u8; 64],
}

impl ControlBuffer {
    fn new() -> ControlBuffer {
        ControlBuffer { bytes: [0; 64] }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Seek, Write};

    #[test]
    fn open_files_cross_the_channel_and_the_newest_hand_over_wins() {
        let (master, worker) = channel().expect("socketpair");
        assert!(receive(&worker).expect("empty queue").is_none());
        let dir = std::env::temp_dir();
        let old = tempfile_in(&dir, "old");
        let new = tempfile_in(&dir, "new");
        send(&master, &[(ERROR_LOG, old.as_raw_fd())]).expect("send");
        send(
            &master,
            &[(ERROR_LOG, new.as_raw_fd()), (ACCESS_LOG, old.as_raw_fd())],
        )
        .expect("send");
        let files = receive(&worker).expect("recv").expect("a hand-over");
        assert_eq!(
            files.iter().map(|(t, _)| *t).collect::<Vec<_>>(),
            [ERROR_LOG, ACCESS_LOG]
        );
        // The received descriptor writes to the same open file as the master's.
        let mut received = std::fs::File::from(files.into_iter().next().expect("two").1);
        received.write_all(b"line\n").expect("write");
        let mut check = new.try_clone().expect("dup");
        check.rewind().expect("seek");
        let mut text = String::new();
        check.read_to_string(&mut text).expect("read");
        assert_eq!(text, "line\n");
        assert!(receive(&worker).expect("empty again").is_none());
        // No files is a hand-over too.
        send(&master, &[]).expect("send");
        let files = receive(&worker).expect("recv").expect("a hand-over");
        assert!(files.is_empty());
    }

    fn tempfile_in(dir: &std::path::Path, name: &str) -> std::fs::File {
        let path = dir.join(format!("ferrule-handover-{}-{name}", std::process::id()));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(&path)
            .expect("temp file");
        // Unlinked at once: the open file is all the test needs.
        let _ = std::fs::remove_file(&path);
        file
    }
}
