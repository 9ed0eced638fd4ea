//! Runs a set of steps as their dependencies allow: each starts as soon as everything it waits
//! for has finished, so independent steps overlap their AWS round trips.
//!
//! All futures are polled on the calling task (no spawning), which keeps borrowing simple and
//! makes the concurrency purely about waiting on the network. Results are handed to the reporter
//! in the order the steps were given, whatever order they finish in, so the output of a run is
//! deterministic.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

use futures_util::stream::{FuturesUnordered, StreamExt};

/// How one step ended.
#[derive(Debug)]
pub enum Finished<T> {
    Done(T),
    Failed(anyhow::Error),
    /// Not started, because a step it waits for failed (or an earlier failure stopped the run).
    Skipped,
}

/// Runs `work` for each of `steps`. A step starts once every step `waits_for` names (among
/// `steps`) is done. After the first failure, or once `stop` says so, no new step starts, but
/// steps already in flight are finished, so that whatever they created is recorded. `report` sees
/// every step exactly once, in the order of `steps`.
pub async fn run<K, T, W, Fut>(
    steps: &[K],
    waits_for: impl Fn(K) -> Vec<K>,
    work: W,
    stop: impl Fn() -> bool,
    mut report: impl FnMut(K, &Finished<T>),
) -> BTreeMap<K, Finished<T>>
where
    K: Copy + Ord,
    W: Fn(K) -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    let wanted: BTreeSet<K> = steps.iter().copied().collect();
    let prerequisites: BTreeMap<K, Vec<K>> = steps
        .iter()
        .map(|&s| {
            let before = waits_for(s).into_iter().filter(|d| wanted.contains(d));
            (s, before.collect())
        })
        .collect();
    let mut finished: BTreeMap<K, Finished<T>> = BTreeMap::new();
    let mut started: BTreeSet<K> = BTreeSet::new();
    let mut in_flight = FuturesUnordered::new();
    let mut failed = false;
    let mut reported = 0;

    loop {
        if !failed && !stop() {
            for &step in steps {
                let ready = !started.contains(&step)
                    && prerequisites[&step]
                        .iter()
                        .all(|d| matches!(finished.get(d), Some(Finished::Done(_))));
                if ready {
                    started.insert(step);
                    let future = work(step);
                    in_flight.push(async move { (step, future.await) });
                }
            }
        }
        let Some((step, result)) = in_flight.next().await else {
            break;
        };
        let outcome = match result {
            Ok(value) => Finished::Done(value),
            Err(error) => {
                failed = true;
                Finished::Failed(error)
            }
        };
        finished.insert(step, outcome);
        // Hand over, in order, every step whose turn has come.
        while let Some(&next) = steps.get(reported) {
            let Some(outcome) = finished.get(&next) else {
                break;
            };
            report(next, outcome);
            reported += 1;
        }
    }
    for &step in &steps[reported..] {
        let outcome = finished.entry(step).or_insert(Finished::Skipped);
        report(step, outcome);
    }
    finished
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::time::Duration;

    /// A small stack: `a` and `d` are roots, `b` needs `a`, `c` needs `a` and `b`, `e` needs `c`.
    const STEPS: [&str; 5] = ["a", "b", "c", "d", "e"];

    fn deps(step: &str) -> Vec<&'static str> {
        match step {
            "b" => vec!["a"],
            "c" => vec!["a", "b"],
            "e" => vec!["c"],
            _ => vec![],
        }
    }

    /// Steps that sleep for a time depending on the step, recording when they start and end.
    #[tokio::test(start_paused = true)]
    async fn independent_steps_overlap_and_reports_keep_order() {
        let log = RefCell::new(Vec::new());
        let started = tokio::time::Instant::now();
        let mut reports = Vec::new();
        let results = run(
            &STEPS,
            deps,
            |step| {
                let log = &log;
                async move {
                    let begin = started.elapsed();
                    // Later steps finish sooner, to prove reporting waits for order.
                    let rank = STEPS.iter().position(|s| *s == step).unwrap_or(0) as u64;
                    tokio::time::sleep(Duration::from_millis(100 - rank * 10)).await;
                    log.borrow_mut().push((step, begin, started.elapsed()));
                    Ok(step)
                }
            },
            || false,
            |step, _| reports.push(step),
        )
        .await;
        assert_eq!(reports, STEPS.to_vec());
        assert!(results.values().all(|r| matches!(r, Finished::Done(_))));
        let log = log.into_inner();
        let end_of = |s: &str| log.iter().find(|(x, ..)| *x == s).unwrap().2;
        let start_of = |s: &str| log.iter().find(|(x, ..)| *x == s).unwrap().1;
        for step in STEPS {
            for dep in deps(step) {
                assert!(
                    start_of(step) >= end_of(dep),
                    "{step} began before {dep} ended"
                );
            }
        }
        assert_eq!(start_of("a"), Duration::ZERO);
        assert_eq!(start_of("d"), Duration::ZERO);
        // The whole run takes the critical path (a -> b -> c -> e), not the sum of all steps.
        let total = started.elapsed();
        assert!(total < Duration::from_millis(400), "took {total:?}");
    }

    #[tokio::test]
    async fn a_failure_skips_what_depends_on_it_but_finishes_what_is_in_flight() {
        let mut reported = Vec::new();
        let results = run(
            &STEPS,
            deps,
            |step| async move {
                if step == "b" {
                    anyhow::bail!("boom");
                }
                Ok(())
            },
            || false,
            |step, _| reported.push(step),
        )
        .await;
        assert!(matches!(results["b"], Finished::Failed(_)));
        assert!(matches!(results["c"], Finished::Skipped));
        assert!(matches!(results["e"], Finished::Skipped));
        // Started in the same round as the failing step, so it still completes.
        assert!(matches!(results["d"], Finished::Done(_)));
        assert_eq!(reported, STEPS.to_vec());
    }
}
