//! Updating a dossier: a new version based on the one named by `If-Match`,
//! keeping what the updater may not see; and appending a version (shared
//! with close).

use super::{failure_reason, Created, ReadPlan};
use crate::archive::dossiers::ContactCollection;
use crate::archive::dossiers::Dossiers;
use crate::archive::records::{DossierMeta, WORKED_ON};
use crate::archive::vault::SegmentName;
use crate::archive::Denial;
use crate::archive::{ArchiveError, RequestCtx};
use crate::audit::{Action, Commit, Guard, Outcome};
use crate::crypto::KeyRef;
use crate::domain::dossier::{Customer, Dossier, FieldError, SplitDossier};
use crate::domain::{Classification, DossierId, RequestId, SubjectId};
use crate::policy::access::{Change, DossierFacts, FieldOutcome};
use crate::store::{keys, Cf};

use serde_json::Value;
use time::OffsetDateTime;

/// Who writes a version: a request's caller, or custos itself (a job).
#[derive(Clone, Copy)]
pub(crate) enum Author<'a> {
    Request(&'a RequestCtx),
    System,
}

impl Author<'_> {
    fn actor(&self) -> &str {
        match self {
            Author::Request(ctx) => ctx.principal.id.as_str(),
            Author::System => "system",
        }
    }
}

/// A version to append after `meta`'s current one.
pub(crate) struct NextVersion {
    pub action: Action,
    pub meta: DossierMeta,
    /// The stored metadata it is based on (the commit's guard).
    pub meta_raw: Vec<u8>,
    pub split: SplitDossier,
    /// When the customer relationship ended (close).
    pub ended_at: Option<OffsetDateTime>,
    pub reason: String,
    /// Written with the version (the contacts' collection records).
    pub extra: Vec<crate::store::Op>,
}

/// The rectification request a change carries out (PIPL Art. 46; GDPR
/// Art. 16): the change must correct or complete that person's personal
/// fields, and its audit entry names the request.
#[derive(Debug, Clone)]
pub struct Rectifying {
    pub request: RequestId,
    pub subject: SubjectId,
}

impl Dossiers {
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn update_dossier(
        &self,
        ctx: &RequestCtx,
        id: &str,
        expected: u32,
        body: &Value,
    ) -> Result<Created, ArchiveError> {
        self.update_dossier_for(ctx, id, expected, body, None).await
    }

