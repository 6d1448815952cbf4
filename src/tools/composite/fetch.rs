//! Reading whole lists for composites: every page, inside the rate budget, with progress.

use serde_json::Value;

use super::Ctx;
use crate::{catalog::Resource, halo::Caching, tools::ToolError};

/// Most records a composite reads from one list (a guard against runaway scans).
pub const MAX_RECORDS: usize = 200_000;
/// `count` sent with a list Halo does not page: far above any reference table's size, so a
/// full answer means the list was cut short.
pub const UNPAGED_COUNT: usize = 10_000;

/// Records read and requests made by a composite, for its answer.
#[derive(Debug, Default, Clone)]
pub struct Reads {
    pub records: usize,
    pub requests: usize,
}

/// Progress across the lists one composite reads: pages read against pages expected.
pub struct Pages<'a> {
    ctx: &'a Ctx,
    done: u64,
    expected: u64,
}

impl<'a> Pages<'a> {
    /// `lists` is how many lists will be read (each counts one page until its size is known).
    pub fn new(ctx: &'a Ctx, lists: u64) -> Pages<'a> {
        Pages {
            ctx,
            done: 0,
            expected: lists,
        }
    }

    async fn page_read(&mut self, what: &str, read: usize, total: Option<u64>) {
        self.done += 1;
        self.expected = self.expected.max(self.done);
        let message = match total {
            Some(t) => format!("read {read} of {t} {what}"),
            None => format!("read {read} {what}"),
        };
        self.ctx
            .progress(self.done as f64, Some(self.expected as f64), message)
            .await;
    }

    /// Reads every record of `r` matching `query`.
    pub async fn all(
        &mut self,
        r: &Resource,
        query: &[(String, String)],
        reads: &mut Reads,
    ) -> Result<Vec<Value>, ToolError> {
        let halo = &self.ctx.halo;
        let caching = if r.reference {
            Caching::Reference
        } else {
            Caching::Live
        };
        if !r.paginate {
            // Halo caps a list it does not page unless `count` asks for more (halo-api.md
            // §6.1: HCLI needed `count=500` to see 103 tags), so the whole list is asked for.
            let mut q = query.to_vec();
            if !q.iter().any(|(k, _)| k == "count") {
                q.push(("count".into(), UNPAGED_COUNT.to_string()));
            }
            let page = halo
                .list(&r.path, r.envelope.as_deref(), &q, caching)
                .await?;
            reads.requests += 1;
            reads.records += page.records.len();
            if page.records.len() >= UNPAGED_COUNT {
                return Err(ToolError::bad_request(format!(
                    "{} lists more than {UNPAGED_COUNT} records, which Halo does not page; \
                     narrow the request",
                    r.name.replace('_', " ")
                )));
            }
            self.page_read(&r.name.replace('_', " "), page.records.len(), None)
                .await;
            return Ok(page.records);
        }
        let size = u64::from(r.max_page_size);
        let mut rows: Vec<Value> = Vec::new();
        let mut page_no = 1u64;
        loop {
            let mut q = query.to_vec();
            q.push(("pageinate".into(), "true".into()));
            q.push(("page_size".into(), size.to_string()));
            q.push(("page_no".into(), page_no.to_string()));
            let page = halo
                .list(&r.path, r.envelope.as_deref(), &q, caching)
                .await?;
            reads.requests += 1;
            let got = page.records.len() as u64;
            rows.extend(page.records);
            if page_no == 1
                && let Some(total) = page.record_count
            {
                // Now the number of pages is known.
                self.expected += total.div_ceil(size).saturating_sub(1);
            }
            self.page_read(&r.name.replace('_', " "), rows.len(), page.record_count)
                .await;
            let all_read = page
                .record_count
                .is_some_and(|total| rows.len() as u64 >= total);
            if got < size || all_read || got == 0 {
                break;
            }
            if rows.len() >= MAX_RECORDS {
                return Err(ToolError::bad_request(format!(
                    "more than {MAX_RECORDS} {} match; narrow the request (e.g. one client)",
                    r.name.replace('_', " ")
                )));
            }
            page_no += 1;
        }
        reads.records += rows.len();
        Ok(rows)
    }
}
