//! The one writer of a run's state file. The engine records each resource through it as soon as
//! the resource is made or gone (it is the engine's [`Journal`]); the workflows record outputs
//! and the image override they deployed. Every change is written at once, atomically.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};

use anyhow::Result;

use crate::contract::StepId;
use crate::engine::Journal;
use crate::state::{ImageOverride, ResourceRecord, State, StateFile};

/// A state file and the state it holds.
pub struct StateStore {
    file: StateFile,
    state: Mutex<State>,
}

impl StateStore {
    pub fn new(file: StateFile, state: State) -> Self {
        Self {
            file,
            state: Mutex::new(state),
        }
    }

    pub fn path(&self) -> &Path {
        self.file.path()
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
            self.file.save(&state)?;
        }
        Ok(())
    }

    /// Caches what overrides the configured image now (`None`: the configured image runs), as
    /// the revision the service runs records it; writes the state when that changed.
    pub fn record_image_override(&self, image_override: Option<ImageOverride>) -> Result<()> {
        let mut state = self.lock();
        if state.image_override != image_override {
            state.image_override = image_override;
            self.file.save(&state)?;
        }
        Ok(())
    }

    /// Deletes the state file once nothing is left in it; otherwise keeps what is left.
    pub fn forget_all(&self) -> Result<()> {
        let mut state = self.lock();
        state.outputs.clear();
        if state.resources.is_empty() {
            self.file.remove()?;
        } else {
            self.file.save(&state)?;
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
            self.file.save(&state)?;
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
