package sqlstore

import (
	"context"
	"embed"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// migrations holds one directory of numbered SQL files per dialect. The
// two must stay in step: a change to the schema is one new file in each,
// with the same number.
//
//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrations embed.FS

// migrateLockID is the PostgreSQL advisory lock goose holds while it
// migrates, so that instances started together do not apply the same
// migration twice. It differs from writeLockKey so that a migration never
// waits for, or blocks, ordinary writers' lock.
const migrateLockID int64 = 0x666c6565746d6967 // "fleetmig"

// migrate applies the pending migrations of db's dialect. It uses a goose
// Provider over the embedded files (no goose global state), records
// versions in goose's own table, and is a no-op on an up-to-date database.
func (db *DB) migrate(ctx context.Context) error {
	dir, dialect := "migrations/sqlite", goose.DialectSQLite3
	opts := []goose.ProviderOption{
		goose.WithDisableGlobalRegistry(true),
		goose.WithSlog(db.logger.With("subcomponent", "migrate")),
		// Features are built in parallel and their migrations may land
		// out of number order; each is independent, so apply any missing.
		goose.WithAllowOutofOrder(true),
	}
	if db.dialect == Postgres {
		dir, dialect = "migrations/postgres", goose.DialectPostgres
		locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(migrateLockID))
		if err != nil {
			return fmt.Errorf("sqlstore: migration lock: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	// SQLite has no session lock in goose. Each migration runs in its own
	// BEGIN IMMEDIATE transaction on the write connection, so two processes
	// opening a fresh file at once cannot interleave a migration; the later
	// one may fail Open with "table already exists" and succeed on retry.
	fsys, err := fs.Sub(migrations, dir)
	if err != nil {
		return fmt.Errorf("sqlstore: migrations: %w", err)
	}
	p, err := goose.NewProvider(dialect, db.write, fsys, opts...)
	if err != nil {
		return fmt.Errorf("sqlstore: migrations: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("sqlstore: migrate %s schema: %w", db.dialect, err)
	}
	version, err := p.GetDBVersion(ctx)
	if err != nil {
		return fmt.Errorf("sqlstore: read schema version: %w", err)
	}
	db.logger.Info("schema up to date", "dialect", db.dialect, "version", version, "applied", len(results))
	return nil
}
