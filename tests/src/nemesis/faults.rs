//! The faults a nemesis run injects, drawn at random from a seeded generator, and their
//! counts by kind.

use std::collections::BTreeMap;
use std::time::Duration;

use rand::Rng;
use rand::rngs::StdRng;

/// One kind of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FaultKind {
    /// The server process is SIGKILLed and started again on its data directory.
    ServerKill,
    /// The server process is SIGSTOPped for a few seconds, then SIGCONTinued.
    ServerStop,
    /// The proxy cuts a request half-way to the server.
    RequestCut,
    /// The proxy cuts a response half-way to the device.
    ResponseCut,
    /// The proxy holds a response half-sent for up to a few seconds.
    ResponseDelay,
    /// A device's clock is set forward by hours, within the check-in lock's 72 hours.
    ClockForward,
    /// A device's clock is set back by hours or days without a restart: its boot clock
    /// shows little time passed, so the lock stays open.
    ClockBack,
    /// A device's clock is set forward beyond the check-in lock: it engages until a sync.
    ClockPastLock,
    /// A device restarts with its clock set back over an hour before its last check-in: the
    /// lock engages until a sync.
    ClockBackAfterRestart,
}

impl FaultKind {
    /// Every kind, with its weight in the draw.
    pub const WEIGHTED: [(FaultKind, u32); 9] = [
        (FaultKind::ServerKill, 12),
        (FaultKind::ServerStop, 3),
        (FaultKind::RequestCut, 16),
        (FaultKind::ResponseCut, 16),
        (FaultKind::ResponseDelay, 16),
        (FaultKind::ClockForward, 10),
        (FaultKind::ClockBack, 10),
        (FaultKind::ClockPastLock, 8),
        (FaultKind::ClockBackAfterRestart, 7),
    ];

    /// A short description for the run's report.
    pub fn describe(self) -> &'static str {
        match self {
            FaultKind::ServerKill => "server SIGKILL and restart",
            FaultKind::ServerStop => "server SIGSTOP, then SIGCONT",
            FaultKind::RequestCut => "request cut mid-way by the proxy",
            FaultKind::ResponseCut => "response cut mid-way by the proxy",
            FaultKind::ResponseDelay => "response held mid-way by the proxy",
            FaultKind::ClockForward => "device clock forward 1-60 h (within the lock)",
            FaultKind::ClockBack => "device clock back 2 h-10 days, same boot",
            FaultKind::ClockPastLock => "device clock forward past the 72 h lock",
            FaultKind::ClockBackAfterRestart => "device restart, clock back 2 h-5 days",
        }
    }

    /// Whether the fault acts on the server process.
    pub fn is_server(self) -> bool {
        matches!(self, FaultKind::ServerKill | FaultKind::ServerStop)
    }

    /// Whether the fault is a device's clock.
    pub fn is_clock(self) -> bool {
        matches!(
            self,
            FaultKind::ClockForward
                | FaultKind::ClockBack
                | FaultKind::ClockPastLock
                | FaultKind::ClockBackAfterRestart
        )
    }

    /// Draw a kind; server faults only when `server_free`.
    pub fn draw(rng: &mut StdRng, server_free: bool) -> FaultKind {
        let allowed: Vec<(FaultKind, u32)> = Self::WEIGHTED
            .into_iter()
            .filter(|(kind, _)| server_free || !kind.is_server())
            .collect();
        let total: u32 = allowed.iter().map(|(_, w)| w).sum();
        let mut at = rng.gen_range(0..total);
        for (kind, weight) in &allowed {
            if at < *weight {
                return *kind;
            }
            at -= weight;
        }
        FaultKind::RequestCut
    }
}

/// How long faults last: the server's stops and the proxy's held responses.
#[derive(Debug, Clone, Copy)]
pub struct FaultDurations {
    /// Shortest and longest SIGSTOP.
    pub stop: (Duration, Duration),
    /// Shortest and longest hold of a response.
    pub delay: (Duration, Duration),
}

impl FaultDurations {
    /// Draw a duration between `range.0` and `range.1`.
    pub fn draw(rng: &mut StdRng, range: (Duration, Duration)) -> Duration {
        if range.1 <= range.0 {
            return range.0;
        }
        rng.gen_range(range.0..range.1)
    }
}

/// Counts by kind.
#[derive(Debug, Clone, Default)]
pub struct Tally(pub BTreeMap<FaultKind, usize>);

impl Tally {
    /// Count one fault.
    pub fn add(&mut self, kind: FaultKind) {
        *self.0.entry(kind).or_default() += 1;
    }

    /// Every fault counted.
    pub fn total(&self) -> usize {
        self.0.values().sum()
    }

    /// Faults of `kind`.
    pub fn of(&self, kind: FaultKind) -> usize {
        self.0.get(&kind).copied().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn draws_follow_the_seed_and_spare_a_busy_server() {
        let draws = |seed| {
            let mut rng = StdRng::seed_from_u64(seed);
            (0..200)
                .map(|_| FaultKind::draw(&mut rng, true))
                .collect::<Vec<_>>()
        };
        assert_eq!(draws(7), draws(7));
        assert_ne!(draws(7), draws(8));
        let every: std::collections::BTreeSet<_> = draws(7).into_iter().collect();
        assert_eq!(
            every.len(),
            FaultKind::WEIGHTED.len(),
            "every kind is drawn"
        );
        let mut rng = StdRng::seed_from_u64(1);
        assert!((0..500).all(|_| !FaultKind::draw(&mut rng, false).is_server()));
    }
}
