//! Witnessing (C2SP tlog-witness, tlog-cosignature): both sides.
//!
//! As a witness (`cosign.rs`), custos cosigns the checkpoints of the logs
//! it is configured to witness: it keeps the latest size and root it
//! cosigned per origin, durably, and cosigns only a checkpoint signed by
//! the log's key and consistent with that one; the check and the new
//! state are one guarded commit with the `witness.cosign` entry, so two
//! racing submissions cannot roll the state back.
//!
//! As a log (`submit.rs`), custos submits each new checkpoint with its
//! consistency proof to the witnesses configured, verifies and keeps their
//! cosignatures, and serves the cosigned checkpoint. A witness that is
//! down or refuses is logged, audited (`witness.submit`) and raised as an
//! alert; a witness that has seen a different or larger tree is a fork.
//!
//! The witness sits above the trail (whose checkpoints it submits and
//! whose alerts it raises) and identity (which counts unauthenticated
//! submissions like failed sign-ins).

mod client;
mod cosign;
mod records;
mod submit;

pub use cosign::Refusal;
pub use records::CosignedNote;
pub use submit::{Submission, COSIGNED_FILE};

use super::gate::Gate;
use super::identity::Identity;
use super::trail::AuditTrail;
use crate::audit::checkpoint::NoteVerifier;
use crate::audit::cosignature::{CosignatureVerifier, Cosigner};
use crate::audit::AuditWriter;
use crate::clock::Clock;
use crate::crypto::MasterKey;
use crate::store::keys::{WITNESS_SIGNING_KEY, WITNESS_VERIFIER_KEY};
use crate::store::{Cf, KvStore, Op};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// How custos witnesses and is witnessed (`[witness]` and `[[witnesses]]`
/// in the configuration file).
#[derive(Debug, Clone)]
pub struct WitnessSettings {
    /// The logs this custos witnesses, and the name of its witness key
    /// (default `<the log's origin>/witness`).
    pub logs: Vec<WitnessedLog>,
    pub name: Option<String>,
    /// The witnesses of this log, and the bound on one submission to one
    /// (connect, send, answer).
    pub witnesses: Vec<WitnessPeer>,
    pub timeout: std::time::Duration,
}

impl Default for WitnessSettings {
    fn default() -> Self {
        WitnessSettings {
            name: None,
            logs: Vec::new(),
            witnesses: Vec::new(),
            timeout: std::time::Duration::from_secs(10),
        }
    }
}

/// A log this custos witnesses: its origin line and its note verifier key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessedLog {
    pub origin: String,
    pub key: String,
}

/// A witness this log submits its checkpoints to: its name (its verifier
/// key's), its submission prefix (`http://host:port/witness`) and its
/// cosignature verifier key (`<name>+<hex id>+<base64(0x04 || key)>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessPeer {
    pub name: String,
    pub url: String,
    pub key: String,
}

/// A witness as this log reaches it: where, and whose cosignatures count.
struct Peer {
    target: client::Target,
    verifier: CosignatureVerifier,
}

/// Both sides of witnessing: cosigning other logs, being cosigned.
pub struct Witness {
    /// As a witness: its key, and the logs witnessed, by origin.
    cosigner: Cosigner,
    logs: HashMap<String, NoteVerifier>,
    /// Counts submissions no log signed, per address, as failed sign-ins.
    identity: Arc<Identity>,
    /// As a log: the witnesses, and the bound on one submission.
    peers: Vec<Peer>,
    timeout: std::time::Duration,
    /// The log's checkpoints and alerts; who may read the cosigned one.
    trail: Arc<AuditTrail>,
    gate: Arc<Gate>,
    store: Arc<dyn KvStore>,
    audit: Arc<AuditWriter>,
    clock: Arc<dyn Clock>,
    /// The last failure per witness, so that an outage raises one alert
    /// when it starts, not one per checkpoint.
    failing: Mutex<HashMap<String, String>>,
}

