package web

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/lawfleet/fleet/fleet"
)

// An officer roster is a table (CSV or the first sheet of an XLSX file)
// with a header row naming its columns in Chinese or English. This file
// turns it into fleet.OfficerInput rows; the import handler does the rest.

// Roster columns. The key is also the field named in a row's error, so it
// matches the JSON path of fleet.OfficerInput where there is one.
const (
	colUnitCode   = "unit_code"
	colUnitID     = "unit_id"
	colName       = "name"
	colBadge      = "badge_no"
	colFrontline  = "frontline"
	colDuty       = "duty_status"
	colCertNumber = "certificate.number"
	colIssued     = "certificate.issued_on"
	colExpires    = "certificate.expires_on"
	colReview     = "certificate.annual_review_until"
	colCertStatus = "certificate.status"
	colEffective  = "effective_on"
)

// rosterColumn is a column of the roster: its key, its heading in the
// template, and the headings accepted in a file (compared after
// normalising, see headingKey).
type rosterColumn struct {
	key     string
	heading string
	aliases []string
	note    string // for the template's instructions sheet
}

// rosterColumns are in template order.
var rosterColumns = []rosterColumn{
	{colUnitCode, "单位编码", []string{"单位代码", "unit_code", "unit"}, "所属单位的编码（单位管理中的“编码”）"},
	{colName, "姓名", []string{"name"}, "必填"},
	{colBadge, "警号", []string{"工号", "警号/工号", "警号工号", "badge_no", "badge"}, "必填；字母、数字或“-”，全省唯一，用于匹配已有人员"},
	{colFrontline, "一线", []string{"是否一线", "一线人员", "frontline"}, "必填：是 / 否"},
	{colDuty, "在岗状态", []string{"在岗情况", "duty_status"}, "在岗 / 调离 / 退休 / 长期请假，空为在岗"},
	{colCertNumber, "执法证号", []string{"执法证编号", "执法证件号", "certificate_number", "certificate.number"}, "无执法证留空"},
	{colIssued, "发证日期", []string{"issued_on", "certificate_issued_on", "certificate.issued_on"}, "YYYY-MM-DD"},
	{colExpires, "有效期至", []string{"证件有效期至", "expires_on", "certificate_expires_on", "certificate.expires_on"}, "YYYY-MM-DD"},
	{colReview, "年审有效期至", []string{"annual_review_until", "certificate_annual_review_until", "certificate.annual_review_until"}, "YYYY-MM-DD"},
	{colCertStatus, "证件状态", []string{"certificate_status", "certificate.status", "status"}, "有效 / 暂扣 / 吊销，空为有效"},
	{colEffective, "生效日期", []string{"effective_on"}, "YYYY-MM-DD，空为今天；不能晚于今天"},
	// Accepted in files but not offered in the template: ids are for scripts.
	{colUnitID, "", []string{"单位id", "unit_id"}, ""},
}

// headingKeys maps a normalised heading to its column key.
var headingKeys = func() map[string]string {
	m := map[string]string{}
	for _, c := range rosterColumns {
		for _, h := range append([]string{c.heading}, c.aliases...) {
			if h != "" {
				m[normHeading(h)] = c.key
			}
		}
	}
	return m
}()

// normHeading lower-cases h and drops spaces (full-width too), required
// markers and a BOM.
func normHeading(h string) string {
	h = strings.TrimPrefix(h, "\ufeff")
	var b strings.Builder
	for _, r := range strings.ToLower(h) {
		switch r {
		case ' ', '\t', '\u3000', '*', '＊', '\r', '\n':
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// headingKey finds the column of a heading such as "姓名", "Name",
// "*姓名" or "姓名（name）".
func headingKey(h string) string {
	n := normHeading(h)
	if k, ok := headingKeys[n]; ok {
		return k
	}
	n = strings.NewReplacer("（", "(", "）", ")").Replace(n)
	if before, inner, ok := strings.Cut(n, "("); ok {
		inner = strings.TrimSuffix(inner, ")")
		if k, ok := headingKeys[before]; ok {
			return k
		}
		if k, ok := headingKeys[inner]; ok {
			return k
		}
	}
	return ""
}

// rosterRow is one data row: its number counted from the header (the
// first row below it is 1) and its cells by column key.
type rosterRow struct {
	n     int
	cells map[string]string
}

// roster is a parsed table.
type roster struct {
	columns map[string]bool
	rows    []rosterRow
	// serialDates is true for XLSX, where a bare number in a date column
	// is a date cell's serial number; date1904 selects the epoch.
	serialDates bool
	date1904    bool
}

// headerSearchRows is how far down a header row is looked for: exports
// often carry a title row or two above it.
const headerSearchRows = 10

// parseRoster reads an XLSX (by its ZIP signature) or a CSV roster.
func parseRoster(data []byte) (*roster, error) {
	switch {
	case bytes.HasPrefix(data, []byte("PK\x03\x04")):
		return parseXLSX(data)
	case bytes.HasPrefix(data, []byte{0xD0, 0xCF, 0x11, 0xE0}):
		return nil, fleet.Invalid("file", "old Excel .xls files are not supported; save the sheet as .xlsx or CSV")
	}
	return parseCSV(data)
}

func parseCSV(data []byte) (*roster, error) {
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	if !utf8.Valid(data) {
		// Excel in a Chinese locale saves CSV in GBK; GB18030 decodes it.
		dec, err := simplifiedchinese.GB18030.NewDecoder().Bytes(data)
		if err != nil {
			return nil, fleet.Invalid("file", "the CSV is neither UTF-8 nor GBK text")
		}
		data = dec
	}
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1
	var lines [][]string
	var lineNo []int
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, fleet.Invalid("file", "the CSV is malformed at line %d: %s", pe.Line, pe.Err)
			}
			return nil, fleet.Invalid("file", "the CSV cannot be read")
		}
		if len(lines) > fleet.MaxImportRows+headerSearchRows {
			return nil, fleet.Invalid("file", "the roster has more than %d rows", fleet.MaxImportRows)
		}
		line, _ := r.FieldPos(0)
		lines = append(lines, rec)
		lineNo = append(lineNo, line)
	}
	return tabulate(lines, lineNo, &roster{})
}

