// Package sqltest gives tests a fresh, migrated sqlstore.DB on each
// database the store supports: SQLite in a temporary directory, and
// PostgreSQL in a throw-away database on the server named by
// FLEET_TEST_POSTGRES_URL. It is for tests only and must not be imported
// by production code.
package sqltest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver

	"github.com/lawfleet/fleet/fleet/sqlstore"
)

// PostgresEnv names the variable holding a superuser URL of a running
// PostgreSQL 15, e.g. postgres://postgres@127.0.0.1:5433/postgres?sslmode=disable.
const PostgresEnv = "FLEET_TEST_POSTGRES_URL"

// SQLiteDSN returns the path of a new SQLite file in t.TempDir().
func SQLiteDSN(t testing.TB) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "fleet.db")
}

// PostgresDSN creates an empty database fleet_test_<random> on the server
// at $FLEET_TEST_POSTGRES_URL, drops it when the test ends, and returns
// its URL. Without the variable the test is skipped, or fails when CI=true,
// so that CI cannot pass by silently testing SQLite alone.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	admin := os.Getenv(PostgresEnv)
	if admin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("sqltest: %s is not set, and CI=true requires the PostgreSQL tests", PostgresEnv)
		}
		t.Skipf("sqltest: %s not set; skipping PostgreSQL", PostgresEnv)
	}
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("sqltest: %s is not a URL", PostgresEnv)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatalf("sqltest: open %s: %v", PostgresEnv, err)
	}
	defer db.Close()

	name := "fleet_test_" + randomHex(t, 8)
	ident := pgx.Identifier{name}.Sanitize()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+ident); err != nil {
		t.Fatalf("sqltest: create database %s: %v", name, err)
	}
	// Registered before the caller opens the store, so it runs after the
	// store's Close (cleanups run last-in first-out). FORCE ends any
	// connection a failed test left behind.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		db, err := sql.Open("pgx", admin)
		if err != nil {
			t.Errorf("sqltest: drop database %s: %v", name, err)
			return
		}
		defer db.Close()
		if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
			t.Errorf("sqltest: drop database %s: %v", name, err)
		}
	})

	u.Path = "/" + name
	return u.String()
}

// SQLite returns a store on a new SQLite file, closed when the test ends.
func SQLite(t testing.TB) *sqlstore.DB {
	t.Helper()
	return Open(t, SQLiteDSN(t))
}

// Postgres returns a store on a new PostgreSQL database, closed and
// dropped when the test ends; see PostgresDSN for when it skips.
func Postgres(t testing.TB) *sqlstore.DB {
	t.Helper()
	return Open(t, PostgresDSN(t))
}

// Open opens the store at dsn (from SQLiteDSN or PostgresDSN, say) and
// closes it when the test ends.
func Open(t testing.TB, dsn string) *sqlstore.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := sqlstore.Open(ctx, dsn, nil)
	if err != nil {
		t.Fatalf("sqltest: open store: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("sqltest: close store: %v", err)
		}
	})
	return db
}

// Each runs fn as a subtest on a fresh store of each dialect: "sqlite",
// then "postgres" (skipped, or failed under CI, as PostgresDSN says).
func Each(t *testing.T, fn func(t *testing.T, s *sqlstore.DB)) {
	t.Helper()
	EachDSN(t, func(t *testing.T, dsn string) { fn(t, Open(t, dsn)) })
}

// EachDSN is Each for tests that open the store themselves, such as
// reopening it: fn gets the DSN of a fresh, empty database.
func EachDSN(t *testing.T, fn func(t *testing.T, dsn string)) {
	t.Helper()
	t.Run(string(sqlstore.SQLite), func(t *testing.T) { fn(t, SQLiteDSN(t)) })
	t.Run(string(sqlstore.Postgres), func(t *testing.T) { fn(t, PostgresDSN(t)) })
}

func randomHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("sqltest: random name: %v", err)
	}
	return hex.EncodeToString(b)
}
