//! MIME multipart bodies as cameras send them: a Hikvision ANPR push (`anpr.xml`,
//! `licensePlatePicture.jpg`, `detectionPicture.jpg`) or the endless `alertStream`.
//!
//! A part with a `Content-Length` is cut by that length, never by searching for the
//! boundary: JPEG data can contain the boundary string. Only a part without one (an XML
//! part on some firmwares) ends at the next delimiter. [`next_part`] works on a buffer that
//! may end anywhere, so a stream's remainder can wait in the driver's state.

/// Largest part accepted (a full-HD detection picture is well below this).
pub const MAX_PART: usize = 8 << 20;
/// Largest header block of one part.
const MAX_HEADERS: usize = 8 << 10;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Part {
    pub fn header(&self, name: &str) -> Option<&str> {
        crate::header(&self.headers, name)
    }

    /// The `name` of the part's `Content-Disposition`, else the file name.
    pub fn name(&self) -> Option<&str> {
        let disposition = self.header("content-disposition")?;
        param(disposition, "name").or_else(|| param(disposition, "filename"))
    }

    /// The media type without parameters, lower case.
    pub fn content_type(&self) -> Option<String> {
        self.header("content-type").map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
    }
}

/// The boundary of a `multipart/*` content type, if it is one.
pub fn boundary(content_type: &str) -> Option<&str> {
    let media = content_type.split(';').next()?.trim();
    if !media.to_ascii_lowercase().starts_with("multipart/") {
        return None;
    }
    param(content_type, "boundary").filter(|b| !b.is_empty() && b.len() <= 70)
}

/// A `; key=value` or `; key="value"` parameter of a header value.
fn param<'a>(value: &'a str, key: &str) -> Option<&'a str> {
    value.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case(key)
            .then(|| v.trim().trim_matches('"'))
    })
}

/// What the start of a buffer holds.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// A whole part, and how many bytes of the buffer it used.
    Part(Part, usize),
    /// The closing delimiter, and how many bytes up to and including it.
    End(usize),
    /// The buffer ends before the next part does.
    NeedMore,
}

/// Reads the next part from the start of `buf`. Anything before the first delimiter
/// (a preamble, the CRLF after the previous part) is skipped.
pub fn next_part(buf: &[u8], boundary: &str) -> Result<Next, String> {
    let delimiter = format!("--{boundary}");
    let Some(start) = find(buf, delimiter.as_bytes()) else {
        return Ok(Next::NeedMore);
    };
    let after = start + delimiter.len();
    let Some(rest) = buf.get(after..after + 2) else {
        return Ok(Next::NeedMore);
    };
    if rest == b"--" {
        return Ok(Next::End(after + 2));
    }
    let head_start = after
        + match rest {
            b"\r\n" => 2,
            [b'\n', _] => 1,
            _ => return Err("a delimiter is not followed by a line break".into()),
        };
    let Some(head_len) = find(&buf[head_start..], b"\r\n\r\n") else {
        return if buf.len() - head_start > MAX_HEADERS {
            Err("part headers too long".into())
        } else {
            Ok(Next::NeedMore)
        };
    };
    if head_len > MAX_HEADERS {
        return Err("part headers too long".into());
    }
    let headers = parse_headers(&buf[head_start..head_start + head_len])?;
    let body_start = head_start + head_len + 4;
    let length = crate::header(&headers, "content-length")
        .map(|v| {
            v.trim()
                .parse::<usize>()
                .ok()
                .filter(|&n| n <= MAX_PART)
                .ok_or_else(|| format!("part Content-Length {v:?} is not 0..={MAX_PART}"))
        })
        .transpose()?;
    let (body_end, consumed) = match length {
        Some(n) => {
            let end = body_start + n;
            if buf.len() < end {
                return Ok(Next::NeedMore);
            }
            (end, end)
        }
        None => {
            let closing = format!("\r\n{delimiter}");
            match find(&buf[body_start..], closing.as_bytes()) {
                Some(n) => (body_start + n, body_start + n),
                None if buf.len() - body_start > MAX_PART => {
                    return Err("part without Content-Length too long".into());
                }
                None => return Ok(Next::NeedMore),
            }
        }
    };
    Ok(Next::Part(
        Part {
            headers,
            body: buf[body_start..body_end].to_vec(),
        },
        consumed,
    ))
}

/// Splits a complete body; a body cut short or without parts is an error.
pub fn split(body: &[u8], boundary: &str) -> Result<Vec<Part>, String> {
    let mut parts = Vec::new();
    let mut at = 0;
    loop {
        match next_part(&body[at..], boundary)? {
            Next::Part(part, used) => {
                parts.push(part);
                at += used;
            }
            Next::End(_) => break,
            // Some firmwares omit the closing delimiter after a length-cut last part.
            Next::NeedMore
                if !parts.is_empty() && body[at..].iter().all(u8::is_ascii_whitespace) =>
            {
                break;
            }
            Next::NeedMore => return Err("multipart body ends inside a part".into()),
        }
    }
    if parts.is_empty() {
        return Err("multipart body has no parts".into());
    }
    Ok(parts)
}

