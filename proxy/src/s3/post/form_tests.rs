//! Byte fixtures for the form decoder, each also fed split at every offset.

use super::*;

const B: &str = "----WebKitFormBoundary7MA4YWxkTrZu0gW";

/// A form as browsers and curl send it.
fn form(fields: &[(&str, &str)], file: Option<&[u8]>, after: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (n, v) in fields {
        out.extend_from_slice(
            format!("--{B}\r\nContent-Disposition: form-data; name=\"{n}\"\r\n\r\n{v}\r\n").as_bytes(),
        );
    }
    if let Some(f) = file {
        out.extend_from_slice(
            format!("--{B}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\n")
                .as_bytes(),
        );
        out.extend_from_slice(f);
        out.extend_from_slice(b"\r\n");
    }
    for (n, v) in after {
        out.extend_from_slice(
            format!("--{B}\r\nContent-Disposition: form-data; name=\"{n}\"\r\n\r\n{v}\r\n").as_bytes(),
        );
    }
    out.extend_from_slice(format!("--{B}--\r\n").as_bytes());
    out
}

/// Every event of `pieces` fed in order, file data joined into one `Data`; the error if any.
fn run(pieces: &[&[u8]]) -> Result<Vec<Event>, ProxyError> {
    let mut d = FormDecoder::new(B);
    let mut buf = BytesMut::new();
    let mut out: Vec<Event> = Vec::new();
    for p in pieces {
        buf.extend_from_slice(p);
        while let Decoded::Item(e) = d.decode(&mut buf)? {
            match (e, out.last_mut()) {
                (Event::Data(more), Some(Event::Data(have))) => {
                    let mut joined = have.to_vec();
                    joined.extend_from_slice(&more);
                    *have = Bytes::from(joined);
                }
                (e, _) => out.push(e),
            }
        }
    }
    if !d.is_complete() {
        return Err(ProxyError::MalformedPostRequest("truncated"));
    }
    Ok(out)
}

fn field(n: &str, v: &str) -> Event {
    Event::Field {
        name: n.into(),
        value: v.into(),
    }
}

fn file_start() -> Event {
    Event::File {
        filename: Some("a.txt".into()),
        content_type: Some("text/plain".into()),
    }
}

fn assert_every_split(body: &[u8], want: &Result<Vec<Event>, ProxyError>) {
    let show = |r: &Result<Vec<Event>, ProxyError>| format!("{r:?}");
    assert_eq!(show(&run(&[body])), show(want), "whole");
    for i in 0..=body.len() {
        assert_eq!(show(&run(&[&body[..i], &body[i..]])), show(want), "split at {i}");
    }
}

#[test]
fn fields_then_the_file_then_the_end_at_every_split() {
    let data = b"hello\r\nworld\r\n--not-the-boundary\r-\n";
    let body = form(
        &[("key", "a/${filename}"), ("Content-Type", "text/plain")],
        Some(data),
        &[],
    );
    let want = Ok(vec![
        field("key", "a/${filename}"),
        field("Content-Type", "text/plain"),
        file_start(),
        Event::Data(Bytes::from_static(data)),
        Event::FileEnd,
        Event::End,
    ]);
    assert_every_split(&body, &want);
}

#[test]
fn an_empty_file_and_fields_after_it_which_are_ignored() {
    let body = form(&[("key", "k")], Some(b""), &[("x-amz-meta-late", "dropped")]);
    let want = Ok(vec![field("key", "k"), file_start(), Event::FileEnd, Event::End]);
    assert_every_split(&body, &want);
}

#[test]
fn a_form_without_a_file_ends_without_one() {
    let body = form(&[("key", "k"), ("empty", "")], None, &[]);
    assert_every_split(&body, &Ok(vec![field("key", "k"), field("empty", ""), Event::End]));
}

