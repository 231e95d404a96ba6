//! The relay process's resources, read from Linux's /proc: CPU time from `/proc/<pid>/stat`
//! (user + system, all threads) and memory from `/proc/<pid>/status` (`VmRSS` now, `VmHWM` the
//! peak since the process started). Also the machine description printed with the results.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;

/// Clock ticks per second of `/proc/<pid>/stat` times (`USER_HZ`). Linux fixes it at 100 for
/// user space on every architecture this runs on; reading it through `sysconf` would need libc.
const USER_HZ: f64 = 100.0;

/// CPU seconds (user + system) from the text of `/proc/<pid>/stat`.
///
/// The command name (field 2) is in parentheses and may contain spaces or parentheses itself, so
/// fields are counted from the last `)`: `utime` and `stime` are fields 14 and 15.
pub fn parse_stat_cpu_seconds(stat: &str) -> Option<f64> {
    let after = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // `after` starts at field 3 (state).
    let utime: u64 = fields.get(14 - 3)?.parse().ok()?;
    let stime: u64 = fields.get(15 - 3)?.parse().ok()?;
    Some((utime + stime) as f64 / USER_HZ)
}

/// CPU seconds every CPU of the machine spent busy (user, nice, system, irq, softirq, steal) from
/// the text of `/proc/stat`: with the relay's and the tool's own, tells whether something else was
/// competing for the CPUs while the benchmark measured.
pub fn parse_machine_busy_seconds(stat: &str) -> Option<f64> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal …
    let busy = [0, 1, 2, 5, 6, 7]
        .iter()
        .map(|&i| v.get(i).copied().unwrap_or(0))
        .sum::<u64>();
    Some(busy as f64 / USER_HZ)
}

/// Busy CPU seconds of the whole machine so far.
pub fn machine_busy_seconds() -> Option<f64> {
    parse_machine_busy_seconds(&std::fs::read_to_string("/proc/stat").ok()?)
}

/// Memory figures of `/proc/<pid>/status`, in kB.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Memory {
    /// Resident set size now.
    pub rss_kb: u64,
    /// Peak resident set size since the process started.
    pub hwm_kb: u64,
}

/// Parses `VmRSS` and `VmHWM` out of `/proc/<pid>/status`.
pub fn parse_status_memory(status: &str) -> Option<Memory> {
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse::<u64>().ok())
    };
    Some(Memory {
        rss_kb: field("VmRSS:")?,
        hwm_kb: field("VmHWM:")?,
    })
}

/// CPU seconds used so far by `pid` (`"self"` works too).
pub fn cpu_seconds(pid: &str) -> Option<f64> {
    parse_stat_cpu_seconds(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Current memory of `pid`.
pub fn memory(pid: u32) -> Option<Memory> {
    parse_status_memory(&std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?)
}

/// Samples a process's RSS every 100 ms in the background and keeps the highest value, so a peak is
/// known even for a process started before the benchmark (whose `VmHWM` covers its whole life).
#[derive(Debug)]
pub struct RssSampler {
    peak_kb: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl RssSampler {
    /// Starts sampling `pid`.
    pub fn start(pid: u32) -> RssSampler {
        let peak_kb = Arc::new(AtomicU64::new(0));
        let peak = peak_kb.clone();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            loop {
                tick.tick().await;
                match memory(pid) {
                    Some(m) => {
                        peak.fetch_max(m.rss_kb, Ordering::Relaxed);
                    }
                    None => return,
                }
            }
        });
        RssSampler { peak_kb, task }
    }

    /// The highest RSS sampled so far, kB.
    pub fn peak_kb(&self) -> u64 {
        self.peak_kb.load(Ordering::Relaxed)
    }
}

impl Drop for RssSampler {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The machine the numbers come from.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// Logical CPUs available.
    pub cpus: usize,
    /// `model name` of /proc/cpuinfo.
    pub cpu_model: String,
    /// Kernel release.
    pub kernel: String,
    /// Total memory, GiB.
    pub memory_gib: f64,
}

impl Machine {
    /// Reads the description of this machine.
    pub fn detect() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        Machine {
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu_model: cpuinfo
                .lines()
                .find_map(|l| l.strip_prefix("model name"))
                .and_then(|rest| rest.split_once(':'))
                .map_or_else(|| "unknown".into(), |(_, v)| v.trim().to_string()),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map_or_else(|_| "unknown".into(), |s| s.trim().to_string()),
            memory_gib: meminfo
                .lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|rest| rest.split_whitespace().next()?.parse::<f64>().ok())
                .map_or(0.0, |kb| (kb / 1024.0 / 1024.0 * 10.0).round() / 10.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_cpu_counts_from_the_last_parenthesis() {
        // A command name with spaces and a parenthesis, as `comm` allows.
        let stat = "4242 (gama (vr) relay) S 1 4242 4242 0 -1 4194560 1520 0 0 0 \
                    250 75 0 0 20 0 9 0 123456 20000000 2500 18446744073709551615";
        assert_eq!(parse_stat_cpu_seconds(stat), Some(3.25));
        assert_eq!(parse_stat_cpu_seconds("garbage"), None);
        assert_eq!(parse_stat_cpu_seconds("1 (x) S 1 2"), None);
    }

    #[test]
    fn machine_busy_time_leaves_idle_and_iowait_out() {
        let stat = "cpu  100 20 30 5000 70 1 2 3 0 0\ncpu0 50 10 15 2500 35 0 1 1 0 0\nintr 1\n";
        assert_eq!(parse_machine_busy_seconds(stat), Some(1.56));
        assert_eq!(parse_machine_busy_seconds("intr 1\n"), None);
        assert!(machine_busy_seconds().is_some());
    }

    #[test]
    fn status_memory_fields() {
        let status = "Name:\tgama-vr-relay\nVmPeak:\t  100000 kB\nVmHWM:\t    9876 kB\n\
                      VmRSS:\t    8192 kB\nThreads:\t3\n";
        assert_eq!(
            parse_status_memory(status),
            Some(Memory {
                rss_kb: 8192,
                hwm_kb: 9876
            })
        );
        // A zombie has no memory lines.
        assert_eq!(parse_status_memory("Name:\tx\nState:\tZ (zombie)\n"), None);
    }

    #[test]
    fn this_process_can_be_read() {
        assert!(cpu_seconds("self").is_some());
        let m = memory(std::process::id()).unwrap();
        assert!(m.rss_kb > 0 && m.hwm_kb >= m.rss_kb);
        assert!(Machine::detect().cpus >= 1);
    }
}
