//! Downloads: byte ranges and parallel (ranged) downloads.

use files_core::{Bytes, ErrorKind};

use super::Fixture;
use super::support::*;
use crate::util::{random_bytes, sha256_hex};

/// Byte ranges: start, middle, tail, open-ended, inclusive, clipped; out-of-range and empty
/// ranges are invalid input. Without `range_read`, any range is refused before a provider call.
pub async fn ranges(fixture: &dyn Fixture) {
    let c = Ctx::new(fixture, "ranges").await;
    let key = c.key("obj");
    let body = Bytes::from(random_bytes(9, 10_000));
    upload_plain(&c, &key, &body).await;
    if !c.caps.range_read {
        let (files, counter) = c.counting();
        expect_kind(
            files.download(&key).range(0..10).await,
            ErrorKind::NotSupported,
            "range download without range_read",
        );
        assert_no_provider_call(&counter, "range download without range_read");
        return;
    }
    let cases: Vec<(files_core::ByteRange, std::ops::Range<u64>)> = vec![
        ((0..10).into(), 0..10),
        ((4000..4100).into(), 4000..4100),
        ((9990..10_000).into(), 9990..10_000),
        ((9000..).into(), 9000..10_000),
        ((0..=0).into(), 0..1),
        ((9999..).into(), 9999..10_000),
        ((5000..20_000).into(), 5000..10_000),
    ];
    for (range, expected) in cases {
        let dl = expect_ok(
            c.files.download(&key).range(range).await,
            &format!("download of range {range:?}"),
        );
        assert_eq!(dl.range(), expected, "served range of {range:?}");
        assert_eq!(dl.meta().size, 10_000, "meta size of a range download");
        let got = expect_ok(dl.bytes().await, "range bytes");
        assert_eq!(
            &got[..],
            &body[expected.start as usize..expected.end as usize],
            "bytes of range {range:?}"
        );
    }
    for bad in [
        files_core::ByteRange::from(10_000..),
        (20_000..20_010).into(),
        (5..5).into(),
        files_core::ByteRange {
            start: 7,
            end: Some(3),
        },
    ] {
        expect_kind(
            c.files.download(&key).range(bad).await.map(|_| ()),
            ErrorKind::InvalidInput,
            &format!("unsatisfiable range {bad:?}"),
        );
    }
    expect_kind(
        c.files.download(c.key("missing")).range(0..1).await,
        ErrorKind::NotFound,
        "range of a missing key",
    );
}

/// A parallel download (`.concurrency(4)` over small ranges) yields exactly the object's bytes,
/// in order, for the whole object and for sub-ranges; an unsatisfiable range is still invalid
/// input and a missing key still not found. Where the provider cannot read ranges it is one
/// request, with the same bytes.
pub async fn parallel_download(fixture: &dyn Fixture) {
    let c = Ctx::new(fixture, "parallel-download").await;
    let key = c.key("obj");
    let size = 100_003u64;
    let body = Bytes::from(random_bytes(10, size as usize));
    upload_plain(&c, &key, &body).await;
    let mut cases: Vec<(Option<files_core::ByteRange>, std::ops::Range<u64>)> =
        vec![(None, 0..size)];
    if c.caps.range_read {
        cases.push((Some((1_000..90_001).into()), 1_000..90_001));
        cases.push((Some((99_000..).into()), 99_000..size));
        cases.push((Some((5..7_000).into()), 5..7_000));
    }
    for (range, expected) in cases {
        let what = format!("parallel download of {range:?}");
        let mut dl = c.files.download(&key).concurrency(4).chunk_size(7_919);
        if let Some(r) = range {
            dl = dl.range(r);
        }
        let dl = expect_ok(no_hang(&what, dl).await, &what);
        assert_eq!(dl.range(), expected, "[{}] served range of {what}", c.name);
        assert_eq!(dl.meta().size, size, "[{}] meta size of {what}", c.name);
        let got = expect_ok(no_hang(&what, dl.bytes()).await, &what);
        assert_eq!(
            sha256_hex(&got),
            sha256_hex(&body[expected.start as usize..expected.end as usize]),
            "[{}] bytes of {what} ({} bytes)",
            c.name,
            got.len()
        );
    }
    if c.caps.range_read {
        expect_kind(
            c.files
                .download(&key)
                .concurrency(4)
                .range(200_000..)
                .await
                .map(|_| ()),
            ErrorKind::InvalidInput,
            "an unsatisfiable range, in parallel",
        );
    }
    expect_kind(
        c.files.download(c.key("missing")).concurrency(4).await,
        ErrorKind::NotFound,
        "a parallel download of a missing key",
    );
}
