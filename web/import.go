package web

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"

	"github.com/gin-gonic/gin"
	"github.com/xuri/excelize/v2"

	"github.com/lawfleet/fleet/fleet"
)

// importRejected is the 422 answer of an import with bad rows: nothing
// was imported, and every bad row is listed.
type importRejected struct {
	Error ErrorDetail      `json:"error"`
	Rows  []fleet.RowError `json:"rows"`
}

// importOfficers imports a roster all or nothing: the upload is parsed
// here, unit codes resolved within the user's scope, and the rows handed
// to the register, which validates and applies them in one transaction.
func (s *Server) importOfficers(c *gin.Context) {
	ctx, actor := c.Request.Context(), Actor(c)
	// The register would refuse each row; refuse before reading 20 MiB.
	if !actor.Role.Can(fleet.PermManageOfficers) {
		WriteError(c, fleet.Errorf(fleet.EFORBIDDEN, "role %s may not import officers", actor.Role))
		return
	}
	data, err := s.readUpload(c)
	if err != nil {
		WriteError(c, err)
		return
	}
	ro, err := parseRoster(data)
	if err != nil {
		WriteError(c, err)
		return
	}
	var codes map[string]string
	if ro.columns[colUnitCode] {
		if codes, err = s.unitCodes(ctx, actor); err != nil {
			WriteError(c, err)
			return
		}
	}
	byCode := func(code string) (string, bool) { id, ok := codes[code]; return id, ok }
	inputs := make([]fleet.OfficerInput, 0, len(ro.rows))
	var bad []fleet.RowError
	for _, r := range ro.rows {
		in, errs := ro.input(r, byCode)
		inputs = append(inputs, in)
		bad = append(bad, errs...)
	}
	if len(bad) > 0 {
		rejectImport(c, bad)
		return
	}
	res, err := s.reg.ImportOfficers(ctx, actor, inputs)
	if err != nil {
		WriteError(c, err)
		return
	}
	if len(res.Errors) > 0 {
		// The register counts the rows it was given; the user counts the
		// rows of the file, blank ones included.
		for i, e := range res.Errors {
			if e.Row >= 1 && e.Row <= len(ro.rows) {
				res.Errors[i].Row = ro.rows[e.Row-1].n
			}
		}
		rejectImport(c, res.Errors)
		return
	}
	c.JSON(http.StatusOK, res)
}

func rejectImport(c *gin.Context, rows []fleet.RowError) {
	c.AbortWithStatusJSON(http.StatusUnprocessableEntity, importRejected{
		Error: ErrorDetail{Code: fleet.EINVALID, Field: "file",
			Message: fmt.Sprintf("%d error(s) in the roster; nothing was imported", len(rows))},
		Rows: rows,
	})
}

// unitCodes maps the codes of the units in actor's scope to their ids.
func (s *Server) unitCodes(ctx context.Context, actor fleet.User) (map[string]string, error) {
	codes := map[string]string{}
	after := ""
	for {
		items, next, err := s.reg.Units(ctx, actor, fleet.UnitFilter{Page: fleet.Page{Limit: MaxListLimit, After: after}})
		if err != nil {
			return nil, err
		}
		for _, u := range items {
			codes[u.Code] = u.ID
		}
		if next == "" || next == after {
			return codes, nil
		}
		after = next
	}
}

// uploadTypes are the Content-Types of a roster sent as the raw body.
var uploadTypes = map[string]bool{
	"":                            true,
	"text/csv":                    true,
	"text/plain":                  true,
	"application/csv":             true,
	"text/comma-separated-values": true,
	"application/vnd.ms-excel":    true, // what Windows calls a .csv
	"application/octet-stream":    true,
	xlsxType:                      true,
}

const xlsxType = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

// readUpload reads the roster: the multipart field "file", or the raw
// body. At most MaxImportBytes are read.
func (s *Server) readUpload(c *gin.Context) ([]byte, error) {
	r, limit := c.Request, s.cfg.MaxImportBytes
	if r.ContentLength > limit {
		return nil, tooLarge(limit)
	}
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil && r.Header.Get("Content-Type") != "" {
		return nil, &fleet.Error{Code: EMEDIATYPE, Field: "Content-Type", Message: "the Content-Type header is malformed"}
	}
	body := http.MaxBytesReader(c.Writer, r.Body, limit)
	var data []byte
	switch {
	case mt == "multipart/form-data":
		data, err = filePart(multipart.NewReader(body, params["boundary"]))
	case uploadTypes[mt]:
		data, err = io.ReadAll(body)
	default:
		return nil, &fleet.Error{Code: EMEDIATYPE, Field: "Content-Type",
			Message: "send the roster as multipart/form-data (field \"file\"), text/csv or .xlsx"}
	}
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, tooLarge(limit)
	} else if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fleet.Invalid("file", "the file is empty")
	}
	return data, nil
}

