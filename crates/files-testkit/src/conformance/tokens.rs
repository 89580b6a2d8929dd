//! Resuming with the wrong input: a changed body, tampered or doctored tokens, and bad input
//! aimed at a key that already holds an object (which must come out undamaged).

use files_core::token::{ResumeToken, TOKEN_VERSION, TokenFamily};
use files_core::{Body, Bytes, ErrorKind, UploadControl};

use super::Fixture;
use super::support::*;
use crate::util::assert_object_eq;

/// A resumed body that differs is refused with body changed: one byte flipped inside a part
/// that already landed (same length), or another length. Nothing is lost: the upload still
/// resumes with the right body afterwards.
pub async fn changed_body_on_resume(fixture: &dyn Fixture) {
    let c = Ctx::new(fixture, "changed-body").await;
    if refused_without_resume(&c).await {
        return;
    }
    let key = c.key("obj");
    let body = c.body(71, 8, 100);
    let token = cancelled_upload(&c, &key, &body, 3 * c.ps).await;

    let mut flipped = body.to_vec();
    let at = offset_inside_landed(&token) as usize;
    flipped[at] ^= 0x5a;
    let result = no_hang(
        "resume with a flipped byte",
        c.files
            .upload(&key, Body::from_bytes(flipped))
            .control(UploadControl::from_token(token.clone())),
    )
    .await;
    expect_kind(
        result,
        ErrorKind::BodyChanged,
        "a byte flipped inside a landed part",
    );

    let mut longer = body.to_vec();
    longer.push(1);
    let result = c
        .files
        .upload(&key, Body::from_bytes(longer))
        .control(UploadControl::from_token(token.clone()))
        .await;
    expect_kind(result, ErrorKind::BodyChanged, "a body of another length");
    let shorter = body.slice(..body.len() - 1);
    let result = c
        .files
        .upload(&key, Body::from_bytes(shorter))
        .control(UploadControl::from_token(token.clone()))
        .await;
    expect_kind(result, ErrorKind::BodyChanged, "a shorter body");
    assert_absent(&c.files, &key, "refused resumes").await;

    let out = no_hang(
        "resume with the right body",
        c.files
            .upload(&key, Body::from_bytes(body.clone()))
            .control(UploadControl::from_token(token)),
    )
    .await
    .unwrap_or_else(|e| panic!("resume with the right body after refused ones failed: {e}"));
    assert!(out.bytes_resumed > 0, "the landed parts were kept");
    assert_object_eq(&c.files, &key, &body).await;
}

