//! The deployment sequence, the same for every engine: start the idle
//! colour, wait until it is ready, optionally give it a canary share while
//! watching its 5xx rate, switch all traffic, then stop the old colour with
//! SIGTERM so it drains. Any failure before the switch leaves (or puts)
//! traffic on the old colour and removes the new one.

use std::time::{Duration, Instant};

use super::canary::{self, Answered, Verdict};
use super::traffic::{Colour, Split};
use crate::{Error, Result, log, warn};

/// What runs the colours and the proxy: Docker Compose on a host, or the
/// local stage's Debian nginx and `docker run`.
pub(super) trait Engine {
    /// Where nginx reaches `colour`.
    fn address(&self, colour: Colour) -> String;
    /// The servers.conf the proxy runs with now (`None`: no proxy yet).
    fn servers_conf(&mut self) -> Result<Option<String>>;
    /// Starts `colour` afresh with `image`.
    fn start(&mut self, colour: Colour, image: &str) -> Result<()>;
    /// Whether `colour`'s container is running (a crashed one never turns
    /// ready: no need to wait for the timeout).
    fn running(&mut self, colour: Colour) -> Result<bool>;
    /// `GET path` on `colour` directly (not through the proxy): the body of
    /// a 2xx answer, else an error.
    fn get(&mut self, colour: Colour, path: &str) -> Result<String>;
    /// Makes the proxy route by `servers_conf` (a graceful reload; starts
    /// the proxy the first time).
    fn route(&mut self, servers_conf: &str) -> Result<()>;
    /// Stops `colour`: SIGTERM and its grace period (`drain`), or SIGKILL.
    fn stop(&mut self, colour: Colour, drain: bool) -> Result<()>;
    /// The last lines of `colour`'s log, for a failure message.
    fn log_tail(&mut self, colour: Colour) -> String;
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Canary {
    pub(super) percent: u8,
    pub(super) duration: Duration,
    pub(super) max_error_percent: f64,
}

/// A fault the local stage plants to prove its load test would catch it;
/// never set from the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Plant {
    None,
    /// Switch traffic without waiting for /readyz.
    SkipReadyWait,
    /// Kill the old colour before traffic has left it.
    SkipDrain,
}

#[derive(Debug, Clone)]
pub(super) struct Plan {
    pub(super) image: String,
    pub(super) canary: Option<Canary>,
    pub(super) ready_timeout: Duration,
    pub(super) plant: Plant,
}

/// What a deploy did.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Deployed {
    pub(super) from: Option<Colour>,
    pub(super) to: Colour,
    /// How long the switch itself took (write servers.conf, reload).
    pub(super) switch: Duration,
    pub(super) canary: Option<Verdict>,
}

const POLL: Duration = Duration::from_millis(250);

pub(super) fn deploy(engine: &mut impl Engine, plan: &Plan) -> Result<Deployed> {
    let live = match engine.servers_conf()? {
        Some(conf) if !conf.trim().is_empty() => match super::traffic::live_colour(&conf) {
            Some(colour) => Some(colour),
            // Guessing could restart the colour that serves.
            None => crate::fail!(
                "nginx's upstream/servers.conf was not written by this deploy, so which colour is live is unknown; its content:\n{conf}\nPut back a file this tool wrote, or remove the nginx container to start over"
            ),
        },
        _ => None,
    };
    let new = live.map_or(Colour::Blue, Colour::other);
    match live {
        Some(live) => log(&format!(
            "{live} is live; starting {new} with {}",
            plan.image
        )),
        None => log(&format!("first deploy: starting {new} with {}", plan.image)),
    }
    engine.start(new, &plan.image)?;

    if plan.plant != Plant::SkipReadyWait
        && let Err(reason) = wait_ready(engine, new, plan.ready_timeout)
    {
        return Err(undo(engine, live, new, &reason));
    }

    let mut verdict = None;
    if let (Some(canary), Some(live)) = (plan.canary, live) {
        match run_canary(engine, live, new, canary) {
            Ok(v) => verdict = Some(v),
            Err(reason) => return Err(undo(engine, Some(live), new, &format!("canary: {reason}"))),
        }
    } else if plan.canary.is_some() {
        warn("first deploy: nothing to compare a canary with, so no canary phase");
    }

    if plan.plant == Plant::SkipDrain
        && let Some(live) = live
    {
        engine.stop(live, false)?;
    }
    let started = Instant::now();
    engine.route(&Split::All(new).servers_conf(|c| engine.address(c)))?;
    let switch = started.elapsed();
    log(&format!(
        "traffic switched to {new} in {} ms",
        switch.as_millis()
    ));
    if let (Some(live), Plant::None | Plant::SkipReadyWait) = (live, plan.plant) {
        log(&format!("stopping {live} (SIGTERM: it drains, then exits)"));
        engine.stop(live, true)?;
    }
    Ok(Deployed {
        from: live,
        to: new,
        switch,
        canary: verdict,
    })
}

