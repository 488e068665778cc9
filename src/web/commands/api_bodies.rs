//! The bodies only the API takes, each with its one conversion into the
//! archive's command, as [`super`]'s: a month's figures, a bulk export, an
//! incident's affected criteria, the protection officer, a hand-over.

use crate::archive::customers::{Month, MonthFigures, NewFigures};
use crate::archive::governance::NewOfficer;
use crate::archive::registers::{AffectedCriteria, NewExport};
use crate::domain::dossier::FieldError;
use crate::domain::{DossierId, PrincipalId, RecipientId, SubjectId};
use crate::web::body::{Errors, Text};
use serde::Deserialize;
use utoipa::ToSchema;

/// `PUT /v1/dossiers/{id}/figures/{yyyy-mm}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FiguresDto {
    #[schema(minimum = 0)]
    pub orders: u64,
    /// Order amount (CNY).
    #[schema(minimum = 0, maximum = 1_000_000_000_000_000i64)]
    pub amount: f64,
    #[schema(minimum = 0)]
    pub returns: u64,
    /// Share of orders delivered on time.
    #[schema(minimum = 0, maximum = 1)]
    pub on_time_rate: Option<f64>,
}

/// The one check of a month's figures as the API takes them: the month of
/// the path (`yyyy-mm`, 2000 to 2100; whether it lies in the future is the
/// use case's) and the body's figures ([`NewFigures::shape_errors`], which
/// the import checks a sheet's row by too).
impl TryFrom<(String, FiguresDto)> for MonthFigures {
    type Error = Vec<FieldError>;
    fn try_from((month, d): (String, FiguresDto)) -> Result<Self, Self::Error> {
        let mut errors = Errors::default();
        let month = Month::parse(&month);
        if month.is_none() {
            errors.add("month", "yyyy-mm, 2000 to 2100");
        }
        let figures =
            NewFigures { orders: d.orders, amount: d.amount, returns: d.returns, on_time_rate: d.on_time_rate };
        errors.extend(figures.shape_errors());
        errors.finish(month.map(|month| MonthFigures { month, figures }))
    }
}

/// `POST /v1/exports`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewExportDto {
    #[schema(max_items = 10000)]
    pub dossiers: Option<Vec<String>>,
    #[schema(max_items = 10000)]
    pub subjects: Option<Vec<String>>,
}

/// Every id at `path/{i}` parsed, each once (sorted); an error for each
/// one malformed.
fn ids<I: Ord>(
    errors: &mut Errors,
    path: &str,
    given: &[String],
    parse: impl Fn(&str) -> Option<I>,
    what: &str,
) -> Vec<I> {
    let mut ids = Vec::new();
    for (i, s) in given.iter().enumerate() {
        match parse(s) {
            Some(id) => ids.push(id),
            None => errors.add(&format!("{path}/{i}"), what),
        }
    }
    ids.sort();
    ids.dedup();
    ids
}

/// The one check of an export's shape: well-formed ids, each once, and
/// at least one (which the use case finds, and may read, is its own).
impl TryFrom<NewExportDto> for NewExport {
    type Error = Vec<FieldError>;
    fn try_from(d: NewExportDto) -> Result<Self, Self::Error> {
        let mut errors = Errors::default();
        let (dossiers, subjects) = (d.dossiers.unwrap_or_default(), d.subjects.unwrap_or_default());
        let nothing = dossiers.is_empty() && subjects.is_empty();
        let dossiers = ids(&mut errors, "/dossiers", &dossiers, |s| DossierId::parse(s).ok(), "a dossier id (dos_...)");
        let subjects = ids(&mut errors, "/subjects", &subjects, |s| SubjectId::parse(s).ok(), "a subject id (sub_...)");
        if nothing {
            errors.add("", "name at least one dossier or person");
        }
        errors.finish(Some(NewExport { dossiers, subjects }))
    }
}

/// `POST /v1/incidents/{id}/affected`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AffectedDto {
    /// Only what this principal was shown (`prn_...`).
    #[schema(pattern = "^prn_[0-9a-z]{26}$")]
    pub actor: Option<String>,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub from: Option<String>,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub to: Option<String>,
    /// Only what was shown of these dossiers.
    #[schema(max_items = 1000)]
    pub dossiers: Option<Vec<String>>,
}

