//! `GET /v1/subjects/{sid}/access-report`: a person's verifiable access
//! report, as JSON (the file a verifier checks) or as a page to hand to
//! the person, in Chinese and English, that carries the same JSON inside.

use crate::web::error::ApiError;
use crate::web::{offload, AppState, Ctx};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use maud::{html, Markup, PreEscaped, DOCTYPE};
use serde::Deserialize;
use serde_json::Value;
use utoipa::IntoParams;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AccessReportQuery {
    /// The person's own access request (`req_...`), verified and open.
    #[param(pattern = "^req_[0-9a-z]{26}$")]
    pub request: Option<String>,
    /// `json` (the default: the file `docs/verify_access_report.py` checks)
    /// or `html` (a page for the person, in Chinese and English, carrying
    /// the same JSON).
    #[param(pattern = "^(json|html)$")]
    pub format: Option<String>,
}

/// Every audit entry about the person up to a checkpoint signed for this
/// report, each with its inclusion proof, and the subject map's proof that
/// none is missing (PIPL Art. 45; GDPR Art. 15(1)(c)). For the person's
/// verified, open access request; 403 `no-verified-request` otherwise,
/// audited.
#[utoipa::path(get, path = "/v1/subjects/{sid}/access-report", tag = "subjects",
    params(("sid" = String, Path), AccessReportQuery, ("X-Purpose" = String, Header)),
    responses((status = 200, content((Object = "application/json"), (String = "text/html")),
               description = "format custos.access-report.v1 (docs/audit-format.md, \"Access reports\")"),
              (status = 400), (status = 401), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub async fn access_report(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(sid): Path<String>,
    q: Result<Query<AccessReportQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) =
        q.map_err(|_| ApiError::bad_request("unknown or repeated query parameter; allowed: request, format"))?;
    let html = wants_html(q.format.as_deref())?;
    if q.request.as_deref().is_some_and(|r| crate::domain::RequestId::parse(r).is_err()) {
        return Err(ApiError::bad_request("request must be a request id (req_...)"));
    }
    let request = q.request;
    let report =
        offload(&s, move |a| async move { a.registers().access_report(&ctx, &sid, request.as_deref()).await }).await?;
    Ok(respond(report, html))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct KeptReportQuery {
    /// `json` (the default) or `html`, as for the person's report.
    #[param(pattern = "^(json|html)$")]
    pub format: Option<String>,
}

/// The access report kept when the access request was completed (made at
/// a checkpoint just before the completion): what the person was given.
/// 404 when none is kept (not a completed access request, or the person
/// erased since: it is sealed under their key).
#[utoipa::path(get, path = "/v1/requests/{id}/access-report", tag = "registers",
    params(("id" = String, Path), KeptReportQuery),
    responses((status = 200, content((Object = "application/json"), (String = "text/html")),
               description = "format custos.access-report.v1"),
              (status = 400), (status = 401), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub async fn kept_access_report(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    q: Result<Query<KeptReportQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = q.map_err(|_| ApiError::bad_request("unknown or repeated query parameter; allowed: format"))?;
    let html = wants_html(q.format.as_deref())?;
    let report = s.archive.registers().kept_access_report(&ctx, &id).await?;
    Ok(respond(report, html))
}

fn wants_html(format: Option<&str>) -> Result<bool, ApiError> {
    match format {
        None | Some("json") => Ok(false),
        Some("html") => Ok(true),
        Some(_) => Err(ApiError::bad_request("format must be json or html")),
    }
}

fn respond(report: Value, html: bool) -> Response {
    if html {
        return ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page(&report).into_string()).into_response();
    }
    Json(report).into_response()
}

/// What an action means, in Chinese and English; the code itself for any
/// action without words here.
fn action_words(action: &str) -> (&str, &str) {
    match action {
        "dossier.create" => ("建立客户档案", "created the customer dossier"),
        "dossier.read" => ("查看客户档案", "read the customer dossier"),
        "dossier.update" => ("修改客户档案", "changed the customer dossier"),
        "dossier.versions" | "dossier.read_version" => ("查看档案历史版本", "read an earlier version of the dossier"),
        "search" => ("搜索", "searched"),
        "subject.read" => ("查看您的状态", "read your status"),
        "subject.export" => ("导出您的个人信息", "exported your personal information"),
        "subject.access_report" => ("生成本报告", "made this report"),
        "subject.restrict" => ("限制处理", "restricted processing"),
        "subject.unrestrict" => ("解除限制", "lifted the restriction"),
        "subject.erase" => ("删除您的个人信息", "erased your personal information"),
        "consent.grant" => ("记录同意", "recorded a consent"),
        "consent.withdraw" => ("记录撤回同意", "recorded a withdrawal of consent"),
        "consent.history" => ("查看同意记录", "read the consent history"),
        "document.get" => ("下载文件", "downloaded a document"),
        other => (other, other),
    }
}

fn outcome_words(outcome: &str) -> &'static str {
    match outcome {
        "allow" => "允许 allowed",
        "deny" => "拒绝 refused",
        _ => "出错 failed",
    }
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default()
}

