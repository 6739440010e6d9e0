//! The access record of one request: what is taken when its exchange starts (only when an
//! access log is configured: two clock reads and a copy of the head's field list per
//! request otherwise spent for nothing), and the line written when it ends. Protocol-
//! independent: an HTTP/2 stream will write its record the same way.

use std::time::{Instant, SystemTime};

use crate::http::RequestHead;
use crate::log;

/// What the record needs from the start of an exchange.
pub(super) struct AccessStart {
    head: RequestHead,
    wall: SystemTime,
    started: Instant,
}

impl AccessStart {
    /// `None` when there is no access log.
    pub(super) fn take(head: &RequestHead) -> Option<AccessStart> {
        log::access().is_some().then(|| AccessStart {
            head: head.clone(),
            wall: SystemTime::now(),
            started: Instant::now(),
        })
    }

    /// Writes the record: `status` 0 and no bytes when no response was sent. `remote` is
    /// the client (after forwarding), `peer` the socket's own peer.
    pub(super) fn write(
        &self,
        remote: &str,
        peer: &str,
        status: u16,
        body_bytes: u64,
        response_headers: &[u8],
    ) {
        let Some(format) = log::access() else { return };
        let record = log::access::Record {
            remote,
            peer,
            head: &self.head,
            status,
            body_bytes,
            started: self.wall,
            elapsed: self.started.elapsed(),
            response_headers,
        };
        log::write_access(format.render(&record).as_bytes());
    }
}
