//! What a worker does next, decided under the study's lock from all its trials: mark trials
//! whose worker stopped sending heartbeats as failed (queueing their parameters once more),
//! then stop (enough trials), wait (enough are running), start a queued trial, or sample a
//! new one.
use super::trial::{Params, State, Trial};
use crate::error::Result;

#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    /// `target` complete and pruned trials exist (or the sampler has nothing left).
    Done,
    /// Running trials may still reach the target; look again later.
    Wait,
    /// Run this trial (already marked running for this worker).
    Run(Box<Trial>),
}

/// `sample(history, number)`: the parameters of trial `number`.
pub type Sample<'a> = dyn FnMut(&[Trial], u64) -> Result<Option<Params>> + 'a;

pub struct Worker<'a> {
    /// `host:pid`.
    pub name: &'a str,
    pub host: &'a str,
}

/// Returns the trials to write and what to do. `sample(history, number)` gives the
/// parameters of trial `number` (`None`: nothing left to propose).
pub fn next(
    trials: &[Trial],
    target: usize,
    now: f64,
    heartbeat_timeout: f64,
    me: &Worker,
    sample: &mut Sample,
) -> Result<(Vec<Trial>, Next)> {
    let mut all = trials.to_vec();
    let mut writes = Vec::new();
    let mut next_number = all.iter().map(|t| t.number + 1).max().unwrap_or(0);
    let stale: Vec<usize> = (0..all.len())
        .filter(|&i| all[i].state == State::Running && now - all[i].heartbeat > heartbeat_timeout)
        .collect();
    for i in stale {
        let t = &mut all[i];
        t.state = State::Failed;
        t.note = Some(format!(
            "worker {} sent no heartbeat for {:.0} s",
            t.worker,
            now - t.heartbeat
        ));
        t.duration = t.started.map(|s| t.heartbeat - s);
        writes.push(t.clone());
        // a first try is retried once; a retry that dies too stays failed
        let number = t.number;
        let retried = all.iter().any(|o| o.retry_of == Some(number));
        if all[i].retry_of.is_none() && !retried {
            let mut retry = Trial::new(next_number, State::Waiting, all[i].params.clone());
            retry.retry_of = Some(number);
            next_number += 1;
            writes.push(retry.clone());
            all.push(retry);
        }
    }
    let finished = all.iter().filter(|t| t.state.finished()).count();
    let running = all.iter().filter(|t| t.state == State::Running).count();
    if finished >= target {
        return Ok((writes, Next::Done));
    }
    if finished + running >= target {
        return Ok((writes, Next::Wait));
    }
    let start = |mut t: Trial| {
        t.state = State::Running;
        t.worker = me.name.to_string();
        t.host = me.host.to_string();
        t.heartbeat = now;
        t.started = Some(now);
        t
    };
    let queued = all
        .iter()
        .filter(|t| t.state == State::Waiting)
        .min_by_key(|t| t.number)
        .cloned();
    let trial = match queued {
        Some(mut t) => {
            // an enqueued trial may fix only some parameters: the sampler gives the others
            if let Some(sampled) = sample(&all, t.number)? {
                for (k, v) in sampled {
                    t.params.entry(k).or_insert(v);
                }
            }
            start(t)
        }
        None => match sample(&all, next_number)? {
            Some(params) => start(Trial::new(next_number, State::Waiting, params)),
            None if running > 0 => return Ok((writes, Next::Wait)),
            None => return Ok((writes, Next::Done)),
        },
    };
    writes.push(trial.clone());
    Ok((writes, Next::Run(Box::new(trial))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params(x: i64) -> Params {
        Params::from([("lora.r".to_string(), json!(x))])
    }

    #[test]
    fn a_dead_worker_s_trial_fails_and_is_retried_once() {
        let me = Worker {
            name: "h:1",
            host: "h",
        };
        let mut dead = Trial::new(0, State::Running, params(4));
        dead.heartbeat = 100.0;
        dead.started = Some(90.0);
        let mut sample = |_: &[Trial], _: u64| -> Result<Option<Params>> { Ok(Some(params(8))) };
        let (writes, next) = next(&[dead.clone()], 5, 1000.0, 300.0, &me, &mut sample).unwrap();
        assert_eq!(writes[0].state, State::Failed);
        let Next::Run(retry) = next else {
            panic!("{next:?}")
        };
        assert_eq!(
            (retry.number, retry.retry_of, retry.params.clone()),
            (1, Some(0), params(4))
        );
        // the retry dies too: failed for good, a new trial is sampled
        let mut dead_retry = *retry;
        dead_retry.heartbeat = 100.0;
        let failed = writes[0].clone();
        let (_, next2) =
            super::next(&[failed, dead_retry], 5, 1000.0, 300.0, &me, &mut sample).unwrap();
        let Next::Run(fresh) = next2 else { panic!() };
        assert_eq!(
            (fresh.number, fresh.retry_of, fresh.params),
            (2, None, params(8))
        );
    }

    #[test]
    fn workers_wait_while_running_trials_can_reach_the_target() {
        let me = Worker {
            name: "h:1",
            host: "h",
        };
        let mut running = Trial::new(1, State::Running, params(4));
        running.heartbeat = 999.0;
        let done = Trial::new(0, State::Complete, params(8));
        let mut sample = |_: &[Trial], _: u64| -> Result<Option<Params>> { Ok(Some(params(16))) };
        let trials = [done, running];
        assert_eq!(
            next(&trials, 2, 1000.0, 300.0, &me, &mut sample).unwrap().1,
            Next::Wait
        );
        assert_eq!(
            next(&trials, 1, 1000.0, 300.0, &me, &mut sample).unwrap().1,
            Next::Done
        );
        assert!(
            matches!(next(&trials, 3, 1000.0, 300.0, &me, &mut sample).unwrap().1, Next::Run(t) if t.number == 2)
        );
    }
}
