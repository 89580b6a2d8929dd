//! Shared pieces of the benchmarks in `benches/` (run them with `cargo xtask bench`).

use std::path::{Path, PathBuf};

/// (user+system CPU seconds, peak RSS in KiB) of this process, from /proc (Linux reports CPU
/// time in `USER_HZ` = 100 ticks per second).
pub fn self_usage() -> (f64, u64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let hwm = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    ((tick(11) + tick(12)) / 100.0, hwm)
}

/// Writes `dir/source.bin`: `size` pseudo-random (xorshift) bytes, reused if it already has
/// that size.
pub fn make_source(dir: &Path, size: u64) -> PathBuf {
    let path = dir.join("source.bin");
    if std::fs::metadata(&path).is_ok_and(|m| m.len() == size) {
        return path;
    }
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut buf = vec![0u8; 1 << 20];
    let mut f = std::fs::File::create(&path).unwrap();
    let mut left = size;
    while left > 0 {
        for chunk in buf.chunks_mut(8) {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            chunk.copy_from_slice(&rng.to_le_bytes()[..chunk.len()]);
        }
        let n = left.min(buf.len() as u64) as usize;
        std::io::Write::write_all(&mut f, &buf[..n]).unwrap();
        left -= n as u64;
    }
    f.sync_all().unwrap();
    path
}

/// "N cores, CPU model", for the reports.
pub fn machine() -> String {
    format!(
        "{} cores, {}",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|c| {
                c.lines()
                    .find(|l| l.starts_with("model name"))
                    .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
            })
            .unwrap_or_else(|| "unknown CPU".into())
    )
}

/// The 1, 5 and 15 minute load averages from /proc/loadavg ("5.62 4.39 5.50").
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".into())
}

/// [`machine`] plus the load averages at the start of the run (`at_start`, from
/// [`load_average`]) and now, since other work on a shared machine skews every number.
pub fn machine_with_load(at_start: &str) -> String {
    format!(
        "{}; load average (1/5/15 min) {at_start} at the start of the run, {} at its end",
        machine(),
        load_average()
    )
}

/// The user+system CPU seconds process `pid` has used so far (from `/proc/PID/stat`; 0 if it
/// cannot be read), at the usual 100 clock ticks a second.
pub fn process_cpu_secs(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // The fields after the command name (which may hold spaces) start with the state (field
    // 3); utime and stime are fields 14 and 15.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (ticks(11) + ticks(12)) as f64 / 100.0
}
