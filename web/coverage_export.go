package web

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/xuri/excelize/v2"

	"github.com/lawfleet/fleet/fleet"
)

// The coverage report as a file to send upward: XLSX with a sheet per
// level (省, 市, 县, 站) below and including the unit, or one CSV table with
// the level in the first column. Headings are the Chinese terms the
// provincial templates use; rates are numbers formatted as percentages in
// XLSX, and "75.40%" text in CSV, which Excel reads back as a percentage.

// coverageHeadings are the columns of every sheet, in order.
var coverageHeadings = []string{"单位", "单位编码", "应配人数", "已配人数", "配置率", "在用数", "在用率",
	"里程碑目标", "是否滞后", "预计达标日期", "缺口", "库存备用", "需采购"}

// levelSheets names each level's sheet.
var levelSheets = map[fleet.UnitLevel]string{fleet.LevelProvince: "省", fleet.LevelCity: "市",
	fleet.LevelCounty: "县", fleet.LevelStation: "站"}

var levelsInOrder = []fleet.UnitLevel{fleet.LevelProvince, fleet.LevelCity, fleet.LevelCounty, fleet.LevelStation}

// coverageXLSXType is the media type of the XLSX export.
const coverageXLSXType = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

// projectionText is what 预计达标日期 says when there is no date.
var projectionText = map[string]string{
	fleet.ProjectionReached:      "已达标",
	fleet.ProjectionNotAtPace:    "按当前进度无法达标",
	fleet.ProjectionNoEligible:   "无应配人员",
	fleet.ProjectionShortHistory: "数据不足",
}

func (s *Server) coverageExport(c *gin.Context) {
	q, err := coverageQuery(c)
	if err != nil {
		WriteError(c, err)
		return
	}
	format := c.DefaultQuery("format", "xlsx")
	if format != "xlsx" && format != "csv" {
		WriteError(c, fleet.Invalid("format", "format must be xlsx or csv"))
		return
	}
	q.Depth = fleet.CoverageDepthAll // a file holds the whole subtree
	r, err := s.cov.Report(c.Request.Context(), Actor(c), q)
	if err != nil {
		WriteError(c, err)
		return
	}
	rows := flattenCoverage(r)
	var (
		body  []byte
		ctype string
	)
	if format == "xlsx" {
		body, err = coverageXLSX(r, rows, time.Now())
		ctype = coverageXLSXType
	} else {
		body, err = coverageCSV(rows)
		ctype = "text/csv; charset=utf-8"
	}
	if err != nil {
		WriteError(c, fmt.Errorf("web: coverage export: %w", err))
		return
	}
	// An ASCII name for old clients, the Chinese one for the rest (RFC 6266).
	ascii := fmt.Sprintf("coverage-%s-%s.%s", r.Unit.Code, r.At, format)
	name := fmt.Sprintf("执法记录仪配置率-%s-%s.%s", r.Unit.Name, r.At, format)
	c.Header("Content-Disposition", fmt.Sprintf(`attachment; filename="%s"; filename*=UTF-8''%s`, ascii, url.PathEscape(name)))
	c.Data(http.StatusOK, ctype, body)
}

// flattenCoverage lists the report's units depth first: each unit, then
// its children, as the tree is read.
func flattenCoverage(r fleet.CoverageReport) []fleet.CoverageReport {
	out := []fleet.CoverageReport{r}
	for _, ch := range r.Children {
		out = append(out, flattenCoverage(ch)...)
	}
	return out
}

// coverageCells is one unit's row; rates are fractions (nil: empty cell).
func coverageCells(r fleet.CoverageReport) []any {
	frac := func(p *float64) any {
		if p == nil {
			return nil
		}
		return *p
	}
	behind := "否"
	if r.Behind {
		behind = "是"
	}
	projected := projectionText[r.ProjectionNote]
	if !r.ProjectedFullDate.IsZero() && r.ProjectionNote != fleet.ProjectionReached {
		projected = r.ProjectedFullDate.String()
	}
	return []any{r.Unit.Name, r.Unit.Code, r.Eligible, r.Equipped, frac(r.Rate), r.Active, frac(r.ActiveRate),
		frac(r.Milestone), behind, projected, r.Shortfall, r.Spare, r.ToProcure}
}

// percentColumns are the columns (0-based) that hold fractions.
var percentColumns = []int{4, 6, 7}