fn fields(v: &Value) -> Markup {
    let list = strings(v);
    html! { @if list.is_empty() { "—" } @else { @for f in list { code { (f) } " " } } }
}

/// The report as a page: the entries in words, how to check it, and the
/// report itself as JSON (`<script type="application/json">`, never run),
/// so the page alone is the file the verifier checks.
fn page(report: &Value) -> Markup {
    let entries = report["entries"].as_array().map(Vec::as_slice).unwrap_or_default();
    // Inside a script element only `</` ends it: escaped as JSON allows,
    // so the embedded text stays the exact JSON.
    let embedded = report.to_string().replace('<', "\\u003c").replace('>', "\\u003e").replace('&', "\\u0026");
    html! {
        (DOCTYPE)
        html lang="zh-CN" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "个人信息访问记录 · Access report" }
                style { (PreEscaped("body{font-family:sans-serif;max-width:64rem;margin:1rem auto;padding:0 1rem;line-height:1.5}table{border-collapse:collapse;width:100%}th,td{border:1px solid #ccc;padding:.3rem;vertical-align:top;text-align:left}code{font-size:.85em}pre{white-space:pre-wrap;word-break:break-all;background:#f5f5f5;padding:.5rem}")) }
            }
            body {
                h1 { "个人信息访问记录报告" br; small { "Report of who accessed your personal information" } }
                p {
                    "本报告列出截至签名检查点第 " (report["tree_size"]) " 条审计记录为止，所有涉及您（编号 "
                    code { (report["subject"].as_str().unwrap_or_default()) } "）的访问，无论是否获准。"
                    br;
                    "It lists every access to your information, allowed or refused, up to audit entry "
                    (report["tree_size"]) " of the signed checkpoint below (your reference "
                    code { (report["subject"].as_str().unwrap_or_default()) } ")."
                }
                p { "共 " (entries.len()) " 条 · " (entries.len()) " entries · 生成于 generated " (report["generated_at"].as_str().unwrap_or_default()) }
                table {
                    thead { tr {
                        th { "时间" br; "Time (UTC)" } th { "谁 · Who" } th { "目的 · Purpose" } th { "操作 · Action" }
                        th { "结果 · Outcome" } th { "明文显示 · Shown" } th { "遮蔽显示 · Masked" } th { "未显示 · Withheld" }
                    } }
                    tbody {
                        @for e in entries {
                            @let shown = &e["shown"];
                            @let (zh, en) = action_words(shown["action"].as_str().unwrap_or_default());
                            tr {
                                td { (shown["time"].as_str().unwrap_or_default()) }
                                td {
                                    @if shown["by"] == "custos" { "系统 · custos itself" } @else {
                                        (strings(&shown["roles"]).join(", "))
                                        @if let Some(d) = shown["department"].as_str().filter(|d| !d.is_empty()) { br; (d) }
                                        @if let Some(n) = shown["staff_name"].as_str() { br; (n) }
                                    }
                                }
                                td { (shown["purpose"].as_str().filter(|p| !p.is_empty()).unwrap_or("—")) }
                                td { (zh) br; (en) }
                                td { (outcome_words(shown["outcome"].as_str().unwrap_or_default())) }
                                td { (fields(&shown["clear"])) }
                                td { (fields(&shown["masked"])) }
                                td { (fields(&shown["withheld"])) }
                            }
                        }
                    }
                }
                h2 { "如何核验 · How to check this report" }
                p {
                    "任何人都可以离线核验：每条记录都在签名的审计日志中，且没有遗漏涉及您的记录。"
                    br;
                    "Anyone can check it offline, without custos: that each entry is in the signed audit log and that no entry about you is missing. Save this page and run "
                    code { "python3 verify_access_report.py report.html" } " (docs/verify_access_report.py). "
                    "Department and name are added from the staff register and are not covered by the proofs; everything else is."
                }
                p { "日志验证密钥 · The log's verifier key:" }
                pre { (report["log"]["verifier_key"].as_str().unwrap_or_default()) }
                p { "签名检查点 · The signed checkpoint:" }
                pre { (report["checkpoint"].as_str().unwrap_or_default()) }
                script type="application/json" id="custos-access-report" { (PreEscaped(embedded)) }
            }
        }
    }
}
