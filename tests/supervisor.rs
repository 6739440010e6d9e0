//! The master's state machine driven by a fake `Spawn`: no fork, no signals, no sleeping.
//! Each test scripts the events the OS would report and asserts the phase sequence and the
//! order of what the master did (pingora's `server_phase_gracefulshutdown.rs` style).

use std::collections::VecDeque;
use std::num::NonZeroUsize;
use std::time::Duration;

use _ferrule::log::Level;
use _ferrule::log::LogConfig;
use _ferrule::supervisor::{
    Event, ExitStatus, Kill, MasterStatus, Outcome, Phase, Pid, ServiceState, Sig, Spawn,
    Supervisor, SupervisorError, WorkerPhase, WorkerPlan, WorkerSpec, WorkerStatus,
};
use _ferrule::worker::recycle::Limit;

/// How a fake worker boots.
#[derive(Clone, Copy)]
enum Boot {
    /// Says it serves at once.
    Serves,
    /// Exits with this code before serving.
    Fails(i32),
}

/// Records what the master asks for in `journal` and answers like obedient processes:
/// a spawned worker is ready at once, a signalled one exits at once.
struct FakeSpawner {
    boot: Boot,
    next_pid: Pid,
    /// Events the fake processes produce, delivered first.
    pending: VecDeque<Event>,
    /// Events the test injects, one per `wait` once `pending` is empty.
    script: VecDeque<Event>,
    journal: Vec<String>,
    reload: Option<WorkerPlan>,
    idle_waits: u32,
    /// Workers of this generation and later fail to boot with this exit code.
    fails_from_generation: Option<(u32, i32)>,
    /// Each change of what `/readyz` would say, with the journal's length when it was
    /// published (what the master had done by then).
    readiness: Vec<(usize, Option<&'static str>)>,
    /// The server hooks' call points, in order (apart from `journal`, whose tests compare
    /// it whole).
    hooks: Vec<String>,
    /// What `when_ready` answers.
    ready_ok: bool,
    /// What the master told the service manager, with the journal's length then.
    states: Vec<(usize, ServiceState)>,
}

impl FakeSpawner {
    fn new(script: impl IntoIterator<Item = Event>) -> FakeSpawner {
        FakeSpawner {
            boot: Boot::Serves,
            next_pid: 101,
            pending: VecDeque::new(),
            script: script.into_iter().collect(),
            journal: Vec::new(),
            reload: None,
            idle_waits: 0,
            fails_from_generation: None,
            readiness: Vec::new(),
            hooks: Vec::new(),
            ready_ok: true,
            states: Vec::new(),
        }
    }
}

impl Spawn for FakeSpawner {
    fn bind(&mut self) -> Result<(), SupervisorError> {
        self.journal.push("bind".into());
        Ok(())
    }

    fn spawn(&mut self, spec: WorkerSpec) -> Result<Pid, SupervisorError> {
        let pid = self.next_pid;
        self.next_pid += 1;
        self.journal.push(format!(
            "spawn {} gen {} = {pid}",
            spec.number, spec.generation
        ));
        let boot = match self.fails_from_generation {
            Some((generation, code)) if spec.generation >= generation => Boot::Fails(code),
            _ => self.boot,
        };
        match boot {
            Boot::Serves => self.pending.push_back(Event::Ready(pid)),
            Boot::Fails(code) => self
                .pending
                .push_back(Event::Exited(pid, ExitStatus::Code(code))),
        }
        Ok(pid)
    }

    fn signal(&mut self, pid: Pid, kill: Kill) {
        self.journal.push(format!("{kill:?} {pid}"));
        let status = match kill {
            Kill::Term | Kill::Quit => ExitStatus::Code(0),
            Kill::Kill => ExitStatus::Signal(9),
            Kill::Usr1 => return,
        };
        self.pending.push_back(Event::Exited(pid, status));
    }

    fn wait(&mut self, timeout: Duration) -> Vec<Event> {
        if let Some(event) = self.pending.pop_front() {
            if let Event::Ready(pid) = event {
                self.journal.push(format!("ready {pid}"));
            }
            return vec![event];
        }
        if let Some(event) = self.script.pop_front() {
            self.journal.push(format!("event {event:?}"));
            return vec![event];
        }
        self.idle_waits += 1;
        // Nothing to report: let the master's deadlines (a shutdown delay) come closer.
        std::thread::sleep(timeout.min(Duration::from_millis(5)));
        assert!(
            self.idle_waits < 100,
            "the master waits forever; journal: {:#?}",
            self.journal
        );
        Vec::new()
    }

