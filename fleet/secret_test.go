package fleet

import (
	"strings"
	"testing"
)

func TestPasswordHash(t *testing.T) {
	h, err := hashPassword("正确的密码 correct horse", 1000)
	if err != nil {
		t.Fatal(err)
	}
	if !CheckPassword(h, "正确的密码 correct horse") {
		t.Error("right password refused")
	}
	for _, wrong := range []string{"", "correct horse", "正确的密码 correct hors"} {
		if CheckPassword(h, wrong) {
			t.Errorf("wrong password %q accepted", wrong)
		}
	}
	for _, bad := range []string{"", "plain", "pbkdf2-sha256$x$a$b", "md5$1$a$b", strings.Replace(h, "pbkdf2", "pbkdf3", 1)} {
		if CheckPassword(bad, "x") {
			t.Errorf("malformed hash %q accepted", bad)
		}
	}
	if CheckPassword(dummyHash, "") {
		t.Error("dummy hash matched")
	}
}

func TestTokens(t *testing.T) {
	a, b := newToken(32), newToken(32)
	if a == b || len(a) != 43 {
		t.Fatalf("tokens %q %q", a, b)
	}
	if !tokenMatches(a, HashToken(a)) || tokenMatches(b, HashToken(a)) {
		t.Error("token hash mismatch")
	}
	id1, id2 := NewID("dev"), NewID("dev")
	if id1 == id2 || !strings.HasPrefix(id1, "dev_") || len(id1) != 4+26 {
		t.Errorf("ids %q %q", id1, id2)
	}
}
