//! Reading the stack's log group: events of the whole group (`FilterLogEvents`, for `logs`) and
//! of one stream from its start (`GetLogEvents`, for a one-off task's output), as one shape.
//!
//! Following a log by polling must neither repeat an event nor skip one that CloudWatch Logs
//! ingested late with an earlier timestamp (the `awslogs` driver sends in batches). [`Seen`]
//! keeps the IDs of the recent events so that each poll can look back a little further than the
//! newest event without printing anything twice.

use std::collections::{BTreeSet, VecDeque};

use anyhow::Result;

use super::errors::AwsResultExt;

/// One log event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEvent {
    /// Milliseconds since the Unix epoch, as the container wrote the line.
    pub timestamp: i64,
    /// The log stream: `ecs/{container}/{task id}` for this stack's tasks.
    pub stream: String,
    pub message: String,
    /// CloudWatch Logs' ID of the event; unique within the group.
    pub id: String,
}

/// What to read of the group with [`filter_events`].
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Events at or after this time (milliseconds since the epoch).
    pub start_ms: i64,
    /// Only these streams (at most 100, as `FilterLogEvents` allows); all when empty.
    pub streams: Vec<String>,
    /// A CloudWatch Logs filter pattern (`ERROR`, `"exact phrase"`, `{ $.level = "error" }`).
    pub pattern: Option<String>,
}

/// Every event of `group` matching `filter`, oldest first, following `nextToken` to the end.
/// A group that does not exist (yet) has no events.
///
/// Follows <https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_FilterLogEvents.html>.
pub async fn filter_events(
    logs: &aws_sdk_cloudwatchlogs::Client,
    group: &str,
    filter: &Filter,
) -> Result<Vec<LogEvent>> {
    let mut events = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let answer = logs
            .filter_log_events()
            .log_group_name(group)
            .start_time(filter.start_ms)
            .set_log_stream_names((!filter.streams.is_empty()).then(|| filter.streams.clone()))
            .set_filter_pattern(filter.pattern.clone())
            .set_next_token(token.take())
            .send()
            .await
            .or_absent(
                &["ResourceNotFoundException"],
                format!("reading the log events of {group}"),
            )?;
        let Some(answer) = answer else {
            return Ok(events);
        };
        events.extend(answer.events().iter().map(|e| LogEvent {
            timestamp: e.timestamp().unwrap_or_default(),
            stream: e.log_stream_name().unwrap_or_default().to_owned(),
            message: e.message().unwrap_or_default().to_owned(),
            id: e.event_id().unwrap_or_default().to_owned(),
        }));
        match answer.next_token() {
            Some(next) if !next.is_empty() => token = Some(next.to_owned()),
            _ => break,
        }
    }
    // Pages are in order, but events of several streams interleave; show them by time.
    events.sort_by_key(|e| e.timestamp);
    Ok(events)
}

/// Where [`stream_events`] continues: the forward token of the last page read.
#[derive(Debug, Clone, Default)]
pub struct StreamCursor {
    token: Option<String>,
}

/// The events of one stream since `cursor` (from its start the first time), oldest first, and
/// moves the cursor past them. A stream that does not exist yet (a task that has not written
/// anything) has none.
///
/// Follows <https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_GetLogEvents.html>:
/// reading forward, the last page repeats the token it was given.
pub async fn stream_events(
    logs: &aws_sdk_cloudwatchlogs::Client,
    group: &str,
    stream: &str,
    cursor: &mut StreamCursor,
) -> Result<Vec<LogEvent>> {
    let mut events = Vec::new();
    loop {
        let answer = logs
            .get_log_events()
            .log_group_name(group)
            .log_stream_name(stream)
            .start_from_head(true)
            .set_next_token(cursor.token.clone())
            .send()
            .await
            .or_absent(
                &["ResourceNotFoundException"],
                format!("reading log stream {stream} of {group}"),
            )?;
        let Some(answer) = answer else {
            return Ok(events);
        };
        let page: Vec<LogEvent> = answer
            .events()
            .iter()
            .map(|e| LogEvent {
                timestamp: e.timestamp().unwrap_or_default(),
                stream: stream.to_owned(),
                message: e.message().unwrap_or_default().to_owned(),
                id: String::new(),
            })
            .collect();
        let next = answer.next_forward_token().map(str::to_owned);
        let done = page.is_empty() || next.is_none() || next == cursor.token;
        events.extend(page);
        if next.is_some() {
            cursor.token = next;
        }
        if done {
            return Ok(events);
        }
    }
}

/// The events a follower has printed recently, so that polls that overlap print none twice.
#[derive(Debug, Default)]
pub struct Seen {
    /// (timestamp, id), oldest first.
    recent: VecDeque<(i64, String)>,
    ids: BTreeSet<String>,
    newest: Option<i64>,
}

impl Seen {
    /// Where the next poll starts: `lookback_ms` before the newest event seen, so that events
    /// ingested late with an earlier time are still found; `since` before anything is seen.
    pub fn next_start(&self, since: i64, lookback_ms: i64) -> i64 {
        self.newest
            .map_or(since, |newest| (newest - lookback_ms).max(since))
    }

    /// The events of a poll not seen before, in order; remembers them, and forgets what is
    /// older than any later poll asks for (`lookback_ms` before the newest).
    pub fn fresh(&mut self, events: Vec<LogEvent>, lookback_ms: i64) -> Vec<LogEvent> {
        let mut fresh = Vec::new();
        for event in events {
            if self.ids.contains(&event.id) {
                continue;
            }
            self.ids.insert(event.id.clone());
            self.recent.push_back((event.timestamp, event.id.clone()));
            self.newest = Some(
                self.newest
                    .map_or(event.timestamp, |n| n.max(event.timestamp)),
            );
            fresh.push(event);
        }
        if let Some(newest) = self.newest {
            let horizon = newest - lookback_ms;
            // Kept in arrival order; an old event that arrived late is dropped when it reaches
            // the front.
            while let Some((timestamp, id)) = self.recent.front() {
                if *timestamp >= horizon {
                    break;
                }
                self.ids.remove(id);
                self.recent.pop_front();
            }
        }
        fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(timestamp: i64, id: &str) -> LogEvent {
        LogEvent {
            timestamp,
            stream: "ecs/app/1".into(),
            message: format!("line {id}"),
            id: id.into(),
        }
    }

    fn ids(events: &[LogEvent]) -> Vec<&str> {
        events.iter().map(|e| e.id.as_str()).collect()
    }

    #[test]
    fn overlapping_polls_print_each_event_once_including_late_ones() {
        let mut seen = Seen::default();
        assert_eq!(seen.next_start(1_000, 10_000), 1_000);
        let first = seen.fresh(vec![event(1_000, "a"), event(20_000, "b")], 10_000);
        assert_eq!(ids(&first), ["a", "b"]);
        // The next poll looks back 10 s before the newest event.
        assert_eq!(seen.next_start(1_000, 10_000), 10_000);
        // "c" was ingested late with an earlier time than "b"; "b" comes again.
        let second = seen.fresh(vec![event(15_000, "c"), event(20_000, "b")], 10_000);
        assert_eq!(ids(&second), ["c"]);
        let third = seen.fresh(
            vec![event(15_000, "c"), event(20_000, "b"), event(40_000, "d")],
            10_000,
        );
        assert_eq!(ids(&third), ["d"]);
        // What no poll can ask for again is forgotten.
        assert!(!seen.ids.contains("a") && !seen.ids.contains("b"));
        assert!(seen.ids.contains("d"));
    }
}