/// The one check of an incident's affected criteria: something to match,
/// a window in order, well-formed ids.
impl TryFrom<AffectedDto> for AffectedCriteria {
    type Error = Vec<FieldError>;
    fn try_from(d: AffectedDto) -> Result<Self, Self::Error> {
        let mut errors = Errors::default();
        let from = d.from.as_ref().and_then(|s| errors.time("/from", s));
        let to = d.to.as_ref().and_then(|s| errors.time("/to", s));
        if from.zip(to).is_some_and(|(from, to)| to < from) {
            errors.add("/to", "before from");
        }
        if d.actor.is_none() && d.from.is_none() && d.to.is_none() && d.dossiers.as_ref().is_none_or(Vec::is_empty) {
            errors.add("", "give an actor, a time window (from, to), dossiers, or several");
        }
        if d.actor.as_deref().is_some_and(|a| PrincipalId::parse(a).is_err() && !a.starts_with("system")) {
            errors.add("/actor", "a principal id (prn_...)");
        }
        let dossiers = d.dossiers.unwrap_or_default();
        for (i, s) in dossiers.iter().enumerate() {
            if DossierId::parse(s).is_err() {
                errors.add(&format!("/dossiers/{i}"), "a dossier id (dos_...)");
            }
        }
        errors.finish(Some(AffectedCriteria { actor: d.actor, from, to, dossiers }))
    }
}

/// `PUT /v1/officer`: the personal-information protection officer.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OfficerDto {
    /// The officer's name (sealed).
    #[schema(inline)]
    pub name: Text,
    /// How the public reaches them: the contact that is published (sealed).
    #[schema(inline)]
    pub contact: Text,
    /// ISO 8601 date.
    #[schema(format = Date)]
    pub appointed_on: String,
    /// When the name and contact were reported to the regulator (ISO 8601 date).
    #[schema(format = Date)]
    pub reported_on: Option<String>,
}

pub(super) fn iso_date(errors: &mut Errors, path: &str, s: &str) -> Option<time::Date> {
    let d = time::Date::parse(s, &time::format_description::well_known::Iso8601::DATE).ok();
    if d.is_none() {
        errors.add(path, "an ISO 8601 date (YYYY-MM-DD)");
    }
    d
}

/// The one check of an officer record's shape: its dates (whether they
/// lie in the future is the use case's).
impl TryFrom<OfficerDto> for NewOfficer {
    type Error = Vec<FieldError>;
    fn try_from(d: OfficerDto) -> Result<Self, Self::Error> {
        let mut errors = Errors::default();
        let appointed_on = iso_date(&mut errors, "/appointed_on", &d.appointed_on);
        let reported_on = d.reported_on.as_deref().map(|r| iso_date(&mut errors, "/reported_on", r));
        if let (Some(a), Some(Some(r))) = (appointed_on, reported_on) {
            if r < a {
                errors.add("/reported_on", "before the appointment");
            }
        }
        let new = appointed_on.map(|appointed_on| NewOfficer {
            name: d.name.0,
            contact: d.contact.0,
            appointed_on,
            reported_on: reported_on.flatten(),
        });
        errors.finish(new)
    }
}

/// `POST /v1/requests/{id}/handovers`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HandoverDto {
    /// The handler the person named: a recipient on the register (`rcp_...`).
    #[schema(pattern = "^rcp_[0-9a-z]{26}$")]
    pub recipient: String,
}