fn parse_headers(block: &[u8]) -> Result<Vec<(String, String)>, String> {
    let text = std::str::from_utf8(block).map_err(|_| "part headers are not UTF-8".to_string())?;
    text.split('\n')
        .map(|line| line.trim_end_matches('\r'))
        .filter(|line| !line.is_empty())
        .map(|line| {
            let (name, value) = line
                .split_once(':')
                .ok_or_else(|| "a part header has no colon".to_string())?;
            Ok((name.trim().to_string(), value.trim().to_string()))
        })
        .collect()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A part as a camera writes it, with its Content-Length when `length` is set.
    fn part(boundary: &str, name: &str, kind: &str, body: &[u8], length: bool) -> Vec<u8> {
        let mut out = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{name}\"\r\nContent-Type: {kind}\r\n"
        )
        .into_bytes();
        if length {
            out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(body);
        out.extend_from_slice(b"\r\n");
        out
    }

    #[test]
    fn boundaries_from_content_types() {
        fn check(content_type: &str, expect: Option<&str>) {
            assert_eq!(boundary(content_type), expect, "{content_type}");
        }
        check(
            "multipart/form-data; boundary=MIME_boundary",
            Some("MIME_boundary"),
        );
        check(
            "Multipart/Mixed; charset=UTF-8; Boundary=\"a b\"",
            Some("a b"),
        );
        check("multipart/form-data", None);
        check("multipart/form-data; boundary=", None);
        check("application/xml; boundary=x", None);
    }

    /// Issue 13: a JPEG can contain the boundary; Content-Length decides where it ends.
    #[test]
    fn a_picture_containing_the_boundary_is_cut_by_its_length() {
        let b = "boundary";
        let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0];
        jpeg.extend_from_slice(b"\r\n--boundary\r\nContent-Type: text/plain\r\n\r\nfake");
        jpeg.extend_from_slice(&[0x00, 0x2D, 0x2D, 0xFF, 0xD9]);
        let mut body = part(
            b,
            "anpr.xml",
            "application/xml",
            b"<EventNotificationAlert/>",
            true,
        );
        body.extend(part(
            b,
            "licensePlatePicture.jpg",
            "image/jpeg",
            &jpeg,
            true,
        ));
        body.extend_from_slice(b"--boundary--\r\n");

        let parts = split(&body, b).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].name(), Some("anpr.xml"));
        assert_eq!(parts[0].body, b"<EventNotificationAlert/>");
        assert_eq!(parts[1].name(), Some("licensePlatePicture.jpg"));
        assert_eq!(parts[1].content_type().as_deref(), Some("image/jpeg"));
        assert_eq!(parts[1].body, jpeg);
    }

    #[test]
    fn a_part_without_length_ends_at_the_next_delimiter() {
        let b = "MIME_boundary";
        let mut body = b"preamble\r\n".to_vec();
        body.extend(part(b, "anpr.xml", "application/xml", b"<a>1</a>", false));
        body.extend(part(
            b,
            "detectionPicture.jpg",
            "image/jpeg",
            &[1, 2, 3],
            true,
        ));
        body.extend_from_slice(b"--MIME_boundary--");
        let parts = split(&body, b).unwrap();
        assert_eq!(parts[0].body, b"<a>1</a>");
        assert_eq!(parts[1].body, [1, 2, 3]);
    }

    #[test]
    fn broken_bodies_are_errors() {
        fn check(body: &[u8], expect: &str) {
            let err = split(body, "b").unwrap_err();
            assert!(err.contains(expect), "{body:?}: {err}");
        }
        let whole = part("b", "x", "image/jpeg", &[9; 10], true);
        check(&whole[..whole.len() - 5], "ends inside a part");
        check(
            b"--b\r\nContent-Length: 99999999999\r\n\r\n",
            "Content-Length",
        );
        check(b"--b\r\nContent-Length: -1\r\n\r\n", "Content-Length");
        check(b"--b\r\nno colon here\r\n\r\nbody\r\n--b--", "no colon");
        check(b"--bX\r\n", "line break");
        check(b"--b--", "no parts");
        check(b"no delimiter at all", "ends inside a part");
    }

    /// The alertStream arrives in chunks of any size; a part is read once all of it is in.
    #[test]
    fn a_stream_yields_parts_as_they_complete() {
        let b = "boundary";
        let mut stream = part(b, "a.xml", "application/xml", b"<one/>", true);
        stream.extend(part(b, "b.xml", "application/xml", b"<two/>", true));
        for chunk in [1, 7, 64] {
            let mut buffer = Vec::new();
            let mut got = Vec::new();
            for piece in stream.chunks(chunk) {
                buffer.extend_from_slice(piece);
                while let Next::Part(p, used) = next_part(&buffer, b).unwrap() {
                    got.push(p.body);
                    buffer.drain(..used);
                }
            }
            assert_eq!(
                got,
                [b"<one/>".to_vec(), b"<two/>".to_vec()],
                "chunk {chunk}"
            );
            assert_eq!(buffer, b"\r\n", "chunk {chunk}");
        }
    }
}