/// Tampered tokens are refused with token invalid: an edited field without reseal, another key,
/// another target store, another provider, a future version, truncated or malformed JSON. The
/// genuine token still resumes afterwards.
pub async fn tampered_tokens(fixture: &dyn Fixture) {
    let c = Ctx::new(fixture, "tampered").await;
    if refused_without_resume(&c).await {
        return;
    }
    let key = c.key("obj");
    let body = c.body(81, 6, 1);
    let token = cancelled_upload(&c, &key, &body, 2 * c.ps).await;
    let json = token.to_json();

    // Edited without reseal.
    let mut value = token.to_value();
    value["loaded"] = serde_json::json!(0);
    expect_kind(
        ResumeToken::from_value(value),
        ErrorKind::TokenInvalid,
        "edited loaded",
    );
    let mut value = token.to_value();
    value["part_size"] = serde_json::json!(token.part_size * 2);
    expect_kind(
        ResumeToken::from_value(value),
        ErrorKind::TokenInvalid,
        "edited part size",
    );
    let edited = json.replace(
        &format!("\"key\":\"{key}\""),
        &format!("\"key\":\"{key}x\""),
    );
    assert_ne!(edited, json);
    expect_kind(
        UploadControl::from_json(&edited),
        ErrorKind::TokenInvalid,
        "edited key",
    );
    let mut unsealed = token.clone();
    unsealed.created_at += 1;
    let try_token = |t: ResumeToken, k: String| {
        c.files
            .upload(k, Body::from_bytes(body.clone()))
            .control(UploadControl::from_token(t))
    };
    expect_kind(
        no_hang("unsealed", try_token(unsealed, key.clone())).await,
        ErrorKind::TokenInvalid,
        "a token edited in memory without reseal",
    );

    // Used for another key.
    expect_kind(
        no_hang("other key", try_token(token.clone(), c.key("other"))).await,
        ErrorKind::TokenInvalid,
        "a token used for another key",
    );
    let mut other_key = token.clone();
    other_key.key = c.key("other");
    other_key.seal();
    expect_kind(
        no_hang("other key", try_token(other_key, key.clone())).await,
        ErrorKind::TokenInvalid,
        "a resealed token of another key",
    );
    // Another target.
    let mut other_target = token.clone();
    other_target.target = format!("{}-elsewhere", token.target);
    other_target.seal();
    expect_kind(
        no_hang("other target", try_token(other_target, key.clone())).await,
        ErrorKind::TokenInvalid,
        "a token of another store",
    );
    // Another provider.
    let mut other_provider = token.clone();
    other_provider.provider = format!("not-{}", token.provider);
    other_provider.seal();
    expect_kind(
        no_hang("other provider", try_token(other_provider, key.clone())).await,
        ErrorKind::TokenInvalid,
        "a token of another provider",
    );
    // Another family.
    let mut other_family = token.clone();
    other_family.family = match token.family {
        TokenFamily::Parts => TokenFamily::Offset,
        TokenFamily::Offset => TokenFamily::Parts,
    };
    other_family.landed = String::new();
    other_family.seal();
    expect_kind(
        no_hang("other family", try_token(other_family, key.clone())).await,
        ErrorKind::TokenInvalid,
        "a token of another upload family",
    );
    // A future version.
    let mut future = token.clone();
    future.version = TOKEN_VERSION + 1;
    future.seal();
    expect_kind(
        ResumeToken::from_json(&future.to_json()),
        ErrorKind::TokenInvalid,
        "a future token version",
    );
    expect_kind(
        no_hang("future version", try_token(future, key.clone())).await,
        ErrorKind::TokenInvalid,
        "a future token version",
    );
    // Truncated or malformed JSON.
    for text in [
        &json[..json.len() / 2],
        &json[..json.len() - 1],
        "",
        "{}",
        "null",
        "not json",
    ] {
        expect_kind(
            ResumeToken::from_json(text),
            ErrorKind::TokenInvalid,
            &format!("malformed token text {text:?}"),
        );
    }
    assert_absent(&c.files, &key, "refused tokens").await;
    assert_absent(&c.files, &c.key("other"), "refused tokens").await;

    let out = no_hang(
        "genuine token",
        c.files
            .upload(&key, Body::from_bytes(body.clone()))
            .control(UploadControl::from_json(&json).expect("the genuine token parses")),
    )
    .await
    .unwrap_or_else(|e| panic!("the genuine token no longer resumes after refused ones: {e}"));
    assert!(out.bytes_resumed > 0);
    assert_object_eq(&c.files, &key, &body).await;
}