/// The one check of a hand-over's shape: a recipient id (whether it is on
/// the register, and in term, is the use case's).
impl TryFrom<HandoverDto> for RecipientId {
    type Error = Vec<FieldError>;
    fn try_from(d: HandoverDto) -> Result<Self, Self::Error> {
        let mut errors = Errors::default();
        let id = RecipientId::parse(&d.recipient).ok();
        if id.is_none() {
            errors.add("/recipient", "a recipient id (rcp_...)");
        }
        errors.finish(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::commands::tests::{one, refused};

    fn figures(orders: u64, amount: f64, returns: u64, on_time_rate: Option<f64>) -> FiguresDto {
        FiguresDto { orders, amount, returns, on_time_rate }
    }

    fn put(month: &str, d: FiguresDto) -> Result<MonthFigures, Vec<FieldError>> {
        MonthFigures::try_from((month.to_owned(), d))
    }

    #[test]
    fn figures_are_typed_with_their_month() {
        let m = put("2026-07", figures(10, 1234.5, 1, Some(0.97))).unwrap();
        assert_eq!(m.month.to_string(), "2026-07");
        assert_eq!((m.figures.orders, m.figures.returns, m.figures.on_time_rate), (10, 1, Some(0.97)));
        for edge in ["2000-01", "2100-12"] {
            assert_eq!(put(edge, figures(0, 0.0, 0, None)).unwrap().month.to_string(), edge);
        }
        assert!(put("2026-07", figures(3, 1e15, 3, Some(1.0))).is_ok(), "the bounds are allowed");
    }

    #[test]
    fn hostile_amounts_are_refused() {
        for amount in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.01, 1e15 + 1e3, 1e300] {
            assert_eq!(
                refused(put("2026-07", figures(1, amount, 0, None))),
                one("/amount", "a non-negative amount"),
                "{amount}"
            );
        }
    }

    #[test]
    fn more_returns_than_orders_or_a_rate_beyond_one_are_refused() {
        assert_eq!(refused(put("2026-07", figures(1, 1.0, 2, None))), one("/returns", "more returns than orders"));
        for rate in [1.01, -0.1, f64::NAN] {
            assert_eq!(
                refused(put("2026-07", figures(1, 1.0, 0, Some(rate)))),
                one("/on_time_rate", "a fraction from 0 to 1"),
                "{rate}"
            );
        }
    }

    #[test]
    fn a_malformed_month_is_refused_with_every_other_error() {
        for month in [
            "2026-13",
            "2026-00",
            "1999-12",
            "2101-01",
            "26-07",
            "2026-7",
            "2026/07",
            "2026-07-01",
            "",
            "x",
            "2026-+7",
            "+026-07",
        ] {
            assert_eq!(refused(put(month, figures(1, 1.0, 0, None))), one("month", "yyyy-mm, 2000 to 2100"), "{month}");
        }
        let all = refused(put("2026-13", figures(1, -1.0, 2, Some(2.0))));
        let paths: Vec<&str> = all.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths, ["month", "/amount", "/returns", "/on_time_rate"]);
    }

    fn export(dossiers: Option<Vec<String>>, subjects: Option<Vec<String>>) -> Result<NewExport, Vec<FieldError>> {
        NewExport::try_from(NewExportDto { dossiers, subjects })
    }

    #[test]
    fn an_export_names_each_id_once_typed() {
        let (d1, d2, s1) = (DossierId::generate(), DossierId::generate(), SubjectId::generate());
        let given = vec![d2.to_string(), d1.to_string(), d2.to_string()];
        let x = export(Some(given), Some(vec![s1.to_string(), s1.to_string()])).unwrap();
        let mut want = vec![d1, d2];
        want.sort();
        assert_eq!(x.dossiers, want, "sorted, each once");
        assert_eq!(x.subjects, vec![s1]);
        assert!(export(None, Some(vec![SubjectId::generate().to_string()])).unwrap().dossiers.is_empty());
    }

    #[test]
    fn an_empty_export_is_refused() {
        for (dossiers, subjects) in
            [(None, None), (Some(vec![]), None), (None, Some(vec![])), (Some(vec![]), Some(vec![]))]
        {
            assert_eq!(refused(export(dossiers, subjects)), one("", "name at least one dossier or person"));
        }
    }

