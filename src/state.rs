//! The local state file: what this tool created for one environment, and the outputs of the last
//! apply.
//!
//! AWS stays the source of truth — every run reads the live resources by their deterministic
//! names — so the state is small: the IDs and ARNs of what we made (which is also our record of
//! ownership) and the outputs, so that `deployer outputs` needs neither network nor credentials.
//! It is written atomically after every completed step, so a crash at any point leaves a file that
//! parses and lists every resource that was created.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// The schema version written by this build. Older versions are migrated on read; newer ones are
/// refused, so an old binary never silently drops what a newer one recorded.
pub const SCHEMA_VERSION: u32 = 1;

/// Everything recorded about one environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    pub version: u32,
    pub project: String,
    pub environment: String,
    pub region: String,
    /// Seconds since the Unix epoch of the last write.
    #[serde(default)]
    pub updated_at: u64,
    /// Resources this tool created or adopted, by step key (`load_balancer`, `service`, ...).
    #[serde(default)]
    pub resources: BTreeMap<String, ResourceRecord>,
    /// The stack's outputs (`alb_dns_name`, ...), as of the last apply.
    #[serde(default)]
    pub outputs: BTreeMap<String, String>,
    /// A cache of the image deployed with `--image-tag`/`--image` (or by a rollback). AWS
    /// records it on the revision (its tags); this stands in only for a revision registered
    /// before revisions were tagged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_override: Option<ImageOverride>,
    /// The revisions an older deployer recorded for `rollback`, which now reads them from ECS:
    /// read (so that such a file still loads) and no longer written.
    #[serde(default, skip_serializing)]
    pub task_definition_history: Vec<String>,
    /// Resources being replaced, by step key: the old one stays until what used it has moved
    /// to its replacement, which may take more than one run (an interrupted replacement is
    /// finished by the next `apply`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub retiring: BTreeMap<String, ResourceRecord>,
}

/// An image deployed instead of the configured one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageOverride {
    pub image: String,
    /// The configured image when the override was made. Once the configuration names another
    /// image, that one wins again.
    pub configured: String,
}

/// The identity of one resource. Never holds secrets: only IDs, ARNs and names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceRecord {
    /// The ID AWS gave the resource, or its name where the name is its ID.
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// Parts this tool added to the resource that cost a call to find again (the execution
    /// role's inline policy), so that they are looked for even once the configuration no longer
    /// asks for them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<String>,
    /// Taken over from another tool (`deployer import`): ours by this record, but still carrying
    /// that tool's tags until the next `apply` puts this stack's on (which records it anew,
    /// without this mark).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub imported: bool,
}

impl ResourceRecord {
    pub fn new(id: impl Into<String>, arn: Option<String>) -> Self {
        Self {
            id: id.into(),
            arn,
            parts: Vec::new(),
            imported: false,
        }
    }
}

impl State {
    pub fn new(project: &str, environment: &str, region: &str) -> Self {
        Self {
            version: SCHEMA_VERSION,
            project: project.to_owned(),
            environment: environment.to_owned(),
            region: region.to_owned(),
            updated_at: 0,
            resources: BTreeMap::new(),
            outputs: BTreeMap::new(),
            image_override: None,
            task_definition_history: Vec::new(),
            retiring: BTreeMap::new(),
        }
    }
}

/// Why the state file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    // The I/O errors are fields, not `source`s: the message already says them, and a cause chain
    // printed on one line would say them twice.
    #[error("cannot read state file {}: {error}", path.display())]
    Read { path: PathBuf, error: io::Error },
    #[error("state file {} is not valid: {message}; fix or move it aside (AWS is unchanged, and `deployer apply` finds the resources again by name)", path.display())]
    Corrupt { path: PathBuf, message: String },
    #[error("state file {} has schema version {found}, newer than the {SCHEMA_VERSION} this deployer understands; upgrade deployer", path.display())]
    TooNew { path: PathBuf, found: u32 },
    #[error("state file {} belongs to {found}, not {expected}", path.display())]
    WrongEnvironment {
        path: PathBuf,
        found: String,
        expected: String,
    },
    #[error("cannot write state file {}: {error}", path.display())]
    Write { path: PathBuf, error: io::Error },
}

