//! The metrics listener (`--metrics-bind`), served by the master from its poll(2) loop:
//! `GET /metrics`, `/livez`, `/readyz`. The master is single-threaded and must never block
//! on a client, so every socket is non-blocking and every client is bounded: one request
//! per connection (answered with `Connection: close`), a head of at most `MAX_HEAD`
//! bytes, `CLIENT_TIME` from accept to the last byte written, `MAX_CLIENTS` at once (more
//! are closed at accept). What to answer is the caller's (`observe`); the answers are
//! `conn::Page`s, the one home of the server's own responses.

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

use bytes::BytesMut;

use crate::conn::Page;
use crate::http::encode::ConnectionHeader;
use crate::http::{self, HttpError, Limits, RequestHead};
use crate::listener::Listener;
use crate::log::Level;

/// Clients served at once. 16: a scraper, a probe or two and a curl need far fewer; chosen
/// without measurement.
const MAX_CLIENTS: usize = 16;
/// The longest request head. A scraper's is under 300 bytes.
const MAX_HEAD: usize = 8 * 1024;
/// From accept to the end of the answer. A local scraper takes milliseconds; a client that
/// takes longer only loses its answer.
const CLIENT_TIME: Duration = Duration::from_secs(5);

enum Stream {
    Tcp(std::net::TcpStream),
    Unix(std::os::unix::net::UnixStream),
}

impl Stream {
    fn fd(&self) -> RawFd {
        match self {
            Stream::Tcp(s) => s.as_raw_fd(),
            Stream::Unix(s) => s.as_raw_fd(),
        }
    }

    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }

    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }
}

/// One client: reading its head, then writing its answer.
struct Client {
    stream: Stream,
    head: BytesMut,
    /// The encoded answer and how much of it is written.
    answer: Option<(BytesMut, usize)>,
    deadline: Instant,
}

/// What a client is done with after a poll.
enum Progress {
    Open,
    Done,
}

/// See the module docs.
pub(super) struct StatusServer {
    listener: Listener,
    clients: Vec<Client>,
    limits: Limits,
}

impl StatusServer {
    /// Serves `listener` (made non-blocking here).
    ///
    /// # Errors
    /// The socket cannot be made non-blocking.
    pub(super) fn new(listener: Listener) -> io::Result<StatusServer> {
        match &listener {
            Listener::Tcp(l) => l.set_nonblocking(true)?,
            Listener::Unix(l, _) => l.set_nonblocking(true)?,
        }
        let limits = Limits {
            max_request_line_bytes: 1024,
            max_head_bytes: MAX_HEAD,
            ..Limits::default()
        };
        Ok(StatusServer {
            listener,
            clients: Vec::new(),
            limits,
        })
    }

    /// The listener, for logging its address.
    pub(super) fn listener(&self) -> &Listener {
        &self.listener
    }

    /// Adds the descriptors to poll: the listener, then each client (for reading its head
    /// or writing its answer). `on_ready` takes the same slice back.
    pub(super) fn poll_fds(&self, fds: &mut Vec<libc::pollfd>) {
        fds.push(libc::pollfd {
            fd: self.listener.raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        });
        for client in &self.clients {
            let events = if client.answer.is_some() {
                libc::POLLOUT
            } else {
                libc::POLLIN
            };
            fds.push(libc::pollfd {
                fd: client.stream.fd(),
                events,
                revents: 0,
            });
        }
    }

    /// The earliest client deadline, for the poll timeout.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.clients.iter().map(|c| c.deadline).min()
    }

    /// Handles what `fds` (as `poll_fds` laid them out, after poll) say is ready, answering
    /// each complete request with `answer(head)`; then drops clients past their deadline.
    pub(super) fn on_ready(
        &mut self,
        fds: &[libc::pollfd],
        answer: &mut dyn FnMut(&RequestHead) -> Page,
    ) {
        let now = Instant::now();
        let mut keep = Vec::with_capacity(self.clients.len());
        let clients = std::mem::take(&mut self.clients);
        for (client, pfd) in clients.into_iter().zip(fds.iter().skip(1)) {
            let mut client = client;
            let progress = if pfd.revents == 0 {
                Progress::Open
            } else {
                self.progress(&mut client, answer)
            };
            if matches!(progress, Progress::Open) && now < client.deadline {
                keep.push(client);
            }
        }
        self.clients = keep;
        if fds.first().is_some_and(|l| l.revents != 0) {
            self.accept(now);
        }
    }

    fn accept(&mut self, now: Instant) {
        loop {
            let accepted = match &self.listener {
                Listener::Tcp(l) => l.accept().map(|(s, _)| Stream::Tcp(s)),
                Listener::Unix(l, _) => l.accept().map(|(s, _)| Stream::Unix(s)),
            };
            let stream = match accepted {
                Ok(stream) => stream,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return,
                Err(err) => {
                    // EMFILE and the like: the next poll tries again.
                    log_at!(Level::Warning, "metrics listener: accept failed: {err}");
                    return;
                }
            };
            if self.clients.len() >= MAX_CLIENTS {
                log_at!(
                    Level::Warning,
                    "metrics listener: {MAX_CLIENTS} clients already; closing a new one"
                );
                continue;
            }
            let nonblocking = match &stream {
                Stream::Tcp(s) => s.set_nonblocking(true),
                Stream::Unix(s) => s.set_nonblocking(true),
            };
            if nonblocking.is_err() {
                continue;
            }
            self.clients.push(Client {
                stream,
                head: BytesMut::new(),
                answer: None,
                deadline: now + CLIENT_TIME,
            });
        }
    }

    fn progress(
        &self,
        client: &mut Client,
        answer: &mut dyn FnMut(&RequestHead) -> Page,
    ) -> Progress {
        if client.answer.is_none() {
            let mut chunk = [0u8; 2048];
            loop {
                match client.stream.read(&mut chunk) {
                    Ok(0) => return Progress::Done,
                    Ok(n) => client.head.extend_from_slice(&chunk[..n]),
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                    Err(_) => return Progress::Done,
                }
                if client.head.len() > MAX_HEAD {
                    break;
                }
            }
            let (page, head_only) = match http::parse::request_head(&mut client.head, &self.limits)
            {
                Ok(None) if client.head.len() <= MAX_HEAD => return Progress::Open,
                Ok(None) => (Page::Rejected(HttpError::HeadTooLarge), false),
                Ok(Some(head)) => (answer(&head), head.is_head()),
                Err(err) => (Page::Rejected(err), false),
            };
            let mut out = BytesMut::new();
            page.encode_http1(&mut out, head_only, ConnectionHeader::Close);
            client.answer = Some((out, 0));
        }
        let Some((out, written)) = client.answer.as_mut() else {
            return Progress::Done;
        };
        while *written < out.len() {
            match client.stream.write(&out[*written..]) {
                Ok(0) => return Progress::Done,
                Ok(n) => *written += n,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Progress::Open,
                Err(_) => return Progress::Done,
            }
        }
        Progress::Done
    }
}
