//! The verification library on its own (no network): provider test vectors
//! and the cases every preset must refuse.

use http::{HeaderMap, HeaderValue};

use hookfence::secret::Secret;
use hookfence::verify::presets;
use hookfence::verify::{Delivery, Rejection, Verifier};

fn verifier(provider: &str, legacy: bool, secrets: &[&str]) -> Verifier {
    let preset = presets::find(provider).expect("preset exists");
    Verifier::new(
        preset.schemes(legacy),
        secrets.iter().map(|s| Secret::new(s.as_bytes().to_vec())).collect(),
    )
}

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(*name, HeaderValue::from_str(value).expect("valid header value"));
    }
    map
}

fn check(v: &Verifier, pairs: &[(&'static str, &str)], body: &[u8]) -> Result<(), Rejection> {
    v.verify(&Delivery {
        headers: &headers(pairs),
        body,
    })
}

// GitHub's documented example, "Testing the webhook payload validation":
// https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries#testing-the-webhook-payload-validation
const GITHUB_SECRET: &str = "It's a Secret to Everybody";
const GITHUB_BODY: &[u8] = b"Hello, World!";
const GITHUB_SIGNATURE: &str = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

#[test]
fn github_published_test_vector() {
    let v = verifier("github", false, &[GITHUB_SECRET]);
    assert_eq!(
        check(&v, &[("x-hub-signature-256", GITHUB_SIGNATURE)], GITHUB_BODY),
        Ok(())
    );
}

#[test]
fn github_refusals() {
    let v = verifier("github", false, &[GITHUB_SECRET]);
    let h = |sig: &str| vec![("x-hub-signature-256", sig.to_owned())];
    let sig = GITHUB_SIGNATURE;
    // (case, headers, body, expected rejection)
    type Case<'a> = (&'a str, Vec<(&'static str, String)>, &'a [u8], Rejection);
    let cases: Vec<Case> = vec![
        ("tampered body", h(sig), b"Hello, World?", Rejection::BadSignature),
        ("empty body", h(sig), b"", Rejection::BadSignature),
        (
            "missing",
            vec![],
            GITHUB_BODY,
            Rejection::Missing("x-hub-signature-256".parse().unwrap()),
        ),
        (
            "no prefix",
            h(&sig[7..]),
            GITHUB_BODY,
            Rejection::Malformed("x-hub-signature-256".parse().unwrap()),
        ),
        (
            "sha1 prefix",
            h(&sig.replace("sha256=", "sha1=")),
            GITHUB_BODY,
            Rejection::Malformed("x-hub-signature-256".parse().unwrap()),
        ),
        (
            "not hex",
            h("sha256=zz"),
            GITHUB_BODY,
            Rejection::Malformed("x-hub-signature-256".parse().unwrap()),
        ),
        (
            "odd hex",
            h(&sig[..sig.len() - 1]),
            GITHUB_BODY,
            Rejection::Malformed("x-hub-signature-256".parse().unwrap()),
        ),
        (
            "truncated",
            h(&sig[..sig.len() - 2]),
            GITHUB_BODY,
            Rejection::BadSignature,
        ),
        ("empty MAC", h("sha256="), GITHUB_BODY, Rejection::BadSignature),
        (
            "duplicate",
            vec![
                ("x-hub-signature-256", sig.to_owned()),
                ("x-hub-signature-256", sig.to_owned()),
            ],
            GITHUB_BODY,
            Rejection::Duplicate("x-hub-signature-256".parse().unwrap()),
        ),
    ];
    for (name, pairs, body, expected) in cases {
        let pairs: Vec<(&'static str, &str)> = pairs.iter().map(|(n, v)| (*n, v.as_str())).collect();
        assert_eq!(check(&v, &pairs, body), Err(expected), "{name}");
    }
    let wrong = verifier("github", false, &["It's a Secret to Somebody"]);
    assert_eq!(
        check(&wrong, &[("x-hub-signature-256", sig)], GITHUB_BODY),
        Err(Rejection::BadSignature)
    );
}

#[test]
fn github_rotation_accepts_any_configured_secret() {
    let v = verifier("github", false, &["the-new-secret", GITHUB_SECRET]);
    assert_eq!(
        check(&v, &[("x-hub-signature-256", GITHUB_SIGNATURE)], GITHUB_BODY),
        Ok(())
    );
    let uppercase = format!("sha256={}", GITHUB_SIGNATURE[7..].to_ascii_uppercase());
    assert_eq!(check(&v, &[("x-hub-signature-256", &uppercase)], GITHUB_BODY), Ok(()));
}

#[test]
fn flipping_any_bit_of_body_or_signature_is_rejected() {
    let v = verifier("github", false, &[GITHUB_SECRET]);
    for i in 0..GITHUB_BODY.len() {
        for bit in [0x01u8, 0x80] {
            let mut body = GITHUB_BODY.to_vec();
            body[i] ^= bit;
            assert!(
                check(&v, &[("x-hub-signature-256", GITHUB_SIGNATURE)], &body).is_err(),
                "body byte {i}"
            );
        }
    }
    let mac = hex::decode(&GITHUB_SIGNATURE[7..]).unwrap();
    for i in 0..mac.len() {
        for bit in [0x01u8, 0x80] {
            let mut flipped = mac.clone();
            flipped[i] ^= bit;
            let sig = format!("sha256={}", hex::encode(&flipped));
            assert_eq!(
                check(&v, &[("x-hub-signature-256", &sig)], GITHUB_BODY),
                Err(Rejection::BadSignature),
                "MAC byte {i}"
            );
        }
    }
}

#[test]
fn github_legacy_sha1_is_opt_in_and_cannot_downgrade() {
    // HMAC-SHA1("It's a Secret to Everybody", "Hello, World!"), computed independently.
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(GITHUB_SECRET.as_bytes()).unwrap();
    mac.update(GITHUB_BODY);
    let sha1 = format!("sha1={}", hex::encode(mac.finalize().into_bytes()));

    let strict = verifier("github", false, &[GITHUB_SECRET]);
    assert_eq!(
        check(&strict, &[("x-hub-signature", &sha1)], GITHUB_BODY),
        Err(Rejection::Missing("x-hub-signature-256".parse().unwrap()))
    );
    let legacy = verifier("github", true, &[GITHUB_SECRET]);
    assert_eq!(check(&legacy, &[("x-hub-signature", &sha1)], GITHUB_BODY), Ok(()));
    let bad256 = "sha256=0000000000000000000000000000000000000000000000000000000000000000";
    assert_eq!(
        check(
            &legacy,
            &[("x-hub-signature-256", bad256), ("x-hub-signature", &sha1)],
            GITHUB_BODY
        ),
        Err(Rejection::BadSignature),
        "a valid SHA-1 must not rescue a wrong SHA-256"
    );
}

#[test]
fn gitlab_token() {
    let v = verifier("gitlab", false, &["glpat-webhook", "old-token"]);
    assert_eq!(check(&v, &[("x-gitlab-token", "glpat-webhook")], b"{}"), Ok(()));
    assert_eq!(check(&v, &[("x-gitlab-token", "old-token")], b"{}"), Ok(()));
    for wrong in ["glpat-webhoo", "glpat-webhookk", "GLPAT-WEBHOOK", ""] {
        assert_eq!(
            check(&v, &[("x-gitlab-token", wrong)], b"{}"),
            Err(Rejection::BadToken),
            "{wrong:?}"
        );
    }
    assert_eq!(
        check(&v, &[], b"{}"),
        Err(Rejection::Missing("x-gitlab-token".parse().unwrap()))
    );
    assert_eq!(
        check(
            &v,
            &[("x-gitlab-token", "glpat-webhook"), ("x-gitlab-token", "glpat-webhook")],
            b"{}"
        ),
        Err(Rejection::Duplicate("x-gitlab-token".parse().unwrap()))
    );
}

#[test]
fn sign_matches_the_published_vector() {
    // The signer used by `sign_forwarded` produces GitHub's format exactly.
    let preset = presets::find("github").unwrap();
    let hookfence::verify::Scheme::Hmac(scheme) = &preset.schemes(false)[0] else {
        panic!("github is HMAC")
    };
    assert_eq!(
        scheme.sign(&Secret::new(GITHUB_SECRET.as_bytes().to_vec()), GITHUB_BODY),
        GITHUB_SIGNATURE
    );
}
