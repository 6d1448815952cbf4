//! What a list row carries: Halo's `*_List` models, narrower than the record `GET /X/{id}`
//! returns.
//!
//! Halo's swagger (`../shared/halo-swagger.json`, SW24 in halo-api.md) describes list rows with
//! their own schemas (`Faults_List`, `Device_List`, `Site_List`, ...). They omit fields the full
//! record has: a ticket row has the team's *name* (`team`) but no `team_id`, no `deleted`, no
//! `contract_id`; a site row has no `delivery_address` object, only `delivery_address_line1..5`;
//! an asset row has no `notes`. A client that reads such a field from a list row works against
//! a simulator that returns whole records and fails on a real tenant, so lists here return only
//! the fields below: for each model, the fields of the simulator's records that the model has
//! (the test `list_models_match_the_swagger` checks every name against the swagger when the
//! shared copy is beside the repository). Resources with no `*_List` model (AssetType, Item,
//! Invoice, ...) return their records whole.
//!
//! Two list rows depend on a parameter, as SW24 documents them: `/Asset` rows carry `fields`
//! only with `includeassetfields=true` ("Include asset fields in the response"), and `/Site`
//! rows carry `delivery_address_line1..5` only with `includeaddress=true` ("Include site
//! address in the response").

use serde_json::{Map, Value};

/// One `*_List` model: the resources whose list rows it shapes and the fields kept.
pub(crate) struct ListModel {
    pub model: &'static str,
    pub resources: &'static [&'static str],
    pub fields: &'static [&'static str],
}