/// The state file of one environment: `<dir>/<environment>.json`.
#[derive(Debug, Clone)]
pub struct StateFile {
    path: PathBuf,
}

impl StateFile {
    pub fn new(dir: &Path, environment: &str) -> Self {
        Self {
            path: dir.join(format!("{environment}.json")),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the state; `Ok(None)` when there is no file yet.
    pub fn load(&self) -> Result<Option<State>, StateError> {
        let text = match fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(error) => {
                return Err(StateError::Read {
                    path: self.path.clone(),
                    error,
                })
            }
        };
        parse(&text, &self.path).map(Some)
    }

    /// Reads the state and checks that it belongs to this project and environment.
    pub fn load_for(&self, project: &str, environment: &str) -> Result<Option<State>, StateError> {
        let state = self.load()?;
        if let Some(state) = &state {
            check_owner(state, &self.path, project, environment)?;
        }
        Ok(state)
    }

    /// Writes the state atomically: a temporary file `.<environment>.json.tmpXXXXXX` in the same
    /// directory, flushed to disk, then renamed over the old one. Readers see the old file or the
    /// new one, never half of either. The directory is made private to the user (0700, tightened
    /// if it exists looser) and the file is 0600, whatever the umask.
    ///
    /// Errors: [`StateError::Write`] when the directory or the file cannot be written.
    pub fn save(&self, state: &State) -> Result<(), StateError> {
        let write_err = |error| StateError::Write {
            path: self.path.clone(),
            error,
        };
        let dir = self.path.parent().unwrap_or(Path::new("."));
        create_private_dir(dir).map_err(write_err)?;
        let json = to_json(state).map_err(|e| write_err(io::Error::other(e)))?;
        let mut file = tempfile::Builder::new()
            .prefix(&self.temp_prefix())
            .rand_bytes(TEMP_RANDOM_CHARS)
            .tempfile_in(dir)
            .map_err(write_err)?;
        // tempfile creates the file with mode 0600; made so explicitly, whatever the umask.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            file.as_file()
                .set_permissions(fs::Permissions::from_mode(0o600))
                .map_err(write_err)?;
        }
        file.write_all(&json).map_err(write_err)?;
        file.as_file().sync_all().map_err(write_err)?;
        file.persist(&self.path).map_err(|e| write_err(e.error))?;
        Ok(())
    }

    /// The prefix of this file's temporary files: `.<environment>.json.tmp`.
    fn temp_prefix(&self) -> String {
        let name = self
            .path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        format!(".{name}.tmp")
    }

