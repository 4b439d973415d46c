//! SDP (RFC 8866) codec listing and filtering for offers and answers.
//!
//! Tollgate never terminates media; it only removes codecs an operator
//! restricted. So this is a line rewriter, not a full SDP model: it reads
//! each `m=` line's payload types, names them through `a=rtpmap` or the
//! RFC 3551 static table, and when filtering drops the payload types and
//! their `a=rtpmap`/`a=fmtp`/`a=rtcp-fb` lines while every other byte,
//! including unknown attributes and the original line endings, is kept.

use std::net::IpAddr;

/// One payload type of a media description.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Codec<'b> {
    /// The RTP payload type number.
    pub payload_type: u8,
    /// The encoding name (`PCMU`, `opus`, `telephone-event`…), from
    /// `a=rtpmap` or the static table; empty when unknown.
    pub name: &'b [u8],
}

impl Codec<'_> {
    /// True for payload types that carry no voice: DTMF events and comfort
    /// noise. An audio stream with only these has no codec.
    pub fn is_voice(&self) -> bool {
        !(self.name.eq_ignore_ascii_case(b"telephone-event")
            || self.name.eq_ignore_ascii_case(b"CN"))
    }
}

/// One `m=` section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Media<'b> {
    /// The media type (`audio`, `video`, `image`…).
    pub kind: &'b [u8],
    /// The port as written (0 means a disabled stream).
    pub port: &'b [u8],
    /// The transport protocol (`RTP/AVP`, `RTP/SAVP`, `udptl`…).
    pub proto: &'b [u8],
    /// The payload types in preference order; empty for non-RTP protocols.
    pub codecs: Vec<Codec<'b>>,
}

/// RFC 3551 static payload types (tables 4 and 5).
fn static_name(pt: u8) -> &'static [u8] {
    match pt {
        0 => b"PCMU",
        3 => b"GSM",
        4 => b"G723",
        5 | 6 | 16 | 17 => b"DVI4",
        7 => b"LPC",
        8 => b"PCMA",
        9 => b"G722",
        10 | 11 => b"L16",
        12 => b"QCELP",
        13 => b"CN",
        14 => b"MPA",
        15 => b"G728",
        18 => b"G729",
        25 => b"CelB",
        26 => b"JPEG",
        28 => b"nv",
        31 => b"H261",
        32 => b"MPV",
        33 => b"MP2T",
        34 => b"H263",
        _ => b"",
    }
}

/// One line of the body: content without its line ending, and the ending.
#[derive(Clone, Copy)]
struct Line<'b> {
    text: &'b [u8],
    eol: &'b [u8],
}

fn lines(sdp: &[u8]) -> Vec<Line<'_>> {
    let mut out = Vec::with_capacity(24);
    let mut rest = sdp;
    while !rest.is_empty() {
        let (text, eol, next) = match memchr::memchr(b'\n', rest) {
            Some(i) if i > 0 && rest[i - 1] == b'\r' => {
                (&rest[..i - 1], &rest[i - 1..=i], &rest[i + 1..])
            }
            Some(i) => (&rest[..i], &rest[i..=i], &rest[i + 1..]),
            None => (rest, &b""[..], &b""[..]),
        };
        out.push(Line { text, eol });
        rest = next;
    }
    out
}

/// The fields of an `m=` line.
struct MLine<'b> {
    kind: &'b [u8],
    port: &'b [u8],
    proto: &'b [u8],
    formats: &'b [u8],
}

fn parse_m_line(text: &[u8]) -> Option<MLine<'_>> {
    let body = text.strip_prefix(b"m=")?;
    let mut fields = body.splitn(4, |&b| b == b' ');
    Some(MLine {
        kind: fields.next()?,
        port: fields.next()?,
        proto: fields.next()?,
        formats: fields.next().unwrap_or(b""),
    })
}

fn is_rtp(proto: &[u8]) -> bool {
    proto.windows(3).any(|w| w.eq_ignore_ascii_case(b"RTP"))
}

fn parse_pt(s: &[u8]) -> Option<u8> {
    crate::lex::parse_decimal(s, 127).map(|n| n as u8)
}

/// For `a=<attr>:<pt> …` lines naming a payload type: the attribute and pt.
fn pt_attribute(text: &[u8]) -> Option<(&[u8], u8)> {
    let body = text.strip_prefix(b"a=")?;
    let colon = memchr::memchr(b':', body)?;
    let attr = &body[..colon];
    if !(attr == b"rtpmap" || attr == b"fmtp" || attr == b"rtcp-fb") {
        return None;
    }
    let value = &body[colon + 1..];
    let end = value.iter().position(|&b| b == b' ').unwrap_or(value.len());
    Some((attr, parse_pt(&value[..end])?))
}

/// The encoding name in an `a=rtpmap:<pt> <name>/<rate>` line.
fn rtpmap_name(text: &[u8]) -> Option<(u8, &[u8])> {
    let (attr, pt) = pt_attribute(text)?;
    if attr != b"rtpmap" {
        return None;
    }
    let space = memchr::memchr(b' ', text)?;
    let enc = &text[space + 1..];
    let name_end = enc.iter().position(|&b| b == b'/').unwrap_or(enc.len());
    Some((pt, &enc[..name_end]))
}

/// A media section: the index of its `m=` line and one past its last line.
fn sections(lines: &[Line<'_>]) -> Vec<(usize, usize)> {
    let starts: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].text.starts_with(b"m="))
        .collect();
    starts
        .iter()
        .enumerate()
        .map(|(n, &s)| (s, starts.get(n + 1).copied().unwrap_or(lines.len())))
        .collect()
}

