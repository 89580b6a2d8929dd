//! Upload benchmarks, reported as ratios against peers measured in the same run.
//!
//! * the part scheduler over the memory adapter, against driving the same adapter's primitives
//!   by hand in a sequential loop (the scheduler's overhead and its concurrency gain);
//! * the fs adapter (plain, and resumable with a checkpoint) against `std::fs::copy` of the same
//!   file;
//! * the fs adapter's download (`Files::download(..).to_file(..)`, which fsyncs) of that file,
//!   against the same `std::fs::copy`.
//!
//! Every file a case writes is checked by the parent (length and CRC32C against the source), so
//! a short or wrong copy cannot pass for a fast one.
//!
//! Each case runs in a fresh child process (so its peak RSS is its own), rounds are interleaved,
//! and medians are reported. Run with `cargo xtask bench` (writes docs/benchmarks.md) or
//! `cargo bench -p files-bench --bench upload -- [--size-mib N] [--rounds N] [--markdown PATH]`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use files::{Body, Files, UploadControl, UploadFamily};
use files_bench::{load_average, machine_with_load, make_source, self_usage};

const PART: u64 = 8 << 20;
fn concurrency() -> usize {
    std::env::var("BENCH_CONCURRENCY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4)
}

struct Args {
    size_mib: u64,
    rounds: usize,
    markdown: Option<PathBuf>,
    case: Option<String>,
    dir: Option<PathBuf>,
}

fn parse_args() -> Args {
    let mut a = Args {
        size_mib: 512,
        rounds: 3,
        markdown: None,
        case: None,
        dir: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--size-mib" => {
                a.size_mib = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--size-mib N")
            }
            "--rounds" => a.rounds = it.next().and_then(|v| v.parse().ok()).expect("--rounds N"),
            "--markdown" => a.markdown = it.next().map(PathBuf::from),
            "--case" => a.case = it.next(),
            "--dir" => a.dir = it.next().map(PathBuf::from),
            _ => {} // cargo bench passes --bench
        }
    }
    a
}

async fn run_case(case: &str, dir: &Path, size: u64) {
    let src = make_source(dir, size);
    let out = dir.join(format!("out-{case}"));
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).unwrap();
    let start = Instant::now();
    match case {
        "std-copy" => {
            std::fs::copy(&src, out.join("copy.bin")).unwrap();
            std::fs::File::open(out.join("copy.bin"))
                .unwrap()
                .sync_all()
                .unwrap();
        }
        "fs-upload" => {
            let files = Files::new(files::fs::FsAdapter::new(&out).unwrap());
            files
                .upload("copy.bin", Body::from_path(&src).await.unwrap())
                .part_size(PART)
                .await
                .unwrap();
        }
        "fs-resumable" => {
            let files = Files::new(files::fs::FsAdapter::new(&out).unwrap());
            files
                .upload("copy.bin", Body::from_path(&src).await.unwrap())
                .part_size(PART)
                .control(UploadControl::new())
                .checkpoint(dir.join("bench.ckpt"))
                .await
                .unwrap();
        }
        "fs-download" => {
            // The fs adapter rooted at the directory holding the source.
            let files = Files::new(files::fs::FsAdapter::new(dir).unwrap());
            let n = files
                .download("source.bin")
                .await
                .unwrap()
                .to_file(out.join("copy.bin"))
                .await
                .unwrap();
            assert_eq!(n, size);
        }
        "memory-scheduler" => {
            let data = bytes::Bytes::from(std::fs::read(&src).unwrap());
            let files = Files::new(files::memory::MemoryAdapter::new());
            let t = Instant::now();
            files
                .upload("copy.bin", Body::from_bytes(data))
                .part_size(PART)
                .concurrency(concurrency())
                .control(UploadControl::new())
                .await
                .unwrap();
            report(case, size, t);
            return;
        }
        "memory-raw-loop" => {
            let data = bytes::Bytes::from(std::fs::read(&src).unwrap());
            let adapter: Arc<dyn files::Adapter> = Arc::new(files::memory::MemoryAdapter::new());
            let t = Instant::now();
            let UploadFamily::Parts(p) = adapter.upload_family() else {
                panic!("memory is a parts adapter")
            };
            let spec = files::UploadSpec {
                key: "copy.bin".into(),
                total: size,
                part_size: PART,
                options: Default::default(),
            };
            let session = p.begin(&spec).await.unwrap();
            let mut landed = Vec::new();
            for (i, off) in (0..size).step_by(PART as usize).enumerate() {
                let chunk = data.slice(off as usize..(off + PART).min(size) as usize);
                let part = files::Part {
                    number: i as u32 + 1,
                    offset: off,
                    crc32c: crc32c::crc32c(&chunk),
                    data: chunk,
                };
                landed.push(p.put_part(&spec, &session, part).await.unwrap());
            }
            p.complete(&spec, &session, &landed).await.unwrap();
            report(case, size, t);
            return;
        }
        other => panic!("unknown case {other}"),
    }
    report(case, size, start);
}

