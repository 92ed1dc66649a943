package seed

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestNameGen(t *testing.T) {
	tests := []struct {
		name string
		seed uint64
		n    int
	}{
		{"small", 1, 10},
		{"demo", 1, 300},
		{"other seed", 42, 300},
		{"large", 7, 5000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			draw := func() []string {
				g := NewNameGen(rand.New(rand.NewPCG(tt.seed, 0)))
				out := make([]string, tt.n)
				for i := range out {
					out[i] = g.Next()
				}
				return out
			}
			names := draw()
			if again := draw(); !slices.Equal(names, again) {
				t.Fatalf("same seed gave different names: %v … vs %v …", names[:3], again[:3])
			}
			seen := map[string]bool{}
			for _, n := range names {
				if seen[n] {
					t.Errorf("name %s given twice", n)
				}
				seen[n] = true
				if !hasKnownSurname(n) {
					t.Errorf("name %s does not start with a known surname", n)
				}
				if c := utf8.RuneCountInString(n); c < 2 || c > 4 {
					t.Errorf("name %s has %d characters, want 2 to 4", n, c)
				}
			}
		})
	}
}

func hasKnownSurname(name string) bool {
	for _, s := range surnames {
		if strings.HasPrefix(name, s.name) {
			return true
		}
	}
	return false
}

func TestNameGenSurnameSpread(t *testing.T) {
	g := NewNameGen(rand.New(rand.NewPCG(1, 0)))
	count := map[string]int{}
	const n = 3000
	for range n {
		name := g.Next()
		count[string([]rune(name)[:1])]++
	}
	// The commonest surnames dominate, as in a real roster, but no one
	// surname takes over.
	if count["王"] < n/40 || count["李"] < n/40 {
		t.Errorf("王 %d, 李 %d of %d: the commonest surnames are too rare", count["王"], count["李"], n)
	}
	for s, c := range count {
		if c > n/8 {
			t.Errorf("surname %s on %d of %d names", s, c, n)
		}
	}
	if len(count) < 50 {
		t.Errorf("only %d surnames in %d names", len(count), n)
	}
}
