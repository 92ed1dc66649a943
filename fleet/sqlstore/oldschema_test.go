package sqlstore_test

import (
	"database/sql"
	"os"
	"strings"
	"testing"

	"github.com/pressly/goose/v3"
)

// seedStmt is one statement run against a register at an older schema.
type seedStmt struct {
	sql  string
	args []any
}

// seedAtVersion migrates dsn's database up to version only, runs stmts on
// it and closes it: a register as it stood before a later migration, for
// a test that then opens it with the store (which applies the rest) and
// checks what that migration made of the rows.
func seedAtVersion(t *testing.T, dsn string, version int64, stmts []seedStmt) {
	t.Helper()
	ctx := t.Context()
	driver, dialect, dir := "sqlite", goose.DialectSQLite3, "migrations/sqlite"
	if strings.HasPrefix(dsn, "postgres") {
		driver, dialect, dir = "pgx", goose.DialectPostgres, "migrations/postgres"
	}
	raw, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	p, err := goose.NewProvider(dialect, raw, os.DirFS(dir), goose.WithDisableGlobalRegistry(true), goose.WithAllowOutofOrder(true))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, version); err != nil {
		t.Fatalf("migrate to %d: %v", version, err)
	}
	for _, stmt := range stmts {
		if _, err := raw.ExecContext(ctx, stmt.sql, stmt.args...); err != nil {
			t.Fatalf("%s: %v", stmt.sql, err)
		}
	}
}
