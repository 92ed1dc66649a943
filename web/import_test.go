package web

import (
	"bytes"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/lawfleet/fleet/fleet"
)

// multipartFile wraps data as the form field "file".
func multipartFile(t testing.TB, filename string, data []byte) raw {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	_ = w.WriteField("note", "ignored")
	fw, err := w.CreateFormFile("file", filename)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(data)
	w.Close()
	return raw{w.FormDataContentType(), buf.Bytes()}
}

// xlsxOf builds a workbook whose first sheet holds rows; time.Time
// values become real date cells.
func xlsxOf(t testing.TB, rows [][]any) []byte {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	dateStyle, err := f.NewStyle(&excelize.Style{NumFmt: 14}) // m/d/yy, as Excel shows dates
	if err != nil {
		t.Fatal(err)
	}
	for i, row := range rows {
		for j, v := range row {
			cell, _ := excelize.CoordinatesToCellName(j+1, i+1)
			if err := f.SetCellValue("Sheet1", cell, v); err != nil {
				t.Fatal(err)
			}
			if _, ok := v.(time.Time); ok {
				_ = f.SetCellStyle("Sheet1", cell, cell, dateStyle)
			}
		}
	}
	// A second sheet that must be ignored.
	_, _ = f.NewSheet("备注")
	_ = f.SetCellValue("备注", "A1", "not a roster")
	var buf bytes.Buffer
	if _, err := f.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestImportOfficers(t *testing.T) {
	e := sqliteEnv(t)
	admin := e.login(t, "admin", adminPassword)
	o := e.seedOrg(t, admin)
	mgrA := e.user(t, admin, "mgr.ja", fleet.RoleEquipmentManager, o.countyA.ID)
	commander := e.user(t, admin, "cmd.wh", fleet.RoleCommander, o.city.ID)

	officers := func(t *testing.T) map[string]fleet.Officer {
		m := map[string]fleet.Officer{}
		for _, x := range list[fleet.Officer](t, admin, "/api/v1/officers") {
			m[x.BadgeNo] = x
		}
		return m
	}
	imp := func(t *testing.T, c *client, body raw, status int) response {
		t.Helper()
		r := c.do(t, http.MethodPost, "/api/v1/officers/import", body)
		if r.status != status {
			t.Fatalf("import: status %d, want %d: %s", r.status, status, r.body)
		}
		return r
	}
	result := func(t *testing.T, r response) fleet.ImportResult {
		t.Helper()
		var res fleet.ImportResult
		if err := json.Unmarshal(r.body, &res); err != nil || res.Errors == nil {
			t.Fatalf("result %s: %v", r.body, err)
		}
		return res
	}
	rejected := func(t *testing.T, r response) importRejected {
		t.Helper()
		var rej importRejected
		if err := json.Unmarshal(r.body, &rej); err != nil || rej.Error.Code != fleet.EINVALID || rej.Error.Field != "file" {
			t.Fatalf("rejection %s: %v", r.body, err)
		}
		return rej
	}

	t.Run("CSV with English headers, multipart", func(t *testing.T) {
		csv := "unit_code,name,badge_no,frontline,duty_status,certificate_number,issued_on,expires_on,annual_review_until,status,effective_on\n" +
			"HB-WH-JA,Zhang San,E001,true,on_duty,ZF-E001,2024-01-01,2029-12-31,2026-12-31,valid,2026-01-01\n" +
			"HB-WH-JA-01,Li Si,E002,0,long_leave,,,,,,\n"
		res := result(t, imp(t, mgrA, multipartFile(t, "roster.csv", []byte(csv)), http.StatusOK))
		if res.Created != 2 || res.Updated != 0 {
			t.Fatalf("result = %+v", res)
		}
		got := officers(t)
		z := got["E001"]
		if z.Name != "Zhang San" || z.UnitID != o.countyA.ID || !z.Frontline || z.Certificate.Number != "ZF-E001" ||
			z.Certificate.AnnualReviewUntil != fleet.NewDate(2026, 12, 31) || z.EffectiveOn != fleet.NewDate(2026, 1, 1) {
			t.Errorf("E001 = %+v", z)
		}
		if l := got["E002"]; l.UnitID != o.stationA.ID || l.Frontline || l.DutyStatus != fleet.LongLeave || l.Certificate.Number != "" {
			t.Errorf("E002 = %+v", l)
		}
	})

	t.Run("CSV with Chinese headers, BOM, a title row and a blank line", func(t *testing.T) {
		csv := "\ufeff江岸区执法人员花名册,,,,,,,,,,\n" +
			"序号,单位编码,姓名,警号,一线,在岗状态,执法证号,发证日期,有效期至,年审有效期至,证件状态,生效日期,备注\n" +
			"1,HB-WH-JA,张三,C001,是,在岗,ZF-C001,2024/1/5,2029/12/31,2026-12-31,有效,,\n" +
			",,,,,,,,,,,,\n" +
			"2,HB-WH-JA,李四,C002,否,调离,ZF-C002,2024-01-05,2029-12-31,2026-12-31,有效,,调往市局\n" +
			// An existing officer is updated, matched by badge number.
			"3,HB-WH-JA-01,Zhang San,E001,是,在岗,ZF-E001,2024-01-01,2029-12-31,2027-06-30,暂扣,,\n"
		res := result(t, imp(t, mgrA, raw{"text/csv", []byte(csv)}, http.StatusOK))
		if res.Created != 2 || res.Updated != 1 {
			t.Fatalf("result = %+v", res)
		}
		got := officers(t)
		if c := got["C001"]; c.Name != "张三" || c.Certificate.IssuedOn != fleet.NewDate(2024, 1, 5) || c.EffectiveOn != fleet.DateOf(testNow) {
			t.Errorf("C001 = %+v", c)
		}
		// 调离 revokes the certificate, as in the register.
		if c := got["C002"]; c.DutyStatus != fleet.TransferredOut || c.Certificate.Status != fleet.CertRevoked {
			t.Errorf("C002 = %+v", c)
		}
		if z := got["E001"]; z.UnitID != o.stationA.ID || z.Certificate.Status != fleet.CertSuspended || z.Certificate.AnnualReviewUntil != fleet.NewDate(2027, 6, 30) {
			t.Errorf("E001 after update = %+v", z)
		}
	})

	t.Run("GBK CSV", func(t *testing.T) {
		csv := "单位编码,姓名,警号/工号,一线,在岗状态,执法证号,发证日期,有效期至,年审有效期至,证件状态\n" +
			"HB-WH-JA,欧阳锋,G001,是,在岗,ZF-G001,2024-03-01,2030-02-28,2026-12-31,有效\n" +
			"HB-WH-JA,黄药师,G002,是,长期请假,ZF-G002,2024-03-01,2030-02-28,2026-12-31,有效\n"
		gbk, err := simplifiedchinese.GBK.NewEncoder().Bytes([]byte(csv))
		if err != nil {
			t.Fatal(err)
		}
		res := result(t, imp(t, mgrA, multipartFile(t, "花名册.csv", gbk), http.StatusOK))
		if res.Created != 2 {
			t.Fatalf("result = %+v", res)
		}
		got := officers(t)
		if got["G001"].Name != "欧阳锋" || got["G002"].Name != "黄药师" || got["G002"].DutyStatus != fleet.LongLeave {
			t.Errorf("GBK names = %q, %q", got["G001"].Name, got["G002"].Name)
		}
	})

	t.Run("XLSX with date cells", func(t *testing.T) {
		day := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }
		data := xlsxOf(t, [][]any{
			{"单位编码", "姓名", "警号", "一线", "在岗状态", "执法证号", "发证日期", "有效期至", "年审有效期至", "证件状态", "生效日期"},
			{"HB-WH-JA", "郭靖", "X001", "是", "在岗", "ZF-X001", day(2023, 9, 1), day(2028, 8, 31), day(2026, 12, 31), "有效", day(2026, 3, 1)},
			{"HB-WH-JA-01", "黄蓉", 20002, true, "在岗", "ZF-X002", "2023-09-01", "2028/08/31", day(2026, 12, 31), "", nil},
		})
		res := result(t, imp(t, mgrA, multipartFile(t, "roster.xlsx", data), http.StatusOK))
		if res.Created != 2 {
			t.Fatalf("result = %+v", res)
		}
		got := officers(t)
		g := got["X001"]
		if g.Name != "郭靖" || g.Certificate.IssuedOn != fleet.NewDate(2023, 9, 1) || g.Certificate.ExpiresOn != fleet.NewDate(2028, 8, 31) ||
			g.EffectiveOn != fleet.NewDate(2026, 3, 1) {
			t.Errorf("X001 = %+v", g)
		}
		h := got["20002"]
		if h.Name != "黄蓉" || !h.Frontline || h.Certificate.ExpiresOn != fleet.NewDate(2028, 8, 31) || h.UnitID != o.stationA.ID {
			t.Errorf("20002 = %+v", h)
		}
		// The raw body works too.
		data = xlsxOf(t, [][]any{{"unit_code", "name", "badge_no", "frontline"}, {"HB-WH-JA", "杨过", "X003", "否"}})
		if res := result(t, imp(t, mgrA, raw{xlsxType, data}, http.StatusOK)); res.Created != 1 {
			t.Errorf("raw XLSX: %+v", res)
		}
	})

	t.Run("bad rows reject the whole file", func(t *testing.T) {
		before := officers(t)
		audit := e.auditCount()
		csv := "单位编码,姓名,警号,一线,执法证号,发证日期,有效期至,年审有效期至\n" +
			"HB-WH-JA,好人,B001,是,ZF-B001,2024-01-01,2029-12-31,2026-12-31\n" +
			"HB-WH-JA,坏日期,B002,是,ZF-B002,2024-13-01,2029-12-31,2026-12-31\n" +
			"\n" +
			"NO-SUCH-UNIT,无单位,B003,是,,,,\n" +
			"HB-WH-HS,别的区,B004,maybe,,,,\n"
		r := imp(t, mgrA, multipartFile(t, "roster.csv", []byte(csv)), http.StatusUnprocessableEntity)
		rej := rejected(t, r)
		want := []fleet.RowError{
			{Row: 2, Field: "certificate.issued_on"},
			{Row: 4, Field: "unit_code"},
			{Row: 5, Field: "unit_code"}, // county B is outside county A's scope
			{Row: 5, Field: "frontline"},
		}
		if len(rej.Rows) != len(want) {
			t.Fatalf("rows = %+v", rej.Rows)
		}
		for i, w := range want {
			if rej.Rows[i].Row != w.Row || rej.Rows[i].Field != w.Field || rej.Rows[i].Message == "" {
				t.Errorf("row error %d = %+v, want row %d field %s", i, rej.Rows[i], w.Row, w.Field)
			}
		}
		if got := officers(t); len(got) != len(before) {
			t.Errorf("officers %d → %d: something was imported", len(before), len(got))
		}
		if e.auditCount() != audit {
			t.Error("the audit log grew")
		}
	})

	t.Run("rows the register refuses reject the whole file", func(t *testing.T) {
		before := officers(t)
		csv := "unit_code,name,badge_no,frontline,certificate_number,issued_on,expires_on\n" +
			"HB-WH-JA,Good,R001,1,,,\n" +
			",,,,,,\n" +
			"HB-WH-JA,,R002,1,,,\n" + // no name
			"HB-WH-JA,Dup,R001,1,,,\n" + // badge repeats row 1
			"HB-WH-JA,Old,R003,1,ZF-R003,1900-01-01,2029-12-31\n"
		rej := rejected(t, imp(t, mgrA, raw{"text/csv; charset=utf-8", []byte(csv)}, http.StatusUnprocessableEntity))
		var got []string
		for _, re := range rej.Rows {
			got = append(got, re.Field)
			if re.Row < 3 {
				t.Errorf("row numbers must count the blank line: %+v", re)
			}
		}
		if !slices.Equal(got, []string{"name", "badge_no", "certificate.issued_on"}) || rej.Rows[0].Row != 3 || rej.Rows[1].Row != 4 || rej.Rows[2].Row != 5 {
			t.Errorf("rows = %+v", rej.Rows)
		}
		if after := officers(t); len(after) != len(before) {
			t.Errorf("officers %d → %d", len(before), len(after))
		}
		// A badge in another county is not taken over.
		csv = "unit_code,name,badge_no,frontline\nHB-WH-JA,X,R009,1\n"
		imp(t, admin, raw{"text/csv", []byte("unit_code,name,badge_no,frontline\nHB-WH-HS,B,R009,1\n")}, http.StatusOK)
		rej = rejected(t, imp(t, mgrA, raw{"text/csv", []byte(csv)}, http.StatusUnprocessableEntity))
		if len(rej.Rows) != 1 || rej.Rows[0].Field != "badge_no" {
			t.Errorf("foreign badge: %+v", rej.Rows)
		}
	})

	t.Run("file problems", func(t *testing.T) {
		n := len(officers(t))
		tests := []struct {
			name   string
			c      *client
			body   raw
			status int
			field  string
		}{
			{"no header", mgrA, raw{"text/csv", []byte("a,b,c\n1,2,3\n")}, 400, "file"},
			{"missing column", mgrA, raw{"text/csv", []byte("姓名,警号\n张三,1\n")}, 400, "file"},
			{"duplicate column", mgrA, raw{"text/csv", []byte("姓名,警号,name,单位编码,一线\n")}, 400, "file"},
			{"header only", mgrA, raw{"text/csv", []byte("姓名,警号,单位编码,一线\n")}, 400, "file"},
			{"empty", mgrA, raw{"text/csv", nil}, 400, "file"},
			{"no file field", mgrA, func() raw {
				var buf bytes.Buffer
				w := multipart.NewWriter(&buf)
				_ = w.WriteField("roster", "x")
				w.Close()
				return raw{w.FormDataContentType(), buf.Bytes()}
			}(), 400, "file"},
			{"not a workbook", mgrA, raw{xlsxType, []byte("PK\x03\x04garbage")}, 400, "file"},
			{"old xls", mgrA, raw{"application/vnd.ms-excel", []byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1}}, 400, "file"},
			{"JSON", mgrA, raw{"application/json", []byte(`{"rows":[]}`)}, 415, "Content-Type"},
			{"over 20 MiB", mgrA, raw{"text/csv", bytes.Repeat([]byte("x"), DefaultMaxImportBytes+1)}, 413, "body"},
			{"over 20 MiB in a form", mgrA, multipartFile(t, "big.csv", bytes.Repeat([]byte("x"), DefaultMaxImportBytes)), 413, "body"},
			{"commander", commander, raw{"text/csv", []byte("姓名,警号,单位编码,一线\n张三,1,HB-WH-JA,是\n")}, 403, ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				d := tt.c.mustFail(t, http.MethodPost, "/api/v1/officers/import", tt.body, tt.status)
				if d.Field != tt.field {
					t.Errorf("error = %+v, want field %q", d, tt.field)
				}
			})
		}
		if got := len(officers(t)); got != n {
			t.Errorf("officers %d → %d", n, got)
		}
	})

	t.Run("templates", func(t *testing.T) {
		r := mgrA.mustDo(t, http.MethodGet, "/api/v1/officers/import/template?format=csv", nil, http.StatusOK, nil)
		if !strings.HasPrefix(r.header.Get("Content-Type"), "text/csv") || !strings.Contains(r.header.Get("Content-Disposition"), "attachment") {
			t.Errorf("CSV headers: %v", r.header)
		}
		if !bytes.HasPrefix(r.body, []byte("\ufeff单位编码,姓名,警号,一线")) {
			t.Errorf("CSV template = %q", r.body)
		}
		// The CSV template, filled in, imports.
		filled := append(bytes.Clone(r.body), []byte("HB-WH-JA,模板甲,T001,是,在岗,ZF-T001,2024-01-01,2029-12-31,2026-12-31,有效,\n")...)
		if res := result(t, imp(t, mgrA, raw{"text/csv", filled}, http.StatusOK)); res.Created != 1 {
			t.Errorf("filled CSV template: %+v", res)
		}

		r = mgrA.mustDo(t, http.MethodGet, "/api/v1/officers/import/template?format=xlsx", nil, http.StatusOK, nil)
		if r.header.Get("Content-Type") != xlsxType {
			t.Errorf("XLSX Content-Type %q", r.header.Get("Content-Type"))
		}
		f, err := excelize.OpenReader(bytes.NewReader(r.body))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		sheet := f.GetSheetList()[0]
		rows, _ := f.GetRows(sheet)
		if len(rows) != 1 || rows[0][0] != "单位编码" || rows[0][len(rows[0])-1] != "生效日期" {
			t.Fatalf("XLSX template rows = %v", rows)
		}
		// Fill it in as a user would, and import it.
		_ = f.SetSheetRow(sheet, "A2", &[]any{"HB-WH-JA", "模板乙", "T002", "是", "在岗", "ZF-T002", "2024-01-01", "2029-12-31", "2026-12-31", "有效", ""})
		var buf bytes.Buffer
		if _, err := f.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		if res := result(t, imp(t, mgrA, multipartFile(t, "模板.xlsx", buf.Bytes()), http.StatusOK)); res.Created != 1 {
			t.Errorf("filled XLSX template: %+v", res)
		}
	})
}

