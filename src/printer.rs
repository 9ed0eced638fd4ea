//! All output goes through here: data on stdout, everything for people (progress, step lines,
//! warnings) on stderr.
//!
//! Keeping the two apart is what makes `$(deployer outputs alb_dns_name)` and `--json` safe to
//! use from scripts: nothing but the answer ever reaches stdout.

use std::io::{self, IsTerminal, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// Where and how to write.
#[derive(Debug, Clone)]
pub struct Printer {
    /// Whether stderr is a terminal: spinners there, plain timestamped lines otherwise.
    interactive: bool,
    quiet: bool,
}

impl Printer {
    pub fn new(quiet: bool) -> Self {
        Self {
            interactive: io::stderr().is_terminal(),
            quiet,
        }
    }

    /// Whether a person can be asked a question on this terminal.
    pub fn can_prompt(&self) -> bool {
        io::stdin().is_terminal() && io::stderr().is_terminal()
    }

    /// Data: the answer of the command, on stdout.
    pub fn data(&self, text: &str) {
        let mut out = io::stdout().lock();
        // A closed pipe (`deployer outputs | head -0`) is not an error worth a panic.
        let _ = writeln!(out, "{text}");
    }

    /// A line for people, on stderr; suppressed by `--quiet`.
    pub fn info(&self, text: &str) {
        if !self.quiet {
            eprintln!("{text}");
        }
    }

    /// A warning, on stderr, even when quiet.
    pub fn warn(&self, text: &str) {
        eprintln!("warning: {text}");
    }

    /// Asks a yes/no question on the terminal; anything but "yes" is no.
    pub fn confirm(&self, question: &str) -> io::Result<bool> {
        eprint!("{question} Only 'yes' will be accepted: ");
        io::stderr().flush()?;
        let mut answer = String::new();
        io::stdin().read_line(&mut answer)?;
        Ok(answer.trim() == "yes")
    }

    /// Shows that something is in progress: a spinner on a terminal, one line otherwise.
    pub fn progress(&self, message: &str) -> Progress {
        if self.quiet {
            return Progress { bar: None };
        }
        if self.interactive {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                    .expect("valid template"),
            );
            bar.set_message(message.to_owned());
            bar.enable_steady_tick(Duration::from_millis(120));
            Progress { bar: Some(bar) }
        } else {
            eprintln!("{message}...");
            Progress { bar: None }
        }
    }
}

/// A running progress indicator; it disappears when dropped.
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// Prints a line above the spinner (or plainly), keeping the spinner at the bottom.
    pub fn line(&self, printer: &Printer, text: &str) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => printer.info(text),
        }
    }

    pub fn set_message(&self, message: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(message.to_owned());
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
