//! `download`, `ls`, `stat`, `rm`, `cp` and `mv`.

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use files::{Body, ByteRange, Error, ErrorKind, Files, ListRequest, ObjectMeta, Result, registry};
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::io::AsyncWriteExt;

use crate::args::{CopyArgs, DownloadArgs, LsArgs, RmArgs, StatArgs};
use crate::parse::{RangeArg, base_name, is_url, location_to_url, rfc3339};
use crate::{EXIT_INTERRUPTED, Interrupts};

/// A location (URL or local path) as a URL; a bad path is invalid input.
pub(crate) fn url_of(location: &str) -> Result<String> {
    location_to_url(location).map_err(Error::invalid_input)
}

/// Opens an object URL: the client for its store and the key.
pub(crate) fn open_object(url: &str) -> Result<(Files, String)> {
    registry::open_object(url)
}

/// A destination URL; when it ends with `/` (or is a local directory), `name` is appended.
pub(crate) fn dest_url(location: &str, name: Option<&str>) -> Result<String> {
    let is_dir = if is_url(location) {
        location
            .split(['?', '#'])
            .next()
            .unwrap_or("")
            .ends_with('/')
    } else {
        location.ends_with('/') || Path::new(location).is_dir()
    };
    if !is_dir {
        return url_of(location);
    }
    let name = name.ok_or_else(|| {
        Error::invalid_input(format!(
            "the destination {location} is a directory and the source has no name to append"
        ))
    })?;
    if is_url(location) {
        let mut url = url::Url::parse(location).map_err(|e| {
            Error::invalid_input(format!(
                "`{}` is not a valid URL: {e}",
                crate::parse::redact_url(location)
            ))
        })?;
        let path = format!("{}{}", url.path(), files::encode::segment(name));
        url.set_path(&path);
        Ok(url.to_string())
    } else {
        url_of(&Path::new(location).join(name).to_string_lossy())
    }
}

/// A progress bar on stderr, or a hidden one when stderr is not a terminal or `quiet`.
pub(crate) fn progress_bar(total: u64, quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] [{wide_bar}] {binary_bytes}/{binary_total_bytes} ({binary_bytes_per_sec}, ETA {eta})",
    ) {
        pb.set_style(style.progress_chars("=> "));
    }
    pb.enable_steady_tick(Duration::from_millis(200));
    pb
}

// ------------------------------------------------------------------------------ download

pub(crate) async fn download(a: DownloadArgs, interrupts: &mut Interrupts) -> Result<ExitCode> {
    if is_url(&a.dest) {
        return Err(Error::invalid_input(
            "download writes a local file (DEST is a path or `-`); use `files cp` to copy between stores",
        ));
    }
    let (files, key) = open_object(&url_of(&a.src)?)?;
    let range = match a.range {
        None => None,
        Some(RangeArg::From { start, end }) => Some(ByteRange {
            start,
            end: end.map(|e| e.saturating_add(1)),
        }),
        Some(RangeArg::Suffix(n)) => {
            let size = files.head(&key).await?.size;
            Some(ByteRange {
                start: size.saturating_sub(n),
                end: None,
            })
        }
    };
    let mut file_dest = None;
    if a.dest != "-" {
        let mut dest = PathBuf::from(&a.dest);
        if a.dest.ends_with('/') || dest.is_dir() {
            let name = base_name(&key).ok_or_else(|| {
                Error::invalid_input(
                    "the source key has no name to use in the destination directory",
                )
            })?;
            dest = dest.join(name);
        }
        if dest.file_name().is_none() {
            return Err(Error::invalid_input("the destination has no file name"));
        }
        file_dest = Some(dest);
    }
    let mut request = files.download(key.clone());
    if let Some(r) = range {
        request = request.range(r);
    }
    if let Some(n) = a.concurrency {
        request = request.concurrency(n as usize);
    }
    if let Some(size) = a.chunk_size {
        request = request.chunk_size(size);
    }
    if let Some(dest) = file_dest {
        return save_to_file(request, &a, &dest, interrupts).await;
    }
    let download = request.await?;
    let served = download.range();
    let expected = served.end - served.start;
    let pb = progress_bar(expected, false);
    let mut out = tokio::io::stdout();
    let copy = write_stream(download.into_stream(), &mut out, &pb, a.bwlimit);
    let n = tokio::select! {
        r = copy => r.map_err(|e| e.with_operation("download").with_key(key.clone()))?,
        _ = interrupts.recv() => {
            pb.finish_and_clear();
            eprintln!("interrupted");
            return Ok(ExitCode::from(EXIT_INTERRUPTED));
        }
    };
    pb.finish_and_clear();
    check_len(n, expected, &key)?;
    Ok(ExitCode::SUCCESS)
}

