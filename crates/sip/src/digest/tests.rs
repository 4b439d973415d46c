//! Published test vectors (RFC 2617 §3.5, RFC 7616 §3.9.1) and round trips.
//! SHA-512-256 has no published vector without username hashing; its
//! expected values were computed independently with OpenSSL's sha512_256.

use super::*;
use crate::header::AuthValue;

const RFC7616_NONCE: &[u8] = b"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
const RFC7616_CNONCE: &[u8] = b"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";

fn rfc7616_response(hash: Hash) -> HexDigest {
    let h1 = ha1(hash, b"Mufasa", b"http-auth@example.org", b"Circle of Life");
    response(
        h1.as_bytes(),
        &ResponseInput {
            algorithm: Algorithm { hash, sess: false },
            nonce: RFC7616_NONCE,
            qop_auth: Some((b"00000001", RFC7616_CNONCE)),
            method: b"GET",
            uri: b"/dir/index.html",
        },
    )
}

#[test]
fn rfc7616_vectors() {
    assert_eq!(
        rfc7616_response(Hash::Md5).as_str(),
        "8ca523f5e9506fed4657c9700eebdbec"
    );
    assert_eq!(
        rfc7616_response(Hash::Sha256).as_str(),
        "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
    );
    assert_eq!(
        rfc7616_response(Hash::Sha512_256).as_str(),
        "430d05014cecc49cab6fbe03176d41a1da86cbfe24a16580e22aaad928d960d0"
    );
}

#[test]
fn rfc2617_vector_verifies_from_the_header() {
    let header = br#"Digest username="Mufasa", realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", qop=auth, nc=00000001, cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1", opaque="5ccc069c403ebaf9f0171e9517f40e41""#;
    let creds = Credentials::parse(&AuthValue::parse(header).unwrap()).unwrap();
    assert_eq!(creds.algorithm, Algorithm::MD5);
    assert_eq!(creds.nonce_count(), Some(1));
    let h1 = ha1(
        Hash::Md5,
        b"Mufasa",
        b"testrealm@host.com",
        b"Circle Of Life",
    );
    assert!(creds.verify(h1.as_bytes(), b"GET"));
    assert!(!creds.verify(h1.as_bytes(), b"POST"));
    let wrong = ha1(
        Hash::Md5,
        b"Mufasa",
        b"testrealm@host.com",
        b"circle of life",
    );
    assert!(!creds.verify(wrong.as_bytes(), b"GET"));
}

#[test]
fn no_qop_and_sess_variants() {
    let h1 = ha1(Hash::Sha512_256, b"bob", b"tollgate", b"s3cret");
    let uri = b"sip:+15551234567@example.com";
    let plain = response(
        h1.as_bytes(),
        &ResponseInput {
            algorithm: Algorithm::SHA512_256,
            nonce: b"abc",
            qop_auth: None,
            method: b"INVITE",
            uri,
        },
    );
    assert_eq!(
        plain.as_str(),
        "caaf6bcb7c0efaa876e4072c4a0d87caff97abf6001b2e114749cd9b437ffab7"
    );
    let sess = response(
        h1.as_bytes(),
        &ResponseInput {
            algorithm: Algorithm {
                hash: Hash::Sha512_256,
                sess: true,
            },
            nonce: b"abc",
            qop_auth: Some((b"00000002", b"xyz")),
            method: b"INVITE",
            uri,
        },
    );
    assert_eq!(
        sess.as_str(),
        "c805e3690d0d2748e705f7b3e04a088bed2b22f053e87b2a9e2c0b11320704fb"
    );
}

#[test]
fn algorithm_tokens() {
    assert_eq!(Algorithm::from_token(b"sha-256"), Some(Algorithm::SHA256));
    assert_eq!(
        Algorithm::from_token(b"SHA-512-256-sess"),
        Some(Algorithm {
            hash: Hash::Sha512_256,
            sess: true
        })
    );
    assert_eq!(Algorithm::from_token(b"SHA-1"), None);
    assert_eq!(Algorithm::SHA512_256.to_string(), "SHA-512-256");
}

#[test]
fn client_answer_verifies_at_the_server_for_every_algorithm() {
    for hash in Hash::ALL {
        let challenge = Challenge {
            realm: Cow::Borrowed(b"carrier \"x\""),
            nonce: Cow::Borrowed(b"n0nce"),
            algorithm: Algorithm { hash, sess: false },
            qop_auth: true,
            opaque: Some(Cow::Borrowed(b"op")),
            stale: false,
        };
        let header = challenge.to_header_value();
        let parsed = Challenge::parse(&AuthValue::parse(header.as_bytes()).unwrap()).unwrap();
        assert_eq!(parsed, challenge);
        let value = answer(
            &parsed,
            &Answer {
                username: b"alice",
                password: b"pa:ss",
                method: b"INVITE",
                uri: b"sip:100@192.0.2.1",
                cnonce: b"c1",
                nc: 3,
            },
        );
        let creds = Credentials::parse(&AuthValue::parse(value.as_bytes()).unwrap()).unwrap();
        assert_eq!(creds.username.as_ref(), b"alice");
        assert_eq!(creds.realm.as_ref(), b"carrier \"x\"");
        assert_eq!(creds.nonce_count(), Some(3));
        assert_eq!(creds.opaque, Some(&b"op"[..]));
        let stored = ha1(hash, b"alice", b"carrier \"x\"", b"pa:ss");
        assert!(creds.verify(stored.as_bytes(), b"INVITE"), "{hash:?}");
    }
}

#[test]
fn credentials_errors() {
    fn parse(s: &str) -> Result<Credentials<'_>, CredentialsError> {
        Credentials::parse(&AuthValue::parse(s.as_bytes()).unwrap())
    }
    assert_eq!(
        parse("Basic abc=").unwrap_err(),
        CredentialsError::NotDigest
    );
    assert_eq!(
        parse(r#"Digest username="a", realm="r", nonce="n", uri="u""#).unwrap_err(),
        CredentialsError::Missing
    );
    assert_eq!(
        parse(r#"Digest username="a", realm="r", nonce="n", uri="u", response="x", qop=auth"#)
            .unwrap_err(),
        CredentialsError::Missing
    );
    assert_eq!(
        parse(r#"Digest username="a", username="b", realm="r", nonce="n", uri="u", response="x""#)
            .unwrap_err(),
        CredentialsError::Malformed
    );
    assert_eq!(
        parse(
            r#"Digest username="a", realm="r", nonce="n", uri="u", response="x", algorithm=SHA-1"#
        )
        .unwrap_err(),
        CredentialsError::UnsupportedAlgorithm
    );
    assert_eq!(
        parse(r#"Digest username="a", realm="r", nonce="n", uri="u", response="x", qop=auth-int, nc=00000001, cnonce="c""#)
            .unwrap_err(),
        CredentialsError::UnsupportedQop
    );
}

#[test]
fn escapes_are_removed_only_when_present() {
    assert!(matches!(unescape_quoted(b"plain"), Cow::Borrowed(_)));
    assert_eq!(unescape_quoted(br#"a\"b\\c"#).as_ref(), br#"a"b\c"#);
}
