use super::*;

/// What feeding a body to a decoder produced.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    body: Vec<u8>,
    /// `Ok(true)`: `Done`; `Ok(false)`: still waiting when the input ran out.
    result: Result<bool, HttpError>,
    /// Bytes left in the buffer (what follows the body).
    rest: Vec<u8>,
}

/// Feeds `bytes` to a fresh decoder, `step` bytes at a time (0: all at once).
fn feed(framing: BodyFraming, limits: &Limits, bytes: &[u8], step: usize) -> Outcome {
    let mut decoder = BodyDecoder::new(framing, limits);
    let mut buf = BytesMut::new();
    let mut body = Vec::new();
    let pieces: Vec<&[u8]> = if step == 0 {
        vec![bytes]
    } else {
        bytes.chunks(step).collect()
    };
    let mut pieces = pieces.into_iter();
    let result = loop {
        match decoder.decode(&mut buf) {
            Ok(Decoded::Data(data)) => {
                assert!(!data.is_empty(), "Data is never empty");
                body.extend_from_slice(&data);
            }
            Ok(Decoded::Done) => {
                assert!(decoder.is_done());
                break Ok(true);
            }
            Ok(Decoded::NeedMore) => match pieces.next() {
                Some(piece) => buf.extend_from_slice(piece),
                None => break Ok(false),
            },
            Err(error) => break Err(error),
        }
    };
    let rest = buf.to_vec();
    // Whatever was not fed yet also follows the body.
    let rest = [rest, pieces.flatten().copied().collect()].concat();
    Outcome { body, result, rest }
}

/// Decodes `bytes` whole and byte by byte, asserts both agree, and returns the outcome.
fn decode(framing: BodyFraming, limits: &Limits, bytes: &[u8]) -> Outcome {
    let whole = feed(framing, limits, bytes, 0);
    for step in [1, 2, 3, 7] {
        let split = feed(framing, limits, bytes, step);
        assert_eq!(
            split.result,
            whole.result,
            "step {step} of {:?}",
            String::from_utf8_lossy(bytes)
        );
        if whole.result.is_ok() {
            assert_eq!(
                split,
                whole,
                "step {step} of {:?}",
                String::from_utf8_lossy(bytes)
            );
        }
    }
    whole
}

fn chunked(bytes: &[u8]) -> Outcome {
    decode(BodyFraming::Chunked, &Limits::default(), bytes)
}

fn limits_with_body(max_body_bytes: u64) -> Limits {
    Limits {
        max_body_bytes,
        ..Limits::default()
    }
}

#[test]
fn answers_done_at_once_for_empty_framing_without_consuming() {
    let mut decoder = BodyDecoder::new(BodyFraming::Empty, &Limits::default());
    let mut buf = BytesMut::from(&b"GET / HTTP/1.1\r\n"[..]);
    assert_eq!(decoder.decode(&mut buf), Ok(Decoded::Done));
    assert!(decoder.is_done());
    assert_eq!(buf.len(), 16);
}

#[test]
fn hands_out_a_length_body_and_stops_at_its_end() {
    let outcome = decode(
        BodyFraming::Length(5),
        &Limits::default(),
        b"helloGET /next",
    );
    assert_eq!(outcome.body, b"hello");
    assert_eq!(outcome.result, Ok(true));
    assert_eq!(outcome.rest, b"GET /next");

    let zero = decode(BodyFraming::Length(0), &Limits::default(), b"GET");
    assert_eq!(
        (zero.body.len(), zero.result, zero.rest),
        (0, Ok(true), b"GET".to_vec())
    );

    let short = decode(BodyFraming::Length(10), &Limits::default(), b"hello");
    assert_eq!((short.body, short.result), (b"hello".to_vec(), Ok(false)));
}