/// The list models of the resources the simulator serves.
pub(crate) static LIST_MODELS: &[ListModel] = &[
    ListModel {
        model: "Faults_List",
        resources: &["Tickets", "Projects", "Opportunities"],
        fields: &[
            "id",
            "dateoccurred",
            "summary",
            "details",
            "status_id",
            "status_name",
            "tickettype_id",
            "tickettype_name",
            "sla_id",
            "sla_name",
            "priority_id",
            "client_id",
            "client_name",
            "site_id",
            "site_name",
            "user_id",
            "user_name",
            "team",
            "agent_id",
            "agent_name",
            "category_1",
            "category_2",
            "category_3",
            "category_4",
            "categoryid_1",
            "categoryid_2",
            "categoryid_3",
            "categoryid_4",
            "estimate",
            "estimatedays",
            "projecttimepercentage",
            "timetaken",
            "chargehours",
            "nonchargehours",
            "travelhours",
            "totalmileage",
            "itemsprice",
            "supplier_name",
            "parent_id",
            "child_count",
            "child_count_open",
            "attachment_count",
            "flagged",
            "read",
            "enduserstatus",
            "onhold",
            "respondbydate",
            "responsedate",
            "fixbydate",
            "dateclosed",
            "dateassigned",
            "excludefromsla",
            "slaholdtime",
            "site_timezone",
            "slaactiondate",
            "slapercused",
            "slatimeleft",
            "currentelapsedhours",
            "lastactiondate",
            "last_update",
            "organisation_id",
            "department_id",
            "reportedby",
            "user_email",
            "emailtolist",
            "emailcclist",
            "matched_kb_id",
            "product_id",
            "release_id",
            "release2_id",
            "release3_id",
            "lastincomingemail",
            "workflow_id",
            "workflow_step",
            "workflow_seq",
            "pipeline_stage_id",
            "hasbeenclosed",
            "parent_subject",
            "is_vip",
            "isimportantcontact",
            "inactive",
            "impact",
            "urgency",
            "startdate",
            "starttime",
            "starttimeslot",
            "targetdate",
            "targettime",
            "targettimeslot",
            "deadlinedate",
            "followupdate",
            "oppcontactname",
            "oppcompanyname",
            "oppemailaddress",
            "opptel",
            "oppaddr1",
            "oppaddr2",
            "oppaddr3",
            "oppaddr4",
            "opppostcode",
            "oppcountry",
            "oppregion",
            "opptype",
            "oppvalue",
            "oppconversionprobability",
            "oppvalueadjusted",
            "oppconverteddate",
            "oppclosurecategory",
            "cost",
            "quantity",
            "projecttimebudget",
            "projectmoneybudget",
            "projecttimeactual",
            "projectmoneyactual",
            "lastnote",
            "userdef1",
            "userdef2",
            "userdef3",
            "userdef4",
            "userdef5",
            "source",
            "release_important",
            "releasenotegroup_id",
            "supplier_status",
            "appointment_type",
            "customfields",
            "section_timezone",
            "projectinternaltask",
            "web_url",
            "impactlevel",
            "milestone_id",
            "guid",
            "use",
            "itil_requesttype_id",
        ],
    },
    ListModel {
        model: "Device_List",
        resources: &["Asset"],
        fields: &[
            "id",
            "inventory_number",
            "key_field",
            "key_field2",
            "key_field3",
            "client_id",
            "client_name",
            "site_id",
            "site_name",
            "business_owner_id",
            "username",
            "technical_owner_id",
            "assettype_id",
            "assettype_name",
            "colour",
            "icon",
            "warranty_end",
            "inactive",
            "is_primary_asset",
            "parent_id",
            "contract_ref",
            "contract_id",
            "supplier_id",
            "supplier_name",
            "fields",
            "customfields",
            "use",
            "device_number",
            "warranty_start",
            "status_id",
            "status_name",
            "third_party_id",
            "sla_id",
            "priority_id",
        ],
    },
    ListModel {
        model: "Site_List",
        resources: &["Site"],
        fields: &[
            "id",
            "name",
            "client_id",
            "client_name",
            "clientsite_name",
            "inactive",
            "sla_id",
            "phonenumber",
            "colour",
            "timezone",
            "invoice_address_isdelivery",
            "notes",
            "isstocklocation",
            "use",
            "customfields",
            "delivery_address_line1",
            "delivery_address_line2",
            "delivery_address_line3",
            "delivery_address_line4",
            "delivery_address_line5",
            "maincontact_id",
        ],
    },
    ListModel {
        model: "Users_List",
        resources: &["Users"],
        fields: &[
            "id",
            "name",
            "site_id",
            "site_id_int",
            "site_name",
            "client_name",
            "firstname",
            "surname",
            "initials",
            "title",
            "emailaddress",
            "phonenumber_preferred",
            "sitephonenumber",
            "phonenumber",
            "homenumber",
            "mobilenumber",
            "mobilenumber2",
            "telpref",
            "login",
            "inactive",
            "colour",
            "isimportantcontact",
            "other1",
            "other2",
            "other3",
            "other4",
            "other5",
            "notes",
            "neversendemails",
            "site_guid",
            "priority_id",
            "linked_agent_id",
            "customfields",
            "isserviceaccount",
            "messagegroup_id",
            "use",
            "client_id",
        ],
    },
    ListModel {
        model: "Uname_List",
        resources: &["Agent"],
        fields: &[
            "id",
            "name",
            "team",
            "isdisabled",
            "email",
            "lastlogindate",
            "initials",
            "firstname",
            "surname",
            "colour",
            "jobtitle",
            "ticket_count",
            "is_agent",
            "teams",
            "departments",
            "licence_type",
            "isapiagent",
            "use",
            "workday_id",
            "workday_name",
        ],
    },
    ListModel {
        model: "RequestType_List",
        resources: &["TicketType"],
        fields: &[
            "id",
            "guid",
            "name",
            "use",
            "sequence",
            "default_sla",
            "group_id",
            "group_name",
            "cancreate",
            "agentscanselect",
            "allowattachments",
            "enduserscanselect",
            "default_agent",
            "default_agent_name",
            "default_team",
            "workflow_name",
            "default_priority",
        ],
    },
    ListModel {
        model: "SectionDetail_List",
        resources: &["Team"],
        fields: &[
            "id",
            "guid",
            "name",
            "sequence",
            "forrequests",
            "foropps",
            "forprojects",
            "department_id",
            "department_name",
            "inactive",
        ],
    },
    ListModel {
        model: "ContractHeader_List",
        resources: &["ClientContract"],
        fields: &[
            "id",
            "client_id",
            "client_name",
            "ref",
            "refextra",
            "start_date",
            "end_date",
            "started",
            "expired",
            "numberofunitsfree",
            "billingperiod",
            "billingdescription",
            "status",
            "site_id",
            "site_name",
            "user_id",
            "user_name",
            "sla_id",
            "periodicinvoicenextdate",
            "next_invoice_date",
            "periodchargeamount",
            "note",
            "contract_status",
            "contracttype",
            "contracttype_name",
            "active",
            "customfields",
        ],
    },
    ListModel {
        model: "KBEntry_List",
        resources: &["KBArticle"],
        fields: &[
            "id",
            "name",
            "description",
            "view_count",
            "useful_count",
            "notuseful_count",
            "date_created",
            "date_edited",
            "tag_string",
            "inactive",
            "type",
            "next_review_date",
        ],
    },
    ListModel {
        model: "Tree_List",
        resources: &["TopLevel"],
        fields: &[
            "id",
            "guid",
            "name",
            "organisation_id",
            "organisation_name",
            "long_name",
            "type",
            "user_count",
        ],
    },
    ListModel {
        model: "AnalyzerProfile_List",
        resources: &["Report"],
        fields: &[
            "id",
            "name",
            "group_id",
            "group_name",
            "description",
            "type",
            "datasource_id",
            "restrictaccess",
            "systemreportid",
            "mainentity",
            "canbeaccessedbyallusers",
            "apiquery_id",
        ],
    },
    ListModel {
        model: "Licence_List",
        resources: &["SoftwareLicence"],
        fields: &[
            "id",
            "type",
            "name",
            "count",
            "client_id",
            "site_id",
            "client_name",
            "site_name",
            "purchase_price",
            "start_date",
            "manufacturer",
            "notes",
            "licences_in_use",
            "licences_available",
            "supplier_id",
            "supplier_name",
            "vendor",
            "end_date",
            "deleted",
            "billing_cycle",
            "term_duration",
            "status",
            "autorenew",
            "price",
            "is_active",
        ],
    },
    ListModel {
        model: "ServSite_List",
        resources: &["Service"],
        fields: &[
            "id",
            "guid",
            "name",
            "summary",
            "sequence",
            "showinusercatalog",
            "showintechcatalog",
            "trackstatus",
            "service_category_id",
            "service_category_name",
            "business_owner_id",
            "business_owner_name",
            "technical_owner_id",
            "technical_owner_name",
            "cost",
            "subscribable",
            "subscriber_count",
            "current_status",
            "status_message_update_public",
        ],
    },
    ListModel {
        model: "Appointment_List",
        resources: &["Appointment"],
        fields: &[
            "id",
            "agent_id",
            "start_date",
            "end_date",
            "allday",
            "ticket_id",
            "subject",
            "client_id",
            "client_name",
            "site_id",
            "site_name",
            "user_id",
            "user_name",
            "agent_name",
            "complete_status",
            "is_private",
        ],
    },
    ListModel {
        model: "Attachment_List",
        resources: &["Attachment"],
        fields: &[
            "id",
            "filename",
            "datecreated",
            "note",
            "filesize",
            "type",
            "unique_id",
            "desc",
            "isimage",
            "showforusers",
        ],
    },
];
/// The list model of a resource (by its Halo path name), if Halo describes one.
pub(crate) fn for_resource(name: &str) -> Option<&'static ListModel> {
    LIST_MODELS
        .iter()
        .find(|m| m.resources.iter().any(|r| r.eq_ignore_ascii_case(name)))
}

