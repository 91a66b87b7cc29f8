//! Run steps concurrently in dependency order: a step starts as soon as every step it depends
//! on has succeeded. On the first failure no new step starts; steps already running finish
//! (each checkpoints its own state), and the first error is returned.

use std::collections::HashSet;
use std::future::Future;

use futures::stream::{FuturesUnordered, StreamExt};

use super::{EngineError, Result};

#[derive(Debug, Clone)]
pub struct Step {
    pub key: String,
    pub deps: Vec<String>,
}

pub async fn run<F, Fut>(steps: &[Step], run_one: F) -> Result<()>
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    // Dependencies on steps that are not in this run are already satisfied.
    let present: HashSet<&str> = steps.iter().map(|s| s.key.as_str()).collect();
    let mut done: HashSet<String> = HashSet::new();
    let mut started: HashSet<&str> = HashSet::new();
    let mut running = FuturesUnordered::new();
    let mut first_error: Option<EngineError> = None;
    loop {
        if first_error.is_none() {
            for s in steps {
                let ready = s.deps.iter().all(|d| !present.contains(d.as_str()) || done.contains(d));
                if ready && !started.contains(s.key.as_str()) {
                    started.insert(s.key.as_str());
                    let key = s.key.clone();
                    let fut = run_one(key.clone());
                    running.push(async move { (key, fut.await) });
                }
            }
        }
        match running.next().await {
            Some((key, Ok(()))) => {
                done.insert(key);
            }
            Some((_, Err(e))) => {
                if first_error.is_none() {
                    first_error = Some(e);
                }
            }
            None => break,
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    if let Some(s) = steps.iter().find(|s| !done.contains(&s.key)) {
        // Only possible with a dependency cycle, which plans never have.
        return Err(EngineError::Skipped { step: s.key.clone(), failed: "a dependency cycle".into() });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn step(k: &str, deps: &[&str]) -> Step {
        Step { key: k.into(), deps: deps.iter().map(|d| d.to_string()).collect() }
    }

    #[tokio::test]
    async fn runs_in_dependency_order_and_stops_starting_steps_after_a_failure() {
        let order = Mutex::new(Vec::new());
        let steps = vec![step("c", &["b"]), step("b", &["a"]), step("a", &[]), step("x", &[])];
        run(&steps, |k| {
            order.lock().expect("lock").push(k.clone());
            async { Ok(()) }
        })
        .await
        .expect("runs");
        let order = order.into_inner().expect("lock");
        let pos = |k: &str| order.iter().position(|o| o == k).expect("ran");
        assert!(pos("a") < pos("b") && pos("b") < pos("c"));

        let ran = Mutex::new(Vec::new());
        let err = run(&steps, |k| {
            ran.lock().expect("lock").push(k.clone());
            async move {
                if k == "a" {
                    Err(EngineError::Injected("a".into()))
                } else {
                    Ok(())
                }
            }
        })
        .await
        .expect_err("a fails");
        assert!(matches!(err, EngineError::Injected(_)));
        assert!(!ran.into_inner().expect("lock").contains(&"b".to_string()));
    }
}
