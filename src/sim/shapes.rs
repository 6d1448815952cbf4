//! The shape of a Halo ticket (`Faults`) and action, shared by the seed and by POST.
//!
//! Real Faults rows are very wide (the create response captured in halo-api.md §5 has 247
//! fields, most of them empty strings, zeros, `-1` or sentinel dates). The template keeps well
//! over a hundred of them so a client that compacts responses has something to compact, with
//! Halo's sentinels in place: `1900-01-01T00:00:00` (no `Z`) for unset dates, `-1` for "none"
//! (`contract_id`, `chargerate`), `-0.0` for `estimate` (halo-api.md §7.6).

use serde_json::Value;

use super::clock;
use super::store::{Row, as_f64};

const TICKET_TEMPLATE: &str = r#"{
 "id": 0, "dateoccurred": "1900-01-01T00:00:00", "summary": "", "details": "", "details_html": "",
 "status_id": 1, "status_name": "", "tickettype_id": 0, "tickettype_name": "", "sla_id": 0, "sla_name": "",
 "priority_id": 0, "client_id": 0, "client_name": "", "site_id": 0, "site_name": "", "user_id": 0,
 "user_name": "", "team": "", "team_id": 0, "agent_id": 0, "agent_name": "",
 "category_1": "", "category_2": "", "category_3": "", "category_4": "",
 "categoryid_1": 0, "categoryid_2": 0, "categoryid_3": 0, "categoryid_4": 0,
 "estimate": -0.0, "estimatedays": 0.0, "timetaken": 0.0, "chargehours": 0.0, "nonchargehours": 0.0,
 "travelhours": 0.0, "totalmileage": 0.0, "itemsprice": 0.0, "supplier_name": "", "parent_id": 0,
 "child_count": 0, "child_count_open": 0, "attachment_count": 0, "flagged": false, "read": false,
 "enduserstatus": 0, "onhold": false, "respondbydate": "1900-01-01T00:00:00",
 "responsedate": "1900-01-01T00:00:00", "fixbydate": "1900-01-01T00:00:00",
 "dateclosed": "1900-01-01T00:00:00", "dateassigned": "1900-01-01T00:00:00", "excludefromsla": false,
 "slaholdtime": 0.0, "site_timezone": "", "slaactiondate": "1900-01-01T00:00:00", "slapercused": 0.0,
 "slatimeleft": 0.0, "currentelapsedhours": 0.0, "lastactiondate": "1900-01-01T00:00:00",
 "last_update": "1900-01-01T00:00:00", "organisation_id": 1, "department_id": 0, "reportedby": "",
 "user_email": "", "emailtolist": "", "emailcclist": "", "matched_kb_id": 0, "product_id": 0,
 "release_id": 0, "release2_id": 0, "release3_id": 0, "lastincomingemail": "0001-01-01T00:00:00",
 "workflow_id": 0, "workflow_step": 0, "workflow_seq": 0, "pipeline_stage_id": 0, "is_vip": false,
 "isimportantcontact": false, "inactive": false, "impact": 0, "urgency": 0, "starttime": "00:00:00",
 "starttimeslot": 0, "startdate": "1900-01-01T00:00:00", "targetdate": "1900-01-01T00:00:00",
 "targettime": "00:00:00", "targettimeslot": 0, "deadlinedate": "1900-01-01T00:00:00",
 "followupdate": "1900-01-01T00:00:00", "oppcontactname": "", "oppcompanyname": "",
 "oppemailaddress": "", "opptel": "", "oppaddr1": "", "oppaddr2": "", "oppaddr3": "", "oppaddr4": "",
 "opppostcode": "", "oppcountry": "", "oppregion": "0", "opptype": " ", "oppvalue": 0.0,
 "oppconversionprobability": 0.0, "oppvalueadjusted": 0.0, "oppconverteddate": "1900-01-01T00:00:00",
 "oppclosurecategory": 0, "projecttimebudget": 0.0, "projectmoneybudget": 0.0, "projecttimeactual": 0.0,
 "projectmoneyactual": 0.0, "projecttimepercentage": 0.0, "cost": 0.0, "quantity": 1,
 "userdef1": "", "userdef2": "", "userdef3": "", "userdef4": "", "userdef5": "", "source": 0,
 "release_important": false, "releasenotegroup_id": 0, "supplier_status": 0, "appointment_type": 0,
 "customfields": [], "tags": [], "section_timezone": "", "projectinternaltask": false, "impactlevel": 0,
 "guid": "", "key": "", "takenby": "", "datecreated": "1900-01-01T00:00:00", "createdfrom_id": 0,
 "top_level_id": 0, "site_sla_id": 0, "supplier_contract_id": 0, "showforusers": true,
 "messsent": "YNYYYNYYYYYYYYY", "agreedcleared": false, "backoutplan": "", "communicationplan": "",
 "testplan": "", "riskdescription": "", "risklevel": 0, "impactdescription": "", "surveysent": false,
 "surveyneeded": false, "knownerror": false, "development": false, "changeseq": 0, "mailboxid": 0,
 "actisbillabledefault": true, "chargerate": -1, "timezonename": "", "auditstatus": -1,
 "auditunum": -1, "auditdate": "1899-12-30T00:00:00", "pagerdutyid": "", "component_id": 0,
 "version_id": 0, "mailentryid": "", "contract_id": -1, "contract_ref": "", "currency": 0,
 "hdid": 0, "deleted": false, "matched_rule_id": 0, "matched_rule_name": "",
 "ignore_kb_match": false, "deadlinenotificationhours": 0.0, "showonroadmap": false,
 "phonenumberfrom": "", "addressfrom": "", "sendack": true, "closure_note": "", "closure_time": 0.0,
 "satisfactionlevel": 0, "satisfactioncomment": "", "hasbeenclosed": false, "milestone_id": 0,
 "itil_requesttype_id": 0, "is_project": false, "is_opportunity": false, "use": "ticket",
 "reference": "", "invoicenumber": "", "parent_subject": "", "lastnote": "", "web_url": ""
}"#;

