//! Paging for adapters that list by walking a directory tree (local disk, SFTP, FTP): the
//! walk yields keys (and common prefixes) in byte order, and a [`PageBuilder`] keeps the ones
//! after the request's cursor, rolls repeated common prefixes into one, stops once the page
//! is full and one more entry is known to exist, and sets the next page's cursor.

use crate::adapter::{ListPage, ObjectMeta};

/// Whether a walk goes on or stops (the page is full).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Keep walking.
    Go,
    /// The page is full: stop.
    Stop,
}

/// Collects one page of a listing from entries yielded in byte order.
#[derive(Debug)]
pub struct PageBuilder<'a> {
    cursor: Option<&'a str>,
    limit: usize,
    page: ListPage,
    count: usize,
    last: Option<String>,
    more: bool,
}

impl<'a> PageBuilder<'a> {
    /// A page of at most `limit` entries (at least one) after `cursor` (exclusive).
    pub fn new(cursor: Option<&'a str>, limit: usize) -> Self {
        PageBuilder {
            cursor,
            limit: limit.max(1),
            page: ListPage::default(),
            count: 0,
            last: None,
            more: false,
        }
    }

    /// The request's cursor: entries up to it (inclusive) are skipped.
    pub fn cursor(&self) -> Option<&'a str> {
        self.cursor
    }

    /// Adds an entry (an object, or a common prefix when `meta` is `None`) if it comes after
    /// the cursor; [`Flow::Stop`] once the page is full and one more entry is known to exist.
    pub fn emit(&mut self, name: String, meta: Option<ObjectMeta>) -> Flow {
        if self.cursor.is_some_and(|c| name.as_str() <= c) {
            return Flow::Go;
        }
        if self.last.as_deref() == Some(name.as_str()) {
            return Flow::Go; // the same common prefix again
        }
        if self.count == self.limit {
            self.more = true;
            return Flow::Stop;
        }
        self.count += 1;
        self.last = Some(name.clone());
        match meta {
            Some(m) => self.page.objects.push(m),
            None => self.page.prefixes.push(name),
        }
        Flow::Go
    }

    /// The page; its cursor is the last entry when more entries follow.
    pub fn finish(self) -> ListPage {
        let mut page = self.page;
        if self.more {
            page.cursor = self.last;
        }
        page
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(p: &ListPage) -> Vec<String> {
        let mut v: Vec<String> = p.objects.iter().map(|o| o.key.clone()).collect();
        v.extend(p.prefixes.iter().cloned());
        v.sort();
        v
    }

    #[test]
    fn pages_skip_the_cursor_roll_prefixes_and_say_where_to_go_on() {
        let entries = [
            ("a", true),
            ("b/", false),
            ("b/", false),
            ("c", true),
            ("d", true),
        ];
        let run = |cursor: Option<&str>, limit: usize| {
            let mut b = PageBuilder::new(cursor, limit);
            for (name, object) in entries {
                let meta = object.then(|| ObjectMeta::new(name, 1));
                if b.emit(name.to_string(), meta) == Flow::Stop {
                    break;
                }
            }
            b.finish()
        };
        let first = run(None, 2);
        assert_eq!(names(&first), ["a", "b/"]);
        assert_eq!(first.cursor.as_deref(), Some("b/"));
        let second = run(first.cursor.as_deref(), 2);
        assert_eq!(names(&second), ["c", "d"]);
        assert_eq!(second.cursor, None, "nothing follows: no cursor");
        let all = run(None, 10);
        assert_eq!(names(&all), ["a", "b/", "c", "d"]);
        assert_eq!(all.cursor, None);
        assert_eq!(names(&run(None, 0)), ["a"], "a limit of 0 means 1");
    }
}
