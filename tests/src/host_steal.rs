//! The host's CPU steal during a bench (Linux's `/proc/stat`): on a shared virtual machine the
//! hypervisor gives part of this machine's CPU time to other tenants, and a latency tail that
//! comes in the seconds it does so is the host's, not the server's. The load benches sample it
//! beside their syncs, so each figure carries the steal it was measured under.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often the counters are read.
const EVERY: Duration = Duration::from_millis(100);

/// The machine's CPU time counters at one moment (clock ticks, all CPUs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    pub at: Instant,
    /// Ticks stolen by the hypervisor.
    pub steal: u64,
    /// Ticks of every kind: user, nice, system, idle, iowait, irq, softirq and steal.
    pub total: u64,
}

/// Reads the counters every 100 ms on a thread of its own until [`StealSampler::finish`].
#[derive(Debug)]
pub struct StealSampler {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Vec<Sample>>,
}

impl StealSampler {
    /// Start sampling; `None` where `/proc/stat` cannot be read (not Linux).
    pub fn start() -> Option<Self> {
        read_counters()?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut samples = Vec::new();
            loop {
                if let Some((steal, total)) = read_counters() {
                    samples.push(Sample {
                        at: Instant::now(),
                        steal,
                        total,
                    });
                }
                if stopping.load(Ordering::Relaxed) {
                    return samples;
                }
                std::thread::sleep(EVERY);
            }
        });
        Some(Self { stop, thread })
    }

    /// Stop and return what was read (one last sample taken as it stops).
    pub fn finish(self) -> Steal {
        self.stop.store(true, Ordering::Relaxed);
        Steal {
            samples: self.thread.join().unwrap_or_default(),
        }
    }
}

/// The counters read over a run.
#[derive(Debug, Clone, Default)]
pub struct Steal {
    pub samples: Vec<Sample>,
}

impl Steal {
    /// The share of the CPU time stolen from `from` to `to`, in percent, between the last
    /// sample at or before `from` and the first at or after `to`; `None` without such samples
    /// or with no time counted between them.
    pub fn percent(&self, from: Instant, to: Instant) -> Option<f64> {
        let first = self.samples.iter().rev().find(|s| s.at <= from)?;
        let last = self.samples.iter().find(|s| s.at >= to)?;
        let total = last.total.checked_sub(first.total)?;
        let steal = last.steal.checked_sub(first.steal)?;
        (total > 0).then(|| steal as f64 * 100.0 / total as f64)
    }
}

/// `(steal, total)` from `/proc/stat`'s first line.
fn read_counters() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    parse_cpu_line(stat.lines().next()?)
}

/// `cpu  user nice system idle iowait irq softirq steal guest guest_nice`: guest time is
/// already counted in user and nice, so the total is the first eight.
fn parse_cpu_line(line: &str) -> Option<(u64, u64)> {
    let mut fields = line.split_whitespace();
    if fields.next()? != "cpu" {
        return None;
    }
    let ticks: Vec<u64> = fields
        .take(8)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    if ticks.len() < 8 {
        return None;
    }
    Some((ticks[7], ticks.iter().sum()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_steal_field_is_the_eighth_and_guest_time_is_not_counted_twice() {
        assert_eq!(
            parse_cpu_line("cpu  100 5 50 800 10 1 4 30 20 0"),
            Some((30, 1000))
        );
        assert_eq!(parse_cpu_line("cpu0 1 2 3 4 5 6 7 8"), None);
        assert_eq!(parse_cpu_line("cpu  1 2 3"), None);
        assert_eq!(parse_cpu_line("cpu  1 2 3 x 5 6 7 8"), None);
    }

    #[test]
    fn the_percent_spans_the_samples_around_the_interval() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let steal = Steal {
            samples: vec![
                Sample {
                    at: at(0),
                    steal: 0,
                    total: 0,
                },
                Sample {
                    at: at(1000),
                    steal: 10,
                    total: 200,
                },
                Sample {
                    at: at(2000),
                    steal: 60,
                    total: 400,
                },
            ],
        };
        // The second second: 50 of 200 ticks stolen.
        assert_eq!(steal.percent(at(1000), at(2000)), Some(25.0));
        // Within it, the samples around: the same.
        assert_eq!(steal.percent(at(1200), at(1800)), Some(25.0));
        // The whole run: 60 of 400.
        assert_eq!(steal.percent(at(0), at(2000)), Some(15.0));
        // Past the last sample there is nothing to say.
        assert_eq!(steal.percent(at(1500), at(2500)), None);
        assert_eq!(steal.percent(at(0), at(0)), None);
    }

    #[test]
    fn a_sampler_reads_this_machines_counters() {
        let Some(sampler) = StealSampler::start() else {
            return; // not Linux
        };
        std::thread::sleep(Duration::from_millis(250));
        let steal = sampler.finish();
        assert!(steal.samples.len() >= 2, "{:?}", steal.samples);
        let (first, last) = (steal.samples[0], steal.samples[steal.samples.len() - 1]);
        assert!(last.total >= first.total && last.steal >= first.steal);
        let percent = steal.percent(first.at, last.at);
        assert!(
            percent.is_none_or(|p| (0.0..=100.0).contains(&p)),
            "{percent:?}"
        );
    }
}
