//! Listing and paging, in Halo's own parameters, so callers never spell them.
//!
//! Halo pages a list only when asked with `pageinate=true` (its spelling) plus `page_size` and
//! `page_no`; the answer then carries `record_count`. A list Halo does not page is capped at a
//! default length unless `count` asks for more (halo-api.md §6.1: HCLI needed `count=500` to see
//! 103 tags), so a whole list is asked for with a `count` far above any real size.

use super::{Caching, HaloClient, HaloError, ListPage};

/// `count` sent with a list Halo does not page: far above any reference table's size, so a
/// full answer means the list was cut short.
pub const UNPAGED_COUNT: usize = 10_000;

/// Which rows of a list to ask Halo for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageRequest {
    /// Page `no` (from 1) of `size` rows, of a list Halo pages.
    Page { no: u64, size: u64 },
    /// The whole of a list Halo does not page (`count` = [`UNPAGED_COUNT`], unless the query
    /// already sets a `count`).
    Whole,
}

impl PageRequest {
    /// The first page of `size` rows: enough to read `record_count` when `size` is 1.
    pub fn first(size: u64) -> PageRequest {
        PageRequest::Page { no: 1, size }
    }

    /// The query with Halo's paging parameters added.
    fn query(self, query: &[(String, String)]) -> Vec<(String, String)> {
        let mut q = query.to_vec();
        match self {
            PageRequest::Page { no, size } => {
                q.push(("pageinate".into(), "true".into()));
                q.push(("page_size".into(), size.to_string()));
                q.push(("page_no".into(), no.to_string()));
            }
            PageRequest::Whole => {
                if !q.iter().any(|(k, _)| k == "count") {
                    q.push(("count".into(), UNPAGED_COUNT.to_string()));
                }
            }
        }
        q
    }
}

impl HaloClient {
    /// One page (or the whole, for lists Halo does not page) of `GET /api{path}`, read through
    /// the list envelope `envelope`.
    pub async fn list_page(
        &self,
        path: &str,
        envelope: Option<&str>,
        query: &[(String, String)],
        page: PageRequest,
        caching: Caching,
    ) -> Result<ListPage, HaloError> {
        self.list(path, envelope, &page.query(query), caching).await
    }

    /// Every page of a list Halo pages, `size` rows at a time, read one page per
    /// [`Pager::next`].
    pub fn pager(
        &self,
        path: &str,
        envelope: Option<&str>,
        query: &[(String, String)],
        size: u64,
        caching: Caching,
    ) -> Pager {
        Pager {
            halo: self.clone(),
            path: path.to_owned(),
            envelope: envelope.map(str::to_owned),
            query: query.to_vec(),
            size: size.max(1),
            next_no: 1,
            read: 0,
            done: false,
            caching,
        }
    }
}

/// Reads a paged list page by page; the caller decides between pages (progress, limits).
pub struct Pager {
    halo: HaloClient,
    path: String,
    envelope: Option<String>,
    query: Vec<(String, String)>,
    size: u64,
    next_no: u64,
    read: u64,
    done: bool,
    caching: Caching,
}

impl Pager {
    /// Rows per page.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Whether the last page has been read.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The next page, or `None` once the list is read. The list ends at a short or empty page,
    /// or once as many rows as `record_count` said have been read (so a list that fills its
    /// last page costs no extra, empty request).
    pub async fn next(&mut self) -> Result<Option<ListPage>, HaloError> {
        if self.done {
            return Ok(None);
        }
        let page = PageRequest::Page {
            no: self.next_no,
            size: self.size,
        };
        let answer = self
            .halo
            .list_page(
                &self.path,
                self.envelope.as_deref(),
                &self.query,
                page,
                self.caching,
            )
            .await?;
        let got = answer.records.len() as u64;
        self.read += got;
        let all_read = answer.record_count.is_some_and(|total| self.read >= total);
        self.done = got < self.size || got == 0 || all_read;
        self.next_no += 1;
        Ok(Some(answer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_page_is_asked_for_in_halos_spelling() {
        let page = PageRequest::Page { no: 3, size: 50 };
        assert_eq!(
            page.query(&q(&[("client_id", "7")])),
            q(&[
                ("client_id", "7"),
                ("pageinate", "true"),
                ("page_size", "50"),
                ("page_no", "3"),
            ])
        );
        assert_eq!(
            PageRequest::first(1).query(&[]),
            q(&[("pageinate", "true"), ("page_size", "1"), ("page_no", "1")])
        );
    }

    #[test]
    fn a_whole_list_asks_for_a_count_unless_one_is_given() {
        assert_eq!(
            PageRequest::Whole.query(&q(&[("search", "x")])),
            q(&[("search", "x"), ("count", "10000")])
        );
        assert_eq!(
            PageRequest::Whole.query(&q(&[("count", "5")])),
            q(&[("count", "5")])
        );
    }
}
