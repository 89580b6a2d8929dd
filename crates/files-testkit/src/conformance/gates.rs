//! What must be refused before any provider call: undeclared capabilities and part sizes the
//! provider would refuse.

use std::time::Duration;

use files_core::{Body, Bytes, ErrorKind, UploadControl};

use super::Fixture;
use super::support::*;
use crate::util::part_size_for;

/// Options the adapter does not declare fail with not supported before any provider call:
/// presigned URLs, public URLs, `control` without a resumable primitive.
pub async fn capability_gates(fixture: &dyn Fixture) {
    let c = Ctx::new(fixture, "gates").await;
    let key = c.key("obj");
    upload_small(&c, &key, b"gates").await;
    let (files, counter) = c.counting();
    let hour = Duration::from_secs(3600);
    if !c.caps.presign_get {
        expect_kind(
            files.presign_get(&key, hour).await,
            ErrorKind::NotSupported,
            "presign_get",
        );
    } else {
        let url = expect_ok(c.files.presign_get(&key, hour).await, "presign_get");
        assert!(!url.is_empty());
    }
    if !c.caps.presign_put {
        expect_kind(
            files.presign_put(&key, hour).await,
            ErrorKind::NotSupported,
            "presign_put",
        );
    } else {
        let url = expect_ok(c.files.presign_put(&key, hour).await, "presign_put");
        assert!(!url.is_empty());
    }
    if !c.caps.public_url {
        expect_kind(files.url(&key), ErrorKind::NotSupported, "public url");
    } else {
        assert!(!expect_ok(c.files.url(&key), "public url").is_empty());
    }
    if !c.resumable() {
        expect_kind(
            files
                .upload(c.key("ctl"), Body::from_bytes(c.body(1, 3, 0)))
                .control(UploadControl::new())
                .await,
            ErrorKind::NotSupported,
            "control without a resumable primitive",
        );
    }
    assert_no_provider_call(&counter, "unsupported options");
    // `concurrency(0)` is invalid input.
    expect_kind(
        files
            .upload(c.key("c0"), Body::from("x"))
            .concurrency(0)
            .await,
        ErrorKind::InvalidInput,
        "concurrency 0",
    );
    assert_no_provider_call(&counter, "concurrency 0");
}

/// Part sizes the provider refuses (zero, below its minimum, misaligned, above its maximum, or
/// too many parts) are invalid input before anything is sent.
pub async fn refused_part_sizes(fixture: &dyn Fixture) {
    let c = Ctx::new(fixture, "part-sizes").await;
    let r = c.rules;
    let key = c.key("obj");
    let body = c.body(121, 3, 1);
    let (files, counter) = c.counting();
    let mut cases: Vec<(String, u64, u64)> = vec![("zero".into(), 0, body.len() as u64)];
    if r.min_part_size > 1 {
        cases.push((
            "below the minimum".into(),
            r.min_part_size - 1,
            r.min_part_size * 2,
        ));
    }
    if r.alignment > 1 && r.alignment < (64 << 20) {
        let ps = part_size_for(&r, 64 << 10) + 1;
        cases.push(("misaligned".into(), ps, ps * 3));
    }
    if r.max_part_size < (1 << 40) {
        cases.push(("above the maximum".into(), r.max_part_size + 1, 10));
    }
    let ps = part_size_for(&r, 1);
    if r.max_parts < 100_000 && ps.saturating_mul(r.max_parts + 1) <= (16 << 20) {
        cases.push(("too many parts".into(), ps, ps * (r.max_parts + 1)));
    }
    for (label, part_size, len) in cases {
        if c.multi_part() || part_size == 0 {
            let data = Bytes::from(vec![7u8; len as usize]);
            expect_kind(
                files
                    .upload(&key, Body::from_bytes(data.clone()))
                    .part_size(part_size)
                    .await,
                ErrorKind::InvalidInput,
                &format!("part size {part_size} ({label}) for {len} bytes"),
            );
            if c.resumable() {
                expect_kind(
                    files
                        .upload(&key, Body::from_bytes(data))
                        .part_size(part_size)
                        .control(UploadControl::new())
                        .await,
                    ErrorKind::InvalidInput,
                    &format!("part size {part_size} ({label}) with control"),
                );
            }
        }
    }
    assert_no_provider_call(&counter, "refused part sizes");
    assert_absent(&c.files, &key, "refused part sizes").await;
}