#[test]
fn the_decoder_counts_what_it_consumed_so_a_last_file_has_a_known_length() {
    let data = vec![b'x'; 5000];
    let body = form(&[("key", "k")], Some(&data), &[]);
    let mut d = FormDecoder::new(B);
    let mut buf = BytesMut::from(&body[..]);
    assert!(matches!(
        d.decode(&mut buf).unwrap(),
        Decoded::Item(Event::Field { .. })
    ));
    assert!(matches!(d.decode(&mut buf).unwrap(), Decoded::Item(Event::File { .. })));
    assert_eq!(body.len() as u64 - d.consumed() - d.closing_len(), 5000);
}

#[test]
fn hostile_forms_are_refused_at_every_split() {
    let mut no_close = form(&[("key", "k")], Some(b"data"), &[]);
    no_close.truncate(no_close.len() - B.len() - 6);
    assert!(run(&[&no_close]).is_err(), "no closing boundary");
    for i in 0..no_close.len() {
        assert!(run(&[&no_close[..i], &no_close[i..]]).is_err());
    }
    // The boundary inside the file's data, followed by neither `--` nor CRLF.
    let mut inside = form(&[("key", "k")], Some(b"a"), &[]);
    let marker = format!("a\r\n--{B}");
    let at = find(&inside, marker.as_bytes()).unwrap() + 1;
    inside.splice(at..at, format!("\r\n--{B}junk").bytes());
    assert_every_split(
        &inside,
        &Err(ProxyError::MalformedPostRequest(
            "a boundary is followed by something other than CRLF",
        )),
    );
    let huge = "v".repeat(MAX_FIELD_BYTES + 1);
    let big = form(&[("key", &huge)], Some(b""), &[]);
    assert!(matches!(run(&[&big]), Err(ProxyError::PostFieldsTooLarge)));
    let many: Vec<(String, String)> = (0..5)
        .map(|i| (format!("x-amz-meta-{i}"), "v".repeat(MAX_FIELD_BYTES - 20)))
        .collect();
    let many: Vec<(&str, &str)> = many.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    assert!(matches!(
        run(&[&form(&many, Some(b""), &[])]),
        Err(ProxyError::PostFieldsTooLarge)
    ));
    let parts: Vec<(&str, &str)> = vec![("f", "v"); MAX_PARTS + 1];
    assert!(run(&[&form(&parts, None, &[])]).is_err(), "too many parts");
    let garbage = vec![b'g'; MAX_PREAMBLE_BYTES + 200];
    assert!(run(&[&garbage]).is_err(), "no boundary at all");
    let nameless = format!("--{B}\r\nContent-Disposition: form-data\r\n\r\nv\r\n--{B}--\r\n");
    assert_every_split(
        nameless.as_bytes(),
        &Err(ProxyError::MalformedPostRequest("a part has no name")),
    );
    let long_head = format!("--{B}\r\nX: {}\r\n", "h".repeat(MAX_PART_HEADER_BYTES));
    assert!(run(&[long_head.as_bytes()]).is_err(), "endless part headers");
}

#[test]
fn boundaries_and_disposition_parameters_parse_like_browsers_write_them() {
    assert_eq!(boundary("multipart/form-data; boundary=abc"), Some("abc"));
    assert_eq!(boundary("Multipart/Form-Data;boundary=\"a b\""), Some("a b"));
    assert_eq!(boundary("multipart/mixed; boundary=abc"), None);
    assert_eq!(boundary("multipart/form-data"), None);
    assert_eq!(
        boundary(&format!("multipart/form-data; boundary={}", "b".repeat(71))),
        None
    );
    let p = disposition_params(" form-data; name=\"a;b\"; filename=\"c\\\"d.txt\"");
    assert_eq!(
        p,
        vec![("name".into(), "a;b".into()), ("filename".into(), "c\"d.txt".into())]
    );
    assert_eq!(
        disposition_params("form-data; name=plain"),
        vec![("name".into(), "plain".into())]
    );
    let h = PartHeaders::parse(b"content-disposition: form-data; NAME=\"kEy\"\r\ncontent-type: x/y").unwrap();
    assert_eq!(
        (h.name.as_deref(), h.filename, h.content_type.as_deref()),
        (Some("kEy"), None, Some("x/y"))
    );
}