func TestParseRosterDates(t *testing.T) {
	ro := &roster{serialDates: true}
	tests := []struct {
		in   string
		want fleet.Date
		ok   bool
	}{
		{"2024-01-05", fleet.NewDate(2024, 1, 5), true},
		{"2024/1/5", fleet.NewDate(2024, 1, 5), true},
		{"2024/01/05", fleet.NewDate(2024, 1, 5), true},
		{"2024年1月5日", fleet.NewDate(2024, 1, 5), true},
		{"2024-01-05 00:00:00", fleet.NewDate(2024, 1, 5), true},
		{"20240105", fleet.NewDate(2024, 1, 5), true},
		{"45296", fleet.NewDate(2024, 1, 5), true}, // Excel's serial
		{"45296.5", fleet.NewDate(2024, 1, 5), true},
		{"", fleet.Date{}, true},
		{"2024-02-30", fleet.Date{}, false},
		{"05/01/2024", fleet.Date{}, false},
		{"soon", fleet.Date{}, false},
		{"-3", fleet.Date{}, false},
	}
	for _, tt := range tests {
		got, err := ro.parseDate(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseDate(%q) = %v, %v; want %v, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
	// In a CSV a bare number is not a date.
	if _, err := (&roster{}).parseDate("45296"); err == nil {
		t.Error("CSV took a serial number for a date")
	}
}
