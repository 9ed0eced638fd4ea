//! The one writer of a run's state file. The engine records each resource through it as soon as
//! the resource is made or gone (it is the engine's [`Journal`]); the workflows record outputs
//! and the image override they deployed. Every change is written at once, atomically, to the
//! environment's [`Backend`] (a local file, or an S3 object that is only replaced while it is the
//! version this run read).

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use anyhow::Result;

use super::backend::{Backend, ChangedMeanwhile, Revision};
use crate::contract::StepId;
use crate::engine::Journal;
use crate::state::{ImageOverride, ResourceRecord, State};

/// Where the state is kept, the version last read or written there, and the state it holds.
pub struct StateStore {
    backend: Backend,
    revision: Mutex<Revision>,
    /// Set once a write was refused because another run changed the state: every later write
    /// fails the same way at once, without asking S3 again.
    refused: Mutex<Option<ChangedMeanwhile>>,
    state: Mutex<State>,
}

impl StateStore {
    /// `revision` is what [`Backend::load`] gave back with `state`.
    pub fn new(backend: Backend, revision: Revision, state: State) -> Self {
        Self {
            backend,
            revision: Mutex::new(revision),
            refused: Mutex::new(None),
            state: Mutex::new(state),
        }
    }

    /// Where the state is: a file path or an `s3://` URL.
    pub fn location(&self) -> String {
        self.backend.location()
    }

    /// Writes `state` over the version this run knows.
    fn save(&self, state: &State) -> Result<()> {
        self.guarded(|revision| self.backend.save(state, revision))
    }

    /// Runs a write of the backend, unless one was refused before (then fails the same way), and
    /// remembers a refusal.
    fn guarded(&self, write: impl FnOnce(&mut Revision) -> Result<()>) -> Result<()> {
        let mut refused = self.refused.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(error) = refused.as_ref() {
            return Err(error.clone().into());
        }
        let mut revision = self.revision.lock().unwrap_or_else(PoisonError::into_inner);
        let result = write(&mut revision);
        if let Some(error) = result
            .as_ref()
            .err()
            .and_then(|e| e.downcast_ref::<ChangedMeanwhile>())
        {
            *refused = Some(error.clone());
        }
        result
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A copy of the state as it is now.
    pub fn snapshot(&self) -> State {
        self.lock().clone()
    }

    /// Replaces the outputs and writes the state when they changed.
    pub fn save_outputs(&self, outputs: BTreeMap<String, String>) -> Result<()> {
        let mut state = self.lock();
        if state.outputs != outputs {
            state.outputs = outputs;
            self.save(&state)?;
        }
        Ok(())
    }

    /// Caches what overrides the configured image now (`None`: the configured image runs), as
    /// the revision the service runs records it; writes the state when that changed.
    pub fn record_image_override(&self, image_override: Option<ImageOverride>) -> Result<()> {
        let mut state = self.lock();
        if state.image_override != image_override {
            state.image_override = image_override;
            self.save(&state)?;
        }
        Ok(())
    }

    /// Writes `state` in place of the whole state (`import`, which records a stack taken over).
    pub fn replace(&self, state: State) -> Result<()> {
        let mut current = self.lock();
        *current = state;
        self.save(&current)
    }

    /// Removes the state, whatever it holds (an `import` that was not accepted takes back the
    /// state it wrote).
    pub fn remove(&self) -> Result<()> {
        let mut state = self.lock();
        self.guarded(|revision| self.backend.remove(revision))?;
        state.resources.clear();
        state.outputs.clear();
        Ok(())
    }

    /// Deletes the state file once nothing is left in it; otherwise keeps what is left.
    pub fn forget_all(&self) -> Result<()> {
        let mut state = self.lock();
        state.outputs.clear();
        if state.resources.is_empty() {
            self.guarded(|revision| self.backend.remove(revision))?;
        } else {
            self.save(&state)?;
        }
        Ok(())
    }
}

impl StateStore {
    /// Sets (or with `None` removes) `key` in one of the state's maps of records, and writes the
    /// state when that changed it.
    fn put(
        &self,
        map: fn(&mut State) -> &mut BTreeMap<String, ResourceRecord>,
        key: &str,
        record: Option<ResourceRecord>,
    ) -> Result<()> {
        let mut state = self.lock();
        let records = map(&mut state);
        let changed = match record {
            Some(record) => records.insert(key.to_owned(), record.clone()) != Some(record),
            None => records.remove(key).is_some(),
        };
        if changed {
            self.save(&state)?;
        }
        Ok(())
    }
}

impl Journal for StateStore {
    fn record(&self, step: StepId, record: Option<ResourceRecord>) -> Result<()> {
        self.put(|state| &mut state.resources, step.key(), record)
    }

    fn retire(&self, step: StepId, record: Option<ResourceRecord>) -> Result<()> {
        self.put(|state| &mut state.retiring, step.key(), record)
    }
}
