//! The board's text-line protocol: one command per CRLF-terminated UTF-8 line, one answer
//! line per command, in order.
//!
//! ```text
//! host → board   CLR                 clear every row
//!                TXT <row> <text>    show text on a row (1 = top)
//!                PING                are you there?
//! board → host   OK | ERR <code> …   the answer to CLR and TXT
//!                PONG                the answer to PING
//! ```
//!
//! Text is checked before it is sent: a row the board lacks, text wider than the board or
//! a control character (a line break would smuggle in a command) is refused.

/// Longest answer line accepted.
pub const MAX_LINE: usize = 256;

/// The lines that show `rows` of text, top first: clear, then one `TXT` per row.
pub fn show(rows: &[String], board_rows: u8, width: u16) -> Result<Vec<String>, String> {
    if rows.len() > usize::from(board_rows) {
        return Err(format!(
            "{} rows of text for a board of {board_rows}",
            rows.len()
        ));
    }
    let mut out = vec!["CLR".to_string()];
    for (i, text) in rows.iter().enumerate() {
        if text.chars().any(char::is_control) {
            return Err(format!("row {} holds a control character", i + 1));
        }
        let chars = text.chars().count();
        if chars > usize::from(width) {
            return Err(format!(
                "row {} is {chars} characters, the board shows {width}",
                i + 1
            ));
        }
        if !text.trim().is_empty() {
            out.push(format!("TXT {} {text}", i + 1));
        }
    }
    Ok(out)
}

/// One answer line from the board.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Ok,
    /// The board's error code (its first word; the rest may echo the text shown).
    Err(String),
    Pong,
}

/// Splits the complete answer lines off the front of `buf`.
pub fn answers(buf: &mut Vec<u8>) -> Result<Vec<Answer>, String> {
    let mut out = Vec::new();
    while let Some(end) = buf.iter().position(|&b| b == b'\n') {
        let line: Vec<u8> = buf.drain(..=end).collect();
        let line = std::str::from_utf8(&line)
            .map_err(|_| "the board sent a line that is not UTF-8".to_string())?
            .trim_end_matches(['\r', '\n']);
        out.push(match line.split_once(' ').unwrap_or((line, "")) {
            ("OK", "") => Answer::Ok,
            ("PONG", "") => Answer::Pong,
            ("ERR", rest) => {
                let code: String = rest
                    .split_whitespace()
                    .next()
                    .unwrap_or("unspecified")
                    .chars()
                    .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
                    .take(32)
                    .collect();
                Answer::Err(code)
            }
            _ => return Err("the board sent a line that is not OK, ERR or PONG".into()),
        });
    }
    if buf.len() > MAX_LINE {
        return Err(format!(
            "the board sent a line longer than {MAX_LINE} bytes"
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_becomes_lines() {
        fn check(rows: &[&str], expect: Result<&[&str], &str>) {
            let rows: Vec<String> = rows.iter().map(|r| r.to_string()).collect();
            match (show(&rows, 2, 12), expect) {
                (Ok(lines), Ok(want)) => assert_eq!(lines, want, "{rows:?}"),
                (Err(e), Err(want)) => assert!(e.contains(want), "{rows:?}: {e}"),
                (got, want) => panic!("{rows:?}: {got:?}, expected {want:?}"),
            }
        }
        check(
            &["123ABC02", "GATE 3"],
            Ok(&["CLR", "TXT 1 123ABC02", "TXT 2 GATE 3"]),
        );
        check(&["", "ВЪЕЗД 3"], Ok(&["CLR", "TXT 2 ВЪЕЗД 3"])); // Cyrillic counts as characters
        check(&[], Ok(&["CLR"]));
        check(&["a", "b", "c"], Err("3 rows of text for a board of 2"));
        check(&["123ABC02 GATE 3"], Err("row 1 is 15 characters"));
        check(&["x\r\nCLR"], Err("control character"));
        check(&["", "tab\there"], Err("row 2 holds a control character"));
    }

    #[test]
    fn answers_line_by_line() {
        let mut buf = b"OK\r\nERR row-out-of-range 123ABC02\r\nPONG\nERR\r\nO".to_vec();
        let got = answers(&mut buf).unwrap();
        assert_eq!(
            got,
            [
                Answer::Ok,
                Answer::Err("row-out-of-range".into()),
                Answer::Pong,
                Answer::Err("unspecified".into())
            ]
        );
        assert_eq!(buf, b"O");
        buf.extend_from_slice(b"K\r\n");
        assert_eq!(answers(&mut buf).unwrap(), [Answer::Ok]);
        assert!(buf.is_empty());

        for bad in [
            &b"HELLO\r\n"[..],
            b"OK then\r\n",
            b"\xFF\r\n",
            &[b'x'; MAX_LINE + 1],
        ] {
            assert!(answers(&mut bad.to_vec()).is_err(), "{bad:?}");
        }
    }
}
