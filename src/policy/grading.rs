//! `policies/grading.toml`: the A/B/C grading rules over a customer's
//! figures, and the review cycle of each grade. Pure: the inputs are
//! computed by `archive::customers`, the decision and its explanation here.

use super::retention::Period;
use crate::domain::dossier::Grade;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use toml::Spanned;

/// What a grade is decided on (no personal value: business figures and the
/// company's credit rating).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GradeInputs {
    /// Orders in the window.
    pub orders: u64,
    /// Months of the window with at least one order.
    pub active_months: u32,
    /// Order amount in the window (CNY).
    pub amount: f64,
    /// Whole years since the dossier was opened.
    pub years: u32,
    /// The company's credit rating, when recorded.
    pub credit: Option<String>,
    /// Returns / orders in the window (0 without orders).
    pub return_rate: f64,
}

/// One condition of a rule, checked.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Check {
    pub condition: String,
    pub required: String,
    pub actual: String,
    pub holds: bool,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RuleOutcome {
    pub grade: String,
    pub note: String,
    pub matched: bool,
    pub checks: Vec<Check>,
}

/// A grade with why.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Grading {
    #[schema(value_type = String)]
    pub grade: Grade,
    /// The rule that decided (`default` when none matched).
    pub rule: String,
    pub rules: Vec<RuleOutcome>,
    /// SHA-256 of grading.toml.
    pub rules_sha256: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    grade: Spanned<Grade>,
    #[serde(default)]
    note: String,
    min_orders: Option<u64>,
    min_active_months: Option<u32>,
    min_amount: Option<f64>,
    min_years: Option<u32>,
    credit: Option<Vec<String>>,
    max_return_rate: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReview {
    #[serde(rename = "A")]
    a: Spanned<String>,
    #[serde(rename = "B")]
    b: Spanned<String>,
    #[serde(rename = "C")]
    c: Spanned<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGrading {
    window_months: Spanned<u32>,
    default: Grade,
    min_report_count: Option<u32>,
    rule: Vec<RawRule>,
    review: RawReview,
}

#[derive(Debug, Clone)]
pub struct GradingRules {
    pub window_months: u32,
    pub default: Grade,
    pub min_report_count: u32,
    rules: Vec<RawRule>,
    review: [Period; 3],
    pub sha256: String,
}

fn grade_name(g: Grade) -> &'static str {
    match g {
        Grade::A => "A",
        Grade::B => "B",
        Grade::C => "C",
    }
}

impl GradingRules {
    pub fn parse(text: &str) -> Result<Self, (usize, String)> {
        let raw: RawGrading = super::parse_toml(text)?;
        let window = *raw.window_months.get_ref();
        if !(1..=60).contains(&window) {
            return Err((super::line_of(text, &raw.window_months), "window_months: from 1 to 60".into()));
        }
        for r in &raw.rule {
            let line = super::line_of(text, &r.grade);
            if r.note.trim().is_empty() {
                return Err((line, "a rule needs a note saying what it means".into()));
            }
            if r.max_return_rate.is_some_and(|x| !(0.0..=1.0).contains(&x)) || r.min_amount.is_some_and(|x| x < 0.0) {
                return Err((line, "max_return_rate is a fraction (0-1); min_amount is not negative".into()));
            }
        }
        let period = |s: &Spanned<String>| -> Result<Period, (usize, String)> {
            Period::parse(s.get_ref()).map_err(|e| (super::line_of(text, s), e))
        };
        let review = [period(&raw.review.a)?, period(&raw.review.b)?, period(&raw.review.c)?];
        Ok(GradingRules {
            window_months: window,
            default: raw.default,
            min_report_count: raw.min_report_count.unwrap_or(5).max(1),
            rules: raw.rule,
            review,
            sha256: hex::encode(Sha256::digest(text.as_bytes())),
        })
    }

    /// How often a dossier of `grade` is reviewed.
    pub fn review_cycle(&self, grade: Grade) -> Period {
        match grade {
            Grade::A => self.review[0],
            Grade::B => self.review[1],
            Grade::C => self.review[2],
        }
    }

