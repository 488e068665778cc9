//! Aggregate reports (`GET /v1/reports/summary?by=`): per grade, region,
//! industry, stage or owner, the number of dossiers, their order figures
//! over the grading window, the review backlog, the share of stale
//! dossiers, interactions by kind and the average satisfaction. No personal
//! value: a cell counting fewer dossiers than `min_report_count`
//! (grading.toml) is suppressed, its figures left out.

use super::figures::{month_of, months_before};
use super::report_rows::Row;
use crate::archive::customers::Customers;
use crate::archive::interaction_records::InteractionKind;
use crate::archive::{ArchiveError, RequestCtx};
use crate::audit::{Action, Commit, Outcome};
use crate::domain::dossier::{Grade, Status};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReportBy {
    Grade,
    Region,
    Industry,
    Stage,
    Owner,
}

/// One group of the report.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct ReportRow {
    pub group: String,
    /// Fewer dossiers than the minimum: only the group is shown.
    pub suppressed: bool,
    pub dossiers: Option<u64>,
    pub orders: Option<u64>,
    pub amount: Option<f64>,
    pub returns: Option<u64>,
    /// Dossiers past their review date.
    pub reviews_overdue: Option<u64>,
    /// Share of dossiers unchanged for longer than the stale interval.
    pub stale_share: Option<f64>,
    pub interactions: Option<BTreeMap<String, u64>>,
    pub average_satisfaction: Option<f64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Report {
    #[schema(inline)]
    pub by: ReportBy,
    /// The months the order figures cover.
    pub window: String,
    pub min_count: u32,
    /// Whose dossiers: `all`, `own` (sales) or `region` (service).
    pub scope: String,
    #[serde(with = "time::serde::rfc3339")]
    pub generated_at: time::OffsetDateTime,
    pub rows: Vec<ReportRow>,
}

#[derive(Default)]
#[cfg_attr(test, derive(Debug, PartialEq))]
struct Acc {
    dossiers: u64,
    orders: u64,
    amount: f64,
    returns: u64,
    overdue: u64,
    stale: u64,
    kinds: BTreeMap<String, u64>,
    satisfaction: (u64, u64),
}

/// The groups whose figures are left out: every group of fewer than `min`
/// dossiers, and then (complementary suppression) the smallest others until
/// the left-out groups hold at least `min` dossiers together. Every
/// grouping covers the same dossiers, so without the second step a small
/// group's figures are the difference between one grouping's total and
/// the shown groups of another.
fn suppressed_groups(groups: &BTreeMap<String, Acc>, min: u64) -> std::collections::BTreeSet<String> {
    let mut hidden: std::collections::BTreeSet<String> =
        groups.iter().filter(|(_, a)| a.dossiers < min).map(|(g, _)| g.clone()).collect();
    let mut total: u64 = groups.iter().filter(|(g, _)| hidden.contains(*g)).map(|(_, a)| a.dossiers).sum();
    let mut shown: Vec<(&String, u64)> =
        groups.iter().filter(|(g, _)| !hidden.contains(*g)).map(|(g, a)| (g, a.dossiers)).collect();
    shown.sort_by_key(|(g, n)| (*n, (*g).clone()));
    let mut next = shown.into_iter();
    while total > 0 && total < min {
        let Some((g, n)) = next.next() else { break };
        hidden.insert(g.clone());
        total += n;
    }
    hidden
}