/// Bad input aimed at a key that already holds an object damages nothing: part sizes out of
/// range (every adapter), then, where uploads resume, with an upload of a new body pending at
/// that key: a resume with a changed, longer or shorter body, with a token edited without reseal,
/// of another provider, of another store (another bucket or root), of another key, of a future
/// version, or truncated. Each is refused with its own error kind; after each the earlier object
/// still hashes the same, and at the end the genuine token still resumes to the new body.
pub async fn refused_input_keeps_earlier_object(fixture: &dyn Fixture) {
    let c = Ctx::new(fixture, "keeps-earlier").await;
    let key = c.key("obj");
    let earlier = c.body(131, 2, 17);
    upload_plain(&c, &key, &earlier).await;

    // (part size, body length) as in `refused_part_sizes`: a body of one part needs no part
    // size, so a small one is refused only when the body spans several parts.
    let r = c.rules;
    let mut sizes = vec![(0, 10)];
    if r.min_part_size > 1 {
        sizes.push((r.min_part_size - 1, r.min_part_size * 2));
    }
    if r.max_part_size < (1 << 40) {
        sizes.push((r.max_part_size + 1, 10));
    }
    for (ps, len) in sizes {
        if ps != 0 && !c.multi_part() {
            continue;
        }
        let data = Bytes::from(vec![9u8; len as usize]);
        expect_kind(
            no_hang(
                "refused part size",
                c.files.upload(&key, Body::from_bytes(data)).part_size(ps),
            )
            .await,
            ErrorKind::InvalidInput,
            &format!("part size {ps} over an existing object"),
        );
        assert_object_eq(&c.files, &key, &earlier).await;
    }
    if refused_without_resume(&c).await {
        assert_object_eq(&c.files, &key, &earlier).await;
        return;
    }

    let body = c.body(132, 6, 3);
    let token = cancelled_upload(&c, &key, &body, 2 * c.ps).await;
    assert_object_eq(&c.files, &key, &earlier).await;

    let mut flipped = body.to_vec();
    flipped[offset_inside_landed(&token) as usize] ^= 0x21;
    let mut longer = body.to_vec();
    longer.push(0);
    let shorter = body.slice(..body.len() - 1);
    let mut unsealed = token.clone();
    unsealed.created_at += 1;
    let mut other_provider = token.clone();
    other_provider.provider = format!("{}-other", token.provider);
    other_provider.seal();
    let mut other_store = token.clone();
    other_store.target = format!("{}-other-bucket", token.target);
    other_store.seal();
    let mut other_key = token.clone();
    other_key.key = c.key("elsewhere");
    other_key.seal();
    let mut future = token.clone();
    future.version = TOKEN_VERSION + 1;
    future.seal();
    let attempts: Vec<(&str, Bytes, ResumeToken, ErrorKind)> = vec![
        (
            "a flipped byte",
            Bytes::from(flipped),
            token.clone(),
            ErrorKind::BodyChanged,
        ),
        (
            "a longer body",
            Bytes::from(longer),
            token.clone(),
            ErrorKind::BodyChanged,
        ),
        (
            "a shorter body",
            shorter,
            token.clone(),
            ErrorKind::BodyChanged,
        ),
        (
            "a token edited without reseal",
            body.clone(),
            unsealed,
            ErrorKind::TokenInvalid,
        ),
        (
            "a token of another provider",
            body.clone(),
            other_provider,
            ErrorKind::TokenInvalid,
        ),
        (
            "a token of another store",
            body.clone(),
            other_store,
            ErrorKind::TokenInvalid,
        ),
        (
            "a token of another key",
            body.clone(),
            other_key,
            ErrorKind::TokenInvalid,
        ),
        (
            "a future token version",
            body.clone(),
            future,
            ErrorKind::TokenInvalid,
        ),
    ];
    for (what, data, t, kind) in attempts {
        let result = no_hang(
            what,
            c.files
                .upload(&key, Body::from_bytes(data))
                .control(UploadControl::from_token(t)),
        )
        .await;
        expect_kind(result, kind, &format!("[{}] a resume with {what}", c.name));
        assert_object_eq(&c.files, &key, &earlier).await;
    }
    let json = token.to_json();
    for cut in [json.len() / 3, json.len() - 2] {
        expect_kind(
            UploadControl::from_json(&json[..cut]),
            ErrorKind::TokenInvalid,
            &format!("a token truncated to {cut} bytes"),
        );
    }
    assert_absent(&c.files, &c.key("elsewhere"), "refused tokens").await;

    let out = no_hang(
        "the genuine token",
        c.files
            .upload(&key, Body::from_bytes(body.clone()))
            .control(UploadControl::from_token(token)),
    )
    .await
    .unwrap_or_else(|e| panic!("[{}] the genuine token no longer resumes: {e}", c.name));
    assert!(out.bytes_resumed > 0, "the landed bytes were kept");
    assert_object_eq(&c.files, &key, &body).await;
}

