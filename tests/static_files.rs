//! Static files through `server::run` with a fake `Handler` that counts the jobs it gets:
//! what a mount serves never becomes a job, what it does not name does, and pipelined
//! static and app requests are answered in order on one connection.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use _ferrule::bridge::{Job, ResponseEvent};
use _ferrule::config::{Config, StaticMount};
use bytes::Bytes;

mod common;

use common::{head, send, start};

/// A directory removed on drop.
struct Site(std::path::PathBuf);

impl Drop for Site {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0); // best effort cleanup
    }
}

fn site(name: &str) -> Site {
    let dir = std::env::temp_dir().join(format!("ferrule-static-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir); // a leftover of an earlier run, if any
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("a.txt"), "AAAA").expect("write");
    Site(dir)
}

fn config(site: &Site) -> Config {
    let mut config = Config::with_binds(vec![]);
    config.statics.mounts =
        vec![StaticMount::parse(&format!("/s={}", site.0.display())).expect("mount")];
    config
}

fn app(jobs: Arc<AtomicUsize>) -> impl Fn(Job) + Send + Sync + 'static {
    move |job: Job| {
        jobs.fetch_add(1, Ordering::SeqCst);
        let body = Bytes::from_static(b"app");
        let h = head("404 Not Found", "Content-Length: 3\r\n", Some(3));
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

fn read_all(s: &mut std::net::TcpStream) -> String {
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out); // ends at the server's close
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn a_static_file_never_becomes_a_job_and_a_missing_one_does() {
    let site = site("jobs");
    let jobs = Arc::new(AtomicUsize::new(0));
    let server = start(config(&site), app(Arc::clone(&jobs)));
    let mut s = server.connect();
    s.write_all(
        b"GET /s/a.txt HTTP/1.1\r\nHost: x\r\n\r\n\
          HEAD /s/a.txt HTTP/1.1\r\nHost: x\r\n\r\n\
          GET /s/../a.txt HTTP/1.1\r\nHost: x\r\n\r\n\
          GET /s/missing.txt HTTP/1.1\r\nHost: x\r\n\r\n\
          GET /s/a.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=1-2\r\nConnection: close\r\n\r\n",
    )
    .expect("write");
    let text = read_all(&mut s);
    // A status line may follow a body on the same text line (no newline ends a body).
    let statuses: Vec<&str> = text
        .match_indices("HTTP/1.1 ")
        .map(|(at, _)| text[at..].lines().next().expect("a status line"))
        .collect();
    assert_eq!(
        statuses,
        [
            "HTTP/1.1 200 OK",
            "HTTP/1.1 200 OK",
            "HTTP/1.1 404 Not Found",
            "HTTP/1.1 404 Not Found",
            "HTTP/1.1 206 Partial Content",
        ],
        "{text}"
    );
    assert!(text.contains("\r\n\r\nAAAAHTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.contains("404 Not Found: no such file\n"), "{text}");
    assert!(text.ends_with("\r\n\r\nAA"), "{text}");
    // Only the missing file reached the app side.
    assert_eq!(jobs.load(Ordering::SeqCst), 1);
}

#[test]
fn a_get_with_a_body_is_drained_and_the_connection_kept() {
    let site = site("body");
    let jobs = Arc::new(AtomicUsize::new(0));
    let server = start(config(&site), app(Arc::clone(&jobs)));
    let mut s = server.connect();
    s.write_all(
        b"GET /s/a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello\
          GET /s/a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .expect("write");
    let text = read_all(&mut s);
    assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 2, "{text}");
    assert_eq!(jobs.load(Ordering::SeqCst), 0);
}