impl Report {
    /// The report as CSV: one row per group, interactions as one column per kind.
    pub fn to_csv(&self) -> Result<String, ArchiveError> {
        let mut w = crate::sheet::CsvOut::default();
        let kinds: Vec<String> = InteractionKind::ALL.iter().map(crate::archive::wire_name).collect();
        let mut header: Vec<String> = [
            "group",
            "suppressed",
            "dossiers",
            "orders",
            "amount",
            "returns",
            "reviews_overdue",
            "stale_share",
            "average_satisfaction",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        header.extend(kinds.iter().map(|k| format!("interactions_{k}")));
        let csv_err = |e: csv::Error| ArchiveError::Internal(e.into());
        w.write_record(&header).map_err(csv_err)?;
        let opt = |v: Option<String>| v.unwrap_or_default();
        for r in &self.rows {
            let mut rec = vec![
                r.group.clone(),
                r.suppressed.to_string(),
                opt(r.dossiers.map(|v| v.to_string())),
                opt(r.orders.map(|v| v.to_string())),
                opt(r.amount.map(|v| format!("{v:.2}"))),
                opt(r.returns.map(|v| v.to_string())),
                opt(r.reviews_overdue.map(|v| v.to_string())),
                opt(r.stale_share.map(|v| format!("{v:.4}"))),
                opt(r.average_satisfaction.map(|v| format!("{v:.2}"))),
            ];
            for k in &kinds {
                rec.push(opt(r.interactions.as_ref().map(|m| m.get(k).copied().unwrap_or(0).to_string())));
            }
            w.write_record(&rec).map_err(csv_err)?;
        }
        let bytes = w.into_inner().map_err(|e| ArchiveError::Internal(anyhow::anyhow!(e)))?;
        String::from_utf8(bytes).map_err(|e| ArchiveError::Internal(e.into()))
    }
}

/// A row's group under `by`, without copying it: a grade or a stage is
/// named once per group at the end, a text group is the row's own.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Group<'r> {
    Grade(Grade),
    Stage(Status),
    Text(&'r str),
}

impl Group<'_> {
    fn of(by: ReportBy, row: &Row) -> Group<'_> {
        match by {
            ReportBy::Grade => Group::Grade(row.grade),
            ReportBy::Stage => Group::Stage(row.status),
            ReportBy::Region => Group::Text(&row.region),
            ReportBy::Owner => Group::Text(row.owner.as_str()),
            // Its industry, read when the rows were asked for with it.
            ReportBy::Industry => Group::Text(row.industry.as_deref().unwrap_or("(none)")),
        }
    }

    fn name(self) -> String {
        match self {
            Group::Grade(g) => crate::archive::wire_name(&g),
            Group::Stage(s) => crate::archive::wire_name(&s),
            Group::Text(t) => t.to_owned(),
        }
    }
}

/// Every row in the caller's scope summed by group, as of `now`: orders
/// over the months `first..=last`, reviews overdue, dossiers stale.
fn sum_rows(
    rows: &BTreeMap<String, Row>,
    by: ReportBy,
    mine: impl Fn(&Row) -> bool,
    (first, last): ((i32, u8), (i32, u8)),
    now: time::OffsetDateTime,
    stale_after: time::Duration,
) -> BTreeMap<String, Acc> {
    // Each group's sums are taken in key order (the rows'), as a scan of
    // every dossier took them.
    let mut groups: std::collections::HashMap<Group<'_>, Acc> = std::collections::HashMap::new();
    for row in rows.values().filter(|r| mine(r)) {
        let acc = groups.entry(Group::of(by, row)).or_default();
        acc.dossiers += 1;
        for (orders, amount, returns) in row.figures.range(first..=last).map(|(_, f)| f) {
            acc.orders += orders;
            acc.amount += amount;
            acc.returns += returns;
        }
        if row.review_due.is_some_and(|due| due < now) {
            acc.overdue += 1;
        }
        if now - row.updated_at > stale_after {
            acc.stale += 1;
        }
        for (kind, n) in &row.kinds {
            *acc.kinds.entry(kind.clone()).or_default() += n;
        }
        acc.satisfaction.0 += row.satisfaction.0;
        acc.satisfaction.1 += row.satisfaction.1;
    }
    groups.into_iter().map(|(g, acc)| (g.name(), acc)).collect()
}

