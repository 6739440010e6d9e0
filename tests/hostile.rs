//! Panic containment without Python: `server::run` on port 0 with fake handlers that panic
//! or drop their job at each point of an exchange. Each fault must cost only its own
//! request (a 500 when nothing was sent yet, else a cut connection), release its permits,
//! and leave the worker serving the next client. (The real pool's `catch_unwind` around
//! `wsgi::call_app` turns a panic into exactly such a dropped job.)

use std::io::{Read, Write};
use std::sync::Arc;
use std::thread;

use _ferrule::bridge::{Handler, Job, ResponseEvent, ResponseHead};
use _ferrule::config::Config;
use bytes::Bytes;

/// Runs each job on its own thread with `respond`, except that a request for
/// `/panic-in-dispatch` panics in `dispatch` itself, on the connection's task.
struct Fake<F>(Arc<F>);

impl<F: Fn(Job) + Send + Sync + 'static> Handler for Fake<F> {
    fn dispatch(&self, job: Job) -> Result<(), Job> {
        assert!(
            job.request.head.path() != b"/panic-in-dispatch",
            "fake handler panics in dispatch"
        );
        let f = Arc::clone(&self.0);
        thread::spawn(move || f(job));
        Ok(())
    }
}

mod common;

use common::{send, Running};

/// Sends one request on a fresh connection; everything the server sent until it closed
/// (the request asks it to).
fn exchange(server: &Running, path: &str) -> String {
    let mut s = server.connect();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut out = Vec::new();
    // A reset after a cut response is as good as EOF here.
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn assert_serves(server: &Running) {
    let out = exchange(server, "/ok");
    assert!(
        out.starts_with("HTTP/1.1 200 OK\r\n") && out.ends_with("\r\n\r\n/ok"),
        "{out}"
    );
}

fn start<F: Fn(Job) + Send + Sync + 'static>(config: Config, respond: F) -> Running {
    common::start_handler(config, Arc::new(Fake(Arc::new(respond))))
}

/// A 200 head, with a Content-Length when given.
fn head(content_length: Option<u64>) -> ResponseHead {
    let headers = content_length.map_or_else(String::new, |n| format!("Content-Length: {n}\r\n"));
    common::head("200 OK", &headers, content_length)
}

/// `/ok` answers its path; the other paths fail at the point they name.
fn faulty(job: Job) {
    let path = String::from_utf8_lossy(job.request.head.path()).into_owned();
    match path.as_str() {
        "/panic-before-head" => panic!("fake app panics before its head"),
        "/panic-after-head" => {
            send(
                &job,
                ResponseEvent::Start {
                    head: head(None),
                    body: Bytes::from_static(b"part"),
                    end: false,
                },
            );
            panic!("fake app panics after its head");
        }
        "/panic-while-reading" => {
            send(&job, ResponseEvent::NeedBody);
            let _ = job.request.body.recv();
            panic!("fake app panics after reading");
        }
        "/drop-while-reading" => {
            send(&job, ResponseEvent::NeedBody);
            drop(job);
        }
        "/drop-after-head" => {
            send(
                &job,
                ResponseEvent::Start {
                    head: head(Some(100)),
                    body: Bytes::from_static(b"part"),
                    end: false,
                },
            );
            drop(job);
        }
        _ => {
            let body = Bytes::from(path.into_bytes());
            let h = head(Some(body.len() as u64));
            send(
                &job,
                ResponseEvent::Start {
                    head: h,
                    body,
                    end: true,
                },
            );
        }
    }
}

fn config() -> Config {
    Config::with_binds(vec![])
}

#[test]
fn a_job_that_panics_before_its_head_costs_its_request_a_500() {
    let server = start(config(), faulty);
    for path in [
        "/panic-before-head",
        "/panic-while-reading",
        "/drop-while-reading",
    ] {
        let out = exchange(&server, path);
        assert!(
            out.starts_with("HTTP/1.1 500 Internal Server Error\r\n"),
            "{path}: {out}"
        );
        assert!(out.contains("\r\nConnection: close\r\n"), "{path}: {out}");
        assert_serves(&server);
    }
}

#[test]
fn a_job_that_fails_after_its_head_cuts_only_its_connection() {
    let server = start(config(), faulty);
    for path in ["/panic-after-head", "/drop-after-head"] {
        let out = exchange(&server, path);
        assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{path}: {out}");
        // The body is cut short: no last chunk, or fewer bytes than the declared 100.
        assert!(!out.ends_with("0\r\n\r\n"), "{path}: {out}");
        assert!(
            out.len() < out.find("\r\n\r\n").expect("a head") + 4 + 100,
            "{path}: {out}"
        );
        assert_serves(&server);
    }
}

#[test]
fn a_dispatch_that_panics_costs_only_its_connection_and_returns_its_permit() {
    // One connection at a time: if the panicking connection kept its permit, the next
    // client would wait in the backlog forever.
    let mut c = config();
    c.max_connections = 1;
    let server = start(c, faulty);
    for _ in 0..3 {
        let out = exchange(&server, "/panic-in-dispatch");
        assert_eq!(out, "", "the connection is dropped without a response");
        assert_serves(&server);
    }
}

#[test]
fn panicking_jobs_give_back_their_request_permits() {
    // Request permits are one per thread plus 64 queued; 200 panics would use them all up if
    // a panicking job kept its permit.
    let server = start(config(), faulty);
    for _ in 0..200 {
        let out = exchange(&server, "/panic-before-head");
        assert!(out.starts_with("HTTP/1.1 500 "), "{out}");
    }
    assert_serves(&server);
}

#[test]
fn a_panic_on_one_connection_does_not_disturb_another_in_flight() {
    let server = start(config(), faulty);
    let mut steady = server.connect();
    steady
        .write_all(b"GET /first HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    let mut buf = [0u8; 1024];
    let n = steady.read(&mut buf).expect("read");
    assert!(String::from_utf8_lossy(&buf[..n]).ends_with("/first"));
    for path in [
        "/panic-before-head",
        "/panic-after-head",
        "/panic-in-dispatch",
    ] {
        let _ = exchange(&server, path);
    }
    steady
        .write_all(b"GET /second HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("write");
    let mut rest = Vec::new();
    steady.read_to_end(&mut rest).expect("read");
    let rest = String::from_utf8_lossy(&rest);
    assert!(
        rest.starts_with("HTTP/1.1 200 OK\r\n") && rest.ends_with("/second"),
        "{rest}"
    );
}
