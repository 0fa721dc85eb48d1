//! Resident memory of a process, read from `/proc/<pid>/status` (Linux), for
//! the memory benchmarks and the soak run. 0 when it cannot be read.

/// `VmRSS` of `pid` (`"self"` for this process), in KiB.
pub fn rss_kib(pid: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}
