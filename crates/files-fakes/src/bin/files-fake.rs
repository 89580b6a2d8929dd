//! `files-fake <provider> [--port N]`: serves one fake on 127.0.0.1 until killed.
//!
//! First prints exactly one JSON line, `{"provider", "endpoint", "env", "url"}`: `env` holds
//! the environment variables that point the `files` CLI at the fake, `url` a URL prefix to use
//! with it (`gs://BUCKET/`, `gdrive://root/`).

use std::io::Write as _;

use clap::{Parser, ValueEnum};
use serde_json::json;

use files_fakes::gcs::FakeGcs;
use files_fakes::gdrive::FakeDrive;

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Provider {
    /// Google Cloud Storage (the JSON API), reached through `STORAGE_EMULATOR_HOST`.
    Gcs,
    /// Google Drive v3, reached through `GDRIVE_ENDPOINT` with `GDRIVE_ACCESS_TOKEN`.
    Gdrive,
    /// Microsoft Graph (OneDrive, SharePoint).
    Onedrive,
    /// Dropbox API v2.
    Dropbox,
    /// Box API.
    Box,
}

/// Serves a fake provider on 127.0.0.1 until killed.
#[derive(Debug, Parser)]
#[command(name = "files-fake")]
struct Args {
    /// Which provider to fake.
    provider: Provider,
    /// The port (default: a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// The bucket a GCS fake starts with.
    #[arg(long, default_value = "files-fake")]
    bucket: String,
    /// The access token a Drive fake accepts.
    #[arg(long, default_value = "ya29.files-fake-token")]
    token: String,
}

fn main() -> std::io::Result<()> {
    let args = Args::parse();
    // Kept alive until the process is killed.
    let mut _other: Option<Box<dyn std::any::Any>> = None;
    let (_gcs, _drive, line) = match args.provider {
        Provider::Onedrive | Provider::Dropbox | Provider::Box => {
            let (fake, line) = match args.provider {
                Provider::Onedrive => files_fakes::graph::serve_cli(args.port)?,
                Provider::Dropbox => files_fakes::dropbox::serve_cli(args.port)?,
                _ => files_fakes::box_api::serve_cli(args.port)?,
            };
            _other = Some(fake);
            (None, None, line)
        }
        Provider::Gcs => {
            let fake = FakeGcs::start_on(args.port)?;
            fake.create_bucket(&args.bucket);
            let endpoint = fake.endpoint();
            let line = json!({
                "provider": "gcs",
                "endpoint": endpoint,
                "env": {
                    "STORAGE_EMULATOR_HOST": endpoint,
                    "FILES_GCS_EMULATOR_QUIRKS": "0",
                },
                "url": format!("gs://{}/", args.bucket),
            });
            (Some(fake), None, line)
        }
        Provider::Gdrive => {
            let fake = FakeDrive::start_on(&args.token, args.port)?;
            let endpoint = fake.endpoint();
            let line = json!({
                "provider": "gdrive",
                "endpoint": endpoint,
                "env": {
                    "GDRIVE_ENDPOINT": endpoint,
                    "GDRIVE_ACCESS_TOKEN": args.token,
                },
                "url": "gdrive://root/",
            });
            (None, Some(fake), line)
        }
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()?;
    drop(out);
    loop {
        std::thread::park();
    }
}
