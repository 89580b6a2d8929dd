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
use crate::parse::{RangeArg, base_name, is_url, location_to_url, redact_url, rfc3339};
use crate::{EXIT_INTERRUPTED, Interrupts};

/// A location (URL or local path) as a URL; a bad path is invalid input.
pub(crate) fn url_of(location: &str) -> Result<String> {
    location_to_url(location).map_err(Error::invalid_input)
}

/// Opens an object URL: the client for its store (with the command line's retries and
/// timeout) and the key.
pub(crate) fn open_object(url: &str) -> Result<(Files, String)> {
    no_google_credentials(url)?;
    registry::open_object(url).map(|(files, key)| (crate::configure(files), key))
}

/// Opens the store a URL names (its path, if any, is the provider's to interpret).
fn open_store(url: &str) -> Result<Files> {
    no_google_credentials(url)?;
    Files::from_url(url).map(crate::configure)
}

/// The Google stores (`gdrive://`, `gs://`, `firebase://`) with no credentials anywhere: an
/// [`ErrorKind::Unauthorized`] error naming what to set, before any request.
///
/// Without an access token or a key file, the Google adapters fall back to application
/// default credentials, which (with the `google-auth` feature, the CLI's build) end at the
/// metadata server of a Google Cloud machine; elsewhere asking it fails as a *transient*
/// error, and the command would retry it for a minute before saying so. Where the metadata
/// server is plausible (on Google Cloud, or `GCE_METADATA_HOST` set) nothing is checked here.
fn no_google_credentials(url: &str) -> Result<()> {
    let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    let (what, token_env, extra_env): (&str, &str, &[&str]) = match scheme.as_deref() {
        Some("gdrive") => ("Google Drive", "GDRIVE_ACCESS_TOKEN", &[]),
        Some("gs" | "gcs" | "firebase") => (
            "Google Cloud Storage",
            "GCS_ACCESS_TOKEN",
            &["STORAGE_EMULATOR_HOST"],
        ),
        _ => return Ok(()),
    };
    let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    if set(token_env)
        || extra_env.iter().any(|n| set(n))
        || set("GOOGLE_APPLICATION_CREDENTIALS")
        || url.contains("endpoint=")
        || gcloud_adc_file_exists()
        || metadata_server_plausible()
    {
        return Ok(());
    }
    Err(Error::new(
        ErrorKind::Unauthorized,
        format!(
            "no Google credentials were found for {what}: set {token_env} to an OAuth access \
             token (e.g. `export {token_env}=$(gcloud auth print-access-token)`), or \
             GOOGLE_APPLICATION_CREDENTIALS to a service-account key file, or run \
             `gcloud auth application-default login`"
        ),
    )
    .with_retryable(false))
}

/// gcloud's application default credentials file (`gcloud auth application-default login`).
fn gcloud_adc_file_exists() -> bool {
    let dir = match std::env::var_os("CLOUDSDK_CONFIG").filter(|v| !v.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => {
            #[cfg(windows)]
            let base = std::env::var_os("APPDATA").map(PathBuf::from);
            #[cfg(not(windows))]
            let base = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config"));
            match base {
                Some(b) => b.join("gcloud"),
                None => return false,
            }
        }
    };
    dir.join("application_default_credentials.json").is_file()
}

