//! Reading whole lists for composites: every page, inside the rate budget, with progress. The
//! client spells Halo's paging ([`crate::halo::HaloClient::pager`]); this adds progress and limits.

use serde_json::Value;

use super::Ctx;
use crate::{
    catalog::Resource,
    halo::{PageRequest, UNPAGED_COUNT},
    tools::{ToolError, crud::caching},
};

/// Most records a composite reads from one list (a guard against runaway scans).
pub const MAX_RECORDS: usize = 200_000;

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
        let what = r.name.replace('_', " ");
        if !r.paginate {
            return self.whole(r, query, reads, &what).await;
        }
        let mut pager = self.ctx.halo.pager(
            &r.path,
            r.envelope.as_deref(),
            query,
            u64::from(r.max_page_size),
            caching(r),
        );
        let (mut rows, mut pages): (Vec<Value>, u64) = (Vec::new(), 0);
        while let Some(page) = pager.next().await? {
            reads.requests += 1;
            pages += 1;
            if pages == 1
                && let Some(total) = page.record_count
            {
                // Now the number of pages is known.
                self.expected += total.div_ceil(pager.size()).saturating_sub(1);
            }
            rows.extend(page.records);
            self.page_read(&what, rows.len(), page.record_count).await;
            if !pager.is_done() && rows.len() >= MAX_RECORDS {
                return Err(ToolError::bad_request(format!(
                    "more than {MAX_RECORDS} {what} match; narrow the request (e.g. one client)"
                )));
            }
        }
        reads.records += rows.len();
        Ok(rows)
    }

    /// A list Halo does not page, read in one request.
    async fn whole(
        &mut self,
        r: &Resource,
        query: &[(String, String)],
        reads: &mut Reads,
        what: &str,
    ) -> Result<Vec<Value>, ToolError> {
        let page = self
            .ctx
            .halo
            .list_page(
                &r.path,
                r.envelope.as_deref(),
                query,
                PageRequest::Whole,
                caching(r),
            )
            .await?;
        reads.requests += 1;
        reads.records += page.records.len();
        if page.records.len() >= UNPAGED_COUNT {
            return Err(ToolError::bad_request(format!(
                "{what} lists more than {UNPAGED_COUNT} records, which Halo does not page; \
                 narrow the request"
            )));
        }
        self.page_read(what, page.records.len(), None).await;
        Ok(page.records)
    }
}