func parseXLSX(data []byte) (*roster, error) {
	f, err := excelize.OpenReader(bytes.NewReader(data), excelize.Options{
		// A small file can unzip to a huge one: bound it.
		UnzipSizeLimit: 512 << 20,
	})
	if err != nil {
		return nil, fleet.Invalid("file", "the XLSX file cannot be opened")
	}
	defer f.Close()
	sheets := f.GetSheetList()
	if len(sheets) == 0 {
		return nil, fleet.Invalid("file", "the XLSX file has no sheet")
	}
	out := &roster{serialDates: true}
	if props, err := f.GetWorkbookProps(); err == nil && props.Date1904 != nil {
		out.date1904 = *props.Date1904
	}
	rows, err := f.Rows(sheets[0])
	if err != nil {
		return nil, fleet.Invalid("file", "the first sheet cannot be read")
	}
	defer rows.Close()
	var lines [][]string
	var lineNo []int
	for n := 1; rows.Next(); n++ {
		if n > fleet.MaxImportRows+headerSearchRows {
			return nil, fleet.Invalid("file", "the roster has more than %d rows", fleet.MaxImportRows)
		}
		// Raw values: a date cell gives its serial number whatever its
		// display format, which parseDate understands.
		cols, err := rows.Columns(excelize.Options{RawCellValue: true})
		if err != nil {
			return nil, fleet.Invalid("file", "row %d of the first sheet cannot be read", n)
		}
		lines = append(lines, cols)
		lineNo = append(lineNo, n)
	}
	if err := rows.Error(); err != nil {
		return nil, fleet.Invalid("file", "the first sheet cannot be read")
	}
	return tabulate(lines, lineNo, out)
}

// tabulate finds the header row and keys each later row's cells by
// column. Blank rows are skipped but keep their place in the numbering.
func tabulate(lines [][]string, lineNo []int, out *roster) (*roster, error) {
	header := -1
	var keys []string
	for i := 0; i < len(lines) && i < headerSearchRows; i++ {
		ks, known := make([]string, len(lines[i])), 0
		for j, h := range lines[i] {
			if ks[j] = headingKey(h); ks[j] != "" {
				known++
			}
		}
		if known >= 2 {
			header, keys = i, ks
			break
		}
	}
	if header < 0 {
		return nil, fleet.Invalid("file", "no header row found: name the columns 单位编码, 姓名, 警号, 一线 … (or unit_code, name, badge_no, frontline …)")
	}
	out.columns = map[string]bool{}
	for j, k := range keys {
		if k == "" {
			continue // extra columns (序号, 备注 …) are ignored
		}
		if out.columns[k] {
			return nil, fleet.Invalid("file", "column %q appears twice", lines[header][j])
		}
		out.columns[k] = true
	}
	var missing []string
	if !out.columns[colUnitCode] && !out.columns[colUnitID] {
		missing = append(missing, "单位编码 (unit_code)")
	}
	for _, k := range []struct{ key, label string }{{colName, "姓名 (name)"}, {colBadge, "警号 (badge_no)"}, {colFrontline, "一线 (frontline)"}} {
		if !out.columns[k.key] {
			missing = append(missing, k.label)
		}
	}
	if len(missing) > 0 {
		return nil, fleet.Invalid("file", "the header row lacks the column(s) %s", strings.Join(missing, ", "))
	}
	for i := header + 1; i < len(lines); i++ {
		cells := map[string]string{}
		blank := true
		for j, v := range lines[i] {
			v = strings.TrimSpace(v)
			if j < len(keys) && keys[j] != "" {
				cells[keys[j]] = v
			}
			if v != "" {
				blank = false
			}
		}
		if blank {
			continue
		}
		out.rows = append(out.rows, rosterRow{n: lineNo[i] - lineNo[header], cells: cells})
	}
	return out, nil
}