/// A token whose session was swapped and resealed (as anyone holding tokens can: the seal is a
/// checksum, not a signature) is refused or harmless: another pending upload's session, a
/// session name that never existed, and a path-like name each end in token invalid, session
/// expired or not found, or, where the key alone names the session, in the right object. The
/// other upload's session is not damaged: both uploads then resume to their exact bytes.
pub async fn doctored_session_tokens(fixture: &dyn Fixture) {
    let c = Ctx::new(fixture, "doctored-session").await;
    if refused_without_resume(&c).await {
        return;
    }
    let (key_a, key_b) = (c.key("a"), c.key("b"));
    let (body_a, body_b) = (c.body(141, 5, 9), c.body(142, 5, 9));
    let token_a = cancelled_upload(&c, &key_a, &body_a, 2 * c.ps).await;
    let token_b = cancelled_upload(&c, &key_b, &body_b, 2 * c.ps).await;

    let mut never = token_a.session.clone();
    never.id = if never.id.is_empty() {
        "no-such-session".to_string()
    } else {
        let mut id = never.id.clone();
        let last = id.pop().map_or('x', |ch| if ch == 'x' { 'y' } else { 'x' });
        id.push(last);
        id
    };
    let mut path_like = token_a.session.clone();
    path_like.id = "../../../etc/escape".to_string();
    let mut a_done = false;
    for (what, session) in [
        ("another upload's session", token_b.session.clone()),
        ("a session that never existed", never),
        ("a path-like session", path_like),
    ] {
        let mut t = token_a.clone();
        t.session = session;
        t.seal();
        let result = no_hang(
            what,
            c.files
                .upload(&key_a, Body::from_bytes(body_a.clone()))
                .control(UploadControl::from_token(t)),
        )
        .await;
        match result {
            Err(e) => {
                assert!(
                    matches!(
                        e.kind(),
                        ErrorKind::TokenInvalid | ErrorKind::SessionExpired | ErrorKind::NotFound
                    ),
                    "[{}] a token with {what}: expected token invalid, session expired or not \
                     found, got {e}",
                    c.name
                );
                if !a_done {
                    assert_absent(&c.files, &key_a, what).await;
                }
            }
            Ok(_) => {
                // Only acceptable where the key alone names the session: then it was `a`'s.
                let there = expect_ok(c.files.exists(&key_a).await, what);
                assert!(
                    there,
                    "[{}] a token with {what} was reported uploaded to {key_a}, but no object \
                     is there: its bytes went to the session it named",
                    c.name
                );
                assert_object_eq(&c.files, &key_a, &body_a).await;
                a_done = true;
            }
        }
        assert_absent(&c.files, &key_b, what).await;
    }

    let out = no_hang(
        "b's own token",
        c.files
            .upload(&key_b, Body::from_bytes(body_b.clone()))
            .control(UploadControl::from_token(token_b)),
    )
    .await
    .unwrap_or_else(|e| {
        panic!(
            "[{}] b's upload no longer resumes after doctored tokens: {e}",
            c.name
        )
    });
    assert!(out.bytes_resumed > 0, "b's landed bytes were kept");
    assert_object_eq(&c.files, &key_b, &body_b).await;
    if !a_done {
        let out = no_hang(
            "a's own token",
            c.files
                .upload(&key_a, Body::from_bytes(body_a.clone()))
                .control(UploadControl::from_token(token_a)),
        )
        .await
        .unwrap_or_else(|e| {
            panic!(
                "[{}] a's upload no longer resumes after doctored tokens: {e}",
                c.name
            )
        });
        assert!(out.bytes_resumed > 0, "a's landed bytes were kept");
    }
    assert_object_eq(&c.files, &key_a, &body_a).await;
}