/// `download` into a file, through the core's [`files::Save`]: a partial file beside `dest`
/// that the same command continues after Ctrl-C, a kill, a reboot or a lasting failure.
async fn save_to_file(
    request: files::DownloadBuilder,
    a: &DownloadArgs,
    dest: &Path,
    interrupts: &mut Interrupts,
) -> Result<ExitCode> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    let pb = progress_bar(0, false);
    let seen = Arc::new((AtomicU64::new(0), AtomicU64::new(0)));
    let cancel = files::CancellationToken::new();
    let mut save = request
        .save(dest)
        .cancellation(cancel.clone())
        .on_progress({
            let (pb, seen) = (pb.clone(), seen.clone());
            move |pos, total| {
                seen.0.store(pos, Ordering::Relaxed);
                seen.1.store(total, Ordering::Relaxed);
                pb.set_length(total);
                pb.set_position(pos);
            }
        });
    if a.restart {
        save = save.restart();
    }
    if let Some(rate) = a.bwlimit {
        save = save.rate_limit(rate);
    }
    let mut running = Box::pin(save.send());
    let result = tokio::select! {
        r = &mut running => r,
        _ = interrupts.recv() => {
            // Let the save sync the partial file and its record, then report.
            cancel.cancel();
            running.await
        }
    };
    pb.finish_and_clear();
    let partial = files::Save::partial_path(dest);
    let kept = || {
        eprintln!(
            "{} of {} bytes kept in {}; run the same command again to continue (--restart to start over)",
            seen.0.load(Ordering::Relaxed),
            seen.1.load(Ordering::Relaxed),
            partial.display()
        );
    };
    match result {
        Ok(saved) => {
            match saved.discarded {
                Some(files::Discarded::AnotherDownload) => {
                    eprintln!("{} held another download; started over", partial.display())
                }
                Some(files::Discarded::Changed) => {
                    eprintln!("the object changed since the partial download; started over")
                }
                _ => {}
            }
            if saved.bytes_resumed > 0 {
                eprintln!(
                    "resumed: {} bytes came from the partial download",
                    saved.bytes_resumed
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) if e.kind() == ErrorKind::Cancelled => {
            eprint!("interrupted: ");
            kept();
            Ok(ExitCode::from(EXIT_INTERRUPTED))
        }
        Err(e) => {
            if partial.exists() {
                eprint!("download broken off: ");
                kept();
            }
            Err(e)
        }
    }
}

async fn write_stream(
    mut stream: files::ByteStream,
    out: &mut (impl tokio::io::AsyncWrite + Unpin),
    pb: &ProgressBar,
    bwlimit: Option<u64>,
) -> Result<u64> {
    let started = std::time::Instant::now();
    let mut n = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        out.write_all(&chunk)
            .await
            .map_err(|e| Error::from_io(e).with_operation("write"))?;
        n += chunk.len() as u64;
        pb.set_position(n);
        if let Some(rate) = bwlimit {
            let due = started + Duration::from_secs_f64(n as f64 / rate.max(1) as f64);
            tokio::time::sleep_until(due.into()).await;
        }
    }
    out.flush()
        .await
        .map_err(|e| Error::from_io(e).with_operation("write"))?;
    Ok(n)
}

fn check_len(got: u64, expected: u64, key: &str) -> Result<()> {
    if got != expected {
        return Err(Error::new(
            ErrorKind::Transient,
            format!("the download ended after {got} of {expected} bytes"),
        )
        .with_operation("download")
        .with_key(key));
    }
    Ok(())
}