impl Customers {
    /// `GET /v1/reports/summary?by=`: compliance and finance see every
    /// dossier, service its region, sales its own.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn report_summary(&self, ctx: &RequestCtx, by: ReportBy) -> Result<Report, ArchiveError> {
        const ACTION: Action = Action::ReportSummary;
        let p = &ctx.principal;
        let scope = self
            .gate
            .require_customer_scope(
                ctx,
                ACTION,
                "reports are for compliance, finance, service (its region) and sales (its own customers)",
            )
            .await?;
        let now = self.clock.now();
        let rules = &self.policy.grading;
        let this = month_of(now);
        let (first, last) = (months_before(this, rules.window_months), months_before(this, 1));
        let mine = |r: &Row| scope.covers_owned(p, &r.owner, &r.region);
        let groups = super::report_rows::with_rows(self, by == ReportBy::Industry, |rows| {
            sum_rows(rows, by, mine, (first, last), now, self.stale_after)
        })?;
        let min = u64::from(rules.min_report_count);
        let hidden = suppressed_groups(&groups, min);
        let rows: Vec<ReportRow> = groups
            .into_iter()
            .map(|(group, a)| {
                if hidden.contains(&group) {
                    return ReportRow { group, suppressed: true, ..ReportRow::default() };
                }
                ReportRow {
                    group,
                    suppressed: false,
                    dossiers: Some(a.dossiers),
                    orders: Some(a.orders),
                    amount: Some((a.amount * 100.0).round() / 100.0),
                    returns: Some(a.returns),
                    reviews_overdue: Some(a.overdue),
                    stale_share: Some(a.stale as f64 / a.dossiers as f64),
                    interactions: Some(a.kinds),
                    average_satisfaction: (a.satisfaction.1 > 0)
                        .then(|| a.satisfaction.0 as f64 / a.satisfaction.1 as f64),
                }
            })
            .collect();
        let suppressed = rows.iter().filter(|r| r.suppressed).count();
        let reason = format!(
            "by {}, scope {}: {} group(s), {suppressed} suppressed (< {min})",
            crate::archive::wire_name(&by),
            scope.as_str(),
            rows.len()
        );
        self.audit.commit(Commit::entry(ctx.entry(ACTION, "", Outcome::Allow, reason))).await?;
        Ok(Report {
            by,
            window: format!("{:04}-{:02} to {:04}-{:02}", first.0, first.1, last.0, last.1),
            min_count: rules.min_report_count,
            scope: scope.as_str().into(),
            generated_at: now,
            rows,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::customers::{InteractionKind, Month, MonthFigures, NewFigures, NewInteraction};
    use crate::archive::customers::{NewReview, ReviewOutcome};
    use crate::archive::records::DossierMeta;
    use crate::archive::testkit::{caller, sales_dossier};
    use crate::archive::Archive;
    use crate::clock::ManualClock;
    use crate::domain::Role;
    use std::sync::Arc;

    /// The report's sums as they were taken before the kept rows: every
    /// dossier's records read, in key order.
    fn scan(c: &Customers, by: ReportBy, mine: impl Fn(&DossierMeta) -> bool) -> BTreeMap<String, Acc> {
        let now = c.clock.now();
        let this = month_of(now);
        let (first, last) = (months_before(this, c.policy.grading.window_months), months_before(this, 1));
        let overdue: std::collections::BTreeSet<String> =
            c.reviews_due(|_| true).unwrap().into_iter().filter(|d| d.overdue).map(|d| d.dossier).collect();
        let mut groups: BTreeMap<String, Acc> = BTreeMap::new();
        for meta in c.dossiers.all_dossiers().unwrap().into_iter().filter(|m| m.destroyed.is_none() && mine(m)) {
            let group = match by {
                ReportBy::Grade => crate::archive::wire_name(&meta.grade),
                ReportBy::Region => meta.region.clone(),
                ReportBy::Stage => crate::archive::wire_name(&meta.status),
                ReportBy::Owner => meta.owner.to_string(),
                ReportBy::Industry => c
                    .vault
                    .open_version_split(&meta.id, meta.current_version)
                    .unwrap()
                    .business
                    .customer
                    .industry
                    .unwrap_or_else(|| "(none)".into()),
            };
            let acc = groups.entry(group).or_default();
            acc.dossiers += 1;
            for (_, f) in c.current_figures(&meta.id).unwrap().range(first..=last) {
                acc.orders += f.orders;
                acc.amount += f.amount;
                acc.returns += f.returns;
            }
            acc.overdue += u64::from(overdue.contains(meta.id.as_str()));
            acc.stale += u64::from(now - meta.updated_at > c.stale_after);
            for i in crate::archive::interaction_records::interactions_of(c.store.as_ref(), &meta.id).unwrap() {
                *acc.kinds.entry(crate::archive::wire_name(&i.kind)).or_default() += 1;
                if let Some(s) = i.satisfaction {
                    acc.satisfaction.0 += u64::from(s);
                    acc.satisfaction.1 += 1;
                }
            }
        }
        groups
    }

    /// The kept rows' sums against the scan's, for every grouping and for
    /// the whole archive and one owner's scope.
    fn same_as_scan(c: &Customers, owner: &crate::domain::PrincipalId) {
        let now = c.clock.now();
        let this = month_of(now);
        let window = (months_before(this, c.policy.grading.window_months), months_before(this, 1));
        for by in [ReportBy::Grade, ReportBy::Region, ReportBy::Industry, ReportBy::Stage, ReportBy::Owner] {
            let kept = super::super::report_rows::with_rows(c, by == ReportBy::Industry, |rows| {
                sum_rows(rows, by, |_| true, window, now, c.stale_after)
            })
            .unwrap();
            assert_eq!(kept, scan(c, by, |_| true), "by {by:?}");
            let own = super::super::report_rows::with_rows(c, false, |rows| {
                sum_rows(rows, by, |r| &r.owner == owner, window, now, c.stale_after)
            })
            .unwrap();
            assert_eq!(own, scan(c, by, |m| &m.owner == owner), "by {by:?}, one owner");
        }
    }

    #[tokio::test]
    async fn the_kept_rows_sum_to_what_a_scan_of_every_dossier_sums_after_each_change() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(crate::store::RocksStore::open(&dir.path().join("db")).unwrap());
        let clock = Arc::new(ManualClock::new(time::macros::datetime!(2026-12-01 09:00 UTC)));
        let a = Archive::open(
            store.clone(),
            crate::crypto::MasterKey::generate(),
            crate::policy::PolicySet::embedded().unwrap(),
            clock.clone(),
            Arc::new(crate::metrics::Metrics::default()),
            crate::archive::Settings { key_cache: 64, ..Default::default() },
        )
        .unwrap();
        let c = a.customers();
        let (sales, first) = sales_dossier(&a).await;
        sales_dossier(&a).await; // another owner's dossier
        let owner = sales.principal.id.clone();
        let mut mine = vec![first.id.to_string()];
        for _ in 0..3 {
            let body = crate::archive::testkit::body(owner.as_str());
            mine.push(a.dossiers().create_dossier(&sales, &body).await.unwrap().id.to_string());
        }
        same_as_scan(c, &owner);

        // Figures in and out of the window, an interaction, a review.
        for (i, month) in ["2026-11", "2026-10", "2024-01"].iter().enumerate() {
            let figures = NewFigures { orders: 10 + i as u64, amount: 1234.567, returns: 1, on_time_rate: Some(0.9) };
            let m = MonthFigures { month: Month::parse(month).unwrap(), figures };
            c.put_figures(&sales, &mine[i], m).await.unwrap();
            same_as_scan(c, &owner);
        }
        let call = NewInteraction {
            kind: InteractionKind::Complaint,
            at: a.now(),
            summary: "投诉".into(),
            contact: None,
            satisfaction: Some(2),
            follow_up: None,
        };
        c.add_interaction(&sales, &mine[1], call).await.unwrap();
        same_as_scan(c, &owner);
        let review = NewReview { outcome: ReviewOutcome::Confirmed, note: "ok".into(), contact: None };
        c.add_review(&sales, &mine[2], review).await.unwrap();
        same_as_scan(c, &owner);

        // The rows are kept, not read again: an industry read once stays
        // on the rows a change did not touch.
        let m = MonthFigures {
            month: Month::parse("2026-09").unwrap(),
            figures: NewFigures { orders: 1, amount: 2.0, returns: 0, on_time_rate: None },
        };
        c.put_figures(&sales, &mine[0], m).await.unwrap();
        let (read, all) = super::super::report_rows::with_rows(c, false, |rows| {
            (rows.values().filter(|r| r.industry.is_some()).count(), rows.len())
        })
        .unwrap();
        assert_eq!(all, mine.len() + 1);
        assert!(read >= all - 1, "only the changed dossier's row was read again ({read} of {all} kept)");
        assert_eq!(c.report_rows.full_reads(), 1, "every change was read from the store's log");
        same_as_scan(c, &owner);

        // Time passes: the window, the overdue reviews and the stale
        // dossiers move without a write.
        clock.advance(time::Duration::days(400));
        same_as_scan(c, &owner);
        // A new dossier after the time went by.
        let body = crate::archive::testkit::body(owner.as_str());
        a.dossiers().create_dossier(&sales, &body).await.unwrap();
        same_as_scan(c, &owner);

        // Through the use case: the sums after suppression, audited.
        let compliance = caller(&a, &[Role::Compliance], "legal_compliance").await;
        let r = c.report_summary(&compliance, ReportBy::Owner).await.unwrap();
        let scanned = scan(c, ReportBy::Owner, |_| true);
        let hidden = suppressed_groups(&scanned, u64::from(r.min_count));
        assert_eq!(r.rows.len(), scanned.len());
        for row in &r.rows {
            assert_eq!(row.suppressed, hidden.contains(&row.group));
            if !row.suppressed {
                assert_eq!(row.dossiers, Some(scanned[&row.group].dossiers));
            }
        }
    }

    fn groups(sizes: &[(&str, u64)]) -> BTreeMap<String, Acc> {
        sizes.iter().map(|(g, n)| ((*g).to_owned(), Acc { dossiers: *n, ..Acc::default() })).collect()
    }

    #[test]
    fn a_small_group_is_never_the_difference_of_two_groupings() {
        // One small group: the next smallest goes with it.
        let hidden = suppressed_groups(&groups(&[("华东", 40), ("华南", 2), ("华北", 7), ("西南", 12)]), 5);
        assert_eq!(hidden.into_iter().collect::<Vec<_>>(), ["华北", "华南"]);
        // Small groups that hold enough together: nothing more hidden.
        let hidden = suppressed_groups(&groups(&[("A", 40), ("B", 3), ("C", 3)]), 5);
        assert_eq!(hidden.len(), 2);
        // Nothing small: nothing hidden.
        assert!(suppressed_groups(&groups(&[("A", 40), ("B", 9)]), 5).is_empty());
        // Everything small: everything hidden.
        assert_eq!(suppressed_groups(&groups(&[("A", 1), ("B", 1)]), 5).len(), 2);
    }
}