#[test]
fn answers_done_once_and_then_keeps_answering_done_without_consuming() {
    let mut decoder = BodyDecoder::new(BodyFraming::Chunked, &Limits::default());
    let mut buf = BytesMut::from(&b"1\r\na\r\n0\r\n\r\nNEXT"[..]);
    assert_eq!(
        decoder.decode(&mut buf),
        Ok(Decoded::Data(Bytes::from_static(b"a")))
    );
    assert!(!decoder.is_done());
    assert_eq!(decoder.decode(&mut buf), Ok(Decoded::Done));
    for _ in 0..3 {
        assert_eq!(decoder.decode(&mut buf), Ok(Decoded::Done));
        assert_eq!(&buf[..], b"NEXT");
    }
}

#[test]
fn hands_out_chunk_data_as_it_arrives_without_waiting_for_the_whole_chunk() {
    let mut decoder = BodyDecoder::new(BodyFraming::Chunked, &Limits::default());
    let mut buf = BytesMut::from(&b"a\r\nabc"[..]);
    assert_eq!(
        decoder.decode(&mut buf),
        Ok(Decoded::Data(Bytes::from_static(b"abc")))
    );
    assert_eq!(decoder.decode(&mut buf), Ok(Decoded::NeedMore));
    buf.extend_from_slice(b"defghij\r");
    assert_eq!(
        decoder.decode(&mut buf),
        Ok(Decoded::Data(Bytes::from_static(b"defghij")))
    );
    assert_eq!(decoder.decode(&mut buf), Ok(Decoded::NeedMore));
    assert_eq!(&buf[..], b"\r", "a partial CRLF stays in the buffer");
}

