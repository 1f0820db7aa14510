//! Following an execution as it runs: its history read incrementally, each
//! step's notes printed as they come, a spinner with the elapsed times on a
//! terminal, plain lines otherwise.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use makenaide_core::Timestamp;

use crate::error::CliError;
use crate::history::{Event, Timeline, timeline};
use crate::ports::StepFunctions;
use crate::render::{duration, fit, note_line};

/// Where the live view goes.
pub trait View {
    /// A line that stays (a note, the summary).
    fn line(&mut self, text: &str);
    /// What is going on now (the spinner); `since_last_line` lets a plain
    /// view print a reminder now and then.
    fn now(&mut self, text: &str);
    fn finish(&mut self);
}

/// A spinner on a terminal, plain lines otherwise.
pub fn view() -> Box<dyn View> {
    if std::io::stdout().is_terminal() {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        Box::new(Spinner { bar })
    } else {
        Box::new(Plain {
            last: None,
            every: Duration::from_secs(60),
        })
    }
}

struct Spinner {
    bar: ProgressBar,
}

impl View for Spinner {
    fn line(&mut self, text: &str) {
        self.bar.println(text);
    }
    fn now(&mut self, text: &str) {
        self.bar.set_message(fit(text));
    }
    fn finish(&mut self) {
        self.bar.finish_and_clear();
    }
}

struct Plain {
    last: Option<std::time::Instant>,
    every: Duration,
}

impl View for Plain {
    fn line(&mut self, text: &str) {
        println!("{text}");
        let _ = std::io::stdout().flush();
        self.last = Some(std::time::Instant::now());
    }
    fn now(&mut self, text: &str) {
        if self.last.is_some_and(|at| at.elapsed() >= self.every) {
            self.line(&fit(&format!("          ... {text}")));
        }
    }
    fn finish(&mut self) {}
}

/// The transcript lines of `timeline` not printed yet; `printed[i]` counts
/// the notes of step `i` already printed (updated).
pub fn new_lines(timeline: &Timeline, printed: &mut Vec<usize>) -> Vec<String> {
    let Some(t0) = timeline.started else {
        return Vec::new();
    };
    let mut lines = Vec::new();
    printed.resize(timeline.steps.len(), 0);
    for (index, step) in timeline.steps.iter().enumerate() {
        for note in &step.notes[printed[index]..] {
            let text = if note.failure {
                format!("error {}", note.text)
            } else {
                note.text.clone()
            };
            lines.push(note_line(
                note.at.seconds_since(t0),
                step.phase.title(),
                &text,
            ));
        }
        printed[index] = step.notes.len();
    }
    lines
}

/// What the spinner says: the running step, for how long, and the total.
pub fn now_line(timeline: &Timeline, now: Timestamp) -> String {
    let total = timeline
        .started
        .map(|t0| duration(now.seconds_since(t0)))
        .unwrap_or_default();
    match timeline.steps.last() {
        Some(step) if step.ended.is_none() => format!(
            "{}: {} for {} (total {total})",
            step.phase.title(),
            step.current(),
            duration(step.seconds(now))
        ),
        _ => format!("starting (total {total})"),
    }
}

/// An execution's history so far, every page, oldest first.
pub async fn whole_history<S: StepFunctions>(
    sfn: &S,
    execution_arn: &str,
) -> Result<Vec<Event>, CliError> {
    let mut events = Vec::new();
    let mut token = None;
    loop {
        let page = sfn.history(execution_arn, token, false, 1000).await?;
        events.extend(page.events);
        token = page.next_token;
        if token.is_none() {
            return Ok(events);
        }
    }
}

/// Reads the history as it grows until the execution ends; prints as it
/// goes. Returns every event.
pub async fn follow<S: StepFunctions>(
    sfn: &S,
    execution_arn: &str,
    poll: Duration,
    view: &mut dyn View,
) -> Result<Vec<Event>, CliError> {
    let mut events = whole_history(sfn, execution_arn).await?;
    let mut printed = Vec::new();
    loop {
        let t = timeline(&events);
        for line in new_lines(&t, &mut printed) {
            view.line(&line);
        }
        if t.end.is_some() {
            break;
        }
        view.now(&now_line(&t, Timestamp::now()));
        tokio::time::sleep(poll).await;
        // What came since the last event seen: newest first, back to it.
        let last = events.last().map_or(0, |e| e.id);
        let mut fresh = Vec::new();
        let mut token = None;
        loop {
            let page = sfn.history(execution_arn, token, true, 100).await?;
            let reached = page.events.iter().any(|e| e.id <= last);
            fresh.extend(page.events.into_iter().filter(|e| e.id > last));
            token = page.next_token;
            if reached || token.is_none() {
                break;
            }
        }
        fresh.sort_by_key(|e| e.id);
        events.extend(fresh);
    }
    view.finish();
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::tests::recorded;

    #[test]
    fn the_transcript_is_the_same_however_the_polls_fall() {
        let run = recorded("job_fails_with_stderr");
        let mut printed = Vec::new();
        let whole = new_lines(&timeline(&run.events), &mut printed);
        assert!(new_lines(&timeline(&run.events), &mut printed).is_empty());
        for step in [1, 3, 7] {
            let mut printed = Vec::new();
            let mut lines = Vec::new();
            for cut in (step..=run.events.len()).step_by(step) {
                lines.extend(new_lines(&timeline(&run.events[..cut]), &mut printed));
            }
            lines.extend(new_lines(&timeline(&run.events), &mut printed));
            assert_eq!(lines, whole, "polled every {step} events");
        }
        assert!(
            whole[0].ends_with("run lease        run lease taken"),
            "{whole:#?}"
        );
        let error = whole
            .iter()
            .find(|l| l.contains(" error JobFailed: "))
            .unwrap();
        assert!(error.contains("] job "), "{error}");
        assert!(
            whole
                .iter()
                .all(|l| l.chars().count() <= crate::render::WIDTH)
        );
    }

    #[test]
    fn the_spinner_names_the_running_step_and_its_time() {
        let run = recorded("happy_path");
        // Up to the first poll of the job.
        let cut = run
            .events
            .iter()
            .position(|e| matches!(&e.what, crate::history::What::StateEntered { name } if name == "Wait for job"))
            .unwrap();
        let t = timeline(&run.events[..cut]);
        let job = t.steps.last().unwrap();
        let now = job.started.plus_seconds(192);
        let line = now_line(&t, now);
        assert!(
            line.starts_with("job: job running for 3m12s (total "),
            "{line}"
        );
    }
}