const ACTION_TEMPLATE: &str = r#"{
 "ticket_id": 0, "id": 0, "outcome": "", "outcome_id": 0, "who": "", "who_type": 1,
 "who_agentid": 0, "who_initials": "", "who_colour": "", "datetime": "1900-01-01T00:00:00",
 "actiondatecreated": "1900-01-01T00:00:00", "last_updated": "1900-01-01T00:00:00",
 "actionarrivaldate": "1900-01-01T00:00:00", "actioncompletiondate": "1900-01-01T00:00:00",
 "note": "", "note_html": "", "emailbody": "", "emailbody_html": "", "emailsubject": "",
 "emailfrom": "", "emailto": "", "emailcc": "", "timetaken": 0.0, "nonbilltime": 0.0,
 "traveltime": 0.0, "mileage": 0.0, "actisbillable": true, "actionchargehours": 0.0,
 "actionchargeamount": 0.0, "chargerate": -1, "hiddenfromuser": false, "important": false,
 "sendemail": false, "new_status": 0, "new_status_name": "", "attachments": [], "reactions": [],
 "actioninvoicenumber": "", "action_contract_id": -1, "action_contract_ref": "",
 "actreviewed": false, "actisreadyforprocessing": false, "replied_to_ticket_id": 0,
 "replied_to_action_id": 0, "project_id": 0, "asset_id": 0, "userdesc": "", "warning_type": 0,
 "email_message_id": "", "ticket_guid": ""
}"#;

fn parse(template: &str) -> Row {
    serde_json::from_str(template).unwrap_or_default()
}

/// An empty ticket in Halo's shape.
pub(crate) fn ticket_template() -> Row {
    parse(TICKET_TEMPLATE)
}

/// An empty action in Halo's shape.
pub(crate) fn action_template() -> Row {
    parse(ACTION_TEMPLATE)
}

/// The ticket reference (`IN-0009499` in the real response): a prefix from the ticket type's
/// `use`/name and the id zero-padded to seven digits.
pub(crate) fn reference(row: &Row) -> String {
    let id = row.get("id").and_then(Value::as_i64).unwrap_or(0);
    let use_ = row.get("use").and_then(Value::as_str).unwrap_or("ticket");
    let tt = row
        .get("tickettype_name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let prefix = match (use_, tt) {
        ("project", _) => "PRJ",
        ("opportunity", _) => "OPP",
        (_, "Service Request") => "SR",
        (_, "Change Request") => "CH",
        (_, "Problem") => "PB",
        (_, "Alert") => "AL",
        (_, "Onboarding") => "ON",
        _ => "IN",
    };
    format!("{prefix}-{id:07}")
}

/// Fills a ticket's `respondbydate`, `fixbydate` and `slaactiondate` from its priority's
/// response and fix times (`responsetime`/`fixtime` with units `H` or `D`; days are calendar
/// days here, the simulator has no working-hours calendar).
pub(crate) fn set_sla_dates(db: &super::store::Db, row: &mut super::store::Row, occurred: i128) {
    let priority = db
        .get(
            "Priority",
            row.get("priority_id")
                .and_then(super::store::as_i64)
                .unwrap_or(0),
        )
        .cloned();
    let (respond, fix) = sla_deadlines(priority.as_ref(), occurred);
    row.insert("respondbydate".into(), serde_json::json!(respond));
    row.insert("fixbydate".into(), serde_json::json!(fix.clone()));
    row.insert("slaactiondate".into(), serde_json::json!(fix));
}

fn sla_deadlines(priority: Option<&Value>, occurred: i128) -> (String, String) {
    let Some(p) = priority else {
        return (clock::SENTINEL.to_string(), clock::SENTINEL.to_string());
    };
    let span = |time: &str, units: &str| -> i128 {
        let t = p.get(time).and_then(as_f64).unwrap_or(0.0);
        let unit = if p.get(units).and_then(Value::as_str) == Some("D") {
            24.0
        } else {
            1.0
        };
        (t * unit * 3600.0) as i128 * clock::TICKS_PER_SEC
    };
    (
        clock::format_ts(occurred + span("responsetime", "responseunits")),
        clock::format_ts(occurred + span("fixtime", "fixunits")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_parse_and_are_wide() {
        let t = ticket_template();
        assert!(t.len() > 150, "ticket template has {} fields", t.len());
        assert_eq!(t.get("contract_id"), Some(&Value::from(-1)));
        assert!(action_template().len() > 40);
    }
}
