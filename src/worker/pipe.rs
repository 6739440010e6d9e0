//! The worker's end of its pipe to the master: one byte per `Message`. The master reads the
//! other end (`supervisor::fork`) and turns the bytes into its `Event`s.
//!
//! Design: a pipe, not a socket protocol, because the messages are tiny and one-way; a
//! full pipe drops a message instead of blocking the event loop (the next heartbeat comes
//! soon enough).

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

use super::recycle::Limit;
use crate::log::Level;

/// What a worker tells its master.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Message {
    /// "I serve": sent once, when the accept loops start.
    Ready,
    /// "My event loop turns."
    Beat,
    /// "Replace me": a recycling limit was reached.
    Retire(Limit),
}

impl Message {
    /// The byte on the pipe.
    pub fn to_byte(self) -> u8 {
        match self {
            Message::Ready => b'R',
            Message::Beat => b'.',
            Message::Retire(Limit::MaxRequests) => b'Q',
            Message::Retire(Limit::MaxLifetime) => b'L',
            Message::Retire(Limit::MaxMemory) => b'M',
            Message::Retire(Limit::StuckRequest) => b'S',
        }
    }

    /// The message a byte stands for; `None` for a byte no worker sends.
    pub fn from_byte(byte: u8) -> Option<Message> {
        match byte {
            b'R' => Some(Message::Ready),
            b'.' => Some(Message::Beat),
            b'Q' => Some(Message::Retire(Limit::MaxRequests)),
            b'L' => Some(Message::Retire(Limit::MaxLifetime)),
            b'M' => Some(Message::Retire(Limit::MaxMemory)),
            b'S' => Some(Message::Retire(Limit::StuckRequest)),
            _ => None,
        }
    }
}

/// The write end of a worker's pipe to the master (non-blocking).
#[derive(Debug)]
pub struct MasterPipe {
    fd: OwnedFd,
}

impl MasterPipe {
    pub fn new(fd: OwnedFd) -> MasterPipe {
        MasterPipe { fd }
    }

    /// Sends one message. A full pipe (a master that is not reading) drops it.
    pub fn send(&self, message: Message) {
        let byte = message.to_byte();
        // SAFETY: writes one local byte to a descriptor we own.
        let n = unsafe { libc::write(self.fd.as_raw_fd(), std::ptr::addr_of!(byte).cast(), 1) };
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::WouldBlock {
                log_at!(Level::Debug, "cannot write to the master: {err}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_survives_its_byte() {
        let retires = Limit::ALL.map(Message::Retire);
        for m in [Message::Ready, Message::Beat]
            .iter()
            .chain(&retires)
            .copied()
        {
            assert_eq!(Message::from_byte(m.to_byte()), Some(m));
        }
        assert_eq!(Message::from_byte(b'?'), None);
    }
}