#[test]
fn decodes_chunked_bodies() {
    let cases: &[(&[u8], &[u8])] = &[
        (b"0\r\n\r\n", b""),
        (b"5\r\nhello\r\n0\r\n\r\n", b"hello"),
        (b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", b"hello world"),
        (b"A\r\n0123456789\r\n0\r\n\r\n", b"0123456789"),
        (b"a\r\n0123456789\r\n0\r\n\r\n", b"0123456789"),
        (b"0000000000000003\r\nabc\r\n0\r\n\r\n", b"abc"),
        (b"3\r\na\r\n\r\n000\r\n\r\n", b"a\r\n"),
        (b"1\r\n\x00\r\n0\r\n\r\n", b"\x00"),
    ];
    for &(bytes, body) in cases {
        let mut input = bytes.to_vec();
        input.extend_from_slice(b"NEXT");
        let outcome = chunked(&input);
        assert_eq!(
            outcome.result,
            Ok(true),
            "{:?}",
            String::from_utf8_lossy(bytes)
        );
        assert_eq!(outcome.body, body);
        assert_eq!(outcome.rest, b"NEXT");
    }
}

#[test]
fn accepts_chunk_extensions_with_token_and_quoted_values() {
    for line in [
        &b"5;name\r\n"[..],
        b"5;name=value\r\n",
        b"5;a=1;b=2;c\r\n",
        b"5;name=\"quoted value\"\r\n",
        b"5;name=\"with \\\"escapes\\\" and ; = ,\"\r\n",
        b"5;name=\"\"\r\n",
        b"5 ;name\r\n",
        b"5\t; name = value ; other\r\n",
        b"5;name=\"obs \x80\xff\"\r\n",
        b"5;!#$%&'*+-.^_`|~=!#$%&'*+-.^_`|~\r\n",
    ] {
        let mut input = line.to_vec();
        input.extend_from_slice(b"hello\r\n0;last=1\r\n\r\n");
        let outcome = chunked(&input);
        assert_eq!(
            outcome.result,
            Ok(true),
            "{:?}",
            String::from_utf8_lossy(line)
        );
        assert_eq!(outcome.body, b"hello");
    }
}

#[test]
fn rejects_chunk_size_lines_by_rule() {
    use HttpError::*;
    let cases: &[(&[u8], HttpError)] = &[
        (b"\r\n", InvalidChunkSize),
        (b"x\r\n", InvalidChunkSize),
        (b"0x5\r\n", InvalidChunkSize),
        (b"+5\r\n", InvalidChunkSize),
        (b"-5\r\n", InvalidChunkSize),
        (b"0_5\r\n", InvalidChunkSize),
        (b"0_2e\r\n", InvalidChunkSize),
        (b" 5\r\n", InvalidChunkSize),
        (b"5 \r\n", InvalidChunkSize),
        (b"5\t\r\n", InvalidChunkSize),
        (b"5 x\r\n", InvalidChunkSize),
        (b"g\r\n", InvalidChunkSize),
        (b";a\r\n", InvalidChunkSize),
        (b"\n", InvalidChunkSize),
        (b"00000000000000001\r\n", InvalidChunkSize),
        (b"10000000000000000\r\n", InvalidChunkSize),
        (b"5\n", BareLineEnding),
        (b"5\rX", BareLineEnding),
        (b"5;a\n", BareLineEnding),
        (b"5;a\rb\r\n", BareLineEnding),
        (b"5;\r\n", InvalidChunkExtension),
        (b"5;=v\r\n", InvalidChunkExtension),
        (b"5;a=\r\n", InvalidChunkExtension),
        (b"5;a \r\n", InvalidChunkExtension),
        (b"5;a=b \r\n", InvalidChunkExtension),
        (b"5;a=b c\r\n", InvalidChunkExtension),
        (b"5;a=\"b\"c\r\n", InvalidChunkExtension),
        (b"5;a=\"unterminated\r\n", InvalidChunkExtension),
        (b"5;a=\"b\rc\"\r\n", InvalidChunkExtension),
        (b"5;a=\"b\nc\"\r\n", InvalidChunkExtension),
        (b"5;a=\"b\x00c\"\r\n", InvalidChunkExtension),
        (b"5;a=\"b\\\x00\"\r\n", InvalidChunkExtension),
        (b"5;a\x00\r\n", InvalidChunkExtension),
        (b"5;a=b\x7f\r\n", InvalidChunkExtension),
        (b"5;a@b\r\n", InvalidChunkExtension),
        (b"5;;a\r\n", InvalidChunkExtension),
    ];
    for (line, expected) in cases {
        let mut input = line.to_vec();
        input.extend_from_slice(b"hello\r\n0\r\n\r\n");
        assert_eq!(
            &chunked(&input).result,
            &Err(expected.clone()),
            "{:?}",
            String::from_utf8_lossy(line)
        );
    }
}

#[test]
fn requires_crlf_after_chunk_data() {
    use HttpError::*;
    let cases: &[(&[u8], HttpError)] = &[
        (b"5\r\nhelloX\r\n0\r\n\r\n", MissingChunkTerminator),
        (b"5\r\nhello0\r\n\r\n", MissingChunkTerminator),
        (b"3\r\nhello\r\n0\r\n\r\n", MissingChunkTerminator),
        (b"5\r\nhello\n0\r\n\r\n", BareLineEnding),
        (b"5\r\nhello\rX0\r\n\r\n", BareLineEnding),
    ];
    for (bytes, expected) in cases {
        assert_eq!(
            &chunked(bytes).result,
            &Err(expected.clone()),
            "{:?}",
            String::from_utf8_lossy(bytes)
        );
    }
}

#[test]
fn waits_for_the_final_crlf_after_the_last_chunk() {
    for bytes in [
        &b"0\r\n"[..],
        b"0\r\n\r",
        b"5\r\nhello\r\n0\r\n",
        b"5\r\nhel",
        b"0\r\nX: y\r\n",
    ] {
        let outcome = chunked(bytes);
        assert_eq!(
            outcome.result,
            Ok(false),
            "{:?}",
            String::from_utf8_lossy(bytes)
        );
        let mut decoder = BodyDecoder::new(BodyFraming::Chunked, &Limits::default());
        let mut buf = BytesMut::from(bytes);
        while let Ok(Decoded::Data(_)) = decoder.decode(&mut buf) {}
        assert_eq!(decoder.on_eof(), Err(HttpError::IncompleteBody));
    }
}

#[test]
fn accepts_and_discards_valid_trailers() {
    let outcome =
        chunked(b"5\r\nhello\r\n0\r\nX-Checksum: abc\r\nX-Other:\r\nx_y: \x80\r\n\r\nNEXT");
    assert_eq!(outcome.result, Ok(true));
    assert_eq!(outcome.body, b"hello");
    assert_eq!(outcome.rest, b"NEXT");
}

#[test]
fn rejects_trailers_by_rule() {
    use HttpError::*;
    let cases: &[(&[u8], HttpError)] = &[
        (b"Content-Length: 5\r\n", ForbiddenTrailer),
        (b"content-length: 5\r\n", ForbiddenTrailer),
        (b"Transfer-Encoding: chunked\r\n", ForbiddenTrailer),
        (b"HOST: evil\r\n", ForbiddenTrailer),
        (b"X: a\r\nHost: evil\r\n", ForbiddenTrailer),
        (b" X: folded\r\n", InvalidTrailer),
        (b"X: a\r\n\tfolded\r\n", InvalidTrailer),
        (b"NoColon\r\n", InvalidTrailer),
        (b": x\r\n", InvalidTrailer),
        (b"X : a\r\n", InvalidTrailer),
        (b"X: a\x00\r\n", InvalidTrailer),
        (b"X\x85: a\r\n", InvalidTrailer),
        (b"X: a\n", BareLineEnding),
        (b"X: a\rb\r\n", BareLineEnding),
        (b"\n", BareLineEnding),
        (b"\rX", BareLineEnding),
    ];
    for (trailers, expected) in cases {
        let mut input = b"5\r\nhello\r\n0\r\n".to_vec();
        input.extend_from_slice(trailers);
        input.extend_from_slice(b"\r\n");
        assert_eq!(
            &chunked(&input).result,
            &Err(expected.clone()),
            "{:?}",
            String::from_utf8_lossy(trailers)
        );
    }
}

#[test]
fn bounds_the_chunk_line_at_under_and_over_the_limit() {
    // "5;x=" + value: the line (CRLF excluded) is 4 + value bytes.
    for (len, expected) in [
        (MAX_CHUNK_LINE_BYTES - 1, Ok(true)),
        (MAX_CHUNK_LINE_BYTES, Ok(true)),
        (
            MAX_CHUNK_LINE_BYTES + 1,
            Err(HttpError::InvalidChunkExtension),
        ),
    ] {
        let mut input = format!("5;x={}\r\n", "v".repeat(len - 4)).into_bytes();
        input.extend_from_slice(b"hello\r\n0\r\n\r\n");
        assert_eq!(chunked(&input).result, expected, "line of {len}");
    }
    // Without its CRLF, a line is refused once it holds more than the limit.
    let endless = format!("5;x={}", "v".repeat(MAX_CHUNK_LINE_BYTES));
    assert_eq!(
        chunked(endless.as_bytes()).result,
        Err(HttpError::InvalidChunkExtension)
    );
    assert_eq!(
        chunked(&endless.as_bytes()[..MAX_CHUNK_LINE_BYTES]).result,
        Ok(false)
    );
}

#[test]
fn bounds_trailer_lines_and_count_like_headers() {
    let limits = Limits {
        max_header_bytes: 10,
        max_header_count: 2,
        ..Limits::default()
    };
    let cases: &[(&[u8], Result<bool, HttpError>)] = &[
        (b"X: 123456\r\n", Ok(true)),
        (b"X: 1234567\r\n", Ok(true)),
        (b"X: 12345678\r\n", Err(HttpError::HeaderTooLarge)),
        (b"A: 1\r\nB: 2\r\n", Ok(true)),
        (b"A: 1\r\nB: 2\r\nC: 3\r\n", Err(HttpError::TooManyHeaders)),
    ];
    for (trailers, expected) in cases {
        let mut input = b"0\r\n".to_vec();
        input.extend_from_slice(trailers);
        input.extend_from_slice(b"\r\n");
        let outcome = decode(BodyFraming::Chunked, &limits, &input);
        assert_eq!(
            &outcome.result,
            expected,
            "{:?}",
            String::from_utf8_lossy(trailers)
        );
    }
}

#[test]
fn bounds_chunked_bodies_by_max_body_bytes_at_under_and_over() {
    let body = b"5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n";
    for (max, expected) in [
        (9, Err(HttpError::BodyTooLarge)),
        (10, Ok(true)),
        (11, Ok(true)),
        (0, Ok(true)),
    ] {
        assert_eq!(
            decode(BodyFraming::Chunked, &limits_with_body(max), body).result,
            expected,
            "max {max}"
        );
    }
    // The size line alone is enough to refuse: no data has to arrive.
    assert_eq!(
        decode(BodyFraming::Chunked, &limits_with_body(100), b"65\r\n").result,
        Err(HttpError::BodyTooLarge)
    );
    assert_eq!(
        decode(
            BodyFraming::Chunked,
            &Limits {
                max_body_bytes: 0,
                ..Limits::default()
            },
            b"ffffffffffffffff\r\n"
        )
        .result,
        Ok(false)
    );
}

#[test]
fn bounds_length_bodies_by_max_body_bytes_before_reading() {
    for (n, expected) in [
        (9, Ok(true)),
        (10, Ok(true)),
        (11, Err(HttpError::BodyTooLarge)),
    ] {
        let input = vec![b'x'; 11];
        let outcome = decode(BodyFraming::Length(n), &limits_with_body(10), &input);
        assert_eq!(outcome.result, expected, "length {n}");
        if expected.is_err() {
            assert!(outcome.body.is_empty());
            assert_eq!(outcome.rest.len(), 11, "nothing consumed");
        }
    }
}

#[test]
fn reports_incomplete_body_on_eof_only_before_the_end() {
    let mut decoder = BodyDecoder::new(BodyFraming::Length(3), &Limits::default());
    let mut buf = BytesMut::from(&b"ab"[..]);
    assert!(matches!(decoder.decode(&mut buf), Ok(Decoded::Data(_))));
    assert_eq!(decoder.on_eof(), Err(HttpError::IncompleteBody));
    buf.extend_from_slice(b"c");
    assert!(matches!(decoder.decode(&mut buf), Ok(Decoded::Data(_))));
    assert_eq!(decoder.on_eof(), Ok(()));
    assert_eq!(
        BodyDecoder::new(BodyFraming::Empty, &Limits::default()).on_eof(),
        Ok(())
    );
}

#[test]
fn scans_each_byte_of_a_trickled_chunk_size_line_once() {
    // A 4 000-byte chunk size line, one byte per read: every decode resumes where the last
    // one stopped instead of rescanning the line from its start.
    let mut line = b"5;name=".to_vec();
    line.extend(std::iter::repeat_n(b'v', 4000 - line.len()));
    line.extend_from_slice(b"\r\nhello\r\n0\r\n\r\n");
    let mut decoder = BodyDecoder::new(BodyFraming::Chunked, &Limits::default());
    let mut buf = BytesMut::new();
    for &b in &line[..4000] {
        buf.extend_from_slice(&[b]);
        assert_eq!(decoder.decode(&mut buf), Ok(Decoded::NeedMore));
        let State::ChunkSize { line: scan } = decoder.state else {
            panic!("still in the size line: {:?}", decoder.state);
        };
        assert_eq!(scan.scanned, buf.len());
    }
    assert_eq!(
        feed(BodyFraming::Chunked, &Limits::default(), &line, 1),
        feed(BodyFraming::Chunked, &Limits::default(), &line, 0)
    );
}