// filePart returns the content of the part named "file".
func filePart(mr *multipart.Reader) ([]byte, error) {
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return nil, fleet.Invalid("file", "the form has no field \"file\"")
		}
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, err
		} else if err != nil {
			return nil, fleet.Invalid("file", "the multipart body is malformed")
		}
		if part.FormName() == "file" {
			data, err := io.ReadAll(part)
			if err != nil && !errors.As(err, &tooBig) {
				return nil, fleet.Invalid("file", "the multipart body is malformed")
			}
			return data, err
		}
		if _, err := io.Copy(io.Discard, part); err != nil {
			if errors.As(err, &tooBig) {
				return nil, err
			}
			return nil, fleet.Invalid("file", "the multipart body is malformed")
		}
	}
}

// importTemplate serves an empty roster with the Chinese headings, as CSV
// (UTF-8 with a BOM, so that Excel reads it right) or XLSX (with drop-down
// lists and an instructions sheet).
func (s *Server) importTemplate(c *gin.Context) {
	format := c.DefaultQuery("format", "xlsx")
	var headings []string
	for _, col := range rosterColumns {
		if col.heading != "" {
			headings = append(headings, col.heading)
		}
	}
	var buf bytes.Buffer
	var ctype string
	switch format {
	case "csv":
		ctype = "text/csv; charset=utf-8"
		buf.WriteString("\ufeff")
		w := csv.NewWriter(&buf)
		_ = w.Write(headings)
		w.Flush()
	case "xlsx":
		ctype = xlsxType
		if err := writeTemplateXLSX(&buf, headings); err != nil {
			WriteError(c, err)
			return
		}
	default:
		WriteError(c, fleet.Invalid("format", "format must be csv or xlsx"))
		return
	}
	name := "执法人员导入模板." + format
	c.Header("Content-Disposition", fmt.Sprintf(`attachment; filename="officers-template.%s"; filename*=UTF-8''%s`,
		format, url.PathEscape(name)))
	c.Data(http.StatusOK, ctype, buf.Bytes())
}

func writeTemplateXLSX(w io.Writer, headings []string) error {
	f := excelize.NewFile()
	defer f.Close()
	const sheet = "执法人员"
	if err := f.SetSheetName("Sheet1", sheet); err != nil {
		return err
	}
	if err := f.SetSheetRow(sheet, "A1", &headings); err != nil {
		return err
	}
	bold, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}})
	if err != nil {
		return err
	}
	// Codes, badge and certificate numbers are text: as numbers Excel
	// would drop leading zeros.
	text, err := f.NewStyle(&excelize.Style{NumFmt: 49})
	if err != nil {
		return err
	}
	lists := map[string][]string{
		colFrontline:  {"是", "否"},
		colDuty:       {"在岗", "调离", "退休", "长期请假"},
		colCertStatus: {"有效", "暂扣", "吊销"},
	}
	col := 0
	for _, rc := range rosterColumns {
		if rc.heading == "" {
			continue
		}
		col++
		name, err := excelize.ColumnNumberToName(col)
		if err != nil {
			return err
		}
		if err := f.SetColWidth(sheet, name, name, 14); err != nil {
			return err
		}
		switch rc.key {
		case colUnitCode, colBadge, colCertNumber, colIssued, colExpires, colReview, colEffective:
			if err := f.SetColStyle(sheet, name, text); err != nil {
				return err
			}
		}
		if items, ok := lists[rc.key]; ok {
			dv := excelize.NewDataValidation(true)
			dv.SetSqref(fmt.Sprintf("%s2:%s%d", name, name, fleet.MaxImportRows+1))
			if err := dv.SetDropList(items); err != nil {
				return err
			}
			if err := f.AddDataValidation(sheet, dv); err != nil {
				return err
			}
		}
	}
	if err := f.SetRowStyle(sheet, 1, 1, bold); err != nil {
		return err
	}
	const help = "说明"
	if _, err := f.NewSheet(help); err != nil {
		return err
	}
	_ = f.SetSheetRow(help, "A1", &[]string{"列", "说明"})
	row := 2
	for _, rc := range rosterColumns {
		if rc.heading == "" {
			continue
		}
		cell, _ := excelize.CoordinatesToCellName(1, row)
		_ = f.SetSheetRow(help, cell, &[]string{rc.heading, rc.note})
		row++
	}
	cell, _ := excelize.CoordinatesToCellName(1, row+1)
	_ = f.SetSheetRow(help, cell, &[]string{"导入", "只读取第一个工作表；按警号匹配已有人员并更新，其余新建；任何一行有错则全部不导入。"})
	_ = f.SetColWidth(help, "A", "A", 16)
	_ = f.SetColWidth(help, "B", "B", 60)
	f.SetActiveSheet(0)
	_, err = f.WriteTo(w)
	return err
}
