// Package sqlstore is the SQL adapter of the register: it implements
// fleet.Store and fleet.Tx on SQLite (the embedded default, pure Go through
// modernc.org/sqlite) and on PostgreSQL (through pgx), with one set of SQL
// statements and one schema per dialect under migrations/.
//
// It owns the schema and its migrations, the translation between rows and
// fleet types, and the mapping of database errors to fleet error codes. It
// holds no business rules: those stay in package fleet, which relies on
// Update serialising writers. Nothing outside cmd and tests should import
// it, and it must not import transports (HTTP, MQTT).
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/lawfleet/fleet/fleet"
)

// Dialect names the database behind a DB.
type Dialect string

const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// writeLockKey is the PostgreSQL advisory lock every Update takes first, so
// that writers run one at a time, as they do on SQLite. The value is
// arbitrary but fixed ("fleetreg" in ASCII); it must differ from goose's
// migration lock, which uses its own constant.
const writeLockKey int64 = 0x666c656574726567

// sqliteBusyTimeout is how long a SQLite connection waits for another
// process's lock before failing with SQLITE_BUSY. Writers in this process
// queue on the single write connection instead, so this matters only when
// several processes share one file.
const sqliteBusyTimeout = 10 * time.Second

// DB is the register in a SQL database. It implements fleet.Store.
type DB struct {
	dialect Dialect
	// write runs Update. On SQLite it is a single connection that begins
	// with BEGIN IMMEDIATE, so writers queue here in order and a reader
	// never has to be upgraded to a writer mid-transaction. On PostgreSQL
	// it is the one pool, and read is the same pool.
	write *sql.DB
	// read runs View: on SQLite a pool of query_only connections that,
	// thanks to WAL, read a snapshot while a writer works.
	read   *sql.DB
	logger *slog.Logger
}

var _ fleet.Store = (*DB)(nil)

// Open opens the register at dsn and brings its schema up to date.
//
// A dsn starting with postgres:// or postgresql:// is a PostgreSQL
// connection URL. Anything else is a SQLite database file: a plain path,
// "sqlite:" followed by a path, or a "file:" URI. An in-memory SQLite
// database is refused, because the store opens separate reader and writer
// connections and each would see its own empty database.
func Open(ctx context.Context, dsn string, logger *slog.Logger) (*DB, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("component", "sqlstore")

	if isPostgresDSN(dsn) {
		return openPostgres(ctx, dsn, logger)
	}
	return openSQLite(ctx, dsn, logger)
}

func isPostgresDSN(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

func openPostgres(ctx context.Context, dsn string, logger *slog.Logger) (*DB, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx's message can quote the URL, password included: keep it out.
		return nil, errors.New("sqlstore: cannot parse the PostgreSQL URL")
	}
	pool := stdlib.OpenDB(*cfg)
	// Bounded, so that several instances cannot exhaust the server's
	// max_connections (100 by default) between them.
	pool.SetMaxOpenConns(16)
	pool.SetMaxIdleConns(8)
	pool.SetConnMaxIdleTime(5 * time.Minute)

	db := &DB{dialect: Postgres, write: pool, read: pool, logger: logger}
	if err := pool.PingContext(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("sqlstore: connect to PostgreSQL at %s/%s: %w", cfg.Host, cfg.Database, err)
	}
	if err := db.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	logger.Info("opened", "dialect", Postgres, "host", cfg.Host, "database", cfg.Database)
	return db, nil
}

func openSQLite(ctx context.Context, dsn string, logger *slog.Logger) (*DB, error) {
	uri, err := sqliteURI(dsn)
	if err != nil {
		return nil, err
	}
	busy := fmt.Sprintf("_pragma=busy_timeout(%d)", sqliteBusyTimeout.Milliseconds())

	// The writer sets WAL (persistent in the file, so readers inherit it),
	// turns foreign keys on (they are per connection in SQLite) and begins
	// every read-write transaction IMMEDIATE, taking the write lock up
	// front so that two processes cannot both read and then deadlock
	// upgrading. synchronous=NORMAL is the documented safe setting in WAL.
	write, err := sql.Open("sqlite", uri+busy+
		"&_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("sqlstore: open SQLite writer: %w", err)
	}
	write.SetMaxOpenConns(1)
	write.SetConnMaxIdleTime(0)
	write.SetConnMaxLifetime(0)

	db := &DB{dialect: SQLite, write: write, logger: logger}
	if err := write.PingContext(ctx); err != nil {
		write.Close()
		return nil, fmt.Errorf("sqlstore: open SQLite database %s: %w", sqlitePath(dsn), err)
	}
	if err := db.migrate(ctx); err != nil {
		write.Close()
		return nil, err
	}

	// Readers are opened after the migrations so that they never see a
	// half-built schema; query_only makes a write in View fail loudly.
	read, err := sql.Open("sqlite", uri+busy+"&_pragma=foreign_keys(1)&_pragma=query_only(1)")
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("sqlstore: open SQLite readers: %w", err)
	}
	read.SetMaxOpenConns(max(4, runtime.GOMAXPROCS(0)))
	db.read = read
	if err := read.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlstore: open SQLite readers %s: %w", sqlitePath(dsn), err)
	}
	logger.Info("opened", "dialect", SQLite, "path", sqlitePath(dsn))
	return db, nil
}

