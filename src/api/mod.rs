//! HTTP only: routes, DTOs, extraction, problem documents. Handlers extract,
//! call an archive use case, and map the result.

pub mod access_report;
pub mod audit;
pub mod backups;
pub mod customers;
pub mod disposition;
pub mod documents;
pub mod dossiers;
pub mod factor;
pub mod governance;
pub mod grade_stand;
pub mod incidents;
pub mod notices;
pub mod openapi;
pub mod ops;
pub mod oversight;
pub mod principals;
pub mod recipients;
pub mod requests;
pub mod search;
pub mod subjects;
pub mod witness;

use crate::web::AppState;
use axum::Router;

/// The REST API's routes: `/v1/...` and the operational endpoints.
pub fn routes() -> Router<AppState> {
    let v1 = Router::new()
        .merge(principals::routes())
        .merge(dossiers::routes())
        .merge(subjects::routes())
        .merge(disposition::routes())
        .merge(search::routes())
        .merge(documents::routes())
        .merge(audit::routes())
        .merge(backups::routes())
        .merge(requests::routes())
        .merge(incidents::routes())
        .merge(governance::routes())
        .merge(recipients::routes())
        .merge(customers::routes())
        .merge(oversight::routes())
        .merge(factor::routes())
        .merge(grade_stand::routes())
        .merge(notices::routes());
    Router::new().nest("/v1", v1).merge(ops::routes()).merge(witness::routes())
}
