//! Ferrule: a WSGI server whose per-request work runs in Rust.
//!
//! # Layout
//! - `http`: sans-I/O HTTP/1.1: parse heads, decode bodies, encode responses. No I/O.
//! - `log`: the error log and the access log.
//! - `metrics`: this process's counters (shared with the master), the master's totals,
//!   and their Prometheus and statsd forms.
//! - `proxy`: sans-I/O, what a proxy in front says: trusted peers, the forwarding headers'
//!   trust walk, the PROXY protocol header, uwsgi packets.
//! - `title`: process titles (`ferrule: worker 1 [app]`).
//! - `config`: the typed settings, and the one list of the settings the core reads.
//! - `relay`: the channels between a connection task and the threads running the app.
//! - `listener`: binding and inheriting listening sockets (TCP, IPv6, unix, `fd://`).
//! - `tls`: loading certificates and keys into a rustls config (the master does, once).
//! - `static_files`: static files (`--static-map`), sans-I/O: routing a request to a mount,
//!   safe paths, conditional and range requests, precompressed siblings, response heads.
//! - `bridge`: the seam between connections and the app side: `Request`, `Job`, the event
//!   types, `trait Handler`.
//! - `conn`: one connection: the socket, timeouts, keep-alive, the HTTP/1.1 exchange,
//!   HTTP/2 streams (over the `h2` crate).
//! - `server`: inside a worker: the accept loops, connection limits, the drain.
//! - `worker`: the worker process, from fork to exit: identity, signals, heartbeats,
//!   recycling; the app side comes in through `worker::AppHost`.
//! - `wsgi`: PEP 3333: environ, `start_response`, `wsgi.input`, `wsgi.errors`, the response.
//! - `asgi`: ASGI 3.0: the scope, `receive` and `send`, lifespan, and the asyncio loop of a
//!   worker, which implements `Handler`.
//! - `pool`: the Python threads that run WSGI jobs; implements `Handler`.
//! - `supervisor`: the master: phases, signals, forking, reaping, reloads, recycling.
//! - `python`: the `#[pymodule]` façade: settings, errors, the server hooks' call points,
//!   the master's and the worker's Python sides.
//!
//! Only `python`, `pool`, `wsgi` and `asgi` use pyo3.
//!
//! # Dependencies
//! Each module may use only the modules on the lines below its own (lowest last):
//! - `python`
//! - `supervisor`, `pool`
//! - `worker`, `wsgi`, `asgi`
//! - `server`
//! - `conn`
//! - `bridge`, `listener`, `tls`, `static_files`
//! - `relay`, `config`
//! - `log`, `proxy`
//! - `metrics`
//! - `http`, `title`
//!
//! `tests/python/unit/test_layout.py` checks every `crate::` path against these lines.

/// Ferrule's Rust allocations go to mimalloc (Python's own stay with pymalloc): see the
/// dependency's note in Cargo.toml.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod http;
#[macro_use]
pub mod log;
pub mod asgi;
pub mod bridge;
pub mod config;
pub mod conn;
pub mod listener;
pub mod metrics;
pub mod pool;
pub mod proxy;
mod python;
pub mod relay;
pub mod server;
pub mod static_files;
pub mod supervisor;
pub mod title;
pub mod tls;
pub mod worker;
pub mod wsgi;
