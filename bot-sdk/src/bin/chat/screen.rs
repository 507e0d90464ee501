//! [`Screen`]: where lines for the user go. On a terminal, above the prompt
//! through rustyline's external printer, fed by a thread of its own so that
//! showing a line never holds up the client; elsewhere, straight to stdout.
//!
//! Why a thread: rustyline hands a printed line to an open prompt through a
//! one-slot queue, and a line queued just as the prompt returns waits there for
//! the next prompt; the next line then blocks until that prompt opens. Printing
//! from the bot's thread blocked the bot with it, so the `/quit` just typed at
//! that prompt never ran (and the prompt never opened again). Now only the
//! printer thread can block there; the bot goes on, and once the prompt is gone
//! for good ([`Screen::close`]) lines go straight to the terminal.

use rustyline::{DefaultEditor, ExternalPrinter};
use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// Shows lines to the user from any thread; cheap to clone. [`Screen::say`]
/// never waits for the prompt.
#[derive(Clone)]
pub struct Screen {
    inner: Arc<Inner>,
}

struct Inner {
    queue: Mutex<Queue>,
    ready: Condvar,
    /// Lines go through the printer thread (a terminal with a prompt).
    above_prompt: bool,
}

#[derive(Default)]
struct Queue {
    lines: VecDeque<String>,
    /// The prompt is gone for good: lines go straight to stdout.
    closed: bool,
}

impl Screen {
    /// On a terminal, lines show above `editor`'s prompt; otherwise (or when the
    /// terminal has no room for a printer) they go to stdout.
    pub fn new(editor: &mut DefaultEditor, terminal: bool) -> Screen {
        let printer = terminal
            .then(|| editor.create_external_printer().ok())
            .flatten();
        let inner = Arc::new(Inner {
            queue: Mutex::default(),
            ready: Condvar::new(),
            above_prompt: printer.is_some(),
        });
        if let Some(printer) = printer {
            let inner = inner.clone();
            // Detached: it may be left waiting on a prompt that never opens
            // again, and must not keep the process from exiting then.
            std::thread::spawn(move || inner.feed(printer));
        }
        Screen { inner }
    }

    /// Shows `line` (no newline): queued for the printer thread while there is
    /// a prompt, else written at once.
    pub fn say(&self, line: String) {
        if !self.inner.above_prompt {
            println!("{line}");
            return;
        }
        let mut queue = self.inner.lock();
        if queue.closed {
            println!("{line}");
            return;
        }
        queue.lines.push_back(line);
        self.inner.ready.notify_one();
    }

    /// No prompt will open again: the lines still queued, and all later ones,
    /// go straight to the terminal (no longer in raw mode).
    pub fn close(&self) {
        let mut queue = self.inner.lock();
        queue.closed = true;
        for line in queue.lines.drain(..) {
            println!("{line}");
        }
        self.inner.ready.notify_one();
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue
            .lock()
            .expect("the screen lock is never poisoned")
    }

    /// The printer thread: one line at a time, printed outside the lock, so a
    /// print waiting for the prompt never holds up [`Screen::say`].
    fn feed(&self, mut printer: impl ExternalPrinter) {
        loop {
            let line = {
                let mut queue = self.lock();
                loop {
                    if queue.closed {
                        return;
                    }
                    if let Some(line) = queue.lines.pop_front() {
                        break line;
                    }
                    queue = self
                        .ready
                        .wait(queue)
                        .expect("the screen lock is never poisoned");
                }
            };
            let _ = printer.print(format!("{line}\n"));
        }
    }
}
