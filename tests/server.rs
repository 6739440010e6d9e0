//! `server::run` with fake Rust handlers on port 0, checked byte by byte from a plain
//! blocking client. No Python: these cover `server` and `conn` against the `bridge`
//! contract alone.

// Fake handlers take the job by value: that is the `Handler` contract.
#![allow(clippy::needless_pass_by_value)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use _ferrule::bridge::{BodyEvent, Job, ResponseEvent};
use _ferrule::config::Config;
use bytes::Bytes;

mod common;

use common::{head, send, start};

fn config() -> Config {
    Config::with_binds(vec![])
}

/// Responds with the request path as the body, with a Content-Length.
fn echo_path(job: Job) {
    let path = String::from_utf8_lossy(job.request.head.path()).into_owned();
    if path == "/slow" {
        thread::sleep(Duration::from_millis(200));
    }
    let body = Bytes::from(path.into_bytes());
    let h = head(
        "200 OK",
        &format!("Content-Length: {}\r\n", body.len()),
        Some(body.len() as u64),
    );
    send(
        &job,
        ResponseEvent::Start {
            head: h,
            body,
            end: true,
        },
    );
}

/// Reads from `s` until `n` complete responses (Content-Length framed) have arrived.
fn read_responses(s: &mut TcpStream, n: usize) -> Vec<(String, String)> {
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        while let Some(end) = find(&buf, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let len: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().expect("cl"))
                })
                .unwrap_or(0);
            if buf.len() < end + 4 + len {
                break;
            }
            let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).into_owned();
            buf.drain(..end + 4 + len);
            out.push((head, body));
            if out.len() == n {
                return out;
            }
        }
        let got = s.read(&mut chunk).expect("read");
        assert!(
            got > 0,
            "EOF after {} responses; buffered {:?}",
            out.len(),
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..got]);
    }
}

