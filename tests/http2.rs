//! `server::run` with fake Rust handlers on port 0, spoken to over cleartext HTTP/2 (prior
//! knowledge) by the `h2` crate's client: streams reach the handler as the same `Job` an
//! HTTP/1.1 request is, bodies arrive by `NeedBody` under flow control, and heads that
//! HTTP/1.1 would refuse are refused on their stream. No Python.

// Fake handlers take the job by value: that is the `Handler` contract.
#![allow(clippy::needless_pass_by_value)]

use _ferrule::bridge::{BodyEvent, Job, ResponseEvent};
use _ferrule::config::Config;
use bytes::Bytes;

mod common;

use common::{head, send, start};

/// Answers `<version> <method> <path> <host> <body length>`, reading the whole body.
fn describe(job: Job) {
    let mut total = 0;
    if job.request.head.framing != _ferrule::http::BodyFraming::Empty {
        loop {
            send(&job, ResponseEvent::NeedBody);
            match job.request.body.recv().expect("conn answers") {
                BodyEvent::Data(d) => total += d.len(),
                BodyEvent::End => break,
                other => panic!("{other:?}"),
            }
        }
    }
    let h = &job.request.head;
    let host = h
        .header_pairs()
        .find(|(n, _)| n.eq_ignore_ascii_case(b"host"))
        .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
        .unwrap_or_default();
    let text = format!(
        "{} {} {} {host} {total}",
        h.version.as_str(),
        h.method(),
        String::from_utf8_lossy(h.path())
    );
    let body = Bytes::from(text);
    let mut response = head("200 OK", "Content-Type: text/plain\r\n", None);
    response.content_length = Some(body.len() as u64);
    response.add_content_length = true;
    send(
        &job,
        ResponseEvent::Start {
            head: response,
            body,
            end: true,
        },
    );
}

/// Sends one request on a fresh prior-knowledge connection; (status, body).
fn request(
    addr: std::net::SocketAddr,
    request: http::Request<()>,
    body: Option<Vec<u8>>,
) -> (u16, String) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let (mut client, conn) = h2::client::handshake(tcp).await.expect("handshake");
        tokio::spawn(async move {
            // The connection ends with the test.
            let _ = conn.await;
        });
        let (response, mut stream) = client.send_request(request, body.is_none()).expect("send");
        if let Some(body) = body {
            for piece in body.chunks(10_000) {
                stream.reserve_capacity(piece.len());
                stream
                    .send_data(Bytes::copy_from_slice(piece), false)
                    .expect("data");
            }
            stream.send_data(Bytes::new(), true).expect("end");
        }
        let response = response.await.expect("response");
        let status = response.status().as_u16();
        let mut body = response.into_body();
        let mut text = Vec::new();
        while let Some(piece) = body.data().await {
            let piece = piece.expect("piece");
            body.flow_control()
                .release_capacity(piece.len())
                .expect("release");
            text.extend_from_slice(&piece);
        }
        (status, String::from_utf8_lossy(&text).into_owned())
    })
}

fn get(uri: &str) -> http::Request<()> {
    http::Request::builder().uri(uri).body(()).expect("request")
}

#[test]
fn a_stream_reaches_the_handler_as_an_http2_request() {
    let server = start(Config::with_binds(vec![]), describe);
    let uri = format!("http://127.0.0.1:{}/a/b?q=1", server.addr.port());
    let (status, body) = request(server.addr, get(&uri), None);
    assert_eq!(status, 200);
    assert_eq!(
        body,
        format!("HTTP/2 GET /a/b 127.0.0.1:{} 0", server.addr.port())
    );
}

#[test]
fn a_request_body_larger_than_the_window_arrives_whole() {
    let server = start(Config::with_binds(vec![]), describe);
    let uri = format!("http://127.0.0.1:{}/upload", server.addr.port());
    let req = http::Request::builder()
        .method("POST")
        .uri(uri)
        .body(())
        .expect("request");
    // 1 MiB through a 64 KiB stream window: it reopens only as the handler takes pieces.
    let (status, body) = request(server.addr, req, Some(vec![b'x'; 1 << 20]));
    assert_eq!(status, 200);
    assert!(body.ends_with(" 1048576"), "{body}");
}

#[test]
fn a_host_that_disagrees_with_the_authority_is_a_400_on_its_stream() {
    let server = start(Config::with_binds(vec![]), describe);
    let uri = format!("http://127.0.0.1:{}/", server.addr.port());
    let req = http::Request::builder()
        .uri(uri)
        .header("host", "elsewhere.example")
        .body(())
        .expect("request");
    let (status, body) = request(server.addr, req, None);
    assert_eq!(status, 400, "{body}");
}
