package fleet

import "strings"

// UnitLevel is a unit's place in the administrative tree.
type UnitLevel string

const (
	LevelProvince UnitLevel = "province" // 省
	LevelCity     UnitLevel = "city"     // 市
	LevelCounty   UnitLevel = "county"   // 县（区）
	LevelStation  UnitLevel = "station"  // 站、所、大队
)

func (l UnitLevel) Valid() bool {
	switch l {
	case LevelProvince, LevelCity, LevelCounty, LevelStation:
		return true
	}
	return false
}

// Depth is 0 for a province, 3 for a station.
func (l UnitLevel) Depth() int {
	switch l {
	case LevelProvince:
		return 0
	case LevelCity:
		return 1
	case LevelCounty:
		return 2
	}
	return 3
}

// Unit is an agency in the tree province → city → county → station/brigade.
// Path is the materialised path of ids from the root, "/a/b/c/", so that
// "is X under Y" is a prefix test and a subtree is one indexed range scan.
type Unit struct {
	ID       string    `json:"id"`
	ParentID string    `json:"parent_id,omitempty"`
	Code     string    `json:"code"`
	Name     string    `json:"name"`
	Level    UnitLevel `json:"level"`
	Path     string    `json:"path"`
	Version  int       `json:"version"`
}

// Contains reports whether the unit at path lies in u's subtree (u included).
func (u Unit) Contains(path string) bool { return strings.HasPrefix(path, u.Path) }

// ChildPath is the path of a new child of u with id.
func (u Unit) ChildPath(id string) string { return u.Path + id + "/" }

// PathContains reports whether path lies under scope; the empty scope is
// the whole register (a root administrator).
func PathContains(scope, path string) bool { return strings.HasPrefix(path, scope) }
