use super::*;

const OFFER: &[u8] = b"v=0\r\n\
o=carrier 1 1 IN IP4 192.0.2.10\r\n\
s=-\r\n\
c=IN IP4 192.0.2.10\r\n\
t=0 0\r\n\
m=audio 40000 RTP/AVP 8 0 18 101\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:18 G729/8000\r\n\
a=fmtp:18 annexb=no\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-16\r\n\
a=X-nat:0\r\n\
a=ptime:20\r\n\
m=video 40002 RTP/AVP 96\r\n\
a=rtpmap:96 H264/90000\r\n\
a=rtcp-fb:96 nack\r\n";

#[test]
fn lists_codecs_by_rtpmap_and_static_table() {
    let m = media(OFFER);
    assert_eq!(m.len(), 2);
    let names: Vec<_> = m[0].codecs.iter().map(|c| c.name).collect();
    assert_eq!(
        names,
        vec![&b"PCMA"[..], b"PCMU", b"G729", b"telephone-event"]
    );
    assert_eq!(m[1].kind, b"video");
    let bare = media(b"v=0\r\nm=audio 1 RTP/AVP 0 8 13\r\n");
    let names: Vec<_> = bare[0].codecs.iter().map(|c| c.name).collect();
    assert_eq!(names, vec![&b"PCMU"[..], b"PCMA", b"CN"]);
}

#[test]
fn removes_a_codec_and_its_lines_keeping_every_other_byte() {
    let f = remove_codecs(OFFER, &["pcma", "G729"]);
    assert_eq!(f.removed, 2);
    assert!(!f.audio_without_codec);
    let expected = String::from_utf8(OFFER.to_vec())
        .unwrap()
        .replace("RTP/AVP 8 0 18 101", "RTP/AVP 0 101")
        .replace("a=rtpmap:8 PCMA/8000\r\n", "")
        .replace("a=rtpmap:18 G729/8000\r\n", "")
        .replace("a=fmtp:18 annexb=no\r\n", "");
    assert_eq!(String::from_utf8(f.sdp).unwrap(), expected);
}

#[test]
fn nothing_to_remove_is_an_identical_copy() {
    let f = remove_codecs(OFFER, &["opus"]);
    assert_eq!(f.sdp, OFFER);
    assert_eq!(f.removed, 0);
}

#[test]
fn telephone_event_alone_is_no_codec() {
    let f = remove_codecs(OFFER, &["PCMA", "PCMU", "G729"]);
    assert!(f.audio_without_codec);
    let text = String::from_utf8(f.sdp).unwrap();
    assert!(text.contains("m=audio 40000 RTP/AVP 101\r\n"));
}

#[test]
fn a_stream_with_nothing_left_is_disabled() {
    let f = remove_codecs(OFFER, &["H264"]);
    let text = String::from_utf8(f.sdp).unwrap();
    assert!(text.contains("m=video 0 RTP/AVP 96\r\n"), "{text}");
    assert!(text.contains("a=rtpmap:96 H264/90000"));
    assert!(!f.audio_without_codec);
    let all = remove_codecs(OFFER, &["PCMA", "PCMU", "G729", "telephone-event"]);
    assert!(all.audio_without_codec);
    assert!(
        String::from_utf8(all.sdp)
            .unwrap()
            .contains("m=audio 0 RTP/AVP 8\r\n")
    );
}

#[test]
fn line_endings_and_non_rtp_streams_are_preserved() {
    let lf = b"v=0\nm=audio 5 RTP/AVP 0 8\na=rtpmap:8 PCMA/8000\nm=image 6 udptl t38\na=T38FaxVersion:0\n";
    let f = remove_codecs(lf, &["PCMA"]);
    assert_eq!(
        f.sdp,
        b"v=0\nm=audio 5 RTP/AVP 0\nm=image 6 udptl t38\na=T38FaxVersion:0\n"
    );
    let no_final_eol = b"v=0\r\nm=audio 5 RTP/AVP 0 8";
    assert_eq!(
        remove_codecs(no_final_eol, &["PCMU"]).sdp,
        b"v=0\r\nm=audio 5 RTP/AVP 8"
    );
}

#[test]
fn a_declining_answer_disables_every_offered_stream_in_order() {
    let answer = declining_answer(OFFER, "198.51.100.7".parse().unwrap());
    let text = String::from_utf8(answer.clone()).unwrap();
    assert!(text.starts_with("v=0\r\no=tollgate 0 0 IN IP4 198.51.100.7\r\n"));
    assert!(text.contains("\r\nc=IN IP4 198.51.100.7\r\n"));
    let m = media(&answer);
    assert_eq!(m.len(), 2);
    assert_eq!(
        (m[0].kind, m[0].port, m[0].proto),
        (&b"audio"[..], &b"0"[..], &b"RTP/AVP"[..])
    );
    assert_eq!(m[0].codecs.len(), 1);
    assert_eq!(m[0].codecs[0].payload_type, 8);
    assert_eq!((m[1].kind, m[1].port), (&b"video"[..], &b"0"[..]));
    assert!(!text.contains("a="), "declined streams need no attributes");
}

#[test]
fn a_declining_answer_copes_with_any_offer() {
    let v6 = declining_answer(
        b"m=image 9 udptl t38\nm=audio\n",
        "2001:db8::1".parse().unwrap(),
    );
    let text = String::from_utf8(v6).unwrap();
    assert!(text.contains("o=tollgate 0 0 IN IP6 2001:db8::1\r\n"));
    assert!(
        text.ends_with("m=image 0 udptl t38\r\nm=audio 0 RTP/AVP 0\r\n"),
        "{text}"
    );
    let none = declining_answer(b"\x00garbage", "192.0.2.1".parse().unwrap());
    assert!(media(&none).is_empty());
}