    /// [`Self::update_dossier`], carrying out a rectification request when
    /// `rectifying` names one (checked by the request register first).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn update_dossier_for(
        &self,
        ctx: &RequestCtx,
        id: &str,
        expected: u32,
        body: &Value,
        rectifying: Option<&Rectifying>,
    ) -> Result<Created, ArchiveError> {
        const ACTION: Action = Action::DossierUpdate;
        let purpose = self.gate.purpose(ctx, ACTION, id).await?;
        let (did, meta, meta_raw) = self.find_meta(ctx, ACTION, id).await?;
        let dossier = match self.parse_body(body) {
            Ok(d) => d,
            Err(err) => {
                let e = self.dossier_entry(
                    ctx,
                    ACTION,
                    id,
                    &meta.subjects,
                    Outcome::Error,
                    "document does not conform to the template",
                );
                return self.gate.refuse(e, err).await;
            }
        };
        let (before, after) = (meta.facts(), DossierFacts::of(&dossier));
        let decision =
            self.policy.access.decide_change(&ctx.principal, Change::Update, purpose.as_str(), id, before, after);
        let plan = self.read_plan(ctx, purpose, &meta, &meta.subjects)?;
        let denial = match decision.allowed {
            false => Some(Denial::Policy(decision.basis.clone())),
            true if plan.outcome(Classification::Internal, None) != FieldOutcome::Clear => {
                Some(Denial::FieldsNotClear(decision.basis.clone()))
            }
            true => None,
        };
        if let Some(denial) = denial {
            let e = self.dossier_entry(ctx, ACTION, id, &meta.subjects, Outcome::Deny, "");
            return self.gate.deny(e, denial, None).await;
        }
        let named: Vec<Option<SubjectId>> = dossier.contacts.iter().map(|c| c.subject_id.clone()).collect();
        self.authorize_links(ctx, (ACTION, id), purpose.as_str(), &named, &meta.subjects).await?;
        let mismatch = ArchiveError::VersionMismatch { expected, current: meta.current_version };
        if expected != meta.current_version {
            let e = self.dossier_entry(ctx, ACTION, id, &meta.subjects, Outcome::Error, "version mismatch");
            return self.gate.refuse(e, mismatch).await;
        }
        let mut dossier = dossier;
        // The current version, opened once: what the update keeps and compares.
        let before = self.vault.open_version_split(&did, meta.current_version)?;
        if let Err(errors) = keep_customer_kind(&mut dossier, &before.business.customer) {
            let why = "the customer's kind or proprietor cannot change";
            let e = self.dossier_entry(ctx, ACTION, id, &meta.subjects, Outcome::Error, why);
            return self.gate.refuse(e, ArchiveError::Invalid(errors)).await;
        }
        if meta.grade_stand.contested.is_some() && dossier.grade != meta.grade {
            // As for an override: the person's contest is decided by a review.
            let why = "the grade is contested: a review decides it (POST /v1/dossiers/{id}/grade/review)";
            let e = self.dossier_entry(ctx, ACTION, id, &meta.subjects, Outcome::Error, why);
            return self.gate.refuse(e, ArchiveError::Conflict(why.into())).await;
        }
        let given = ContactCollection::of(&dossier);
        let mut split = SplitDossier::split(dossier);
        let kept = self.keep_hidden(&plan, &before, &mut split)?;
        let version = meta.current_version + 1;
        let written = |sid: &SubjectId| {
            let names = [SegmentName::SubjectSensitive(sid.clone()), SegmentName::Proprietor(sid.clone())];
            !names.iter().any(|n| kept.contains(&n.to_string()))
        };
        let collected = match self.collect_contacts(
            &ctx.principal.id,
            (&did, version),
            &split,
            &given,
            &meta.subjects,
            &written,
        )? {
            Ok(c) => c,
            Err(errors) => {
                let why = "a contact's notice or sensitive-data basis is missing";
                let e = self.dossier_entry(ctx, ACTION, id, &meta.subjects, Outcome::Error, why);
                return self.gate.refuse(e, ArchiveError::Invalid(errors)).await;
            }
        };
        let mut reason = match kept.is_empty() {
            true => format!("{}; version {version}", decision.reason()),
            false => format!(
                "{}; version {version}; kept from version {}: {}",
                decision.reason(),
                version - 1,
                kept.join(", ")
            ),
        };
        if !collected.reason.is_empty() {
            reason = format!("{reason}; {}", collected.reason);
        }
        let corrected = corrected_people(&before, &split)?;
        if let Some(r) = rectifying {
            if !corrected.iter().any(|(s, _)| s == &r.subject) {
                let why =
                    format!("request {} is not carried out: the change corrects no field of {}", r.request, r.subject);
                let e = self.dossier_entry(ctx, ACTION, id, &meta.subjects, Outcome::Error, why);
                let err = FieldError {
                    path: "/contacts".into(),
                    message: format!("corrects no personal field of the person request {} is for", r.request),
                };
                return self.gate.refuse(e, ArchiveError::Invalid(vec![err])).await;
            }
            reason = format!("{reason}; rectifies request {} of {}", r.request, r.subject);
        }
        let mut meta = meta;
        if !corrected.is_empty() {
            let names: Vec<String> = corrected.iter().map(|(s, f)| format!("{s} ({})", f.join(", "))).collect();
            reason = format!("{reason}; personal fields corrected: {}", names.join(", "));
        }
        for (sid, fields) in corrected {
            let of_person = meta.corrected.entry(sid).or_default();
            of_person.extend(fields.into_iter().map(|f| (f, version)));
        }
        let next = NextVersion { action: ACTION, meta, meta_raw, split, ended_at: None, reason, extra: collected.ops };
        self.append_version(Author::Request(ctx), &did, next).await
    }

    /// Seals `split` as the next version and commits it with its audit entry,
    /// guarded against a concurrent change (412). `ended_at` records the end
    /// of the customer relationship.
    pub(crate) async fn append_version(
        &self,
        author: Author<'_>,
        did: &DossierId,
        next: NextVersion,
    ) -> Result<Created, ArchiveError> {
        let NextVersion { action, meta, meta_raw, split, ended_at, reason, extra } = next;
        let id = did.as_str();
        let expected = meta.current_version;
        let version = meta.current_version + 1;
        let sealed = hex::decode(&meta.head_hash)
            .ok()
            .and_then(|h| <[u8; 32]>::try_from(h).ok())
            .ok_or_else(|| ArchiveError::Internal(anyhow::anyhow!("stored head hash is malformed")))
            .and_then(|prev| {
                let keys = self.keys_for(did, &split, false)?;
                let s = self.vault.seal_version(did, version, prev, author.actor(), &split, &keys)?;
                Ok((keys, s))
            });
        let (keys, (bytes, hash)) = match sealed {
            Ok(v) => v,
            Err(err) => {
                let e = self.author_entry(author, action, id, &meta.subjects, Outcome::Error, failure_reason(&err));
                return self.gate.refuse(e, err).await;
            }
        };
        let now = self.clock.now();
        let version_subjects = split.subjects();
        let mut all_subjects = meta.subjects.clone();
        for s in &version_subjects {
            if !all_subjects.contains(s) {
                all_subjects.push(s.clone());
            }
        }
        let new_meta = DossierMeta {
            current_version: version,
            head_hash: hex::encode(hash),
            owner: split.business.owner.clone(),
            region: split.business.customer.region.clone(),
            grade: split.business.grade,
            status: split.business.status,
            updated_at: now,
            subjects: all_subjects.clone(),
            ended_at: ended_at.or(meta.ended_at),
            grade_change: match split.business.grade == meta.grade {
                true => meta.grade_change,
                false => Some(crate::archive::records::GradeMove { from: meta.grade, at: now }),
            },
            ..meta
        };
        let mut ops = self.version_ops(keys.ops, bytes, &new_meta, &version_subjects)?;
        if let Author::Request(ctx) = author {
            ops.push(WORKED_ON.mark(&ctx.principal.id, did));
        }
        ops.extend(extra);
        let entry = self.author_entry(author, action, id, &all_subjects, Outcome::Allow, reason);
        let conflict = self.author_entry(
            author,
            action,
            id,
            &all_subjects,
            Outcome::Error,
            "version mismatch (concurrent update)",
        );
        let guard = Guard { cf: Cf::Dossiers, key: keys::dossier(did), expected: Some(meta_raw) };
        match self
            .audit
            .commit(Commit { ops, entries: vec![entry], guard: Some(guard), on_conflict: vec![conflict] })
            .await
        {
            Ok(_) => {}
            Err(crate::audit::CommitError::Conflict) => {
                let current = self.meta(did)?.map_or(0, |(m, _)| m.current_version);
                return Err(ArchiveError::VersionMismatch { expected, current });
            }
            Err(e) => return Err(e.into()),
        }
        let fresh = crate::archive::vault::created_subjects(&keys.created);
        for (r, k) in keys.created {
            self.keyring.remember(r, k);
        }
        self.index.index_version(did, version, &split, &fresh);
        Ok(Created { id: did.clone(), version, hash: hex::encode(hash), subjects: version_subjects })
    }

    fn author_entry(
        &self,
        author: Author<'_>,
        action: Action,
        id: &str,
        subjects: &[SubjectId],
        outcome: Outcome,
        reason: impl Into<String>,
    ) -> crate::audit::EntryBody {
        match author {
            Author::Request(ctx) => self.dossier_entry(ctx, action, id, subjects, outcome, reason),
            Author::System => crate::audit::EntryBody {
                outcome,
                subjects: subjects.iter().map(ToString::to_string).collect(),
                ..crate::audit::EntryBody::system(action, id, reason)
            },
        }
    }

    /// Fields the updater may not see in clear are not theirs to change: the
    /// new version keeps the current values (`before`, the current version
    /// opened), so a masked `***` read back and sent again never overwrites
    /// the real value, and a withheld field left out is not dropped. Returns
    /// the segments kept.
    fn keep_hidden(
        &self,
        plan: &ReadPlan,
        before: &SplitDossier,
        split: &mut SplitDossier,
    ) -> Result<Vec<String>, ArchiveError> {
        let mut kept = Vec::new();
        if let Some(sid) = split.proprietor_id().cloned() {
            let finance_hidden = plan.outcome(Classification::Sensitive, Some(&sid)) != FieldOutcome::Clear;
            let identity_hidden = plan.outcome(Classification::Personal, Some(&sid)) != FieldOutcome::Clear;
            if !self.keyring.exists(&KeyRef::Subject(sid.clone()))? {
                // Erased: the erased stay erased, whatever the body says of
                // them; the rest of the dossier can still change.
                split.proprietor = None;
                kept.push(format!("nothing of the erased proprietor {sid}"));
            } else if finance_hidden || identity_hidden {
                let part = split.proprietor.get_or_insert_with(Default::default);
                if finance_hidden {
                    let old = before.proprietor.clone().unwrap_or_default();
                    (part.credit_rating, part.payment_terms, part.bank_account) =
                        (old.credit_rating, old.payment_terms, old.bank_account);
                    kept.push(SegmentName::Proprietor(sid).to_string());
                }
                if identity_hidden {
                    let [name, code, address] = before.customer_identity().map(|(_, v)| v.map(str::to_owned));
                    (part.name, part.credit_code, part.address) = (Some(name.unwrap_or_default()), code, address);
                    kept.push("customer name, credit code, address".into());
                }
            }
        } else {
            if plan.outcome(Classification::Confidential, None) != FieldOutcome::Clear {
                split.confidential = before.confidential.clone();
                kept.push(SegmentName::Confidential.to_string());
            }
            if plan.outcome(Classification::Sensitive, None) != FieldOutcome::Clear {
                split.sensitive = before.sensitive.clone();
                kept.push(SegmentName::Sensitive.to_string());
            }
        }
        for (sid, personal, sensitive) in split.contacts.iter_mut() {
            // A person new to this dossier (or erased from it): the caller provides them.
            let Some((_, was, was_sensitive)) = before.contacts.iter().find(|c| &c.0 == sid) else { continue };
            if plan.outcome(Classification::Personal, Some(sid)) != FieldOutcome::Clear {
                *personal = was.clone();
                kept.push(SegmentName::Personal(sid.clone()).to_string());
            }
            if plan.outcome(Classification::Sensitive, Some(sid)) != FieldOutcome::Clear {
                *sensitive = was_sensitive.clone();
                kept.push(SegmentName::SubjectSensitive(sid.clone()).to_string());
            }
        }
        Ok(kept)
    }
}

