//! What a proxy in front tells the server, sans-I/O: which peers are trusted to say it
//! (`trust`), the forwarding headers of a request and the trust walk over them
//! (`forwarded`), the PROXY protocol header that precedes a connection's bytes (`header`),
//! and the uwsgi packets nginx's `uwsgi_pass` sends in place of HTTP (`uwsgi`). No
//! sockets, no timers: `conn` feeds bytes and heads in, and puts the answers in the
//! connection's facts and each request's `Forwarded`.

pub mod forwarded;
pub mod header;
pub mod trust;
pub mod uwsgi;

pub use forwarded::{Client, Forwarded, ForwardedError, Forwarding, HeaderSet, Scheme};
pub use trust::TrustedPeers;