impl Witness {
    pub(super) fn new(
        ports: &super::Ports,
        identity: Arc<Identity>,
        trail: Arc<AuditTrail>,
        cosigner: Cosigner,
        settings: WitnessSettings,
    ) -> anyhow::Result<Self> {
        let mut logs = HashMap::new();
        for log in &settings.logs {
            let verifier = NoteVerifier::parse(&log.key)
                .map_err(|e| anyhow::anyhow!("witness log {}: its key: {e}", log.origin))?;
            anyhow::ensure!(
                !log.origin.is_empty() && !log.origin.contains('\n') && log.origin.len() <= 256,
                "witness log origin {:?}: one line of at most 256 bytes",
                log.origin
            );
            anyhow::ensure!(logs.insert(log.origin.clone(), verifier).is_none(), "witness log {} twice", log.origin);
        }
        let mut peers: Vec<Peer> = Vec::new();
        for w in &settings.witnesses {
            let verifier =
                CosignatureVerifier::parse(&w.key).map_err(|e| anyhow::anyhow!("witness {}: its key: {e}", w.name))?;
            anyhow::ensure!(verifier.name() == w.name, "witness {}: its key is named {}", w.name, verifier.name());
            anyhow::ensure!(!peers.iter().any(|p| p.verifier.name() == w.name), "witness {} twice", w.name);
            let target = client::Target::parse(&w.url).map_err(|e| anyhow::anyhow!("witness {}: url: {e}", w.name))?;
            peers.push(Peer { target, verifier });
        }
        Ok(Witness {
            cosigner,
            logs,
            identity,
            peers,
            timeout: settings.timeout,
            trail,
            gate: ports.gate.clone(),
            store: ports.store.clone(),
            audit: ports.audit.clone(),
            clock: ports.clock.clone(),
            failing: Mutex::default(),
        })
    }

    /// The witness's cosignature verifier key, for the logs it witnesses.
    pub fn verifier_key(&self) -> String {
        self.cosigner.verifier_key()
    }

    /// Raises an alert through the trail, off the async executor.
    async fn alert(&self, rule: &str, description: String) {
        let alert = crate::policy::alerts::Alert::once(rule, "system", description, self.clock.now());
        let trail = self.trail.clone();
        let raised = tokio::task::spawn_blocking(move || trail.record_alert(&alert)).await;
        if !matches!(raised, Ok(Ok(()))) {
            tracing::error!(rule, "recording a witness alert failed");
        }
    }
}

/// Loads the witness's cosigning key, creating it on first use, under
/// `name` (default `<origin>/witness`). The seed is stored only wrapped by
/// the master key; the verifier key (which depends on the name) is written
/// beside it in the clear for `custos audit witness-key`.
pub(super) fn load_cosigner(
    store: &dyn KvStore,
    master: &MasterKey,
    origin: &str,
    name: Option<&str>,
) -> anyhow::Result<Cosigner> {
    let name = name.map_or_else(|| format!("{origin}/witness"), str::to_owned);
    let name = name.as_str();
    let seed = match store.get(Cf::Keys, WITNESS_SIGNING_KEY)? {
        Some(wrapped) => {
            let seed = master.unwrap_secret(&wrapped)?;
            let seed: [u8; 32] = seed.as_slice().try_into().map_err(|_| anyhow::anyhow!("witness key malformed"))?;
            zeroize::Zeroizing::new(seed)
        }
        None => {
            let mut seed = zeroize::Zeroizing::new([0u8; 32]);
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, seed.as_mut());
            store
                .write(&[Op::Put(Cf::Keys, WITNESS_SIGNING_KEY.to_vec(), master.wrap_secret(seed.as_ref())?)], true)?;
            seed
        }
    };
    let cosigner =
        Cosigner::from_seed(name, &seed).map_err(|_| anyhow::anyhow!("witness name {name:?}: no spaces or '+'"))?;
    let vkey = cosigner.verifier_key().into_bytes();
    if store.get(Cf::System, WITNESS_VERIFIER_KEY)?.as_deref() != Some(vkey.as_slice()) {
        store.write(&[Op::Put(Cf::System, WITNESS_VERIFIER_KEY.to_vec(), vkey)], true)?;
    }
    Ok(cosigner)
}