/// The names of the fields that differ between two contacts' personal
/// fields (one given, one left out, or another value).
fn changed_fields(
    before: &crate::domain::dossier::PersonalFields,
    after: &crate::domain::dossier::PersonalFields,
) -> Result<Vec<String>, ArchiveError> {
    let as_map = |p| match serde_json::to_value(p) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Ok(serde_json::Map::new()),
        Err(e) => Err(ArchiveError::Internal(e.into())),
    };
    let (b, a) = (as_map(before)?, as_map(after)?);
    let mut names: Vec<String> = b.keys().chain(a.keys()).filter(|k| b.get(*k) != a.get(*k)).cloned().collect();
    names.sort_unstable();
    names.dedup();
    Ok(names)
}

/// The people named in both the current version (`before`, opened) and
/// `split` whose personal fields `split` changes (a correction or
/// completion; PIPL Art. 46, GDPR Art. 16), with the names of those fields.
/// An erased person is not in `before`, so their fields are not compared.
fn corrected_people(
    before: &SplitDossier,
    split: &SplitDossier,
) -> Result<Vec<(SubjectId, Vec<String>)>, ArchiveError> {
    let mut out = Vec::new();
    // Who a natural-person customer is: their personal fields too (an
    // erased proprietor's read empty on both sides).
    if let Some(sid) = split.proprietor_id() {
        let after = split.customer_identity();
        let fields: Vec<String> =
            before.customer_identity().iter().zip(after).filter(|(b, a)| b.1 != a.1).map(|(b, _)| b.0.into()).collect();
        if !fields.is_empty() {
            out.push((sid.clone(), fields));
        }
    }
    for (sid, personal, _) in &split.contacts {
        let Some((_, was, _)) = before.contacts.iter().find(|c| &c.0 == sid) else { continue };
        let fields = changed_fields(was, personal)?;
        if !fields.is_empty() {
            out.push((sid.clone(), fields));
        }
    }
    Ok(out)
}

/// An update keeps the customer's kind and its proprietor: a legal person
/// does not become a person (nor back), and the person stays the same one
/// (a new one would orphan what the first one's key seals). The stored
/// proprietor is filled in when the body leaves it out.
fn keep_customer_kind(d: &mut Dossier, stored: &Customer) -> Result<(), Vec<FieldError>> {
    let mut errors = Vec::new();
    if d.customer.kind != stored.kind {
        errors.push(FieldError {
            path: "/customer/kind".into(),
            message: format!("is {}: a customer's kind does not change (open a new dossier)", stored.kind.as_str()),
        });
    }
    match (&d.customer.subject_id, &stored.subject_id) {
        (None, kept) => d.customer.subject_id = kept.clone(),
        (Some(given), Some(kept)) if given == kept => {}
        (Some(_), _) => errors.push(FieldError {
            path: "/customer/subject_id".into(),
            message: "is not this customer's proprietor".into(),
        }),
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}