    /// The grade the rules give `inputs`, with every rule's checks.
    pub fn grade(&self, inputs: &GradeInputs) -> Grading {
        let mut outcomes = Vec::new();
        let mut decided: Option<(Grade, String)> = None;
        for (i, r) in self.rules.iter().enumerate() {
            let mut checks = Vec::new();
            let mut check = |condition: &str, required: String, actual: String, holds: bool| {
                checks.push(Check { condition: condition.into(), required, actual, holds });
            };
            if let Some(n) = r.min_orders {
                check("min_orders", n.to_string(), inputs.orders.to_string(), inputs.orders >= n);
            }
            if let Some(n) = r.min_active_months {
                check("min_active_months", n.to_string(), inputs.active_months.to_string(), inputs.active_months >= n);
            }
            if let Some(n) = r.min_amount {
                check("min_amount", format!("{n:.2}"), format!("{:.2}", inputs.amount), inputs.amount >= n);
            }
            if let Some(n) = r.min_years {
                check("min_years", n.to_string(), inputs.years.to_string(), inputs.years >= n);
            }
            if let Some(list) = &r.credit {
                let actual = inputs.credit.clone().unwrap_or_else(|| "(none recorded)".into());
                let holds = inputs.credit.as_ref().is_some_and(|c| list.contains(c));
                check("credit", list.join("|"), actual, holds);
            }
            if let Some(n) = r.max_return_rate {
                check(
                    "max_return_rate",
                    format!("{n:.4}"),
                    format!("{:.4}", inputs.return_rate),
                    inputs.return_rate <= n,
                );
            }
            let matched = checks.iter().all(|c| c.holds);
            let grade = *r.grade.get_ref();
            if matched && decided.is_none() {
                decided = Some((grade, format!("rule {} ({})", i + 1, grade_name(grade))));
            }
            outcomes.push(RuleOutcome { grade: grade_name(grade).into(), note: r.note.clone(), matched, checks });
        }
        let (grade, rule) = decided.unwrap_or((self.default, "default".into()));
        Grading { grade, rule, rules: outcomes, rules_sha256: self.sha256.clone() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped() -> GradingRules {
        GradingRules::parse(include_str!("../../policies/grading.toml")).unwrap()
    }

    fn inputs(orders: u64, months: u32, amount: f64, years: u32, credit: &str, returns: f64) -> GradeInputs {
        GradeInputs { orders, active_months: months, amount, years, credit: Some(credit.into()), return_rate: returns }
    }

    #[test]
    fn the_first_matching_rule_decides_and_every_check_is_explained() {
        let r = shipped();
        let a = r.grade(&inputs(300, 12, 2_000_000.0, 3, "良好", 0.01));
        assert_eq!((a.grade, a.rule.as_str()), (Grade::A, "rule 1 (A)"));
        // Too many returns for A, fine for B.
        let b = r.grade(&inputs(300, 12, 2_000_000.0, 3, "良好", 0.05));
        assert_eq!(b.grade, Grade::B);
        let failed: Vec<&str> = b.rules[0].checks.iter().filter(|c| !c.holds).map(|c| c.condition.as_str()).collect();
        assert_eq!(failed, ["max_return_rate"]);
        // No credit recorded: no rule with a credit condition holds.
        let mut none = inputs(300, 12, 2_000_000.0, 3, "", 0.0);
        none.credit = None;
        assert_eq!(r.grade(&none).grade, Grade::C);
        assert_eq!(r.review_cycle(Grade::A), Period::Months(3));
        assert_eq!(r.review_cycle(Grade::C), Period::Months(12));
    }

    #[test]
    fn a_rule_without_a_note_or_a_bad_period_is_refused_with_its_line() {
        let text = include_str!("../../policies/grading.toml");
        let without = text.replacen("note = \"Key account", "nnote = \"x", 1);
        assert!(GradingRules::parse(&without).is_err());
        let bad = text.replace("A = \"3m\"", "A = \"often\"");
        let (line, msg) = GradingRules::parse(&bad).unwrap_err();
        assert!(msg.contains("period"), "{msg}");
        assert_eq!(text.lines().nth(line - 1).unwrap().trim(), "A = \"3m\"");
    }
}