/// What a list row adds on request (see the module docs).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Includes {
    /// `/Asset?includeassetfields=true`: the row's `fields`.
    pub asset_fields: bool,
    /// `/Site?includeaddress=true`: `delivery_address_line1..5`.
    pub address: bool,
}

/// A stored record as a list row of `model`.
pub(crate) fn project(row: &Value, model: &ListModel, inc: Includes) -> Value {
    let Value::Object(full) = row else {
        return row.clone();
    };
    let mut out = Map::new();
    for f in model.fields {
        if model.model == "Device_List" && *f == "fields" && !inc.asset_fields {
            continue;
        }
        if let Some(v) = full.get(*f) {
            out.insert((*f).to_string(), v.clone());
        }
    }
    if model.model == "Site_List" && inc.address {
        // The stored record keeps the address as Halo's AddressStore object (line1..line4,
        // postcode); the list spells it as five lines. Which line holds the postcode is not
        // documented (guess: the fifth, after the four street lines).
        let addr = full.get("delivery_address");
        let part = |k: &str| {
            addr.and_then(|a| a.get(k))
                .cloned()
                .unwrap_or_else(|| Value::String(String::new()))
        };
        for (i, k) in ["line1", "line2", "line3", "line4", "postcode"]
            .into_iter()
            .enumerate()
        {
            out.insert(format!("delivery_address_line{}", i + 1), part(k));
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shared swagger, when the checkout has `../shared` beside it (CI does).
    fn swagger() -> Option<Value> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/halo-swagger.json");
        let text = std::fs::read_to_string(path).ok()?;
        serde_json::from_str(&text).ok()
    }

    #[test]
    fn list_models_match_the_swagger() {
        for m in LIST_MODELS {
            assert!(m.model.ends_with("_List"), "{}", m.model);
            for r in m.resources {
                assert!(
                    super::super::resources::find(r).is_some(),
                    "{r} is not served"
                );
            }
        }
        let Some(sw) = swagger() else {
            eprintln!("../shared/halo-swagger.json not found: names not checked");
            return;
        };
        for m in LIST_MODELS {
            let props = &sw["components"]["schemas"][m.model]["properties"];
            assert!(props.is_object(), "the swagger has no {}", m.model);
            for f in m.fields {
                assert!(props.get(*f).is_some(), "{} has no field {f}", m.model);
            }
        }
    }

    #[test]
    fn projection_keeps_only_model_fields() {
        let Some(site) = for_resource("site") else {
            panic!("Site has a list model");
        };
        let row = serde_json::json!({"id": 18, "name": "HQ", "guid": "x",
            "delivery_address": {"line1": "1 Road", "postcode": "AB1 2CD"}});
        let plain = project(&row, site, Includes::default());
        assert_eq!(plain, serde_json::json!({"id": 18, "name": "HQ"}));
        let with = project(
            &row,
            site,
            Includes {
                address: true,
                ..Includes::default()
            },
        );
        assert_eq!(with["delivery_address_line1"], "1 Road");
        assert_eq!(with["delivery_address_line5"], "AB1 2CD");
        assert!(with.get("delivery_address").is_none());
    }
}
