//! Listing: by prefix and delimiter, paged with a cursor, and streamed by `list_all`.

use std::collections::{BTreeMap, BTreeSet};

use files_core::{ErrorKind, ListRequest};
use futures::TryStreamExt;

use super::Fixture;
use super::support::*;
use crate::util::random_bytes;

async fn make_tree(c: &Ctx, names: &[&str]) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for (i, name) in names.iter().enumerate() {
        let key = c.key(name);
        let data = random_bytes(i as u64, i + 1);
        upload_small(c, &key, &data).await;
        out.insert(key, data.len() as u64);
    }
    out
}

/// Listing by prefix (string prefix, recursive, ordered, with sizes), and with a `/` delimiter
/// (objects directly under the prefix plus common prefixes), or refused without
/// `list_delimiter`.
pub async fn list_prefix_and_delimiter(fixture: &dyn Fixture) {
    let c = Ctx::new(fixture, "list").await;
    let names = ["a.txt", "b/1", "b/2", "c/d/e", "z"];
    let expected = make_tree(&c, &names).await;
    // A sibling that shares the prefix as a string but not as a directory.
    let stem = c.prefix.trim_end_matches('/').to_string();
    let sibling = format!("{stem}-sibling/x");
    upload_small(&c, &sibling, b"sibling").await;

    let page = expect_ok(
        c.files
            .list(&ListRequest {
                prefix: c.prefix.clone(),
                ..ListRequest::default()
            })
            .await,
        "list by prefix",
    );
    let got: Vec<(String, u64)> = page
        .objects
        .iter()
        .map(|o| (o.key.clone(), o.size))
        .collect();
    let want: Vec<(String, u64)> = expected.clone().into_iter().collect();
    assert_eq!(
        got, want,
        "listing of {} (recursive, in key order, sizes)",
        c.prefix
    );
    assert!(
        page.prefixes.is_empty(),
        "no common prefixes without a delimiter"
    );
    assert!(page.cursor.is_none(), "a short listing has one page");

    // A prefix that is not on a `/` boundary is a plain string prefix.
    let page = expect_ok(
        c.files
            .list(&ListRequest {
                prefix: stem.clone(),
                ..ListRequest::default()
            })
            .await,
        "list by a string prefix",
    );
    let keys: BTreeSet<String> = page.objects.iter().map(|o| o.key.clone()).collect();
    let mut want: BTreeSet<String> = expected.keys().cloned().collect();
    want.insert(sibling.clone());
    assert_eq!(keys, want, "listing of the string prefix {stem}");

    // Nothing under an unused prefix.
    let page = expect_ok(
        c.files
            .list(&ListRequest {
                prefix: c.key("nothing-here/"),
                ..ListRequest::default()
            })
            .await,
        "list of an empty prefix",
    );
    assert!(page.objects.is_empty() && page.prefixes.is_empty() && page.cursor.is_none());

    let delimited = ListRequest {
        prefix: c.prefix.clone(),
        delimiter: Some("/".into()),
        ..ListRequest::default()
    };
    if !c.caps.list_delimiter {
        let (files, counter) = c.counting();
        expect_kind(
            files.list(&delimited).await,
            ErrorKind::NotSupported,
            "list with a delimiter without list_delimiter",
        );
        assert_no_provider_call(&counter, "list with a delimiter");
        return;
    }
    let page = expect_ok(c.files.list(&delimited).await, "list with a delimiter");
    let objects: Vec<String> = page.objects.iter().map(|o| o.key.clone()).collect();
    assert_eq!(
        objects,
        vec![c.key("a.txt"), c.key("z")],
        "objects directly under the prefix"
    );
    assert_eq!(
        page.prefixes,
        vec![c.key("b/"), c.key("c/")],
        "common prefixes"
    );
    assert!(page.cursor.is_none());

    let page = expect_ok(
        c.files
            .list(&ListRequest {
                prefix: c.key("c/"),
                delimiter: Some("/".into()),
                ..ListRequest::default()
            })
            .await,
        "list a nested prefix with a delimiter",
    );
    assert!(page.objects.is_empty(), "no object directly under c/");
    assert_eq!(page.prefixes, vec![c.key("c/d/")]);
}