fn wait_ready(
    engine: &mut impl Engine,
    colour: Colour,
    timeout: Duration,
) -> std::result::Result<(), String> {
    let started = Instant::now();
    let mut last = String::new();
    while started.elapsed() < timeout {
        match engine.get(colour, "/readyz") {
            Ok(_) => {
                log(&format!(
                    "{colour} is ready after {} ms",
                    started.elapsed().as_millis()
                ));
                return Ok(());
            }
            Err(Error(e)) => last = e,
        }
        if !engine.running(colour).unwrap_or(true) {
            return Err(format!("{colour} exited before it answered /readyz"));
        }
        std::thread::sleep(POLL);
    }
    Err(format!(
        "{colour} did not answer /readyz within {} s (last attempt: {last})",
        timeout.as_secs()
    ))
}

fn run_canary(
    engine: &mut impl Engine,
    live: Colour,
    canary_colour: Colour,
    canary: Canary,
) -> std::result::Result<Verdict, String> {
    let before = answered(engine, canary_colour)?;
    let split = Split::Canary {
        live,
        canary: canary_colour,
        percent: canary.percent,
    };
    engine
        .route(&split.servers_conf(|c| engine.address(c)))
        .map_err(|Error(e)| e)?;
    log(&format!(
        "canary: {}% of requests to {canary_colour} for {} s (limit: {} % 5xx)",
        canary.percent,
        canary.duration.as_secs(),
        canary.max_error_percent
    ));
    let started = Instant::now();
    let mut verdict = Verdict::NoTraffic;
    while started.elapsed() < canary.duration {
        std::thread::sleep(Duration::from_secs(1).min(canary.duration));
        let now = answered(engine, canary_colour)?;
        verdict = canary::judge(before, now, canary.max_error_percent)?;
    }
    match verdict {
        Verdict::Healthy { total, errors } => {
            log(&format!(
                "canary healthy: {errors} 5xx in {total} answers; promoting {canary_colour}"
            ));
        }
        Verdict::NoTraffic => warn(&format!(
            "the canary got no requests in {} s, so it could not be judged; promoting {canary_colour}",
            canary.duration.as_secs()
        )),
    }
    Ok(verdict)
}

fn answered(engine: &mut impl Engine, colour: Colour) -> std::result::Result<Answered, String> {
    let page = engine
        .get(colour, "/metrics")
        .map_err(|Error(e)| format!("its /metrics did not answer: {e}"))?;
    canary::answered(&page)
        .ok_or_else(|| "its /metrics has no *_http_requests_total counter".to_owned())
}