    /// Removes the temporary files that a write of this state file left when its process was
    /// killed (`.<environment>.json.tmpXXXXXX`), and those of older versions (`.tmpXXXXXX`, which
    /// any environment's write may have made) once they are an hour old. Only to be called while
    /// holding the environment's lock: only the holder writes the state, so none of its temporary
    /// files is in use then. Best effort: a file that cannot be removed is left (and logged).
    pub fn remove_stale_temp_files(&self) {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let ours = temp_files(dir, &self.temp_prefix());
        let legacy = temp_files(dir, ".tmp").into_iter().filter(|path| {
            fs::metadata(path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|modified| modified.elapsed().ok())
                .is_some_and(|age| age >= LEGACY_TEMP_AGE)
        });
        for path in ours.into_iter().chain(legacy) {
            match fs::remove_file(&path) {
                Ok(()) => tracing::debug!("removed {}, left by a killed run", path.display()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => tracing::warn!("cannot remove {}: {e}", path.display()),
            }
        }
    }

    /// Removes the state file, after a destroy has removed everything it listed.
    pub fn remove(&self) -> Result<(), StateError> {
        match fs::remove_file(&self.path) {
            Err(error) if error.kind() != io::ErrorKind::NotFound => Err(StateError::Write {
                path: self.path.clone(),
                error,
            }),
            _ => Ok(()),
        }
    }
}

/// Reads a state document; `origin` (a path or URL) names it in errors.
///
/// Errors: [`StateError::Corrupt`] for what is not a state, [`StateError::TooNew`] for a newer
/// schema.
pub fn parse(text: &str, origin: &Path) -> Result<State, StateError> {
    // Read the version on its own first, so that a newer schema is reported as such rather
    // than as an unknown field.
    #[derive(Deserialize)]
    struct Version {
        version: u32,
    }
    let corrupt = |e: serde_json::Error| StateError::Corrupt {
        path: origin.to_owned(),
        message: e.to_string(),
    };
    let Version { version } = serde_json::from_str(text).map_err(corrupt)?;
    if version > SCHEMA_VERSION {
        return Err(StateError::TooNew {
            path: origin.to_owned(),
            found: version,
        });
    }
    serde_json::from_str(text).map_err(corrupt)
}

/// [`parse`], and checks that the state belongs to `project`'s `environment`
/// ([`StateError::WrongEnvironment`] otherwise).
pub fn parse_for(
    text: &str,
    origin: &Path,
    project: &str,
    environment: &str,
) -> Result<State, StateError> {
    let state = parse(text, origin)?;
    check_owner(&state, origin, project, environment)?;
    Ok(state)
}

fn check_owner(
    state: &State,
    origin: &Path,
    project: &str,
    environment: &str,
) -> Result<(), StateError> {
    if state.project != project || state.environment != environment {
        return Err(StateError::WrongEnvironment {
            path: origin.to_owned(),
            found: format!("{}-{}", state.project, state.environment),
            expected: format!("{project}-{environment}"),
        });
    }
    Ok(())
}

/// The document a state is written as: pretty JSON ending in a newline, with this build's schema
/// version and the time of the write.
pub fn to_json(state: &State) -> Result<Vec<u8>, serde_json::Error> {
    let mut state = state.clone();
    state.version = SCHEMA_VERSION;
    state.updated_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut json = serde_json::to_vec_pretty(&state)?;
    json.push(b'\n');
    Ok(json)
}

/// How many random characters follow the prefix of a temporary file's name.
const TEMP_RANDOM_CHARS: usize = 6;

/// Age from which a temporary file of an older version (`.tmpXXXXXX`, not tied to one
/// environment) counts as left by a killed run: a write takes milliseconds.
const LEGACY_TEMP_AGE: Duration = Duration::from_secs(3600);

/// The temporary files in `dir` whose names are `prefix` followed by exactly
/// [`TEMP_RANDOM_CHARS`] letters or digits (what `tempfile` makes); none when `dir` cannot be read.
pub(crate) fn temp_files(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    }) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter(|entry| {
            let name = entry.file_name();
            let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(prefix)) else {
                return false;
            };
            rest.len() == TEMP_RANDOM_CHARS
                && rest.chars().all(|c| c.is_ascii_alphanumeric())
                && entry.file_type().is_ok_and(|t| t.is_file())
        })
        .map(|entry| entry.path())
        .collect()
}