fn media_of<'b>(lines: &[Line<'b>], (start, end): (usize, usize)) -> Option<Media<'b>> {
    let MLine {
        kind,
        port,
        proto,
        formats,
    } = parse_m_line(lines[start].text)?;
    let mut codecs = Vec::new();
    if is_rtp(proto) {
        for f in formats.split(|&b| b == b' ').filter(|f| !f.is_empty()) {
            let pt = parse_pt(f)?;
            let mapped = lines[start + 1..end]
                .iter()
                .filter_map(|l| rtpmap_name(l.text))
                .find(|&(p, _)| p == pt)
                .map(|(_, name)| name);
            codecs.push(Codec {
                payload_type: pt,
                name: mapped.unwrap_or_else(|| static_name(pt)),
            });
        }
    }
    Some(Media {
        kind,
        port,
        proto,
        codecs,
    })
}

/// Lists every media section and its codecs. Sections whose `m=` line is
/// malformed are skipped.
pub fn media(sdp: &[u8]) -> Vec<Media<'_>> {
    let lines = lines(sdp);
    sections(&lines)
        .into_iter()
        .filter_map(|s| media_of(&lines, s))
        .collect()
}

/// The result of [`remove_codecs`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filtered {
    /// The rewritten body.
    pub sdp: Vec<u8>,
    /// How many payload types were removed.
    pub removed: usize,
    /// True when an enabled audio stream was left without a voice codec
    /// (telephone-event or CN alone does not count): answer 488.
    pub audio_without_codec: bool,
}

/// Removes every payload type whose encoding name is in `names` (ASCII case
/// ignored), with its `a=rtpmap`, `a=fmtp` and `a=rtcp-fb` lines. A section
/// left with no payload type at all is disabled (port 0, RFC 3264 §6) and
/// keeps its first format so the line stays valid.
pub fn remove_codecs(sdp: &[u8], names: &[&str]) -> Filtered {
    let lines = lines(sdp);
    let mut out = Vec::with_capacity(sdp.len());
    let copy = |out: &mut Vec<u8>, ls: &[Line<'_>]| {
        for l in ls {
            out.extend_from_slice(l.text);
            out.extend_from_slice(l.eol);
        }
    };
    let mut removed = 0;
    let mut audio_without_codec = false;
    let mut next_line = 0;
    for (start, end) in sections(&lines) {
        copy(&mut out, &lines[next_line..start]);
        next_line = end;
        let media = match media_of(&lines, (start, end)) {
            Some(m) if !m.codecs.is_empty() => m,
            _ => {
                copy(&mut out, &lines[start..end]);
                continue;
            }
        };
        let (dropped, kept): (Vec<Codec<'_>>, Vec<Codec<'_>>) =
            media.codecs.iter().partition(|c| {
                names
                    .iter()
                    .any(|n| c.name.eq_ignore_ascii_case(n.as_bytes()))
            });
        removed += dropped.len();
        if media.kind.eq_ignore_ascii_case(b"audio")
            && media.port != b"0"
            && !kept.iter().any(Codec::is_voice)
        {
            audio_without_codec = true;
        }
        // A stream with nothing left is disabled, keeping one format.
        let disabled = kept.is_empty();
        let listed: Vec<u8> = if disabled {
            vec![dropped[0].payload_type]
        } else {
            kept.iter().map(|c| c.payload_type).collect()
        };
        out.extend_from_slice(b"m=");
        out.extend_from_slice(media.kind);
        out.push(b' ');
        out.extend_from_slice(if disabled { b"0" } else { media.port });
        out.push(b' ');
        out.extend_from_slice(media.proto);
        for pt in &listed {
            out.push(b' ');
            out.extend_from_slice(pt.to_string().as_bytes());
        }
        out.extend_from_slice(lines[start].eol);
        for l in &lines[start + 1..end] {
            let unlisted = pt_attribute(l.text).is_some_and(|(_, pt)| {
                dropped.iter().any(|c| c.payload_type == pt) && !listed.contains(&pt)
            });
            if !unlisted {
                copy(&mut out, std::slice::from_ref(l));
            }
        }
    }
    copy(&mut out, &lines[next_line..]);
    Filtered {
        sdp: out,
        removed,
        audio_without_codec,
    }
}

/// An answer to `offer` that declines every stream (RFC 3264 §6): one `m=`
/// line per offered one, in the same order, each with port 0 and the
/// offer's first format (SDP needs one). It is what an ACK must carry when
/// a 2xx brought an offer for a dialog that is to be hung up at once
/// (RFC 3261 §13.2.2.4). `origin` is the answerer's address, for `o=` and
/// `c=`.
pub fn declining_answer(offer: &[u8], origin: IpAddr) -> Vec<u8> {
    let family = if origin.is_ipv4() { "IP4" } else { "IP6" };
    let mut out = format!(
        "v=0\r\no=tollgate 0 0 IN {family} {origin}\r\ns=-\r\nc=IN {family} {origin}\r\nt=0 0\r\n"
    )
    .into_bytes();
    for line in lines(offer) {
        let Some(m) = line.text.strip_prefix(b"m=") else {
            continue;
        };
        let mut fields = m.split(|&b| b == b' ').filter(|f| !f.is_empty());
        let kind = fields.next().unwrap_or(b"audio");
        let proto = fields.nth(1).unwrap_or(b"RTP/AVP");
        let format = fields.next().unwrap_or(b"0");
        for part in [&b"m="[..], kind, b" 0 ", proto, b" ", format, b"\r\n"] {
            out.extend_from_slice(part);
        }
    }
    out
}

#[cfg(test)]
mod tests;