/// Puts all traffic back on `live` (if there is one), stops `new`, and
/// returns the error that says why, with `new`'s last log lines.
fn undo(engine: &mut impl Engine, live: Option<Colour>, new: Colour, reason: &str) -> Error {
    let mut notes = Vec::new();
    if let Some(live) = live {
        match engine.route(&Split::All(live).servers_conf(|c| engine.address(c))) {
            Ok(()) => notes.push(format!("all traffic stays on {live}")),
            Err(Error(e)) => notes.push(format!("could not put traffic back on {live}: {e}")),
        }
    }
    let tail = engine.log_tail(new);
    // SIGTERM, not SIGKILL: a canary may still be answering requests that
    // nginx's old workers sent it before the reload.
    if let Err(Error(e)) = engine.stop(new, true) {
        notes.push(format!("could not stop {new}: {e}"));
    } else {
        notes.push(format!("{new} is stopped"));
    }
    Error(format!(
        "rolled back: {reason}; {}. The last lines of {new}'s log:\n{tail}",
        notes.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An engine that records what the flow asks of it.
    #[derive(Default)]
    struct Recorder {
        conf: Option<String>,
        calls: Vec<String>,
        ready: bool,
        crashed: bool,
        metrics: Vec<&'static str>,
    }

    impl Engine for Recorder {
        fn address(&self, colour: Colour) -> String {
            format!("{colour}:8080")
        }
        fn servers_conf(&mut self) -> Result<Option<String>> {
            Ok(self.conf.clone())
        }
        fn start(&mut self, colour: Colour, image: &str) -> Result<()> {
            self.calls.push(format!("start {colour} {image}"));
            Ok(())
        }
        fn running(&mut self, _: Colour) -> Result<bool> {
            Ok(!self.crashed)
        }
        fn get(&mut self, colour: Colour, path: &str) -> Result<String> {
            match path {
                "/readyz" if self.ready => Ok("ready".into()),
                "/readyz" => Err(Error("connection refused".into())),
                _ if self.metrics.is_empty() => Err(Error(format!("{colour} is gone"))),
                _ => Ok(self.metrics.remove(0).into()),
            }
        }
        fn route(&mut self, conf: &str) -> Result<()> {
            let servers: Vec<&str> = conf.lines().skip(1).collect();
            self.calls.push(format!("route {}", servers.join(" ")));
            self.conf = Some(conf.to_owned());
            Ok(())
        }
        fn stop(&mut self, colour: Colour, drain: bool) -> Result<()> {
            self.calls
                .push(format!("{} {colour}", if drain { "drain" } else { "kill" }));
            Ok(())
        }
        fn log_tail(&mut self, colour: Colour) -> String {
            format!("({colour}'s log)")
        }
    }

    fn live(colour: Colour) -> Recorder {
        Recorder {
            conf: Some(Split::All(colour).servers_conf(|c| format!("{c}:8080"))),
            ready: true,
            ..Recorder::default()
        }
    }

    fn plan(canary: Option<Canary>, plant: Plant) -> Plan {
        Plan {
            image: "app:new".into(),
            canary,
            ready_timeout: Duration::from_millis(600),
            plant,
        }
    }

    const CANARY: Canary = Canary {
        percent: 10,
        duration: Duration::from_secs(1),
        max_error_percent: 5.0,
    };

    fn metrics(ok: u32, errors: u32) -> &'static str {
        Box::leak(
            format!(
                "x_http_requests_total{{status=\"200\"}} {ok}\nx_http_requests_total{{status=\"502\"}} {errors}\n"
            )
            .into_boxed_str(),
        )
    }

    #[test]
    fn switches_to_the_idle_colour_then_drains_the_old_one() {
        let mut engine = live(Colour::Blue);
        let deployed = deploy(&mut engine, &plan(None, Plant::None)).expect("deploys");
        assert_eq!(
            (deployed.from, deployed.to),
            (Some(Colour::Blue), Colour::Green)
        );
        assert_eq!(
            engine.calls,
            [
                "start green app:new",
                "route server green:8080;",
                "drain blue"
            ]
        );
    }

    #[test]
    fn a_first_deploy_starts_blue_and_stops_nothing() {
        let mut engine = Recorder {
            ready: true,
            ..Recorder::default()
        };
        let deployed = deploy(&mut engine, &plan(Some(CANARY), Plant::None)).expect("deploys");
        assert_eq!(
            (deployed.from, deployed.to, deployed.canary),
            (None, Colour::Blue, None)
        );
        assert_eq!(
            engine.calls,
            ["start blue app:new", "route server blue:8080;"]
        );
    }

    #[test]
    fn a_colour_that_never_turns_ready_gets_no_traffic() {
        let mut engine = Recorder {
            ready: false,
            ..live(Colour::Green)
        };
        let err = deploy(&mut engine, &plan(None, Plant::None))
            .expect_err("rolls back")
            .0;
        assert_eq!(
            engine.calls,
            [
                "start blue app:new",
                "route server green:8080;",
                "drain blue"
            ]
        );
        assert!(
            err.starts_with("rolled back: blue did not answer /readyz within 0 s"),
            "{err}"
        );
        assert!(
            err.contains("all traffic stays on green, blue is stopped")
                && err.contains("(blue's log)"),
            "{err}"
        );
    }

    #[test]
    fn a_servers_conf_written_by_hand_stops_the_deploy() {
        let mut engine = Recorder {
            conf: Some("server 10.0.0.1:8080;\n".into()),
            ready: true,
            ..Recorder::default()
        };
        let err = deploy(&mut engine, &plan(None, Plant::None))
            .expect_err("refused")
            .0;
        assert!(err.contains("which colour is live is unknown"), "{err}");
        assert!(
            engine.calls.is_empty(),
            "nothing was started: {:?}",
            engine.calls
        );
    }

    #[test]
    fn a_colour_that_exits_is_not_waited_for() {
        let mut engine = Recorder {
            ready: false,
            crashed: true,
            ..live(Colour::Blue)
        };
        let started = Instant::now();
        let err = deploy(&mut engine, &plan(None, Plant::None))
            .expect_err("rolls back")
            .0;
        assert!(
            err.starts_with("rolled back: green exited before it answered /readyz"),
            "{err}"
        );
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "it did not wait for the timeout"
        );
    }

    #[test]
    fn a_healthy_canary_is_promoted() {
        let mut engine = Recorder {
            metrics: vec![metrics(0, 0), metrics(200, 1)],
            ..live(Colour::Blue)
        };
        let deployed = deploy(&mut engine, &plan(Some(CANARY), Plant::None)).expect("promoted");
        assert_eq!(
            deployed.canary,
            Some(Verdict::Healthy {
                total: 201,
                errors: 1
            })
        );
        assert_eq!(
            engine.calls,
            [
                "start green app:new",
                "route server blue:8080 weight=90; server green:8080 weight=10;",
                "route server green:8080;",
                "drain blue"
            ]
        );
    }

    #[test]
    fn a_failing_or_vanishing_canary_is_rolled_back() {
        for (pages, reason) in [
            (
                vec![metrics(0, 0), metrics(80, 20)],
                "canary: 20 of its 100 answers were 5xx",
            ),
            (
                vec![metrics(0, 0)],
                "canary: its /metrics did not answer: green is gone",
            ),
            (
                vec!["<html>"],
                "canary: its /metrics has no *_http_requests_total counter",
            ),
        ] {
            let mut engine = Recorder {
                metrics: pages,
                ..live(Colour::Blue)
            };
            let err = deploy(&mut engine, &plan(Some(CANARY), Plant::None))
                .expect_err("rolls back")
                .0;
            assert!(err.starts_with(&format!("rolled back: {reason}")), "{err}");
            assert_eq!(
                engine.calls.last().map(String::as_str),
                Some("drain green"),
                "{reason}"
            );
            assert!(
                engine.calls.iter().all(|c| c != "route server green:8080;"),
                "{reason}: all traffic never went to the canary: {:?}",
                engine.calls
            );
        }
    }

    #[test]
    fn the_planted_faults_change_only_their_own_step() {
        let mut engine = Recorder {
            ready: false,
            ..live(Colour::Blue)
        };
        deploy(&mut engine, &plan(None, Plant::SkipReadyWait)).expect("no wait: no rollback");
        assert_eq!(
            engine.calls,
            [
                "start green app:new",
                "route server green:8080;",
                "drain blue"
            ]
        );

        let mut engine = live(Colour::Blue);
        deploy(&mut engine, &plan(None, Plant::SkipDrain)).expect("deploys");
        assert_eq!(
            engine.calls,
            [
                "start green app:new",
                "kill blue",
                "route server green:8080;"
            ]
        );
    }
}