// sqlitePath is the file part of a SQLite dsn, for messages.
func sqlitePath(dsn string) string {
	dsn = strings.TrimPrefix(dsn, "sqlite:")
	dsn = strings.TrimPrefix(dsn, "file:")
	if i := strings.IndexByte(dsn, '?'); i >= 0 {
		dsn = dsn[:i]
	}
	return dsn
}

// sqliteURI turns a SQLite dsn into a "file:" URI ending in "?" or "&",
// ready for more query parameters. A plain path is escaped so that '?',
// '#' and '%' in a file name stay part of the name.
func sqliteURI(dsn string) (string, error) {
	dsn = strings.TrimPrefix(dsn, "sqlite:")
	if dsn == "" {
		return "", errors.New("sqlstore: empty SQLite path")
	}
	if dsn == ":memory:" || strings.HasPrefix(dsn, "file::memory:") || strings.Contains(dsn, "mode=memory") {
		return "", errors.New("sqlstore: SQLite needs a database file, not memory: the store opens separate reader and writer connections")
	}
	if strings.HasPrefix(dsn, "file:") {
		if strings.Contains(dsn, "?") {
			return dsn + "&", nil
		}
		return dsn + "?", nil
	}
	esc := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(dsn)
	return "file:" + esc + "?", nil
}

// Dialect reports which database the store runs on.
func (db *DB) Dialect() Dialect { return db.dialect }

// SQL returns the connection pool that Update uses, for tests and
// maintenance that need raw SQL. Statements run through it bypass the
// writer serialisation of Update and the checks of package fleet.
func (db *DB) SQL() *sql.DB { return db.write }

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.write.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlstore: ping: %w", err)
	}
	if db.read != db.write {
		if err := db.read.PingContext(ctx); err != nil {
			return fmt.Errorf("sqlstore: ping readers: %w", err)
		}
	}
	return nil
}

// Close closes the connections; transactions in flight fail.
func (db *DB) Close() error {
	var errs []error
	if db.read != nil && db.read != db.write {
		errs = append(errs, db.read.Close())
	}
	errs = append(errs, db.write.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sqlstore: close: %w", err)
	}
	return nil
}

// Update runs fn in a read-write transaction and commits it if fn returns
// nil. Writers run one at a time: on SQLite they queue on the single write
// connection (and BEGIN IMMEDIATE holds off other processes); on
// PostgreSQL each takes the same transaction-scoped advisory lock first.
//
// On PostgreSQL the transaction stays READ COMMITTED on purpose: each
// statement then sees everything committed before it, including by the
// writer that held the lock last. REPEATABLE READ would take its snapshot
// while waiting for the lock and so read stale rows.
//
// After a Tx method fails, fn should return the error rather than go on:
// PostgreSQL refuses further statements in a transaction that had an error.
func (db *DB) Update(ctx context.Context, fn func(fleet.Tx) error) error {
	sqlTx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return db.classify(fmt.Errorf("sqlstore: begin update: %w", err))
	}
	committed := false
	defer func() {
		if !committed {
			_ = sqlTx.Rollback() // the first error is the one worth reporting
		}
	}()
	if db.dialect == Postgres {
		if _, err := sqlTx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", writeLockKey); err != nil {
			return db.classify(fmt.Errorf("sqlstore: take the write lock: %w", err))
		}
	}
	if err := fn(&tx{tx: sqlTx, db: db}); err != nil {
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return db.classify(fmt.Errorf("sqlstore: commit: %w", err))
	}
	committed = true
	return nil
}

// View runs fn in a read-only transaction with a consistent snapshot, so
// that a report built from several queries adds up. Views do not wait for
// writers and run concurrently with each other.
func (db *DB) View(ctx context.Context, fn func(fleet.Tx) error) error {
	opts := &sql.TxOptions{ReadOnly: true}
	if db.dialect == Postgres {
		// SQLite's WAL read transactions are snapshots already.
		opts.Isolation = sql.LevelRepeatableRead
	}
	sqlTx, err := db.read.BeginTx(ctx, opts)
	if err != nil {
		return db.classify(fmt.Errorf("sqlstore: begin view: %w", err))
	}
	// A read-only transaction has nothing to commit: rolling back ends
	// the snapshot just the same and cannot fail on a lock.
	defer func() { _ = sqlTx.Rollback() }()
	return fn(&tx{tx: sqlTx, db: db})
}
