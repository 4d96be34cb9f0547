//! Following AWS page tokens safely: a token seen before (A → B → A) is a cycle, not more data,
//! and a listing past `MAX_PAGES` is refused rather than followed forever. Either fails the
//! whole listing, which keeps the stored state (a partial listing never yields deletes).

use std::collections::HashSet;

/// Far beyond any real account (10 000 pages of up to 1000 items), small enough that a
/// misbehaving endpoint cannot keep a poll paging for hours.
pub const MAX_PAGES: u32 = 10_000;

/// The tokens of one listing.
#[derive(Debug, Default)]
pub struct Pages {
    seen: HashSet<String>,
    pages: u32,
}

impl Pages {
    pub fn new() -> Self {
        Self::default()
    }

    /// Pages read so far.
    pub fn count(&self) -> u32 {
        self.pages
    }

    /// One page was read and named `next` as the next one (`None`: it was the last). Returns
    /// the token to request next, or why the listing cannot be trusted.
    pub fn next(&mut self, api: &str, next: Option<&str>) -> Result<Option<String>, String> {
        self.pages += 1;
        let Some(token) = next.filter(|t| !t.is_empty()) else {
            return Ok(None);
        };
        if self.pages >= MAX_PAGES {
            return Err(format!(
                "{api} still had more pages after {MAX_PAGES}; the listing is not trusted"
            ));
        }
        if !self.seen.insert(token.to_string()) {
            return Err(format!(
                "{api} returned a page token it had already given (page {}): the pages loop",
                self.pages
            ));
        }
        Ok(Some(token.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_followed_until_the_last_page() {
        let mut p = Pages::new();
        assert_eq!(p.next("X", Some("a")), Ok(Some("a".into())));
        assert_eq!(p.next("X", Some("b")), Ok(Some("b".into())));
        assert_eq!(p.next("X", Some("")), Ok(None), "an empty token ends it");
        assert_eq!(p.count(), 3);
        let mut p = Pages::new();
        assert_eq!(p.next("X", None), Ok(None));
    }

    #[test]
    fn a_cycle_of_tokens_fails_the_listing() {
        let mut p = Pages::new();
        assert!(p.next("DescribeSecurityGroups", Some("A")).is_ok());
        assert!(p.next("DescribeSecurityGroups", Some("B")).is_ok());
        let e = p
            .next("DescribeSecurityGroups", Some("A"))
            .expect_err("cycle");
        assert_eq!(
            e,
            "DescribeSecurityGroups returned a page token it had already given (page 3): the pages loop"
        );
        let mut p = Pages::new();
        assert!(p.next("X", Some("A")).is_ok());
        assert!(
            p.next("X", Some("A")).is_err(),
            "the same token twice in a row too"
        );
    }

    #[test]
    fn a_listing_past_the_page_cap_fails() {
        let mut p = Pages::new();
        for i in 1..MAX_PAGES {
            assert!(p.next("X", Some(&i.to_string())).is_ok(), "page {i}");
        }
        let e = p.next("X", Some("more")).expect_err("cap");
        assert!(e.contains("still had more pages after 10000"), "{e}");
    }
}