    #[test]
    fn an_export_of_malformed_ids_names_each_one() {
        let ok = DossierId::generate().to_string();
        let got = refused(export(
            Some(vec![ok.clone(), "13912345688".into(), SubjectId::generate().to_string()]),
            Some(vec!["张伟".into(), ok]),
        ));
        assert_eq!(
            got,
            [
                ("/dossiers/1", "a dossier id (dos_...)"),
                ("/dossiers/2", "a dossier id (dos_...)"),
                ("/subjects/0", "a subject id (sub_...)"),
                ("/subjects/1", "a subject id (sub_...)"),
            ]
            .map(|(p, m)| (p.to_owned(), m.to_owned()))
        );
        assert!(got.iter().all(|(_, m)| !m.contains("张伟") && !m.contains("139")), "no value is quoted");
        // Malformed ids only: not also "name at least one".
        assert_eq!(refused(export(Some(vec!["dos_".into()]), None)), one("/dossiers/0", "a dossier id (dos_...)"));
    }

    #[test]
    fn affected_criteria_name_well_formed_ids() {
        let criteria = |actor: Option<&str>, dossiers: Option<Vec<String>>| {
            AffectedCriteria::try_from(AffectedDto { actor: actor.map(Into::into), from: None, to: None, dossiers })
        };
        assert_eq!(refused(criteria(Some("张伟"), None)), one("/actor", "a principal id (prn_...)"));
        assert!(criteria(Some("system"), None).is_ok());
        assert!(criteria(Some(PrincipalId::generate().as_str()), None).is_ok());
        let ok = DossierId::generate().to_string();
        assert_eq!(
            refused(criteria(None, Some(vec![ok.clone(), "13912345688".into()]))),
            one("/dossiers/1", "a dossier id (dos_...)")
        );
        assert_eq!(criteria(None, Some(vec![ok.clone()])).unwrap().dossiers, vec![ok]);
        assert_eq!(
            refused(criteria(None, Some(vec![]))),
            one("", "give an actor, a time window (from, to), dossiers, or several")
        );
    }

    fn officer(appointed_on: &str, reported_on: Option<&str>) -> Result<NewOfficer, Vec<FieldError>> {
        NewOfficer::try_from(OfficerDto {
            name: Text("王敏".into()),
            contact: Text("pipo@example.com".into()),
            appointed_on: appointed_on.into(),
            reported_on: reported_on.map(Into::into),
        })
    }

    #[test]
    fn an_officer_record_is_dated_and_reported_after_the_appointment() {
        let o = officer("2026-11-02", Some("2026-11-20")).unwrap();
        assert_eq!(
            (o.appointed_on.to_string(), o.reported_on.map(|d| d.to_string())),
            ("2026-11-02".into(), Some("2026-11-20".into()))
        );
        assert!(officer("2026-11-02", None).unwrap().reported_on.is_none());
        let paths =
            |r: Result<NewOfficer, Vec<FieldError>>| r.unwrap_err().into_iter().map(|e| e.path).collect::<Vec<_>>();
        assert_eq!(paths(officer("2026-13-02", None)), ["/appointed_on"]);
        assert_eq!(paths(officer("2026-11-02", Some("11/20/2026"))), ["/reported_on"]);
        assert_eq!(paths(officer("2026-11-02", Some("2026-11-01"))), ["/reported_on"]);
    }
}

/// `POST /v1/subjects/{sid}/restriction/notice`: how and when the person
/// was told that their restriction is about to be lifted (GDPR Art. 18(3)).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LiftNoticeDto {
    #[schema(inline)]
    pub channel: crate::archive::NoticeChannel,
    /// When the person was told (RFC 3339).
    #[schema(format = DateTime)]
    pub notified_at: String,
    /// The letter's or message's reference; sealed under the person's key.
    #[serde(default)]
    #[schema(
        min_length = 1,
        pattern = "[^\\u0000-\\u0020\\u007F-\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]",
        max_length = 200
    )]
    pub reference: Option<String>,
}

impl TryFrom<LiftNoticeDto> for crate::archive::NewLiftNotice {
    type Error = Vec<FieldError>;
    fn try_from(d: LiftNoticeDto) -> Result<Self, Self::Error> {
        let mut errors = Errors::default();
        let notified_at = errors.time("/notified_at", &d.notified_at);
        let max = crate::archive::MAX_NOTICE_REFERENCE;
        let reference = d.reference.map(|r| errors.visible("/reference", r, max));
        errors.finish(notified_at.map(|notified_at| crate::archive::NewLiftNotice {
            channel: d.channel,
            notified_at,
            reference,
        }))
    }
}
