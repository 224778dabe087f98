//! Service-level objectives and their evaluation, sans IO: a load holds
//! when every measure is within its objective.

use serde::Serialize;

/// The objectives a load must hold.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Slo {
    /// Largest packet loss allowed, as a fraction (0.01 = 1 %).
    pub max_loss: f64,
    /// Largest p99 one-way latency allowed, ms.
    pub max_p99_latency_ms: f64,
    /// Join failures allowed.
    pub max_join_failures: u64,
}

impl Default for Slo {
    fn default() -> Self {
        Slo {
            max_loss: 0.01,
            max_p99_latency_ms: 150.0,
            max_join_failures: 0,
        }
    }
}

/// The measures an SLO is checked against.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Observed {
    /// Packets lost / packets expected, all streams.
    pub loss: f64,
    /// p99 one-way latency, ms.
    pub p99_latency_ms: f64,
    /// Participants or clients that did not get through.
    pub join_failures: u64,
    /// Packets expected; without any, nothing was measured.
    pub packets_expected: u64,
}

/// One objective broken.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Breach {
    Loss {
        observed: f64,
        max: f64,
    },
    Latency {
        observed_p99_ms: f64,
        max_ms: f64,
    },
    JoinFailures {
        observed: u64,
        max: u64,
    },
    /// No media was measured at all.
    NoMedia,
}

impl std::fmt::Display for Breach {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Breach::Loss { observed, max } => {
                write!(f, "loss {:.3} % > {:.3} %", observed * 100.0, max * 100.0)
            }
            Breach::Latency {
                observed_p99_ms,
                max_ms,
            } => write!(f, "p99 latency {observed_p99_ms:.1} ms > {max_ms:.1} ms"),
            Breach::JoinFailures { observed, max } => {
                write!(f, "{observed} join failures > {max}")
            }
            Breach::NoMedia => write!(f, "no media packet was received"),
        }
    }
}

impl Slo {
    /// Every objective `observed` breaks (empty when the load held).
    pub fn evaluate(&self, observed: &Observed) -> Vec<Breach> {
        let mut breaches = Vec::new();
        if observed.join_failures > self.max_join_failures {
            breaches.push(Breach::JoinFailures {
                observed: observed.join_failures,
                max: self.max_join_failures,
            });
        }
        if observed.packets_expected == 0 {
            breaches.push(Breach::NoMedia);
            return breaches;
        }
        if observed.loss > self.max_loss {
            breaches.push(Breach::Loss {
                observed: observed.loss,
                max: self.max_loss,
            });
        }
        if observed.p99_latency_ms > self.max_p99_latency_ms {
            breaches.push(Breach::Latency {
                observed_p99_ms: observed.p99_latency_ms,
                max_ms: self.max_p99_latency_ms,
            });
        }
        breaches
    }
}

/// The search `--find-capacity` runs: steps up the load while it holds;
/// the answer is the last load that held.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CapacitySearch {
    /// Load of the next step.
    pub next: u32,
    /// Added per step.
    pub step: u32,
    /// Give up above this load.
    pub max: u32,
    /// Last load that held.
    pub last_held: Option<u32>,
    /// The first load that broke, and why.
    pub broke_at: Option<(u32, Vec<Breach>)>,
}

impl CapacitySearch {
    pub fn new(start: u32, step: u32, max: u32) -> Self {
        CapacitySearch {
            next: start.max(1),
            step: step.max(1),
            max,
            last_held: None,
            broke_at: None,
        }
    }

    /// The load to try now, or `None` when the search is over.
    pub fn current(&self) -> Option<u32> {
        (self.broke_at.is_none() && self.next <= self.max).then_some(self.next)
    }

    /// Records how the current load did.
    pub fn record(&mut self, breaches: Vec<Breach>) {
        let load = self.next;
        if breaches.is_empty() {
            self.last_held = Some(load);
            self.next = load.saturating_add(self.step);
        } else {
            self.broke_at = Some((load, breaches));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok() -> Observed {
        Observed {
            loss: 0.001,
            p99_latency_ms: 20.0,
            join_failures: 0,
            packets_expected: 1000,
        }
    }

    #[test]
    fn defaults_hold_and_break_where_the_issue_says() {
        let slo = Slo::default();
        assert!(slo.evaluate(&ok()).is_empty());
        let lossy = Observed {
            loss: 0.0101,
            ..ok()
        };
        assert!(matches!(slo.evaluate(&lossy)[..], [Breach::Loss { .. }]));
        let at_limit = Observed {
            loss: 0.01,
            p99_latency_ms: 150.0,
            ..ok()
        };
        assert!(slo.evaluate(&at_limit).is_empty());
        let slow = Observed {
            p99_latency_ms: 150.1,
            ..ok()
        };
        assert!(matches!(slo.evaluate(&slow)[..], [Breach::Latency { .. }]));
        let failed = Observed {
            join_failures: 1,
            ..ok()
        };
        assert!(matches!(
            slo.evaluate(&failed)[..],
            [Breach::JoinFailures { .. }]
        ));
        let nothing = Observed::default();
        assert_eq!(slo.evaluate(&nothing), vec![Breach::NoMedia]);
        assert_eq!(
            Breach::Loss {
                observed: 0.02,
                max: 0.01
            }
            .to_string(),
            "loss 2.000 % > 1.000 %"
        );
    }

    #[test]
    fn capacity_is_the_last_load_that_held() {
        let mut search = CapacitySearch::new(10, 10, 100);
        while let Some(load) = search.current() {
            let breaches = if load > 40 {
                vec![Breach::NoMedia]
            } else {
                vec![]
            };
            search.record(breaches);
        }
        assert_eq!(search.last_held, Some(40));
        assert_eq!(search.broke_at.as_ref().map(|b| b.0), Some(50));
        // Never broke: stops at the maximum.
        let mut search = CapacitySearch::new(1, 2, 5);
        while search.current().is_some() {
            search.record(vec![]);
        }
        assert_eq!((search.last_held, search.broke_at), (Some(5), None));
    }
}
