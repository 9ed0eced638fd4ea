//! `logs`: the stack's log group, every line with its time and the task that wrote it, since a
//! moment; `--follow` keeps polling for new lines, printing each once, until Ctrl-C.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use aws_sdk_cloudwatchlogs::primitives::{DateTime, DateTimeFormat};

use super::Target;
use crate::aws::logs::{filter_events, Filter, LogEvent, Seen};
use crate::aws::tasks::task_id;
use crate::interrupt::Interrupt;
use crate::printer::Printer;
use crate::resources::task_definition::log_stream;

/// How far back each poll of `--follow` looks before the newest line it printed: the `awslogs`
/// driver sends a task's lines in batches, so a line can arrive after a later one of another
/// task. Lines that arrive later than this behind the newest are missed.
const FOLLOW_LOOKBACK: Duration = Duration::from_secs(30);

/// How often `--follow` polls.
const FOLLOW_EVERY: Duration = Duration::from_secs(2);

/// What to show.
#[derive(Debug, Clone)]
pub struct LogsOptions {
    /// Lines at or after this time (milliseconds since the epoch).
    pub since_ms: i64,
    /// Only the lines of this task (its ID or ARN).
    pub task: Option<String>,
    /// A CloudWatch Logs filter pattern.
    pub pattern: Option<String>,
    pub follow: bool,
}

/// One line of the log, as `logs` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LogLine {
    /// RFC 3339, UTC, with milliseconds.
    pub time: String,
    /// The ID of the task that wrote it (the last part of its log stream's name).
    pub task: String,
    pub message: String,
}

impl LogLine {
    fn of(event: &LogEvent) -> Self {
        LogLine {
            time: format_time(event.timestamp),
            task: task_id(&event.stream).to_owned(),
            message: event.message.trim_end_matches(['\n', '\r']).to_owned(),
        }
    }
}

/// `millis` since the epoch as RFC 3339 in UTC.
pub fn format_time(millis: i64) -> String {
    DateTime::from_millis(millis)
        .fmt(DateTimeFormat::DateTime)
        .unwrap_or_else(|_| millis.to_string())
}

/// Milliseconds since the epoch now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Reads `--since`: a duration back from `now_ms` (`90s`, `10m`, `2h`, `7d`) or a moment in
/// RFC 3339 (`2026-11-29T16:00:00Z`, an offset allowed) or a date (`2026-11-29`, midnight UTC).
/// The error says what is allowed.
pub fn parse_since(value: &str, now_ms: i64) -> Result<i64, String> {
    let value = value.trim();
    let unit = |c: char| match c {
        's' => Some(1_000),
        'm' => Some(60_000),
        'h' => Some(3_600_000),
        'd' => Some(86_400_000),
        _ => None,
    };
    if let Some(last) = value.chars().last() {
        let digits = &value[..value.len() - last.len_utf8()];
        if let (Some(unit), Ok(count)) = (unit(last), digits.parse::<i64>()) {
            return Ok(now_ms - count.saturating_mul(unit));
        }
    }
    let moment = if value.len() == 10 {
        format!("{value}T00:00:00Z")
    } else {
        value.to_owned()
    };
    DateTime::from_str(&moment, DateTimeFormat::DateTimeWithOffset)
        .ok()
        .and_then(|t| t.to_millis().ok())
        .ok_or_else(|| {
            format!(
                "--since {value:?} is neither a duration (90s, 10m, 2h, 7d) nor a time \
                 (2026-11-29T16:00:00Z, 2026-11-29T17:00:00+01:00, 2026-11-29)"
            )
        })
}

/// Prints the stack's log lines (through `line`), then, with `follow`, new ones as they come
/// until `interrupt` is raised. Reads only; takes no lock.
pub async fn logs(
    target: &Target,
    printer: &Printer,
    options: &LogsOptions,
    interrupt: &Interrupt,
    mut line: impl FnMut(&LogLine),
) -> Result<()> {
    let session = target.open(printer, None).await?;
    let ctx = &session.ctx;
    let group = &ctx.names.log_group;
    let streams = match &options.task {
        Some(task) => vec![log_stream(&ctx.config.container.name, task_id(task))],
        None => Vec::new(),
    };
    let lookback = i64::try_from(FOLLOW_LOOKBACK.as_millis()).unwrap_or(i64::MAX);
    let mut seen = Seen::default();
    loop {
        let filter = Filter {
            start_ms: seen.next_start(options.since_ms, lookback),
            streams: streams.clone(),
            pattern: options.pattern.clone(),
        };
        let events = filter_events(&ctx.aws.logs, group, &filter).await?;
        for event in seen.fresh(events, lookback) {
            line(&LogLine::of(&event));
        }
        if !options.follow {
            return Ok(());
        }
        tokio::select! {
            () = tokio::time::sleep(FOLLOW_EVERY) => {}
            () = interrupt.raised() => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    #[test]
    fn since_takes_durations_times_and_dates() {
        assert_eq!(parse_since("90s", NOW), Ok(NOW - 90_000));
        assert_eq!(parse_since("10m", NOW), Ok(NOW - 600_000));
        assert_eq!(parse_since("2h", NOW), Ok(NOW - 7_200_000));
        assert_eq!(parse_since("7d", NOW), Ok(NOW - 7 * 86_400_000));
        assert_eq!(
            parse_since("2026-11-29T16:00:00Z", NOW),
            Ok(1_795_968_000_000)
        );
        assert_eq!(
            parse_since("2026-11-29T17:00:00+01:00", NOW),
            Ok(1_795_968_000_000)
        );
        assert_eq!(parse_since("2026-11-29", NOW), Ok(1_795_910_400_000));
        for bad in ["", "10", "ten minutes", "10y", "2026-13-01"] {
            let error = parse_since(bad, NOW).unwrap_err();
            assert!(error.contains("neither a duration"), "{bad}: {error}");
        }
    }

    #[test]
    fn a_line_shows_its_time_in_utc_and_its_task() {
        let line = LogLine::of(&LogEvent {
            timestamp: 1_795_968_000_123,
            stream: "ecs/app/0f1e2d3c".into(),
            message: "GET / 200\n".into(),
            id: "1".into(),
        });
        assert_eq!(line.time, "2026-11-29T16:00:00.123Z");
        assert_eq!(line.task, "0f1e2d3c");
        assert_eq!(line.message, "GET / 200");
    }
}
