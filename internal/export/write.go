// Package export writes tables as CSV or XLSX and runs export jobs: the file
// is produced in the background, kept in the store (so any server of a
// cluster serves it) and downloaded through a signed, expiring URL.
package export

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/xuri/excelize/v2"
)

// Format is a file format of an export.
type Format string

const (
	XLSX Format = "xlsx"
	CSV  Format = "csv"
)

// ContentType is the media type of the format.
func (f Format) ContentType() string {
	if f == CSV {
		return "text/csv; charset=utf-8"
	}
	return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
}

// ParseFormat accepts "xlsx" and "csv" (any case); "" is XLSX.
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(s) {
	case "", "xlsx":
		return XLSX, nil
	case "csv":
		return CSV, nil
	}
	return "", fmt.Errorf("unknown export format %q (want xlsx or csv)", s)
}

// Rows yields the data rows of a table in order. yield returns an error when
// writing failed (the producer must stop and return it).
type Rows func(yield func(row []string) error) error

// MaxXLSXRows is the most data rows a sheet holds (Excel's limit less the header).
const MaxXLSXRows = 1<<20 - 1

// ErrTooManyRows: the table does not fit in one sheet.
var ErrTooManyRows = errors.New("too many rows for one sheet")

// bom makes Excel read the CSV as UTF-8 (Chinese texts otherwise show as mojibake).
const bom = "\ufeff"

// WriteCSV writes a UTF-8 CSV with a byte-order mark, the header first.
// Cells a spreadsheet would evaluate as a formula are prefixed with a quote.
func WriteCSV(w io.Writer, header []string, rows Rows) error {
	bw := bufio.NewWriter(w)
	if _, err := bw.WriteString(bom); err != nil {
		return err
	}
	cw := csv.NewWriter(bw)
	if err := cw.Write(header); err != nil {
		return err
	}
	buf := make([]string, 0, len(header))
	err := rows(func(row []string) error {
		buf = buf[:0]
		for _, c := range row {
			buf = append(buf, defuse(c))
		}
		return cw.Write(buf)
	})
	if err != nil {
		return err
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return err
	}
	return bw.Flush()
}

// defuse neutralizes CSV formula injection: a cell starting with = + - @
// (or a tab/CR) is opened by spreadsheets as a formula. Numbers are left as
// they are.
func defuse(c string) string {
	if c == "" {
		return c
	}
	switch c[0] {
	case '=', '+', '-', '@', '\t', '\r':
		if _, err := strconv.ParseFloat(c, 64); err == nil {
			return c
		}
		return "'" + c
	}
	return c
}

// WriteXLSX writes one sheet named sheet (default "Sheet1") with a bold
// header row. Every cell is a string cell: values are never read as formulas.
func WriteXLSX(w io.Writer, sheet string, header []string, rows Rows) error {
	f := excelize.NewFile()
	defer f.Close()
	if sheet != "" && sheet != "Sheet1" {
		if err := f.SetSheetName("Sheet1", sheet); err != nil {
			return fmt.Errorf("sheet name: %w", err)
		}
	} else {
		sheet = "Sheet1"
	}
	sw, err := f.NewStreamWriter(sheet)
	if err != nil {
		return err
	}
	bold, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}})
	if err != nil {
		return err
	}
	hdr := make([]any, len(header))
	for i, h := range header {
		hdr[i] = excelize.Cell{StyleID: bold, Value: h}
	}
	if len(header) > 0 {
		_ = sw.SetColWidth(1, len(header), 24) // cosmetic only
	}
	if err := sw.SetRow("A1", hdr); err != nil {
		return err
	}
	n := 1
	vals := make([]any, 0, len(header))
	err = rows(func(row []string) error {
		if n > MaxXLSXRows {
			return fmt.Errorf("%w (%d)", ErrTooManyRows, MaxXLSXRows)
		}
		n++
		vals = vals[:0]
		for _, c := range row {
			vals = append(vals, c)
		}
		cell, err := excelize.CoordinatesToCellName(1, n)
		if err != nil {
			return err
		}
		return sw.SetRow(cell, vals)
	})
	if err != nil {
		return err
	}
	if err := sw.Flush(); err != nil {
		return err
	}
	return f.Write(w)
}

// Write writes the table in format.
func Write(w io.Writer, format Format, sheet string, header []string, rows Rows) error {
	if format == CSV {
		return WriteCSV(w, header, rows)
	}
	return WriteXLSX(w, sheet, header, rows)
}

// XLSXToCSV converts the first sheet of an XLSX file to CSV (the download's
// ?format=csv of a stored XLSX).
func XLSXToCSV(w io.Writer, xlsx io.Reader) error {
	f, err := excelize.OpenReader(xlsx)
	if err != nil {
		return err
	}
	defer f.Close()
	sheets := f.GetSheetList()
	if len(sheets) == 0 {
		return errors.New("the workbook has no sheet")
	}
	it, err := f.Rows(sheets[0])
	if err != nil {
		return err
	}
	defer it.Close()
	if !it.Next() {
		return WriteCSV(w, nil, func(func([]string) error) error { return nil })
	}
	header, err := it.Columns()
	if err != nil {
		return err
	}
	return WriteCSV(w, header, func(yield func([]string) error) error {
		for it.Next() {
			row, err := it.Columns()
			if err != nil {
				return err
			}
			for len(row) < len(header) { // trailing empty cells are not stored
				row = append(row, "")
			}
			if err := yield(row); err != nil {
				return err
			}
		}
		return it.Error()
	})
}