fn report(case: &str, size: u64, start: Instant) {
    let secs = start.elapsed().as_secs_f64();
    let (cpu, rss) = self_usage();
    println!(
        "RESULT case={case} mib_s={:.1} secs={secs:.3} cpu={cpu:.2} rss_kib={rss}",
        size as f64 / (1 << 20) as f64 / secs
    );
}

struct Row {
    mib_s: Vec<f64>,
    cpu: Vec<f64>,
    rss: Vec<u64>,
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// CRC32C of a file's bytes.
fn crc32c_file(path: &Path) -> u32 {
    let mut f = std::fs::File::open(path).unwrap();
    let mut buf = vec![0u8; 4 << 20];
    let mut crc = 0;
    loop {
        let n = std::io::Read::read(&mut f, &mut buf).unwrap();
        if n == 0 {
            return crc;
        }
        crc = crc32c::crc32c_append(crc, &buf[..n]);
    }
}

fn main() {
    let args = parse_args();
    let size = args.size_mib << 20;
    if let Some(case) = &args.case {
        let dir = args.dir.clone().expect("--dir");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(run_case(case, &dir, size));
        return;
    }
    let load_at_start = load_average();
    let tmp = tempfile::Builder::new()
        .prefix("files-bench")
        .tempdir_in(std::env::temp_dir())
        .unwrap();
    let src = make_source(tmp.path(), size);
    let source_crc = crc32c_file(&src);
    let cases = [
        "std-copy",
        "fs-upload",
        "fs-resumable",
        "fs-download",
        "memory-raw-loop",
        "memory-scheduler",
    ];
    let mut rows: Vec<(&str, Row)> = cases
        .iter()
        .map(|c| {
            (
                *c,
                Row {
                    mib_s: vec![],
                    cpu: vec![],
                    rss: vec![],
                },
            )
        })
        .collect();
    let exe = std::env::current_exe().unwrap();
    // Round 0 is a discarded warm-up: on this VM the first process to touch a gigabyte of fresh
    // memory, or a file not yet in the page cache, runs several times slower.
    for round in 0..=args.rounds {
        for (case, row) in rows.iter_mut() {
            let out = Command::new(&exe)
                .args([
                    "--case",
                    case,
                    "--size-mib",
                    &args.size_mib.to_string(),
                    "--dir",
                ])
                .arg(tmp.path())
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{case}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let text = String::from_utf8_lossy(&out.stdout);
            let line = text
                .lines()
                .find(|l| l.starts_with("RESULT"))
                .expect("a RESULT line");
            let get = |k: &str| {
                line.split_whitespace()
                    .find_map(|kv| kv.strip_prefix(&format!("{k}=")))
                    .unwrap()
                    .to_string()
            };
            eprintln!("round {round}: {line}");
            // What an fs case wrote must be the source, byte for byte.
            let copy = tmp.path().join(format!("out-{case}")).join("copy.bin");
            if !case.starts_with("memory-") {
                assert_eq!(
                    std::fs::metadata(&copy).map(|m| m.len()).ok(),
                    Some(size),
                    "{case}: {} has the wrong size",
                    copy.display()
                );
                assert_eq!(
                    crc32c_file(&copy),
                    source_crc,
                    "{case}: {} differs from the source",
                    copy.display()
                );
            }
            if round == 0 {
                continue;
            }
            row.mib_s.push(get("mib_s").parse().unwrap());
            row.cpu.push(get("cpu").parse().unwrap());
            row.rss.push(get("rss_kib").parse().unwrap());
        }
    }
    let med: Vec<(&str, f64, f64, u64)> = rows
        .iter_mut()
        .map(|(c, r)| {
            (
                *c,
                median(&mut r.mib_s),
                median(&mut r.cpu),
                *r.rss.iter().max().unwrap(),
            )
        })
        .collect();
    let speed = |name: &str| med.iter().find(|m| m.0 == name).unwrap().1;
    let machine = machine_with_load(&load_at_start);
    let mut md = String::new();
    md.push_str("# Benchmarks\n\n");
    md.push_str(&format!(
        "Generated by `cargo xtask bench` (release build). Machine: {machine}. Body: {} MiB of random bytes, part size {} MiB, concurrency {}; medians of {} interleaved rounds after a discarded warm-up round, each case in its own process (peak RSS is the process's, including the body where the case holds it in memory). Every file an fs case wrote was checked against the source (length and CRC32C).\n\n",
        args.size_mib,
        PART >> 20,
        concurrency(),
        args.rounds
    ));
    md.push_str(
        "| case | what it measures | MiB/s | CPU s | peak RSS MiB |\n|---|---|---|---|---|\n",
    );
    let what = |c: &str| match c {
        "std-copy" => "`std::fs::copy` of the file, then fsync (the peer)",
        "fs-upload" => "files fs adapter, plain upload from a file body",
        "fs-resumable" => "files fs adapter with `control` and a checkpoint file (fsync per chunk)",
        "fs-download" => {
            "files fs adapter, `download(key).to_file(path)` of the file (fsync at the end)"
        }
        "memory-raw-loop" => "memory adapter primitives driven by hand, sequentially (the peer)",
        "memory-scheduler" => {
            "the part scheduler over the memory adapter (CRC32C per part, concurrency 4)"
        }
        _ => "",
    };
    for (c, s, cpu, rss) in &med {
        md.push_str(&format!(
            "| {c} | {} | {s:.0} | {cpu:.2} | {:.0} |\n",
            what(c),
            *rss as f64 / 1024.0
        ));
    }
    md.push_str("\nRatios (higher is faster for the first name):\n\n");
    md.push_str(&format!(
        "- fs-upload / std-copy: **{:.2}x**\n",
        speed("fs-upload") / speed("std-copy")
    ));
    md.push_str(&format!(
        "- fs-resumable / std-copy: **{:.2}x**\n",
        speed("fs-resumable") / speed("std-copy")
    ));
    md.push_str(&format!(
        "- fs-download / std-copy: **{:.2}x**\n",
        speed("fs-download") / speed("std-copy")
    ));
    md.push_str(&format!(
        "- memory-scheduler / memory-raw-loop: **{:.2}x**\n",
        speed("memory-scheduler") / speed("memory-raw-loop")
    ));
    md.push_str("\nNoise on this shared 2-core machine is large (±30% between runs); compare ratios from one run.\n");
    print!("{md}");
    if let Some(path) = args.markdown {
        // Keep the S3 section (written by the `s3` bench) if the file has one.
        let kept = std::fs::read_to_string(&path)
            .ok()
            .and_then(|old| {
                old.find("<!-- s3-bench:start -->")
                    .map(|i| old[i..].to_string())
            })
            .unwrap_or_default();
        if !kept.is_empty() {
            md.push('\n');
            md.push_str(&kept);
        }
        std::fs::write(&path, &md).unwrap();
        eprintln!("wrote {}", path.display());
    }
}