// rowErr is a parse failure in one cell.
func rowErr(row int, field, format string, args ...any) fleet.RowError {
	return fleet.RowError{Row: row, Field: field, Message: fmt.Sprintf(format, args...)}
}

// input converts a row to an officer input; unitByCode resolves unit
// codes. Every bad cell of the row is reported.
func (ro *roster) input(r rosterRow, unitByCode func(string) (string, bool)) (fleet.OfficerInput, []fleet.RowError) {
	var in fleet.OfficerInput
	var errs []fleet.RowError
	c := r.cells
	in.Name, in.BadgeNo = c[colName], c[colBadge]
	in.Certificate.Number = c[colCertNumber]
	switch {
	case c[colUnitID] != "":
		in.UnitID = c[colUnitID]
	case c[colUnitCode] != "":
		id, ok := unitByCode(c[colUnitCode])
		if !ok {
			errs = append(errs, rowErr(r.n, colUnitCode, "no unit with code %q in your units", c[colUnitCode]))
		}
		in.UnitID = id
	case ro.columns[colUnitCode]:
		errs = append(errs, rowErr(r.n, colUnitCode, "unit_code is required"))
	}
	if v := c[colFrontline]; v != "" {
		b, ok := parseYesNo(v)
		if !ok {
			errs = append(errs, rowErr(r.n, colFrontline, "frontline %q must be 是 or 否 (true or false)", v))
		} else {
			in.Frontline = &b
		}
	}
	if v := c[colDuty]; v != "" {
		s, ok := dutyStatuses[strings.ToLower(v)]
		if !ok {
			errs = append(errs, rowErr(r.n, colDuty, "duty_status %q must be 在岗, 调离, 退休 or 长期请假", v))
		}
		in.DutyStatus = s
	}
	if v := c[colCertStatus]; v != "" {
		s, ok := certStatuses[strings.ToLower(v)]
		if !ok {
			errs = append(errs, rowErr(r.n, colCertStatus, "certificate.status %q must be 有效, 暂扣 or 吊销", v))
		}
		in.Certificate.Status = s
	}
	for _, d := range []struct {
		key string
		to  *fleet.Date
	}{
		{colIssued, &in.Certificate.IssuedOn},
		{colExpires, &in.Certificate.ExpiresOn},
		{colReview, &in.Certificate.AnnualReviewUntil},
		{colEffective, &in.EffectiveOn},
	} {
		v, err := ro.parseDate(c[d.key])
		if err != nil {
			errs = append(errs, rowErr(r.n, d.key, "%s %q is not a date (YYYY-MM-DD)", d.key, c[d.key]))
			continue
		}
		*d.to = v
	}
	return in, errs
}

func parseYesNo(s string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "是", "true", "1", "yes", "y":
		return true, true
	case "否", "false", "0", "no", "n":
		return false, true
	}
	return false, false
}

var dutyStatuses = map[string]fleet.DutyStatus{
	"在岗": fleet.OnDuty, "调离": fleet.TransferredOut, "退休": fleet.Retired, "长期请假": fleet.LongLeave,
	string(fleet.OnDuty): fleet.OnDuty, string(fleet.TransferredOut): fleet.TransferredOut,
	string(fleet.Retired): fleet.Retired, string(fleet.LongLeave): fleet.LongLeave,
}

var certStatuses = map[string]fleet.CertStatus{
	"有效": fleet.CertValid, "暂扣": fleet.CertSuspended, "吊销": fleet.CertRevoked,
	string(fleet.CertValid): fleet.CertValid, string(fleet.CertSuspended): fleet.CertSuspended,
	string(fleet.CertRevoked): fleet.CertRevoked,
}

// dateLayouts are the written forms accepted; the register checks range.
var dateLayouts = []string{
	"2006-01-02", "2006-1-2", "2006/01/02", "2006/1/2", "2006.1.2", "2006年1月2日", "20060102",
}

// parseDate reads a roster date: one of dateLayouts, optionally followed
// by a time (Excel's "2024-01-02 00:00:00"), or in an XLSX file a date
// cell's serial number.
func (ro *roster) parseDate(s string) (fleet.Date, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return fleet.Date{}, nil
	}
	if ro.serialDates && len(s) != 8 {
		if serial, err := strconv.ParseFloat(s, 64); err == nil {
			// Excel's serials: 1 is 1900-01-01; 2958465 is 9999-12-31.
			if serial < 1 || serial > 2958465 {
				return fleet.Date{}, fmt.Errorf("serial %v out of range", serial)
			}
			t, err := excelize.ExcelDateToTime(serial, ro.date1904)
			if err != nil {
				return fleet.Date{}, err
			}
			return fleet.NewDate(t.Year(), t.Month(), t.Day()), nil
		}
	}
	day, _, _ := strings.Cut(s, " ")
	day, _, _ = strings.Cut(day, "T")
	for _, layout := range dateLayouts {
		if t, err := time.Parse(layout, day); err == nil {
			return fleet.NewDate(t.Year(), t.Month(), t.Day()), nil
		}
	}
	return fleet.Date{}, fmt.Errorf("not a date")
}
