//! Markdown tables, the format every figure is printed in.

use std::fmt;

/// How a column's cells are aligned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    /// Numbers.
    Right,
}

/// A Markdown table: a header row, the alignment row, then the rows.
#[derive(Debug)]
pub struct Table {
    columns: Vec<(String, Align)>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(columns: &[(&str, Align)]) -> Self {
        Self {
            columns: columns
                .iter()
                .map(|(name, align)| ((*name).to_owned(), *align))
                .collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; it must have one cell per column.
    pub fn row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) -> &mut Self {
        let cells: Vec<String> = cells.into_iter().map(Into::into).collect();
        assert_eq!(
            cells.len(),
            self.columns.len(),
            "a row needs one cell per column: {cells:?}"
        );
        self.rows.push(cells);
        self
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let line = |f: &mut fmt::Formatter<'_>, cells: &mut dyn Iterator<Item = &str>| {
            for cell in cells {
                write!(f, "| {cell} ")?;
            }
            writeln!(f, "|")
        };
        line(f, &mut self.columns.iter().map(|(name, _)| name.as_str()))?;
        for (_, align) in &self.columns {
            f.write_str(match align {
                Align::Left => "|---",
                Align::Right => "|---:",
            })?;
        }
        writeln!(f, "|")?;
        for row in &self.rows {
            line(f, &mut row.iter().map(String::as_str))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_has_a_header_an_alignment_row_and_its_rows() {
        let mut table = Table::new(&[("server", Align::Left), ("requests/s", Align::Right)]);
        table
            .row(["nginx", "100"])
            .row(["svc".to_owned(), "90".to_owned()]);
        assert_eq!(
            table.to_string(),
            "| server | requests/s |\n|---|---:|\n| nginx | 100 |\n| svc | 90 |\n"
        );
    }

    #[test]
    #[should_panic(expected = "one cell per column")]
    fn a_row_with_a_missing_cell_is_a_bug() {
        Table::new(&[("a", Align::Left), ("b", Align::Left)]).row(["x"]);
    }
}
