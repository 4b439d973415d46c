//! The shared conformance corpus (RFC 4475 and RFC 5118 torture messages):
//! locating it, reading its manifest, and making RFC 5118 files wire-ready.
//! Used by the parser tests and by the over-the-wire tests of the edge.

use std::path::{Path, PathBuf};

/// Where the corpus is: `TOLLGATE_CONFORMANCE_DIR`, or `shared/conformance`
/// beside the checkout whose workspace root is `workspace_root`. `None`
/// (after saying so on stderr) when it is missing outside CI; a panic when
/// `CI` is set, because then a missing corpus must fail the run.
pub fn locate(workspace_root: &Path) -> Option<PathBuf> {
    let dir = std::env::var_os("TOLLGATE_CONFORMANCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root.join("../shared/conformance"));
    if dir.join("MANIFEST.tsv").is_file() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "conformance corpus not found at {} (set TOLLGATE_CONFORMANCE_DIR)",
        dir.display()
    );
    eprintln!(
        "SKIPPED: conformance corpus not found at {} (set TOLLGATE_CONFORMANCE_DIR)",
        dir.display()
    );
    None
}

/// The manifest: (file relative to the corpus, expectation class).
pub fn manifest(dir: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(dir.join("MANIFEST.tsv")).unwrap_or_default();
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .filter_map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            Some((cols.first()?.to_string(), cols.last()?.to_string()))
        })
        .collect()
}

/// A corpus file's bytes as they go on the wire: RFC 5118 files get CRLF
/// line endings, their missing empty line and a correct Content-Length (the
/// corpus README says they are not wire-ready); RFC 4475 files are sent as
/// they are.
pub fn wire_bytes(dir: &Path, file: &str) -> std::io::Result<Vec<u8>> {
    let raw = std::fs::read(dir.join(file))?;
    Ok(if file.starts_with("rfc5118/") {
        wire_ready(&raw)
    } else {
        raw
    })
}

/// LF → CRLF, add the empty line if missing, set Content-Length to the real
/// body length.
pub fn wire_ready(raw: &[u8]) -> Vec<u8> {
    let mut crlf = Vec::with_capacity(raw.len() + 64);
    for &b in raw {
        if b == b'\n' {
            crlf.push(b'\r');
        }
        crlf.push(b);
    }
    let split = match crlf.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(i) => i + 2,
        None => {
            crlf.extend_from_slice(b"\r\n");
            crlf.len() - 2
        }
    };
    let (head, rest) = crlf.split_at(split);
    let body = &rest[2..];
    let mut out = Vec::with_capacity(crlf.len());
    for line in head.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let lower = line.to_ascii_lowercase();
        if lower.starts_with(b"content-length:") || lower.starts_with(b"l:") {
            out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
        } else {
            out.extend_from_slice(line);
            out.push(b'\n');
        }
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

#[cfg(test)]
mod tests {
    use super::wire_ready;

    #[test]
    fn rfc5118_files_become_wire_ready() {
        let raw = b"OPTIONS sip:a@b SIP/2.0\nVia: x\nContent-Length: 99\n\nv=0\n";
        assert_eq!(
            wire_ready(raw),
            b"OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\nContent-Length: 5\r\n\r\nv=0\r\n"
        );
        let no_blank = b"OPTIONS sip:a@b SIP/2.0\nl: 0\n";
        assert_eq!(
            wire_ready(no_blank),
            b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 0\r\n\r\n"
        );
    }
}
