//! Ferrule: a WSGI server whose per-request work runs in Rust.
//!
//! # Layout
//! - `http`: sans-I/O HTTP/1.1 (parse heads, decode bodies, encode responses). No I/O.
//! - `config`: the typed settings the Python side hands over.
//! - `listener`: binding sockets (TCP, IPv6, unix).
//! - `server`: inside a worker: the runtime, the accept loop, connection limits, drain.
//! - `conn`: one connection: the socket, timeouts, keep-alive, body streaming.
//! - `bridge`: the message types between `conn` and the Python side; `trait Handler`.
//! - `pool`: the Python threads that implement `Handler`.
//! - `wsgi`: PEP 3333: environ, `start_response`, `wsgi.input`, `wsgi.errors`, the response.
//! - `log`: error log and access log.
//! - `supervisor`: the master: phases, signals, forking, reaping, reloads, recycling,
//!   heartbeats; and the worker's end of its pipe to the master.
//! - `python`: the `#[pymodule]` entry points.
//!
//! Dependencies point one way: `python` → `server` → `conn` → (`http`, `bridge`) and
//! `pool` → `wsgi` → `bridge`. Only `python`, `pool` and `wsgi` use pyo3.

pub mod http;
#[macro_use]
pub mod log;
pub mod bridge;
pub mod config;
pub mod conn;
pub mod listener;
pub mod pool;
mod python;
pub mod relay;
pub mod server;
pub mod supervisor;
pub mod wsgi;