/// Pagination with a small limit: every page within the limit, the cursor carried across pages
/// until it is `None`, every key exactly once, in order; the same with a delimiter.
pub async fn list_pagination(fixture: &dyn Fixture) {
    let c = Ctx::new(fixture, "paging").await;
    let names = [
        "k0", "k1", "k2", "k3", "k4", "k5", "k6", "sub/x", "sub/y", "tub/z",
    ];
    let expected = make_tree(&c, &names).await;

    for limit in [1usize, 2, 3] {
        let mut seen: Vec<String> = Vec::new();
        let mut req = ListRequest {
            prefix: c.prefix.clone(),
            limit: Some(limit),
            ..ListRequest::default()
        };
        let mut pages = 0;
        loop {
            pages += 1;
            assert!(
                pages <= 100,
                "limit {limit}: the listing never ends (cursor loop)"
            );
            let page = expect_ok(c.files.list(&req).await, "list page");
            assert!(
                page.objects.len() + page.prefixes.len() <= limit,
                "limit {limit}: a page holds {} entries",
                page.objects.len() + page.prefixes.len()
            );
            assert!(
                !page.objects.is_empty() || page.cursor.is_none(),
                "limit {limit}: an empty page must be the last"
            );
            seen.extend(page.objects.iter().map(|o| o.key.clone()));
            match page.cursor {
                Some(cursor) => req.cursor = Some(cursor),
                None => break,
            }
        }
        let unique: BTreeSet<&String> = seen.iter().collect();
        assert_eq!(
            unique.len(),
            seen.len(),
            "limit {limit}: duplicates across pages: {seen:?}"
        );
        let want: Vec<String> = expected.keys().cloned().collect();
        assert_eq!(
            seen, want,
            "limit {limit}: keys across pages (missing, extra or out of order)"
        );
    }

    if c.caps.list_delimiter {
        let full = expect_ok(
            c.files
                .list(&ListRequest {
                    prefix: c.prefix.clone(),
                    delimiter: Some("/".into()),
                    ..ListRequest::default()
                })
                .await,
            "delimited listing",
        );
        let mut objects = Vec::new();
        let mut prefixes = Vec::new();
        let mut req = ListRequest {
            prefix: c.prefix.clone(),
            delimiter: Some("/".into()),
            limit: Some(2),
            ..ListRequest::default()
        };
        for _ in 0..100 {
            let page = expect_ok(c.files.list(&req).await, "delimited page");
            assert!(page.objects.len() + page.prefixes.len() <= 2);
            objects.extend(page.objects.into_iter().map(|o| o.key));
            prefixes.extend(page.prefixes);
            match page.cursor {
                Some(cursor) => req.cursor = Some(cursor),
                None => {
                    req.cursor = None;
                    break;
                }
            }
        }
        assert!(req.cursor.is_none(), "the delimited listing never ends");
        let full_objects: Vec<String> = full.objects.into_iter().map(|o| o.key).collect();
        assert_eq!(objects, full_objects, "delimited objects across pages");
        assert_eq!(
            prefixes, full.prefixes,
            "common prefixes across pages (each once)"
        );
        assert_eq!(prefixes, vec![c.key("sub/"), c.key("tub/")]);
    }
}

/// `list_all` streams every object under the prefix, across pages, once each.
pub async fn list_all_stream(fixture: &dyn Fixture) {
    let c = Ctx::new(fixture, "list-all").await;
    let names: Vec<String> = (0..25).map(|i| format!("d{}/f{i:02}", i % 3)).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let expected = make_tree(&c, &refs).await;
    let got: Vec<files_core::ObjectMeta> = expect_ok(
        no_hang("list_all", c.files.list_all(c.prefix.clone()).try_collect()).await,
        "list_all",
    );
    let got: BTreeMap<String, u64> = got.into_iter().map(|o| (o.key, o.size)).collect();
    assert_eq!(got, expected, "list_all of {}", c.prefix);
    let none: Vec<files_core::ObjectMeta> = expect_ok(
        c.files.list_all(c.key("nope/")).try_collect().await,
        "list_all of an empty prefix",
    );
    assert!(none.is_empty());
}
