//! Running one command, for the CLI and the shell alike: connect, send its request,
//! print the result (a table, or the raw JSON with `--json`), and for `tail-log -f`
//! print the stream's events until Ctrl-C, then cancel the stream.

use crate::cli::Command;
use crate::client::{AdminClient, Incoming};
use crate::error::Error;
use crate::{human, render};
use serde_json::{json, Value};
use std::io::Write;
use std::path::Path;
use std::time::Instant;

/// Runs `command` against the socket at `socket`, writing its output to `out`.
/// A Ctrl-C (see `interrupt.rs`) ends a stream normally and any other wait with
/// [`Error::Interrupted`].
pub fn execute(
    socket: &Path,
    command: &Command,
    json: bool,
    out: &mut dyn Write,
) -> Result<(), Error> {
    let mut client = AdminClient::connect(socket)?.interruptible(true);
    let id = client.send(&command.request())?;
    let result = client.wait_reply(id, Some(Instant::now() + crate::client::REPLY_TIMEOUT))?;
    if json {
        emit(out, &format!("{result}\n"))?;
    } else {
        emit(out, &render::result(command, &result, human::now())?)?;
    }
    if command.streams() {
        follow(&mut client, id, json, out)?;
    }
    Ok(())
}

/// Prints the events of stream `id` until Ctrl-C, then cancels the stream.
fn follow(client: &mut AdminClient, id: u64, json: bool, out: &mut dyn Write) -> Result<(), Error> {
    let stream_id = Value::from(id);
    loop {
        match client.next_incoming(None) {
            Ok(Incoming::Event {
                id: event_id,
                event,
                data,
            }) if event_id == stream_id => {
                let line = if json {
                    Some(json!({"event": event, "data": data}).to_string())
                } else {
                    render::event(&event, &data)?
                };
                if let Some(line) = line {
                    emit(out, &format!("{line}\n"))?;
                }
            }
            Ok(_) => {}
            Err(Error::Interrupted) => {
                // Closing the connection would end the stream too; cancelling says so
                // explicitly and lets a daemon that misses it be noticed.
                return client.cancel(id);
            }
            Err(e) => return Err(e),
        }
    }
}

fn emit(out: &mut dyn Write, text: &str) -> Result<(), Error> {
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(Error::Output)
}