/// Creates `dir` (and missing parents) with mode 0700, or tightens an existing `dir` to 0700 when
/// group or others have any access to it. Errors are the file system's (for instance, a
/// directory owned by another user cannot be tightened).
pub(crate) fn create_private_dir(dir: &Path) -> io::Result<()> {
    if dir.as_os_str().is_empty() {
        return Ok(());
    }
    if let Ok(metadata) = fs::metadata(dir) {
        if metadata.is_dir() {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = metadata.permissions().mode();
                // A shared directory (sticky and open to all, like /tmp) is other people's too:
                // tightening it would lock them out, and keeping state in it is not private.
                if mode & 0o1002 == 0o1002 {
                    return Err(io::Error::new(
                        io::ErrorKind::PermissionDenied,
                        format!(
                            "{} is a shared directory (mode {:o}); name a directory of this \
                             user's own for the state, like .deployer",
                            dir.display(),
                            mode & 0o7777
                        ),
                    ));
                }
                if mode & 0o077 != 0 {
                    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
                }
            }
            return Ok(());
        }
        // Not a directory: creating it below fails and says so.
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)?;
    // The mode given to mkdir is reduced by the umask, but 0700 keeps nothing the umask could
    // open up; set it anyway, for a umask that removed the owner's own bits.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn a_shared_directory_is_refused_not_tightened() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let shared = dir.path().join("shared");
        fs::create_dir(&shared).unwrap();
        fs::set_permissions(&shared, fs::Permissions::from_mode(0o1777)).unwrap();
        let err = create_private_dir(&shared).unwrap_err();
        assert!(err.to_string().contains("shared directory"), "{err}");
        let mode = fs::metadata(&shared).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o1777, "left as it was");
    }

    fn sample() -> State {
        let mut state = State::new("simhill", "dev", "eu-central-1");
        state.resources.insert(
            "load_balancer".into(),
            ResourceRecord {
                id: "simhill-dev-alb".into(),
                arn: Some(
                    "arn:aws:elasticloadbalancing:eu-central-1:1:loadbalancer/app/x/1".into(),
                ),
                parts: Vec::new(),
                imported: false,
            },
        );
        state
            .outputs
            .insert("alb_dns_name".into(), "x.elb.amazonaws.com".into());
        state
    }

    #[test]
    fn round_trips_and_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::new(&dir.path().join(".deployer"), "dev");
        assert_eq!(file.load().unwrap(), None);
        file.save(&sample()).unwrap();
        let loaded = file.load().unwrap().unwrap();
        assert_eq!(loaded.resources, sample().resources);
        assert_eq!(loaded.outputs, sample().outputs);
        assert!(loaded.updated_at > 0);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(file.path()), 0o600);
            assert_eq!(mode(file.path().parent().unwrap()), 0o700);
        }
        // No temporary files are left beside it.
        let entries = fs::read_dir(file.path().parent().unwrap()).unwrap().count();
        assert_eq!(entries, 1);
    }

    #[cfg(unix)]
    #[test]
    fn an_existing_looser_directory_is_tightened() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let state_dir = dir.path().join(".deployer");
        fs::create_dir(&state_dir).unwrap();
        fs::set_permissions(&state_dir, fs::Permissions::from_mode(0o755)).unwrap();
        StateFile::new(&state_dir, "dev").save(&sample()).unwrap();
        let mode = fs::metadata(&state_dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }

    #[test]
    fn only_stale_temporary_files_of_the_environment_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::new(dir.path(), "dev");
        let write = |name: &str| {
            let path = dir.path().join(name);
            fs::write(&path, "{").unwrap();
            path
        };
        let ours = write(".dev.json.tmpAbC123");
        let old_legacy = write(".tmpAbC123");
        fs::File::options()
            .write(true)
            .open(&old_legacy)
            .unwrap()
            .set_modified(SystemTime::now() - 2 * LEGACY_TEMP_AGE)
            .unwrap();
        let kept = [
            write(".tmpXyZ789"),
            write(".prod.json.tmpAbC123"),
            write(".dev.json.tmpAbC1234"),
            write(".dev.json.tmp"),
            write("dev.json.tmpAbC123"),
        ];
        file.remove_stale_temp_files();
        assert!(!ours.exists());
        assert!(!old_legacy.exists());
        for path in &kept {
            assert!(path.exists(), "{} was removed", path.display());
        }
    }

    #[test]
    fn corrupt_file_is_reported_with_its_path_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::new(dir.path(), "dev");
        fs::write(file.path(), "{ not json").unwrap();
        let err = file.load().unwrap_err();
        assert!(matches!(err, StateError::Corrupt { .. }));
        assert!(err.to_string().contains(&file.path().display().to_string()));
        assert_eq!(fs::read_to_string(file.path()).unwrap(), "{ not json");
    }

    #[test]
    fn an_older_files_revision_history_is_read_and_not_written_again() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::new(dir.path(), "dev");
        let mut old = serde_json::to_value(sample()).unwrap();
        old["task_definition_history"] = serde_json::json!(["td:1", "td:2"]);
        fs::write(file.path(), old.to_string()).unwrap();
        let state = file.load().unwrap().unwrap();
        assert_eq!(state.task_definition_history, ["td:1", "td:2"]);
        file.save(&state).unwrap();
        let text = fs::read_to_string(file.path()).unwrap();
        assert!(!text.contains("task_definition_history"), "{text}");
    }

    #[test]
    fn newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::new(dir.path(), "dev");
        fs::write(file.path(), r#"{"version": 99, "something_new": true}"#).unwrap();
        assert!(matches!(
            file.load().unwrap_err(),
            StateError::TooNew { found: 99, .. }
        ));
    }

    #[test]
    fn state_of_another_environment_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::new(dir.path(), "dev");
        file.save(&sample()).unwrap();
        let err = file.load_for("simhill", "prod").unwrap_err();
        assert!(matches!(err, StateError::WrongEnvironment { .. }));
    }
}
