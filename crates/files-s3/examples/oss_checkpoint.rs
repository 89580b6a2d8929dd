//! Alibaba Cloud OSS's documented "resumable upload with a checkpoint file" pattern, with
//! `files`: upload with a checkpoint persisted to a file, retry up to five times resuming from
//! the checkpoint each time, and have the checkpoint deleted on success.
//!
//! ```text
//! export OSS_ACCESS_KEY_ID=... OSS_ACCESS_KEY_SECRET=... OSS_REGION=cn-hangzhou
//! cargo run -p files-s3 --example oss_checkpoint -- examplebucket ./yourfile object-name
//! ```
//!
//! Against a local S3 server instead of OSS, set `OSS_ENDPOINT=http://127.0.0.1:5055` (and
//! credentials the server accepts). Kill the process half-way and run it again: it resumes
//! from `checkpoint.json` and sends only the parts that did not land.
//!
//! What differs from the ali-oss sample: the checkpoint is written by the library after every
//! confirmed part (atomically: temp file, fsync, rename), not by the progress callback, and
//! it holds no credential (the UploadId, the key, the part size and the bucket@endpoint
//! identity, plus fingerprints of the parts because OSS keeps no CRC32C per part). On
//! success the library removes it itself.

use std::path::PathBuf;

use files_core::{Body, ErrorKind, Files};
use files_s3::{Preset, S3Adapter};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(bucket), Some(file_path), Some(object_name)) =
        (args.next(), args.next(), args.next())
    else {
        eprintln!("usage: oss_checkpoint <bucket> <file> <object-name> [checkpoint.json]");
        std::process::exit(2);
    };
    let checkpoint_file = PathBuf::from(args.next().unwrap_or_else(|| "checkpoint.json".into()));

    // Region from OSS_REGION (e.g. cn-hangzhou) -> https://oss-cn-hangzhou.aliyuncs.com;
    // credentials from OSS_ACCESS_KEY_ID / OSS_ACCESS_KEY_SECRET (then the AWS_* chain).
    let mut builder = S3Adapter::builder()
        .preset(Preset::AlibabaOss)
        .bucket(bucket);
    if let Ok(endpoint) = std::env::var("OSS_ENDPOINT") {
        builder = builder.endpoint(endpoint);
    }
    let files = Files::new(builder.build()?);

    if checkpoint_file.exists() {
        println!("found {}: resuming", checkpoint_file.display());
    }
    // Retry five times.
    for attempt in 1..=5 {
        let result = files
            .upload(object_name.as_str(), Body::from_path(&file_path).await?)
            .checkpoint(&checkpoint_file)
            .on_progress(|p| {
                if let Some(f) = p.fraction() {
                    println!("progress: {:.1}%", f * 100.0);
                }
            })
            .await;
        match result {
            Ok(outcome) => {
                println!(
                    "uploaded {} bytes ({} resumed, {} sent) in attempt {attempt}",
                    outcome.meta.size, outcome.bytes_resumed, outcome.bytes_sent
                );
                // The library removed the checkpoint file after the upload completed.
                assert!(!checkpoint_file.exists());
                println!("{} was removed", checkpoint_file.display());
                return Ok(());
            }
            Err(e) if e.kind() == ErrorKind::SessionExpired => {
                // The UploadId is gone (aborted, or removed by a lifecycle rule): the
                // checkpoint cannot be resumed, so start over.
                println!("attempt {attempt}: {e}; starting a new upload");
                files_core::checkpoint::remove(&checkpoint_file).await?;
            }
            Err(e) if e.kind() == ErrorKind::BodyChanged || e.kind() == ErrorKind::TokenInvalid => {
                // The file changed, or the checkpoint belongs to another upload: retrying the
                // same thing cannot help.
                eprintln!("attempt {attempt}: {e}");
                return Err(e.into());
            }
            Err(e) => println!("attempt {attempt} failed: {e}; retrying from the checkpoint"),
        }
    }
    Err("the upload failed five times; run again to resume from the checkpoint".into())
}
