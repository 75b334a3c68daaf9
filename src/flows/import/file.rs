//! An import file and its rows: the file read one record at a time, each with the line it
//! starts on as a spreadsheet shows it.

use std::collections::VecDeque;
use std::io::Read;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use super::ImportProblem;
use super::row::{Column, Row, header, problem, row};

/// A CSV file of customers to import. It is read twice, one row at a time, inside the import's
/// transaction: once to check every row, once to write them, so that memory does not grow with
/// the file (issue 19: a million rows).
///
/// The header row names the columns: `email` and `name` (required), and any of the others
/// [`super::row`] knows (SPEC 8.3, `docs/moving-in.md`).
#[derive(Clone, Debug)]
pub struct ImportFile {
    source: Source,
}

#[derive(Clone, Debug)]
enum Source {
    Path(PathBuf),
    Bytes(bytes::Bytes),
}

impl ImportFile {
    /// The file at `path`, which must be readable now (and stay unchanged until the import
    /// has read it twice).
    pub fn open(path: impl Into<PathBuf>) -> std::io::Result<ImportFile> {
        let path = path.into();
        std::fs::File::open(&path)?;
        Ok(ImportFile {
            source: Source::Path(path),
        })
    }

    /// A file held in memory (tests, and callers that already have the bytes).
    pub fn from_bytes(bytes: impl Into<bytes::Bytes>) -> ImportFile {
        ImportFile {
            source: Source::Bytes(bytes.into()),
        }
    }

    pub(super) fn rows(&self) -> std::io::Result<Rows> {
        let input: Box<dyn Read + Send> = match &self.source {
            Source::Path(path) => Box::new(std::fs::File::open(path)?),
            Source::Bytes(bytes) => Box::new(std::io::Cursor::new(bytes.clone())),
        };
        let newlines = Arc::new(Mutex::new(VecDeque::new()));
        let input = Newlines {
            inner: input,
            read: 0,
            last: 0,
            found: newlines.clone(),
        };
        Ok(Rows {
            reader: csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .buffer_capacity(64 * 1024)
                .from_reader(input),
            newlines,
            line: 1,
            columns: None,
            record: csv::ByteRecord::new(),
        })
    }
}

/// The rows of an import file, one at a time, each with the line it starts on.
pub(super) struct Rows {
    reader: csv::Reader<Newlines>,
    /// Byte offsets of the line feeds read ahead of the current record.
    newlines: Arc<Mutex<VecDeque<(u64, bool)>>>,
    /// The line the current record starts on (1 is the header row).
    pub(super) line: u64,
    columns: Option<Vec<Option<Column>>>,
    record: csv::ByteRecord,
}

impl Rows {
    /// The next row (`Some(None)` for a row too broken to use), its problems pushed to
    /// `problems`; `None` at the end of the file. The header row is read and checked first.
    pub(super) fn next(
        &mut self,
        now: i64,
        problems: &mut Vec<ImportProblem>,
    ) -> csv::Result<Option<Option<Row>>> {
        loop {
            if !self.reader.read_byte_record(&mut self.record)? {
                if self.columns.is_none() {
                    problems.push(problem(
                        1,
                        "header",
                        "the file is empty: the first row must name the columns",
                    ));
                }
                return Ok(None);
            }
            self.count_lines();
            match &self.columns {
                None => self.columns = Some(header(self.line, &self.record, problems)),
                Some(_) if self.record.len() == 1 && self.record[0].is_empty() => {}
                Some(columns) => {
                    return Ok(Some(row(self.line, columns, &self.record, now, problems)));
                }
            }
        }
    }

    /// Moves `line` to where the current record starts. Lines are counted here: the reader's
    /// own count misses every `\r\n` line ending, which spreadsheet programs write.
    fn count_lines(&mut self) {
        let Some(position) = self.record.position() else {
            return;
        };
        let start = position.byte();
        let mut newlines = self.newlines.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(&(at, after_cr)) = newlines.front() {
            // The reader starts a record after a `\r`, before the `\n` that ends that line.
            if at < start || (at == start && after_cr) {
                newlines.pop_front();
                self.line += 1;
            } else {
                break;
            }
        }
    }
}

/// A reader that notes where every line feed is, and whether a carriage return came before it,
/// for [`Rows`] to count lines by. It holds only those the csv reader has read ahead.
struct Newlines {
    inner: Box<dyn Read + Send>,
    read: u64,
    last: u8,
    found: Arc<Mutex<VecDeque<(u64, bool)>>>,
}

impl Read for Newlines {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut found = self.found.lock().unwrap_or_else(|e| e.into_inner());
        for (i, &byte) in buf[..n].iter().enumerate() {
            if byte == b'\n' {
                found.push_back((self.read + i as u64, self.last == b'\r'));
            }
            self.last = byte;
        }
        self.read += n as u64;
        Ok(n)
    }
}