// ------------------------------------------------------------------------------ ls

/// Opens a URL to list: an object URL gives its key as the prefix; a URL naming only a store
/// (no path) lists the whole store.
fn open_prefix(url: &str) -> Result<(Files, String)> {
    match open_object(url) {
        Ok(v) => Ok(v),
        Err(e) => {
            let bare = url::Url::parse(url)
                .map(|u| u.path().trim_start_matches('/').is_empty())
                .unwrap_or(false);
            if bare && let Ok(files) = Files::from_url(url) {
                return Ok((files, String::new()));
            }
            Err(e)
        }
    }
}

enum Entry {
    Object(ObjectMeta),
    Prefix(String),
}

pub(crate) async fn ls(a: LsArgs) -> Result<ExitCode> {
    let local_dir = !is_url(&a.url) && Path::new(&a.url).is_dir();
    let mut url = url_of(&a.url)?;
    if local_dir && !url.ends_with('/') {
        url.push('/');
    }
    let (files, key) = open_prefix(&url)?;
    let mut prefix = key.clone();
    if !prefix.is_empty() && !prefix.ends_with('/') {
        // `ls dir/file` shows the object; `ls dir` shows what is under `dir/`.
        match files.head(&prefix).await {
            Ok(meta) => {
                print_entry(&Entry::Object(meta), a.json);
                return Ok(ExitCode::SUCCESS);
            }
            Err(e) if e.kind() == ErrorKind::NotFound || e.kind() == ErrorKind::InvalidInput => {}
            Err(e) => {
                tracing::debug!(error = %e, "head before listing failed; listing anyway");
            }
        }
        prefix.push('/');
    }
    if a.recursive {
        let mut all = files.list_all(prefix.clone());
        while let Some(meta) = all.next().await {
            print_entry(&Entry::Object(meta?), a.json);
        }
    } else if files.capabilities().list_delimiter {
        let mut request = ListRequest {
            prefix: prefix.clone(),
            delimiter: Some("/".into()),
            ..ListRequest::default()
        };
        loop {
            let page = files.list(&request).await?;
            let mut entries: Vec<(String, Entry)> = page
                .objects
                .into_iter()
                .map(|o| (o.key.clone(), Entry::Object(o)))
                .chain(
                    page.prefixes
                        .into_iter()
                        .map(|p| (p.clone(), Entry::Prefix(p))),
                )
                .collect();
            entries.sort_by(|x, y| x.0.cmp(&y.0));
            for (_, e) in &entries {
                print_entry(e, a.json);
            }
            match page.cursor {
                Some(c) => request.cursor = Some(c),
                None => break,
            }
        }
    } else {
        // No delimiter support: group the flat listing by the first level below the prefix.
        let mut all = files.list_all(prefix.clone());
        let mut seen = BTreeSet::new();
        while let Some(meta) = all.next().await {
            let meta = meta?;
            let rest = meta.key.strip_prefix(&prefix).unwrap_or(&meta.key);
            match rest.find('/') {
                Some(i) => {
                    let p = format!("{prefix}{}", &rest[..=i]);
                    if seen.insert(p.clone()) {
                        print_entry(&Entry::Prefix(p), a.json);
                    }
                }
                None => print_entry(&Entry::Object(meta), a.json),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_entry(e: &Entry, json: bool) {
    match (e, json) {
        (Entry::Object(m), true) => println!("{}", meta_json(m)),
        (Entry::Prefix(p), true) => println!("{}", serde_json::json!({ "prefix": p })),
        (Entry::Object(m), false) => println!(
            "{:>14}  {:<20}  {}",
            m.size,
            m.last_modified.map(rfc3339).unwrap_or_else(|| "-".into()),
            m.key
        ),
        (Entry::Prefix(p), false) => println!("{:>14}  {:<20}  {}", "DIR", "", p),
    }
}

fn meta_json(m: &ObjectMeta) -> serde_json::Value {
    serde_json::json!({
        "key": m.key,
        "size": m.size,
        "last_modified": m.last_modified.map(rfc3339),
        "etag": m.etag,
        "content_type": m.content_type,
        "cache_control": m.cache_control,
        "metadata": m.metadata,
    })
}

// ------------------------------------------------------------------------------ stat, rm

pub(crate) async fn stat(a: StatArgs) -> Result<ExitCode> {
    let (files, key) = open_object(&url_of(&a.url)?)?;
    let m = files.head(&key).await?;
    if a.json {
        println!("{}", meta_json(&m));
        return Ok(ExitCode::SUCCESS);
    }
    println!("key:           {}", m.key);
    println!(
        "size:          {} ({})",
        m.size,
        indicatif::HumanBytes(m.size)
    );
    if let Some(t) = m.last_modified {
        println!("last_modified: {}", rfc3339(t));
    }
    if let Some(v) = &m.etag {
        println!("etag:          {v}");
    }
    if let Some(v) = &m.content_type {
        println!("content_type:  {v}");
    }
    if let Some(v) = &m.cache_control {
        println!("cache_control: {v}");
    }
    for (k, v) in &m.metadata {
        println!("metadata:      {k}={v}");
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn rm(a: RmArgs) -> Result<ExitCode> {
    let (files, key) = open_object(&url_of(&a.url)?)?;
    if !a.force && !files.exists(&key).await? {
        return Err(Error::not_found("no such object (use --force to ignore)")
            .with_operation("rm")
            .with_key(key));
    }
    files.delete(&key).await?;
    Ok(ExitCode::SUCCESS)
}

// ------------------------------------------------------------------------------ cp, mv

pub(crate) async fn cp(a: CopyArgs, moving: bool) -> Result<ExitCode> {
    let (src, src_key) = open_object(&url_of(&a.src)?)?;
    let (dst, dst_key) = open_object(&dest_url(&a.dest, base_name(&src_key))?)?;
    let same_store = src.adapter().provider() == dst.adapter().provider()
        && src.adapter().target() == dst.adapter().target();
    if same_store {
        if src_key == dst_key {
            return Err(Error::invalid_input(
                "the source and the destination are the same object",
            ));
        }
        if moving {
            src.rename(&src_key, &dst_key).await?;
        } else {
            src.copy(&src_key, &dst_key).await?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    // Across stores: stream the object down from one and up to the other.
    let download = src.download(src_key.clone()).await?;
    let meta = download.meta().clone();
    let r = download.range();
    let body = Body::from_stream(download.into_stream(), Some(r.end - r.start));
    let mut upload = dst.upload(dst_key.clone(), body);
    let caps = dst.capabilities();
    if caps.content_type
        && let Some(ct) = &meta.content_type
    {
        upload = upload.content_type(ct.clone());
    }
    if caps.cache_control
        && let Some(cc) = &meta.cache_control
    {
        upload = upload.cache_control(cc.clone());
    }
    if caps.metadata {
        for (k, v) in &meta.metadata {
            upload = upload.metadata(k.clone(), v.clone());
        }
    }
    let done = upload.await?;
    if done.meta.size != meta.size {
        return Err(Error::new(
            ErrorKind::Other,
            format!(
                "the copy stored {} bytes, but the source has {}",
                done.meta.size, meta.size
            ),
        )
        .with_operation(if moving { "mv" } else { "cp" })
        .with_key(dst_key));
    }
    if moving {
        src.delete(&src_key).await?;
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destination_directories_get_the_name() {
        assert_eq!(
            dest_url("memory://m/dir/", Some("a b.bin")).unwrap(),
            "memory://m/dir/a%20b.bin"
        );
        assert_eq!(
            dest_url("memory://m/dir/x", Some("a.bin")).unwrap(),
            "memory://m/dir/x"
        );
        let dir = tempfile::tempdir().unwrap();
        let u = dest_url(&dir.path().to_string_lossy(), Some("a.bin")).unwrap();
        assert!(u.starts_with("file:///") && u.ends_with("/a.bin"), "{u}");
        assert!(dest_url("/tmp/nonexistent-dir-xyz/", None).is_err());
    }
}
