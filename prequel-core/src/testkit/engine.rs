//! One way to build the engine a test drives: the real facade on a SQLite file in a folder the
//! test owns (or a store the test gives), file secrets beside it, a [`ManualClock`] (or the
//! system clock, for benchmarks) and the [`RecordingProvisioner`].
//!
//! ```no_run
//! # fn main() {
//! let dir = std::env::temp_dir().join("an-example");
//! let engine = prequel_core::testkit::engine::in_dir(&dir)
//!     .challenges(&["python", "sql"])
//!     .build();
//! let _ = engine.prequel.now();
//! # }
//! ```
//!
//! Several engines on the same folder are several processes sharing one database (replicas).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, TimeZone as _, Utc};

use crate::clock::{Clock, ManualClock, SystemClock};
use crate::domain::ChallengeId;
use crate::secrets::file::FileSecrets;
use crate::store::OperationStore;
use crate::store::sqlite::SqliteStore;
use crate::testkit::provisioner::RecordingProvisioner;
use crate::{Prequel, PrequelConfig};

/// Where the tests' clocks start: Monday 2026-11-23 10:00 UTC (11:00 in Berlin).
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0)
        .single()
        .unwrap_or_default()
}

/// A test engine and the parts a test looks at.
#[derive(Debug, Clone)]
pub struct Engine {
    /// The facade.
    pub prequel: Prequel,
    /// Its store (the SQLite file `prequel.sqlite3` in the folder).
    pub store: Arc<dyn OperationStore>,
    /// Its clock.
    pub clock: ManualClock,
    /// Its provisioner, which records what it was asked.
    pub provisioner: RecordingProvisioner,
}

/// Builds an [`Engine`]; see the module documentation for the defaults.
#[derive(Debug)]
pub struct EngineBuilder {
    dir: PathBuf,
    store: Option<Arc<dyn OperationStore>>,
    challenges: Vec<ChallengeId>,
    clock: Option<ManualClock>,
    provisioner: Option<RecordingProvisioner>,
    config: PrequelConfig,
    secrets: String,
}

/// An engine on the SQLite file `prequel.sqlite3` and the secrets folder `secrets` in `dir`,
/// with the clock at [`t0`] and the one challenge `python`.
pub fn in_dir(dir: &Path) -> EngineBuilder {
    EngineBuilder {
        dir: dir.to_owned(),
        store: None,
        challenges: vec![ChallengeId::parse("python").expect("a valid id")],
        clock: None,
        provisioner: None,
        config: PrequelConfig::default(),
        secrets: "secrets".to_owned(),
    }
}

impl EngineBuilder {
    /// The challenges one can ask for.
    pub fn challenges(mut self, ids: &[&str]) -> Self {
        self.challenges = ids
            .iter()
            .map(|id| ChallengeId::parse(id).expect("a valid challenge id"))
            .collect();
        self
    }

    /// A store of the test's instead of the folder's SQLite file: another backend, or another
    /// handle on a store replicas share.
    pub fn store(mut self, store: Arc<dyn OperationStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// A clock of the test's (shared by replicas).
    pub fn clock(mut self, clock: ManualClock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// A provisioner of the test's (shared by replicas, so they see one set of instances).
    pub fn provisioner(mut self, provisioner: RecordingProvisioner) -> Self {
        self.provisioner = Some(provisioner);
        self
    }

    /// The facade's settings.
    pub fn config(mut self, config: PrequelConfig) -> Self {
        self.config = config;
        self
    }

    /// Another name for the secrets folder (two "hosts" on one database).
    pub fn secrets_folder(mut self, name: &str) -> Self {
        self.secrets = name.to_owned();
        self
    }

    /// The engine. Panics when the folder cannot hold a database (a test setup error).
    pub fn build(self) -> Engine {
        let clock = self.clock.clone().unwrap_or_else(|| ManualClock::new(t0()));
        let provisioner = self
            .provisioner
            .clone()
            .unwrap_or_else(|| RecordingProvisioner::new(Arc::new(clock.clone())));
        let (prequel, store) = self.facade(Arc::new(clock.clone()), provisioner.clone());
        Engine {
            prequel,
            store,
            clock,
            provisioner,
        }
    }

    /// The facade on the system clock, with a recording provisioner on it: for benchmarks,
    /// which measure wall time (a clock set with [`clock`](Self::clock) is ignored).
    pub fn build_on_system_clock(self) -> Prequel {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let provisioner = self
            .provisioner
            .clone()
            .unwrap_or_else(|| RecordingProvisioner::new(clock.clone()));
        self.facade(clock, provisioner).0
    }

    fn facade(
        self,
        clock: Arc<dyn Clock>,
        provisioner: RecordingProvisioner,
    ) -> (Prequel, Arc<dyn OperationStore>) {
        let store = self.store.unwrap_or_else(|| {
            Arc::new(SqliteStore::open(&self.dir.join("prequel.sqlite3")).expect("open the store"))
        });
        let prequel = Prequel::builder()
            .store(store.clone())
            .provisioner(Arc::new(provisioner))
            .secrets(Arc::new(
                FileSecrets::open(self.dir.join(&self.secrets)).expect("open the secrets"),
            ))
            .clock(clock)
            .challenges(self.challenges)
            .config(self.config)
            .build()
            .expect("build the facade");
        (prequel, store)
    }
}