fn read_to_end(s: &mut TcpStream) -> String {
    let mut v = Vec::new();
    let _ = s.read_to_end(&mut v);
    String::from_utf8_lossy(&v).into_owned()
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[test]
fn serves_a_response_with_date_and_server_headers() {
    let server = start(config(), echo_path);
    let mut s = server.connect();
    s.write_all(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    let r = read_responses(&mut s, 1);
    assert!(r[0].0.starts_with("HTTP/1.1 200 OK\r\n"), "{}", r[0].0);
    assert!(r[0].0.contains("\r\nServer: ferrule"), "{}", r[0].0);
    assert!(r[0].0.contains("\r\nDate: "), "{}", r[0].0);
    assert_eq!(r[0].1, "/hello");
}

#[test]
fn answers_pipelined_requests_in_order() {
    let server = start(config(), echo_path);
    let mut s = server.connect();
    s.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\nGET /c HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    let bodies: Vec<String> = read_responses(&mut s, 3).into_iter().map(|r| r.1).collect();
    assert_eq!(bodies, ["/slow", "/b", "/c"]);
}

/// Reads the whole body through `NeedBody` demands and answers with its length.
fn count_body(job: Job) {
    let mut total = 0;
    loop {
        send(&job, ResponseEvent::NeedBody);
        match job.request.body.recv().expect("conn answers") {
            BodyEvent::Data(d) => total += d.len(),
            BodyEvent::End => break,
            other => panic!("{other:?}"),
        }
    }
    let body = Bytes::from(total.to_string());
    let h = head("200 OK", "", None);
    let mut h = h;
    h.content_length = Some(body.len() as u64);
    h.add_content_length = true;
    send(
        &job,
        ResponseEvent::Start {
            head: h,
            body,
            end: true,
        },
    );
}

#[test]
fn sends_100_continue_when_the_app_reads_the_body() {
    let server = start(config(), count_body);
    let mut s = server.connect();
    s.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        .expect("write");
    let mut got = [0u8; 25];
    s.read_exact(&mut got).expect("100 continue");
    assert_eq!(&got, b"HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(b"hello").expect("body");
    let r = read_responses(&mut s, 1);
    assert_eq!(r[0].1, "5");
}

#[test]
fn never_sends_100_continue_when_the_app_ignores_the_body() {
    let server = start(config(), echo_path);
    let mut s = server.connect();
    s.write_all(
        b"POST /ignored HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
    )
    .expect("write");
    let r = read_responses(&mut s, 1);
    assert!(r[0].0.starts_with("HTTP/1.1 200 OK"), "{}", r[0].0);
    assert!(!r[0].0.contains("100 Continue"));
    // The unread body's client still waits for 100: the server closes instead of
    // guessing where the next request starts.
    assert!(r[0].0.contains("Connection: close"), "{}", r[0].0);
}

#[test]
fn decodes_a_chunked_body_for_the_app() {
    let server = start(config(), count_body);
    let mut s = server.connect();
    s.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n4\r\ndefg\r\n0\r\nX-T: 1\r\n\r\n")
        .expect("write");
    assert_eq!(read_responses(&mut s, 1)[0].1, "7");
}

#[test]
fn streams_a_chunked_response_when_no_length_is_given() {
    let server = start(config(), |job: Job| {
        send(
            &job,
            ResponseEvent::Start {
                head: head("200 OK", "", None),
                body: Bytes::from_static(b"ab"),
                end: false,
            },
        );
        send(&job, ResponseEvent::Data(Bytes::from_static(b"cde")));
        send(&job, ResponseEvent::End);
    });
    let mut s = server.connect();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("write");
    let all = read_to_end(&mut s);
    assert!(all.contains("Transfer-Encoding: chunked\r\n"), "{all}");
    assert!(
        all.ends_with("\r\n\r\n2\r\nab\r\n3\r\ncde\r\n0\r\n\r\n"),
        "{all:?}"
    );
}

#[test]
fn closes_the_connection_when_the_app_sends_less_than_its_content_length() {
    let server = start(config(), |job: Job| {
        let h = head("200 OK", "Content-Length: 10\r\n", Some(10));
        send(
            &job,
            ResponseEvent::Start {
                head: h,
                body: Bytes::from_static(b"short"),
                end: true,
            },
        );
    });
    let mut s = server.connect();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    let start = Instant::now();
    let all = read_to_end(&mut s);
    assert!(all.ends_with("\r\n\r\nshort"), "{all:?}");
    assert!(start.elapsed() < Duration::from_secs(3), "closed promptly");
}

#[test]
fn cuts_a_body_longer_than_its_content_length() {
    let server = start(config(), |job: Job| {
        let h = head("200 OK", "Content-Length: 3\r\n", Some(3));
        send(
            &job,
            ResponseEvent::Start {
                head: h,
                body: Bytes::from_static(b"abcdef"),
                end: true,
            },
        );
    });
    let mut s = server.connect();
    s.write_all(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    let r = read_responses(&mut s, 2);
    assert_eq!(r[0].1, "abc");
    assert_eq!(r[1].1, "abc");
}

#[test]
fn answers_500_when_the_handler_drops_a_job() {
    let server = start(config(), |job: Job| drop(job));
    let mut s = server.connect();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    let all = read_to_end(&mut s);
    assert!(all.starts_with("HTTP/1.1 500 "), "{all}");
    assert!(all.contains("Connection: close"), "{all}");
}

#[test]
fn rejects_a_bad_request_and_ignores_what_follows() {
    let server = start(config(), echo_path);
    let mut s = server.connect();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    let all = read_to_end(&mut s);
    assert!(all.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{all}");
    assert!(all.contains("Connection: close"), "{all}");
    assert!(!all.contains("/smuggled"), "{all}");
    // The server still serves others.
    let mut s2 = server.connect();
    s2.write_all(b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    assert_eq!(read_responses(&mut s2, 1)[0].1, "/next");
}

#[test]
fn rejects_a_declared_body_over_the_limit_before_the_app_runs() {
    let mut c = config();
    c.limits.max_body_bytes = 10;
    let server = start(c, |_job: Job| panic!("the app must not run"));
    let mut s = server.connect();
    s.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n")
        .expect("write");
    let all = read_to_end(&mut s);
    assert!(all.starts_with("HTTP/1.1 413 "), "{all}");
}

#[test]
fn closes_an_idle_keepalive_connection_after_its_timeout() {
    let mut c = config();
    c.timeouts.keepalive = Duration::from_millis(300);
    let server = start(c, echo_path);
    let mut s = server.connect();
    s.write_all(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    read_responses(&mut s, 1);
    let start = Instant::now();
    let rest = read_to_end(&mut s);
    assert_eq!(rest, "");
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
}

#[test]
fn answers_408_to_a_head_that_does_not_complete_in_time() {
    let mut c = config();
    c.timeouts.header = Duration::from_millis(300);
    let server = start(c, echo_path);
    let mut s = server.connect();
    s.write_all(b"GET / HTTP/1.1\r\nHost:").expect("write");
    let all = read_to_end(&mut s);
    assert!(all.starts_with("HTTP/1.1 408 "), "{all}");
}

#[test]
fn finishes_the_request_in_flight_on_shutdown() {
    let mut server = start(config(), echo_path);
    let mut s = server.connect();
    s.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    thread::sleep(Duration::from_millis(50));
    server.signal_stop();
    let all = read_to_end(&mut s);
    assert!(all.starts_with("HTTP/1.1 200 OK"), "{all}");
    assert!(all.contains("Connection: close"), "{all}");
    assert!(all.ends_with("/slow"), "{all}");
    server.stop();
}
