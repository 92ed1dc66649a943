package seed

import (
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/lawfleet/fleet/fleet"
)

// The demo province: Hubei's transport law-enforcement bureau with real
// administrative division codes (GB/T 2260) for its cities and districts.
const (
	ProvinceCode = "420000"
	ProvinceName = "湖北省交通运输综合行政执法局"
)

type county struct {
	code, name string
	onRiver    bool // on the Yangtze or Han: gets a maritime station (海事所)
}

type city struct {
	code, name string
	lat, lon   float64 // roughly the city centre, for the simulator
	counties   []county
}

// cities are the demo cities, each with more real districts and counties
// than a demo needs; Generate picks 2–3 of them per city.
var cities = []city{
	{"420100", "武汉市", 30.593, 114.305, []county{
		{"420102", "江岸区", true}, {"420106", "武昌区", true}, {"420105", "汉阳区", true},
		{"420111", "洪山区", false}, {"420112", "东西湖区", false}, {"420104", "硚口区", true},
	}},
	{"420500", "宜昌市", 30.692, 111.286, []county{
		{"420506", "夷陵区", true}, {"420502", "西陵区", true}, {"420503", "伍家岗区", true},
		{"420581", "宜都市", true}, {"420582", "当阳市", false},
	}},
	{"420600", "襄阳市", 32.009, 112.122, []county{
		{"420606", "樊城区", true}, {"420602", "襄城区", true}, {"420607", "襄州区", false},
		{"420683", "枣阳市", false}, {"420684", "宜城市", true},
	}},
	{"421000", "荆州市", 30.335, 112.240, []county{
		{"421002", "沙市区", true}, {"421003", "荆州区", false}, {"421022", "公安县", true},
		{"421087", "松滋市", true}, {"421083", "洪湖市", true},
	}},
}

// stationKinds are the kinds of units under a county brigade (大队).
var stationKinds = []struct {
	suffix string
	river  bool // only in river counties
}{
	{"第一执法中队", false},
	{"第二执法中队", false},
	{"超限检测站", false},
	{"海事所", true},
}

// UnitPlan is one unit to create; ParentCode is empty for the province.
type UnitPlan struct {
	Code       string
	Name       string
	Level      fleet.UnitLevel
	ParentCode string
	Maritime   bool // a 海事所: holds the AIS units
}

// planUnits returns the demo tree, parents before children: the province,
// then each city's detachment (支队), 2–3 county brigades (大队) under it,
// and 1–3 stations (中队, 检测站, 海事所) under each brigade.
func planUnits(rng *rand.Rand) []UnitPlan {
	units := []UnitPlan{{Code: ProvinceCode, Name: ProvinceName, Level: fleet.LevelProvince}}
	for _, c := range cities {
		units = append(units, UnitPlan{Code: c.code, Name: c.name + "交通运输综合执法支队",
			Level: fleet.LevelCity, ParentCode: ProvinceCode})
		n := 2 + rng.IntN(2)
		for _, i := range rng.Perm(len(c.counties))[:n] {
			co := c.counties[i]
			units = append(units, UnitPlan{Code: co.code, Name: co.name + "交通运输综合执法大队",
				Level: fleet.LevelCounty, ParentCode: c.code})
			// A river county always keeps its 海事所 among its stations:
			// the AIS units need a home.
			var kinds []int
			for k, sk := range stationKinds {
				if !sk.river || co.onRiver {
					kinds = append(kinds, k)
				}
			}
			rng.Shuffle(len(kinds), func(a, b int) { kinds[a], kinds[b] = kinds[b], kinds[a] })
			kinds = kinds[:min(len(kinds), 1+rng.IntN(3))]
			if maritime := len(stationKinds) - 1; co.onRiver && !containsKind(kinds, maritime) {
				if len(kinds) < 3 {
					kinds = append(kinds, maritime)
				} else {
					kinds[len(kinds)-1] = maritime
				}
			}
			slices.Sort(kinds)
			if containsKind(kinds, 1) && !containsKind(kinds, 0) {
				kinds[slices.Index(kinds, 1)] = 0 // no 第二中队 without a 第一
			}
			for j, k := range kinds {
				sk := stationKinds[k]
				units = append(units, UnitPlan{Code: fmt.Sprintf("%s-%02d", co.code, j+1),
					Name: co.name + sk.suffix, Level: fleet.LevelStation, ParentCode: co.code, Maritime: sk.river})
			}
		}
	}
	return units
}

func containsKind(kinds []int, k int) bool { return slices.Contains(kinds, k) }

// CityCentre returns the centre of the demo city a unit belongs to, from
// the unit's code (a city code, a county code or a station code under a
// county), and false for the province or an unknown code.
func CityCentre(unitCode string) (lat, lon float64, ok bool) {
	if len(unitCode) < 4 {
		return 0, 0, false
	}
	for _, c := range cities {
		if c.code[:4] == unitCode[:4] {
			return c.lat, c.lon, true
		}
	}
	return 0, 0, false
}
