//! systemd's notification protocol (`sd_notify(3)`): one datagram of `KEY=value` lines to the
//! unix socket named by `$NOTIFY_SOCKET`, a path or, with a leading `@`, an abstract name.
//! Owns the socket and the message texts; when to say what is the supervisor's
//! (`ServiceState`), said through `Spawn::service_state`.
//!
//! Written here rather than taken from a crate: the protocol is one `sendto(2)` of a few
//! bytes, and `std`'s `UnixDatagram` (with `SocketAddrExt::from_abstract_name` for abstract
//! names) covers it; the crates that do this (`sd-notify`, `libsystemd`) add nothing we use.

use std::io;
use std::os::unix::net::{SocketAddr, UnixDatagram};

use super::ServiceState;
use crate::log::Level;

/// The environment variable systemd sets for `Type=notify` services.
pub const NOTIFY_SOCKET_ENV: &str = "NOTIFY_SOCKET";

/// Where notifications go, when the master runs under systemd (`$NOTIFY_SOCKET` set).
#[derive(Debug)]
pub struct Notifier {
    target: Option<Target>,
}

#[derive(Debug)]
struct Target {
    /// `$NOTIFY_SOCKET` as given, for the log.
    name: String,
    address: SocketAddr,
    socket: UnixDatagram,
    /// A failure is logged once; systemd that cannot be reached once is usually gone for
    /// good (a unit without `Type=notify` sets no socket, so this is a misconfiguration).
    failed: bool,
}

impl Notifier {
    /// From `$NOTIFY_SOCKET`; a notifier that says nothing when it is unset or empty. A
    /// value that is not a socket address is logged, and nothing is said.
    pub fn from_env() -> Notifier {
        let Some(name) = std::env::var_os(NOTIFY_SOCKET_ENV) else {
            return Notifier { target: None };
        };
        let name = name.to_string_lossy().into_owned();
        if name.is_empty() {
            return Notifier { target: None };
        }
        match Self::open(&name) {
            Ok((address, socket)) => Notifier {
                target: Some(Target {
                    name,
                    address,
                    socket,
                    failed: false,
                }),
            },
            Err(err) => {
                log_at!(
                    Level::Warning,
                    "cannot notify systemd ({NOTIFY_SOCKET_ENV}={name}): {err}"
                );
                Notifier { target: None }
            }
        }
    }

    fn open(name: &str) -> io::Result<(SocketAddr, UnixDatagram)> {
        let address = if let Some(abstract_name) = name.strip_prefix('@') {
            use std::os::linux::net::SocketAddrExt;
            SocketAddr::from_abstract_name(abstract_name.as_bytes())?
        } else if name.starts_with('/') {
            SocketAddr::from_pathname(name)?
        } else {
            // sd_notify(3) accepts only absolute paths and abstract names.
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "neither an absolute path nor an abstract name (@...)",
            ));
        };
        // Close-on-exec (std's default): a new master (USR2) opens its own.
        let socket = UnixDatagram::unbound()?;
        Ok((address, socket))
    }

    /// Says `state` to systemd (nothing when not under systemd). `main_pid` is sent with
    /// `Ready` by a master that takes over from another (USR2), so systemd follows it.
    pub fn notify(&mut self, state: ServiceState, main_pid: Option<u32>) {
        let Some(target) = &mut self.target else {
            return;
        };
        let text = message(state, main_pid, monotonic_usec());
        if let Err(err) = target.socket.send_to_addr(text.as_bytes(), &target.address) {
            if !target.failed {
                target.failed = true;
                log_at!(
                    Level::Warning,
                    "cannot notify systemd ({NOTIFY_SOCKET_ENV}={}): {err}",
                    target.name
                );
            }
        }
    }
}

/// The datagram for `state`: `sd_notify(3)`'s variables, one per line.
fn message(state: ServiceState, main_pid: Option<u32>, now_usec: u64) -> String {
    match (state, main_pid) {
        (ServiceState::Ready, Some(pid)) => format!("MAINPID={pid}\nREADY=1"),
        (ServiceState::Ready, None) => "READY=1".to_owned(),
        // `MONOTONIC_USEC` lets `Type=notify-reload` (systemd 253) match this reload to
        // the signal it sent.
        (ServiceState::Reloading, _) => format!("RELOADING=1\nMONOTONIC_USEC={now_usec}"),
        (ServiceState::Stopping, _) => "STOPPING=1".to_owned(),
    }
}

/// `CLOCK_MONOTONIC` in microseconds, the clock `MONOTONIC_USEC` is read against.
fn monotonic_usec() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec we own; CLOCK_MONOTONIC always exists.
    unsafe {
        libc::clock_gettime(libc::CLOCK_MONOTONIC, &raw mut now);
    }
    let secs = u64::try_from(now.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(now.tv_nsec).unwrap_or(0);
    secs * 1_000_000 + nanos / 1_000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_follow_sd_notify() {
        let rows = [
            (ServiceState::Ready, None, "READY=1"),
            (ServiceState::Ready, Some(42), "MAINPID=42\nREADY=1"),
            (
                ServiceState::Reloading,
                None,
                "RELOADING=1\nMONOTONIC_USEC=7",
            ),
            (ServiceState::Stopping, None, "STOPPING=1"),
        ];
        for (state, pid, expected) in rows {
            assert_eq!(message(state, pid, 7), expected);
        }
    }

    #[test]
    fn only_absolute_paths_and_abstract_names_are_addresses() {
        assert!(Notifier::open("/run/systemd/notify").is_ok());
        assert!(Notifier::open("@abstract").is_ok());
        assert!(Notifier::open("relative/path").is_err());
    }
}
