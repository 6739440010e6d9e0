//! The user and group a worker runs as (`--user`, `--group`): switched to after the fork,
//! before the app is loaded, so app code never runs with the master's privileges.

use std::io;

/// Switches this process to `group` then `user` (the group first: after setuid the process
/// may no longer change groups). Supplementary groups are reduced to `group`. Without
/// `group`, the user's primary group is used, as gunicorn does. Must run while the process
/// has one thread (right after fork).
///
/// # Errors
/// The OS refused a switch.
pub fn switch(user: Option<u32>, group: Option<u32>) -> io::Result<()> {
    // SAFETY: getpwuid returns NULL or a pointer valid until the next call; this process
    // has one thread (just forked), so nothing else calls it meanwhile.
    let group = group.or_else(|| {
        user.and_then(|uid| unsafe {
            let entry = libc::getpwuid(uid);
            (!entry.is_null()).then(|| (*entry).pw_gid)
        })
    });
    // SAFETY: plain system calls on this process's credentials.
    unsafe {
        if let Some(gid) = group {
            if libc::setgroups(1, &raw const gid) != 0 || libc::setgid(gid) != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        if let Some(uid) = user {
            if libc::setuid(uid) != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        if user.is_some() || group.is_some() {
            // The kernel clears the parent-death signal when credentials change
            // (commit_creds): arm it again, or a worker whose master is killed serves on as
            // an orphan. A master that died before this is seen as a new parent (init).
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            if libc::getppid() == 1 {
                return Err(io::Error::other("the master is gone"));
            }
        }
    }
    Ok(())
}