    fn close_listeners(&mut self) {
        self.journal.push("close listeners".into());
    }

    fn reopen_logs(&mut self) {
        self.journal.push("reopen logs".into());
    }

    fn reload(&mut self) -> Option<WorkerPlan> {
        self.journal.push("reload settings".into());
        self.reload
    }

    fn upgrade(&mut self) -> Result<Pid, SupervisorError> {
        self.journal.push("upgrade".into());
        Ok(999)
    }

    fn on_serving(&mut self) {
        self.journal.push("serving".into());
    }

    fn publish(&mut self, status: &MasterStatus) {
        if self.readiness.last().map(|(_, r)| *r) != Some(status.not_ready) {
            self.readiness.push((self.journal.len(), status.not_ready));
        }
    }

    fn when_ready(&mut self) -> bool {
        self.hooks.push("when_ready".into());
        self.ready_ok
    }

    fn worker_exited(&mut self, spec: WorkerSpec, pid: Pid) {
        self.hooks
            .push(format!("child_exit {} = {pid}", spec.number));
    }

    fn workers_changed(&mut self, new: usize, old: Option<usize>) {
        self.hooks.push(format!("nworkers_changed {new} {old:?}"));
    }

    fn service_state(&mut self, state: ServiceState) {
        self.states.push((self.journal.len(), state));
    }
}

fn settings(workers: usize) -> WorkerPlan {
    WorkerPlan {
        workers: NonZeroUsize::new(workers).expect("tests use >= 1 worker"),
        graceful_timeout: Duration::from_secs(30),
        worker_timeout: Duration::from_secs(30),
        shutdown_delay: Duration::ZERO,
    }
}

fn run(workers: usize, spawner: FakeSpawner) -> (Outcome, Vec<Phase>, Vec<String>) {
    // The master logs every step; the journal says the same, so keep test output short.
    let quiet = LogConfig {
        level: Level::Critical,
        ..LogConfig::default()
    };
    _ferrule::log::init(&quiet).expect("stderr needs no opening");
    let mut master = Supervisor::new(settings(workers), spawner);
    let outcome = master.run().expect("the fake never fails");
    (
        outcome,
        master.phases().to_vec(),
        master.spawner().journal.clone(),
    )
}

fn position(journal: &[String], entry: &str) -> usize {
    journal
        .iter()
        .position(|e| e == entry)
        .unwrap_or_else(|| panic!("{entry:?} not in {journal:#?}"))
}

use Phase::{Binding, Draining, Reloading, Running, Spawning, Starting, Stopped};
use ServiceState::{Ready, Stopping};

#[test]
fn term_drains_every_worker_and_stops() {
    let (outcome, phases, journal) = run(2, FakeSpawner::new([Event::Signal(Sig::Term)]));
    assert_eq!(outcome, Outcome::Stopped);
    assert_eq!(
        phases,
        [Starting, Binding, Spawning, Running, Draining, Stopped]
    );
    assert_eq!(
        journal,
        [
            "bind",
            "spawn 1 gen 1 = 101",
            "spawn 2 gen 1 = 102",
            "ready 101",
            "ready 102",
            "serving",
            "event Signal(Term)",
            "close listeners",
            "Term 101",
            "Term 102",
        ]
    );
}

#[test]
fn int_and_quit_stop_workers_at_once() {
    for sig in [Sig::Int, Sig::Quit] {
        let (outcome, phases, journal) = run(1, FakeSpawner::new([Event::Signal(sig)]));
        assert_eq!(outcome, Outcome::Stopped);
        assert_eq!(
            phases,
            [Starting, Binding, Spawning, Running, Draining, Stopped]
        );
        assert!(journal.contains(&"Quit 101".to_owned()), "{journal:#?}");
    }
}

#[test]
fn hup_starts_the_new_generation_before_stopping_the_old() {
    let (outcome, phases, journal) = run(
        2,
        FakeSpawner::new([Event::Signal(Sig::Hup), Event::Signal(Sig::Term)]),
    );
    assert_eq!(outcome, Outcome::Stopped);
    assert_eq!(
        phases,
        [Starting, Binding, Spawning, Running, Reloading, Running, Draining, Stopped]
    );
    let reload = position(&journal, "reload settings");
    let last_new_ready = position(&journal, "ready 104");
    assert!(reload < position(&journal, "spawn 3 gen 2 = 103"));
    assert!(position(&journal, "ready 103") < position(&journal, "Term 101"));
    assert!(last_new_ready < position(&journal, "Term 101"));
    assert!(last_new_ready < position(&journal, "Term 102"));
    // The listeners stay open through a reload; only the final stop closes them.
    assert!(position(&journal, "close listeners") > position(&journal, "event Signal(Term)"));
}

#[test]
fn hup_applies_the_reloaded_worker_count() {
    let mut spawner = FakeSpawner::new([Event::Signal(Sig::Hup), Event::Signal(Sig::Term)]);
    spawner.reload = Some(settings(3));
    let (_, _, journal) = run(1, spawner);
    let second_generation = journal
        .iter()
        .filter(|e| e.starts_with("spawn") && e.contains("gen 2"))
        .count();
    assert_eq!(second_generation, 3, "{journal:#?}");
}

/// The workers of generation 2 the master started.
fn second_generation(journal: &[String]) -> usize {
    journal
        .iter()
        .filter(|e| e.starts_with("spawn") && e.contains("gen 2"))
        .count()
}

#[test]
fn hup_keeps_the_worker_count_ttin_and_ttou_set() {
    // The settings still say 1 worker: TTIN twice made it 3, and a reload keeps 3.
    let mut spawner = FakeSpawner::new([
        Event::Signal(Sig::Ttin),
        Event::Signal(Sig::Ttin),
        Event::Signal(Sig::Hup),
        Event::Signal(Sig::Term),
    ]);
    spawner.reload = Some(settings(1));
    let master = run_with(settings(1), spawner);
    let journal = &master.spawner().journal;
    assert_eq!(second_generation(journal), 3, "{journal:#?}");
    assert!(!master
        .spawner()
        .hooks
        .iter()
        .any(|h| h == "nworkers_changed 1 Some(3)"));
}

#[test]
fn hup_with_a_new_worker_setting_applies_it_over_ttin() {
    // The settings changed from 1 to 2 workers: the operator's new number wins.
    let mut spawner = FakeSpawner::new([
        Event::Signal(Sig::Ttin),
        Event::Signal(Sig::Ttin),
        Event::Signal(Sig::Hup),
        Event::Signal(Sig::Ttin),
        Event::Signal(Sig::Hup),
        Event::Signal(Sig::Term),
    ]);
    spawner.reload = Some(settings(2));
    let master = run_with(settings(1), spawner);
    let journal = &master.spawner().journal;
    // The reload starts 2 (not 3); the third of generation 2 is the later TTIN's.
    assert_eq!(second_generation(journal), 3, "{journal:#?}");
    assert!(position(journal, "Term 103") < position(journal, "spawn 6 gen 2 = 106"));
    // A reload with the same settings again: the 3 are kept.
    let third = journal
        .iter()
        .filter(|e| e.starts_with("spawn") && e.contains("gen 3"))
        .count();
    assert_eq!(third, 3, "{journal:#?}");
}

#[test]
fn ttin_adds_a_worker_and_ttou_stops_the_newest() {
    let (_, phases, journal) = run(
        2,
        FakeSpawner::new([
            Event::Signal(Sig::Ttin),
            Event::Signal(Sig::Ttou),
            Event::Signal(Sig::Term),
        ]),
    );
    assert_eq!(
        phases,
        [Starting, Binding, Spawning, Running, Draining, Stopped]
    );
    assert!(position(&journal, "spawn 3 gen 1 = 103") < position(&journal, "event Signal(Ttou)"));
    assert!(position(&journal, "event Signal(Ttou)") < position(&journal, "Term 103"));
    assert!(position(&journal, "Term 103") < position(&journal, "event Signal(Term)"));
}

#[test]
fn ttou_keeps_at_least_one_worker() {
    let (_, _, journal) = run(
        1,
        FakeSpawner::new([Event::Signal(Sig::Ttou), Event::Signal(Sig::Term)]),
    );
    assert!(position(&journal, "Term 101") > position(&journal, "event Signal(Term)"));
}

#[test]
fn usr1_reopens_logs_in_the_master_and_every_worker() {
    let (_, _, journal) = run(
        2,
        FakeSpawner::new([Event::Signal(Sig::Usr1), Event::Signal(Sig::Term)]),
    );
    let usr1 = position(&journal, "event Signal(Usr1)");
    assert_eq!(
        journal[usr1 + 1..usr1 + 4],
        ["reopen logs", "Usr1 101", "Usr1 102"]
    );
}

#[test]
fn a_worker_that_dies_is_replaced() {
    let (outcome, phases, journal) = run(
        1,
        FakeSpawner::new([
            Event::Exited(101, ExitStatus::Signal(9)),
            Event::Signal(Sig::Term),
        ]),
    );
    assert_eq!(outcome, Outcome::Stopped);
    assert_eq!(
        phases,
        [Starting, Binding, Spawning, Running, Draining, Stopped]
    );
    assert!(
        position(&journal, "spawn 2 gen 1 = 102")
            > position(&journal, "event Exited(101, Signal(9))")
    );
    assert!(journal.contains(&"Term 102".to_owned()));
}

#[test]
fn a_worker_that_cannot_import_the_app_stops_the_master_with_app_load_error() {
    let mut spawner = FakeSpawner::new([]);
    spawner.boot = Boot::Fails(4);
    let (outcome, phases, journal) = run(2, spawner);
    assert_eq!(outcome, Outcome::BootFailed { code: 4 });
    assert_eq!(phases, [Starting, Binding, Spawning, Draining, Stopped]);
    // No respawn loop: the two first workers, and nothing after the failure.
    assert_eq!(
        journal.iter().filter(|e| e.starts_with("spawn")).count(),
        2,
        "{journal:#?}"
    );
}

#[test]
fn any_other_boot_failure_is_worker_boot_error() {
    let mut spawner = FakeSpawner::new([]);
    spawner.boot = Boot::Fails(1);
    let (outcome, _, _) = run(1, spawner);
    assert_eq!(outcome, Outcome::BootFailed { code: 3 });
}

#[test]
fn a_retiring_worker_is_stopped_only_once_its_replacement_serves() {
    let (_, phases, journal) = run(
        2,
        FakeSpawner::new([
            Event::Retire(101, Limit::MaxRequests),
            Event::Retire(102, Limit::MaxRequests),
            Event::Signal(Sig::Term),
        ]),
    );
    assert_eq!(
        phases,
        [Starting, Binding, Spawning, Running, Draining, Stopped]
    );
    // One at a time: 103 replaces 101; 102's replacement (104) starts after 101 is gone.
    assert!(position(&journal, "spawn 3 gen 1 = 103") < position(&journal, "ready 103"));
    assert!(position(&journal, "ready 103") < position(&journal, "Term 101"));
    assert!(position(&journal, "Term 101") < position(&journal, "spawn 4 gen 1 = 104"));
    assert!(position(&journal, "ready 104") < position(&journal, "Term 102"));
}

#[test]
fn usr2_starts_a_new_master_and_keeps_serving() {
    let (outcome, phases, journal) = run(
        1,
        FakeSpawner::new([Event::Signal(Sig::Usr2), Event::Signal(Sig::Term)]),
    );
    assert_eq!(outcome, Outcome::Stopped);
    assert_eq!(
        phases,
        [Starting, Binding, Spawning, Running, Draining, Stopped]
    );
    // The old master stops when the new one sends TERM (not modelled here); USR2 alone
    // stops nothing.
    assert!(position(&journal, "upgrade") < position(&journal, "event Signal(Term)"));
    assert!(position(&journal, "Term 101") > position(&journal, "event Signal(Term)"));
}

#[test]
fn a_reload_that_cannot_boot_keeps_the_old_generation_serving() {
    let mut spawner = FakeSpawner::new([
        Event::Signal(Sig::Hup),
        Event::Exited(101, ExitStatus::Signal(9)),
        Event::Signal(Sig::Term),
    ]);
    spawner.fails_from_generation = Some((2, 4));
    spawner.reload = Some(settings(3));
    let (outcome, phases, journal) = run(2, spawner);
    assert_eq!(outcome, Outcome::Stopped);
    assert_eq!(
        phases,
        [Starting, Binding, Spawning, Running, Reloading, Running, Draining, Stopped]
    );
    // The old workers were never told to stop by the failed reload; the new ones were.
    assert!(!journal.contains(&"Term 101".to_owned()), "{journal:#?}");
    assert!(journal.contains(&"Quit 104".to_owned()) && journal.contains(&"Quit 105".to_owned()));
    // A worker of the old generation that dies afterwards is replaced in the old generation,
    // with the old settings (two workers).
    assert!(
        journal.contains(&"spawn 6 gen 1 = 106".to_owned()),
        "{journal:#?}"
    );
    assert!(position(&journal, "Term 102") > position(&journal, "event Signal(Term)"));
}

#[test]
fn hook_points_follow_the_worker_count_readiness_and_exits() {
    let spawner = FakeSpawner::new([
        Event::Signal(Sig::Ttin),
        Event::Signal(Sig::Ttou),
        Event::Signal(Sig::Term),
    ]);
    let mut master = Supervisor::new(settings(1), spawner);
    quiet_logs();
    assert_eq!(master.run().expect("fake"), Outcome::Stopped);
    assert_eq!(
        master.spawner().hooks,
        [
            "nworkers_changed 1 None",
            "when_ready",
            "nworkers_changed 2 Some(1)",
            "nworkers_changed 1 Some(2)",
            "child_exit 2 = 102",
            "child_exit 1 = 101",
        ]
    );
}

#[test]
fn a_failed_when_ready_stops_the_server_gracefully() {
    let mut spawner = FakeSpawner::new([]);
    spawner.ready_ok = false;
    let (outcome, phases, journal) = run(2, spawner);
    assert_eq!(outcome, Outcome::HookFailed("when_ready"));
    assert_eq!(
        phases,
        [Starting, Binding, Spawning, Running, Draining, Stopped]
    );
    assert!(position(&journal, "serving") < position(&journal, "Term 101"));
}

#[test]
fn a_file_change_reloads_like_hup_without_a_signal() {
    let (outcome, phases, journal) = run(
        1,
        FakeSpawner::new([Event::FilesChanged, Event::Signal(Sig::Term)]),
    );
    assert_eq!(outcome, Outcome::Stopped);
    assert_eq!(
        phases,
        [Starting, Binding, Spawning, Running, Reloading, Running, Draining, Stopped]
    );
    assert!(position(&journal, "reload settings") < position(&journal, "spawn 2 gen 2 = 102"));
}

fn quiet_logs() {
    let quiet = LogConfig {
        level: Level::Critical,
        ..LogConfig::default()
    };
    _ferrule::log::init(&quiet).expect("stderr needs no opening");
}

fn run_with(plan: WorkerPlan, spawner: FakeSpawner) -> Supervisor<FakeSpawner> {
    quiet_logs();
    let mut master = Supervisor::new(plan, spawner);
    master.run().expect("the fake never fails");
    master
}

#[test]
fn readiness_says_booting_then_ready_then_stopping() {
    let master = run_with(settings(2), FakeSpawner::new([Event::Signal(Sig::Term)]));
    let readiness: Vec<_> = master.spawner().readiness.iter().map(|(_, r)| *r).collect();
    assert_eq!(readiness, [Some("booting"), None, Some("stopping")]);
}

#[test]
fn readiness_fails_during_a_reload_until_the_new_generation_serves() {
    let master = run_with(
        settings(1),
        FakeSpawner::new([Event::Signal(Sig::Hup), Event::Signal(Sig::Term)]),
    );
    let spawner = master.spawner();
    let readiness: Vec<_> = spawner.readiness.iter().map(|(_, r)| *r).collect();
    assert_eq!(
        readiness,
        [
            Some("booting"),
            None,
            Some("reloading"),
            None,
            Some("stopping")
        ]
    );
    // Ready again only once the new worker served.
    let (ready_again, _) = spawner.readiness[3];
    assert!(ready_again > position(&spawner.journal, "ready 102"));
}

#[test]
fn with_a_shutdown_delay_term_fails_readiness_and_stops_the_workers_only_after_it() {
    let plan = WorkerPlan {
        shutdown_delay: Duration::from_millis(60),
        ..settings(2)
    };
    let started = std::time::Instant::now();
    let master = run_with(plan, FakeSpawner::new([Event::Signal(Sig::Term)]));
    assert!(started.elapsed() >= Duration::from_millis(60));
    assert_eq!(
        master.phases(),
        [Starting, Binding, Spawning, Running, Draining, Stopped]
    );
    let spawner = master.spawner();
    let (stopping_at, state) = *spawner.readiness.last().expect("published");
    assert_eq!(state, Some("stopping"));
    // Readiness failed when TERM came, before anything was stopped or closed.
    assert_eq!(
        stopping_at,
        position(&spawner.journal, "event Signal(Term)") + 1
    );
    assert!(stopping_at <= position(&spawner.journal, "close listeners"));
    assert!(stopping_at <= position(&spawner.journal, "Term 101"));
}

#[test]
fn exits_recycles_and_reloads_are_counted_by_reason() {
    let master = run_with(
        settings(1),
        FakeSpawner::new([
            Event::Exited(101, ExitStatus::Signal(9)),
            Event::Retire(102, Limit::MaxMemory),
            Event::Retire(102, Limit::MaxMemory),
            Event::Signal(Sig::Hup),
            Event::Signal(Sig::Term),
        ]),
    );
    let status = master.status();
    let count = |rows: &[(&str, u64)], name: &str| {
        rows.iter().find(|(n, _)| *n == name).map_or(0, |(_, c)| *c)
    };
    assert_eq!(count(&status.exits, "crashed"), 1);
    assert_eq!(
        count(&status.recycles, "max_worker_memory"),
        1,
        "asked twice, counted once"
    );
    assert_eq!(status.reloads, 1);
    assert!(count(&status.exits, "stopped") >= 2, "{:?}", status.exits);
}

#[test]
fn liveness_fails_for_a_serving_worker_past_its_heartbeat_timeout_only() {
    let now = std::time::Instant::now();
    let beat = |ago_ms: u64| {
        now.checked_sub(Duration::from_millis(ago_ms))
            .expect("the clock is past its first seconds")
    };
    let worker = |number: u32, phase: WorkerPhase, ago_ms: u64| WorkerStatus {
        pid: 100 + i32::try_from(number).expect("small"),
        number,
        phase,
        last_beat: beat(ago_ms),
    };
    let mut status = MasterStatus {
        worker_timeout: Duration::from_secs(1),
        workers: vec![
            worker(1, WorkerPhase::Serving, 200),
            worker(2, WorkerPhase::Booting, 5_000),
            worker(3, WorkerPhase::Draining, 5_000),
        ],
        ..MasterStatus::default()
    };
    assert_eq!(status.liveness(now), Ok(()));
    status.workers.push(worker(4, WorkerPhase::Serving, 1_500));
    let why = status.liveness(now).expect_err("worker 4 missed its beat");
    assert!(
        why.starts_with("worker 4 (pid 104) sent no heartbeat for 1.5"),
        "{why}"
    );
}

#[test]
fn the_service_manager_hears_ready_reloading_ready_stopping_in_order() {
    let master = run_with(
        settings(2),
        FakeSpawner::new([Event::Signal(Sig::Hup), Event::Signal(Sig::Term)]),
    );
    let spawner = master.spawner();
    let journal = &spawner.journal;
    let states: Vec<ServiceState> = spawner.states.iter().map(|(_, s)| *s).collect();
    assert_eq!(
        states,
        [Ready, ServiceState::Reloading, Ready, Stopping],
        "{journal:#?}"
    );
    // Ready once every worker serves and before `on_serving` (where a USR2 master stops
    // the old one); Ready again only once the new generation serves.
    let at = |i: usize| spawner.states[i].0;
    assert_eq!(journal[at(0) - 1], "ready 102");
    assert_eq!(journal[at(0)], "serving");
    assert_eq!(journal[at(1) - 1], "reload settings");
    assert!(position(journal, "ready 104") < at(2));
    assert_eq!(journal[at(3) - 1], "event Signal(Term)");
}

#[test]
fn a_failed_reload_is_ready_again_with_the_old_generation() {
    let mut spawner = FakeSpawner::new([Event::Signal(Sig::Hup), Event::Signal(Sig::Term)]);
    spawner.fails_from_generation = Some((2, 1));
    let master = run_with(settings(1), spawner);
    let states: Vec<ServiceState> = master.spawner().states.iter().map(|(_, s)| *s).collect();
    assert_eq!(states, [Ready, ServiceState::Reloading, Ready, Stopping]);
}