func coverageXLSX(top fleet.CoverageReport, rows []fleet.CoverageReport, now time.Time) ([]byte, error) {
	f := excelize.NewFile()
	defer f.Close()
	head, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true},
		Fill:      excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"DDEBF7"}},
		Alignment: &excelize.Alignment{Horizontal: "center", Vertical: "center", WrapText: true}})
	if err != nil {
		return nil, err
	}
	pct, err := f.NewStyle(&excelize.Style{NumFmt: 10}) // 0.00%
	if err != nil {
		return nil, err
	}
	first := true
	for _, level := range levelsInOrder {
		if level.Depth() < top.Unit.Level.Depth() {
			continue
		}
		sheet := levelSheets[level]
		if first {
			if err := f.SetSheetName("Sheet1", sheet); err != nil {
				return nil, err
			}
			first = false
		} else if _, err := f.NewSheet(sheet); err != nil {
			return nil, err
		}
		if err := f.SetSheetRow(sheet, "A1", &coverageHeadings); err != nil {
			return nil, err
		}
		last, _ := excelize.ColumnNumberToName(len(coverageHeadings))
		if err := f.SetCellStyle(sheet, "A1", last+"1", head); err != nil {
			return nil, err
		}
		if err := f.SetColWidth(sheet, "A", "A", 36); err != nil {
			return nil, err
		}
		if err := f.SetColWidth(sheet, "B", last, 12); err != nil {
			return nil, err
		}
		if err := f.SetColWidth(sheet, "J", "J", 18); err != nil {
			return nil, err
		}
		if err := f.SetPanes(sheet, &excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"}); err != nil {
			return nil, err
		}
		n := 2
		for _, r := range rows {
			if r.Unit.Level != level {
				continue
			}
			cells := coverageCells(r)
			cell, _ := excelize.CoordinatesToCellName(1, n)
			if err := f.SetSheetRow(sheet, cell, &cells); err != nil {
				return nil, err
			}
			for _, col := range percentColumns {
				cell, _ := excelize.CoordinatesToCellName(col+1, n)
				if err := f.SetCellStyle(sheet, cell, cell, pct); err != nil {
					return nil, err
				}
			}
			n++
		}
	}
	// A last sheet says what the figures are, for whoever receives the file.
	const notes = "说明"
	if _, err := f.NewSheet(notes); err != nil {
		return nil, err
	}
	lines := [][]any{
		{"执法记录仪配置率报表"},
		{"统计单位", fmt.Sprintf("%s（%s）", top.Unit.Name, top.Unit.Code)},
		{"统计日期", top.At.String()},
		{"导出时间", now.In(fleet.Zone).Format("2006-01-02 15:04")},
		{"应配人数", "统计日一线、持证（执法证有效、未暂扣或吊销、年审有效）、在岗执法人员数，含下级单位"},
		{"已配人数", "应配人员中持有在用执法记录仪（非维修、遗失、报废）的人数"},
		{"配置率", "已配人数 ÷ 应配人数；无应配人员时为空"},
		{"在用数", "已配人员中，其记录仪在统计日前30日内有上线或采集站上传记录的人数"},
		{"在用率", "在用数 ÷ 应配人数"},
		{"里程碑目标", "本省年度目标折线在统计日的值（2026年12月31日为100%）"},
		{"是否滞后", "配置率低于里程碑目标"},
		{"预计达标日期", "按近90日趋势推算配置率达到100%的日期"},
		{"缺口", "应配人数 − 已配人数"},
		{"库存备用", "在库且可用的记录仪数"},
		{"需采购", "缺口 − 库存备用（不小于0）"},
	}
	for i, l := range lines {
		cell, _ := excelize.CoordinatesToCellName(1, i+1)
		if err := f.SetSheetRow(notes, cell, &l); err != nil {
			return nil, err
		}
	}
	if err := f.SetColWidth(notes, "A", "A", 14); err != nil {
		return nil, err
	}
	if err := f.SetColWidth(notes, "B", "B", 80); err != nil {
		return nil, err
	}
	f.SetActiveSheet(0)
	buf, err := f.WriteToBuffer()
	if err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func coverageCSV(rows []fleet.CoverageReport) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString("\uFEFF") // the BOM: Excel reads UTF-8 Chinese correctly only with it
	w := csv.NewWriter(&buf)
	w.UseCRLF = true // what Excel writes and expects
	if err := w.Write(append([]string{"层级"}, coverageHeadings...)); err != nil {
		return nil, err
	}
	for _, r := range rows {
		rec := []string{levelSheets[r.Unit.Level]}
		for i, v := range coverageCells(r) {
			switch x := v.(type) {
			case nil:
				rec = append(rec, "")
			case float64:
				if isPercent(i) {
					rec = append(rec, strconv.FormatFloat(x*100, 'f', 2, 64)+"%")
				} else {
					rec = append(rec, strconv.FormatFloat(x, 'f', -1, 64))
				}
			default:
				rec = append(rec, fmt.Sprint(x))
			}
		}
		if err := w.Write(rec); err != nil {
			return nil, err
		}
	}
	w.Flush()
	return buf.Bytes(), w.Error()
}

func isPercent(col int) bool {
	for _, c := range percentColumns {
		if c == col {
			return true
		}
	}
	return false
}