/// Whether a Google metadata server may answer: told so, or a Google Cloud machine (GCE,
/// GKE, Cloud Run, Cloud Functions).
fn metadata_server_plausible() -> bool {
    let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    if [
        "GCE_METADATA_HOST",
        "GCE_METADATA_IP",
        "K_SERVICE",
        "FUNCTION_TARGET",
    ]
    .iter()
    .any(|n| set(n))
    {
        return true;
    }
    [
        "/sys/class/dmi/id/product_name",
        "/sys/class/dmi/id/bios_vendor",
    ]
    .iter()
    .any(|p| std::fs::read_to_string(p).is_ok_and(|t| t.contains("Google")))
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
    if quiet || !std::io::stderr().is_terminal() || !crate::logging::stderr_is_terminal() {
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
    let src_url = url_of(&a.src)?;
    let (files, key) = open_object(&src_url)?;
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
        return save_to_file(request, &a, &src_url, &dest, interrupts).await;
    }
    let download = request.await?;
    let meta = download.meta().clone();
    let served = download.range();
    let expected = served.end - served.start;
    let pb = progress_bar(expected, a.json);
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
    if a.json {
        // stdout holds the object: the result goes to stderr.
        eprintln!(
            "{}",
            serde_json::json!({
                "op": "download",
                "url": redact_url(&src_url),
                "key": key,
                "dest": "-",
                "size": n,
                "range": [served.start, served.end],
                "bytes_resumed": 0,
                "etag": meta.etag,
            })
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `download` into a file, through the core's [`files::Save`]: a partial file beside `dest`
/// that the same command continues after Ctrl-C, a kill, a reboot or a lasting failure.
async fn save_to_file(
    request: files::DownloadBuilder,
    a: &DownloadArgs,
    src_url: &str,
    dest: &Path,
    interrupts: &mut Interrupts,
) -> Result<ExitCode> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    let pb = progress_bar(0, a.json);
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
            if a.json {
                println!(
                    "{}",
                    serde_json::json!({
                        "op": "download",
                        "url": redact_url(src_url),
                        "key": saved.meta.key,
                        "dest": dest.display().to_string(),
                        "size": saved.bytes,
                        "bytes_resumed": saved.bytes_resumed,
                        "restarted": saved.discarded.is_some() || a.restart,
                        "etag": saved.meta.etag,
                    })
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

/// What `ls` lists: the store, the key prefix (`""` or ending in `/`), the URL of that
/// "directory" (ending in `/`, names are relative to it), and the key of an object the URL
/// may name instead (`ls dir/file` shows the object).
struct Listing {
    files: Files,
    prefix: String,
    dir_url: url::Url,
    object: Option<String>,
}

/// The URL with its path's trailing slashes removed (`s3://b/dir/` → `s3://b/dir`).
fn without_trailing_slash(url: &url::Url) -> url::Url {
    let mut u = url.clone();
    let path = url.path().trim_end_matches('/').to_string();
    u.set_path(&path);
    u
}

/// Opens a URL to list. `URL/` and `URL` name the same "directory" on every provider: the
/// key the URL names without its trailing slash, plus `/`, is the prefix (a URL naming only a
/// store, or a store root such as an SFTP `?root=`, lists the whole store).
fn open_listing(text: &str) -> Result<Listing> {
    let parsed = url::Url::parse(text).map_err(|e| {
        Error::invalid_input(format!("`{}` is not a valid URL: {e}", redact_url(text)))
    })?;
    let trailing = parsed.path().ends_with('/');
    let bare = without_trailing_slash(&parsed);
    let mut dir_url = bare.clone();
    dir_url.set_path(&format!("{}/", bare.path()));
    let at_root = bare.path().trim_start_matches('/').is_empty();
    if at_root {
        // No key at all: the whole store.
        let files = open_store(text)?;
        return Ok(Listing {
            files,
            prefix: String::new(),
            dir_url,
            object: None,
        });
    }
    match open_object(bare.as_str()) {
        Ok((files, key)) => {
            let key = key.trim_end_matches('/').to_string();
            let prefix = if key.is_empty() {
                String::new()
            } else {
                format!("{key}/")
            };
            Ok(Listing {
                files,
                prefix,
                dir_url,
                object: (!trailing && !key.is_empty()).then_some(key),
            })
        }
        // The path names the store's root itself (an SFTP or FTP `?root=` equal to it): the
        // store as the URL opens it.
        Err(e) if e.kind() == ErrorKind::InvalidInput => match open_store(text) {
            Ok(files) => Ok(Listing {
                files,
                prefix: String::new(),
                dir_url,
                object: None,
            }),
            Err(_) => Err(e),
        },
        Err(e) => Err(e),
    }
}

/// The URL of the entry `rel` (relative, `/`-separated, a prefix ending in `/`) under `dir`,
/// without credentials.
fn entry_url(dir: &url::Url, rel: &str) -> String {
    let encoded: Vec<String> = rel
        .split('/')
        .map(|seg| files::encode::segment(seg).to_string())
        .collect();
    let mut u = dir.clone();
    u.set_path(&format!("{}{}", dir.path(), encoded.join("/")));
    redact_url(u.as_str())
}

enum Entry {
    Object(ObjectMeta),
    Prefix(String),
}

/// Prints entries with names relative to `base` (a key prefix), and their URLs under `dir`.
struct Printer<'a> {
    base: &'a str,
    dir: &'a url::Url,
    json: bool,
}

impl Printer<'_> {
    fn print(&self, e: &Entry) {
        let key = match e {
            Entry::Object(m) => m.key.as_str(),
            Entry::Prefix(p) => p.as_str(),
        };
        let name = key.strip_prefix(self.base).unwrap_or(key);
        match (e, self.json) {
            (Entry::Object(m), true) => {
                let mut j = meta_json(m);
                j["name"] = name.into();
                j["url"] = entry_url(self.dir, name).into();
                println!("{j}");
            }
            (Entry::Prefix(p), true) => println!(
                "{}",
                serde_json::json!({ "prefix": p, "name": name, "url": entry_url(self.dir, name) })
            ),
            (Entry::Object(m), false) => println!(
                "{:>14}  {:<20}  {}",
                m.size,
                m.last_modified.map(rfc3339).unwrap_or_else(|| "-".into()),
                name
            ),
            (Entry::Prefix(_), false) => println!("{:>14}  {:<20}  {}", "DIR", "", name),
        }
    }
}

pub(crate) async fn ls(a: LsArgs) -> Result<ExitCode> {
    let local_dir = !is_url(&a.url) && Path::new(&a.url).is_dir();
    let mut url = url_of(&a.url)?;
    if local_dir && !url.ends_with('/') {
        url.push('/');
    }
    let Listing {
        files,
        prefix,
        dir_url,
        object,
    } = open_listing(&url)?;
    if let Some(key) = &object {
        // `ls dir/file` shows the object; `ls dir` shows what is under `dir/`.
        match files.head(key).await {
            Ok(meta) => {
                // Named as `aws s3 ls` names it: its last segment, under the URL's parent.
                let parent = match key.rfind('/') {
                    Some(i) => &key[..=i],
                    None => "",
                };
                let mut parent_url = dir_url.clone();
                let p = without_trailing_slash(&dir_url);
                let up = match p.path().rfind('/') {
                    Some(i) => p.path()[..=i].to_string(),
                    None => "/".to_string(),
                };
                parent_url.set_path(&up);
                Printer {
                    base: parent,
                    dir: &parent_url,
                    json: a.json,
                }
                .print(&Entry::Object(meta));
                return Ok(ExitCode::SUCCESS);
            }
            Err(e) if e.kind() == ErrorKind::NotFound || e.kind() == ErrorKind::InvalidInput => {}
            // Retried already: listing would only meet the same failure (and retry again).
            Err(e) if e.is_retryable() => return Err(e),
            Err(e) => {
                tracing::debug!(error = %e, "head before listing failed; listing anyway");
            }
        }
    }
    let out = Printer {
        base: &prefix,
        dir: &dir_url,
        json: a.json,
    };
    if a.recursive {
        let mut all = files.list_all(prefix.clone());
        while let Some(meta) = all.next().await {
            out.print(&Entry::Object(meta?));
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
                out.print(e);
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
                        out.print(&Entry::Prefix(p));
                    }
                }
                None => out.print(&Entry::Object(meta)),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
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
    let url = url_of(&a.url)?;
    let (files, key) = open_object(&url)?;
    let existed = files.exists(&key).await?;
    if !a.force && !existed {
        return Err(Error::not_found("no such object (use --force to ignore)")
            .with_operation("rm")
            .with_key(key));
    }
    files.delete(&key).await?;
    if a.json {
        println!(
            "{}",
            serde_json::json!({
                "op": "rm",
                "url": redact_url(&url),
                "key": key,
                "deleted": existed,
            })
        );
    }
    Ok(ExitCode::SUCCESS)
}

// ------------------------------------------------------------------------------ cp, mv

pub(crate) async fn cp(a: CopyArgs, moving: bool) -> Result<ExitCode> {
    let src_url = url_of(&a.src)?;
    let (src, src_key) = open_object(&src_url)?;
    let dst_url = dest_url(&a.dest, base_name(&src_key))?;
    let (dst, dst_key) = open_object(&dst_url)?;
    let report = |size: Option<u64>, etag: Option<&str>, server_side: bool| {
        if a.json {
            println!(
                "{}",
                serde_json::json!({
                    "op": if moving { "mv" } else { "cp" },
                    "src": redact_url(&src_url),
                    "dest": redact_url(&dst_url),
                    "src_key": src_key,
                    "key": dst_key,
                    "size": size,
                    "etag": etag,
                    "server_side": server_side,
                })
            );
        }
    };
    let same_store = src.adapter().provider() == dst.adapter().provider()
        && src.adapter().target() == dst.adapter().target();
    if same_store {
        if src_key == dst_key {
            return Err(Error::invalid_input(
                "the source and the destination are the same object",
            ));
        }
        let meta = if moving {
            src.rename(&src_key, &dst_key).await?;
            if a.json {
                src.head(&dst_key).await.ok()
            } else {
                None
            }
        } else {
            Some(src.copy(&src_key, &dst_key).await?)
        };
        report(
            meta.as_ref().map(|m| m.size),
            meta.as_ref().and_then(|m| m.etag.as_deref()),
            true,
        );
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
    report(Some(done.meta.size), done.meta.etag.as_deref(), false);
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
