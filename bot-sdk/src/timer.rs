//! Timers: run a handler every N seconds, once after a delay, or once at a time of
//! day. They run on the bot's thread between lines, connected or not.

use crate::context::Context;
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// Names a timer so it can be cancelled ([`Context::cancel`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimerId(u64);

pub(crate) type RepeatFn = Box<dyn FnMut(&mut Context<'_>) + Send>;
pub(crate) type OnceFn = Box<dyn FnOnce(&mut Context<'_>) + Send>;

pub(crate) enum Run {
    Every(Duration, RepeatFn),
    Once(OnceFn),
}

pub(crate) struct Timer {
    pub id: TimerId,
    pub due: Instant,
    pub run: Run,
}

#[derive(Default)]
pub(crate) struct Timers {
    list: Vec<Timer>,
    cancelled: HashSet<TimerId>,
    next_id: u64,
}

impl Timers {
    /// Runs `f` every `period`, first after one period.
    pub fn every(
        &mut self,
        period: Duration,
        f: impl FnMut(&mut Context<'_>) + Send + 'static,
    ) -> TimerId {
        self.add(Instant::now() + period, Run::Every(period, Box::new(f)))
    }

    /// Runs `f` once, after `delay`.
    pub fn after(
        &mut self,
        delay: Duration,
        f: impl FnOnce(&mut Context<'_>) + Send + 'static,
    ) -> TimerId {
        self.add(Instant::now() + delay, Run::Once(Box::new(f)))
    }

    /// Runs `f` once at `when` (at once if that is past).
    pub fn at(
        &mut self,
        when: chrono::DateTime<chrono::Utc>,
        f: impl FnOnce(&mut Context<'_>) + Send + 'static,
    ) -> TimerId {
        let delay = (when - chrono::Utc::now()).to_std().unwrap_or_default();
        self.after(delay, f)
    }

    pub fn add(&mut self, due: Instant, run: Run) -> TimerId {
        self.next_id += 1;
        let id = TimerId(self.next_id);
        self.list.push(Timer { id, due, run });
        id
    }

    pub fn cancel(&mut self, id: TimerId) {
        let before = self.list.len();
        self.list.retain(|t| t.id != id);
        if self.list.len() == before {
            // Running right now, or already gone: stop it from coming back.
            self.cancelled.insert(id);
        }
    }

    /// The earliest deadline.
    pub fn next_due(&self) -> Option<Instant> {
        self.list.iter().map(|t| t.due).min()
    }

    /// Takes out the earliest timer that is due at `now`.
    pub fn take_due(&mut self, now: Instant) -> Option<Timer> {
        let (i, _) = self
            .list
            .iter()
            .enumerate()
            .filter(|(_, t)| t.due <= now)
            .min_by_key(|(_, t)| t.due)?;
        Some(self.list.swap_remove(i))
    }

    /// Puts a repeating timer back after it ran, due one period later (skipping
    /// periods missed while the bot was busy).
    pub fn put_back(&mut self, mut timer: Timer, now: Instant) {
        if self.cancelled.remove(&timer.id) {
            return;
        }
        if let Run::Every(period, _) = &timer.run {
            let period = (*period).max(Duration::from_millis(1));
            timer.due += period;
            if timer.due <= now {
                timer.due = now + period;
            }
            self.list.push(timer);
        }
    }
}
