package session

import (
	"context"
	"crypto/rand"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	mrand "math/rand"
	"os"
	"sync"
	"sync/atomic"
	"testing"

	gomysql "github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/kirayedar/kirayedar/dialect"
)

// These tests run the connector against the real servers: three schemas (or
// databases) a, b and a global one, each with a table t whose row 1 says
// whose it is (x = 10, 20, 0), and b's t with one column more.

type tenantKey struct{}

func forTenant(t string) context.Context {
	return context.WithValue(context.Background(), tenantKey{}, t)
}

func targetOf(ctx context.Context) (string, bool, error) {
	t, _ := ctx.Value(tenantKey{}).(string)
	return t, false, nil
}

type countingConnector struct {
	driver.Connector
	connects atomic.Int64
}

func (c *countingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	c.connects.Add(1)
	return c.Connector.Connect(ctx)
}

type fixture struct {
	engine  dialect.Engine
	db      *sql.DB
	admin   *sql.DB // a plain pool on the same database
	c       *Connector
	counter *countingConnector
	a, b    string
}

func envOr(key, fallback string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return fallback
}

func newFixture(t *testing.T, engine dialect.Engine) *fixture {
	t.Helper()
	var suffix [4]byte
	_, _ = rand.Read(suffix[:])
	prefix := fmt.Sprintf("zz_s_%x_", suffix)
	f := &fixture{engine: engine, a: prefix + "a", b: prefix + "b"}
	global := prefix + "g"
	var inner driver.Connector
	var admin *sql.DB
	var err error
	switch engine {
	case dialect.Postgres:
		dsn := envOr("KIRAYEDAR_POSTGRES_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=test sslmode=disable")
		cfg, perr := pgx.ParseConfig(dsn)
		if perr != nil {
			t.Fatal(perr)
		}
		inner = stdlib.GetConnector(*cfg)
		admin = sql.OpenDB(stdlib.GetConnector(*cfg))
	case dialect.MySQL:
		cfg, perr := gomysql.ParseDSN(envOr("KIRAYEDAR_MYSQL_DSN", "root@tcp(127.0.0.1:3306)/test"))
		if perr != nil {
			t.Fatal(perr)
		}
		if inner, err = gomysql.NewConnector(cfg); err != nil {
			t.Fatal(err)
		}
		admin = sql.OpenDB(inner)
	}
	t.Cleanup(func() { _ = admin.Close() })
	f.admin = admin
	create := func(schema string, x int, extra bool) {
		q := engine.Qualify(schema, "t")
		cols, vals := "id int, x int", "1, "+fmt.Sprint(x)
		if extra {
			cols, vals = cols+", y int", vals+", 0"
		}
		for _, stmt := range []string{
			engine.CreateSchema(schema),
			"CREATE TABLE " + q + " (" + cols + ")",
			"INSERT INTO " + q + " VALUES (" + vals + ")",
		} {
			if _, err := admin.Exec(stmt); err != nil {
				t.Fatalf("%s: %v", stmt, err)
			}
		}
		t.Cleanup(func() { _, _ = admin.Exec(engine.DropSchema(schema)) })
	}
	create(f.a, 10, false)
	create(f.b, 20, true)
	create(global, 0, false)

	f.counter = &countingConnector{Connector: inner}
	if f.c, err = NewConnector(f.counter, Options{Engine: engine, Global: global, Target: targetOf}); err != nil {
		t.Fatal(err)
	}
	f.db = sql.OpenDB(f.c)
	t.Cleanup(func() { _ = f.db.Close() })
	return f
}

var engines = []dialect.Engine{dialect.Postgres, dialect.MySQL}

// whose reads t's row 1 under ctx: 10 for a, 20 for b, 0 for global.
func (f *fixture) whose(q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, ctx context.Context) (int, error) {
	var x int
	err := q.QueryRowContext(ctx, f.sql("SELECT x FROM t WHERE id = ?"), 1).Scan(&x)
	return x, err
}

func (f *fixture) sql(q string) string {
	if f.engine == dialect.Postgres {
		return "SELECT x FROM t WHERE id = $1"
	}
	return q
}

func TestStatementsFollowTheirContext(t *testing.T) {
	for _, engine := range engines {
		t.Run(string(engine), func(t *testing.T) {
			f := newFixture(t, engine)
			f.db.SetMaxOpenConns(1)
			read := func(ctx context.Context) int {
				var x int
				if err := f.db.QueryRowContext(ctx, f.sql("SELECT x FROM t WHERE id = ?"), 1).Scan(&x); err != nil {
					t.Fatal(err)
				}
				return x
			}
			for _, c := range []struct {
				tenant string
				want   int
			}{{f.a, 10}, {f.a, 10}, {f.b, 20}, {"", 0}, {f.a, 10}} {
				if got := read(forTenant(c.tenant)); got != c.want {
					t.Errorf("under %q read %d, want %d", c.tenant, got, c.want)
				}
			}
			if n := f.c.Switches(); n != 4 {
				t.Errorf("%d switches for a, a, b, global, a; want 4 (none when already set)", n)
			}
		})
	}
}

// Tables of another shape under the same SQL text, in and out of
// transactions and through prepared statements: no cached plan or prepared
// statement of one tenant is used for another.
func TestShapesDifferPerTenant(t *testing.T) {
	for _, engine := range engines {
		t.Run(string(engine), func(t *testing.T) {
			f := newFixture(t, engine)
			f.db.SetMaxOpenConns(1)
			q := "SELECT * FROM t WHERE id = ?"
			if engine == dialect.Postgres {
				q = "SELECT * FROM t WHERE id = $1"
			}
			columns := func(rows *sql.Rows, err error) int {
				if err != nil {
					t.Fatal(err)
				}
				defer rows.Close()
				cols, err := rows.Columns()
				if err != nil {
					t.Fatal(err)
				}
				for rows.Next() {
				}
				if err := rows.Err(); err != nil {
					t.Fatal(err)
				}
				return len(cols)
			}
			want := map[string]int{f.a: 2, f.b: 3}
			for _, tenant := range []string{f.a, f.b, f.a, f.b} {
				if n := columns(f.db.QueryContext(forTenant(tenant), q, 1)); n != want[tenant] {
					t.Errorf("%s: %d columns, want %d", tenant, n, want[tenant])
				}
			}
			tx, err := f.db.BeginTx(forTenant(f.a), nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, tenant := range []string{f.a, f.b, f.a} {
				if n := columns(tx.QueryContext(forTenant(tenant), q, 1)); n != want[tenant] {
					t.Errorf("in a transaction, %s: %d columns, want %d", tenant, n, want[tenant])
				}
			}
			if err := tx.Rollback(); err != nil {
				t.Fatal(err)
			}
			stmt, err := f.db.PrepareContext(forTenant(f.a), q)
			if err != nil {
				t.Fatal(err)
			}
			defer stmt.Close()
			for _, tenant := range []string{f.a, f.b, f.a} {
				if n := columns(stmt.QueryContext(forTenant(tenant), 1)); n != want[tenant] {
					t.Errorf("prepared, %s: %d columns, want %d", tenant, n, want[tenant])
				}
			}
		})
	}
}

// After a transaction that switched inside, the tracked state is what the
// server left: the next statements read the right tenant.
func TestTransactionsLeaveTheStateKnown(t *testing.T) {
	for _, engine := range engines {
		t.Run(string(engine), func(t *testing.T) {
			f := newFixture(t, engine)
			f.db.SetMaxOpenConns(1)
			for _, commit := range []bool{false, true} {
				tx, err := f.db.BeginTx(forTenant(f.a), nil)
				if err != nil {
					t.Fatal(err)
				}
				if x, err := f.whose(tx, forTenant(f.b)); err != nil || x != 20 {
					t.Fatalf("in the transaction, b read %d, %v", x, err)
				}
				if commit {
					err = tx.Commit()
				} else {
					err = tx.Rollback()
				}
				if err != nil {
					t.Fatal(err)
				}
				for _, c := range []struct {
					tenant string
					want   int
				}{{f.a, 10}, {f.b, 20}, {f.a, 10}} {
					var x int
					if err := f.db.QueryRowContext(forTenant(c.tenant), f.sql("SELECT x FROM t WHERE id = ?"), 1).Scan(&x); err != nil || x != c.want {
						t.Errorf("commit=%v: after the transaction %s read %d, %v; want %d", commit, c.tenant, x, err, c.want)
					}
				}
			}
		})
	}
}

func TestMissingTenantIsRefusedAndTheConnectionKept(t *testing.T) {
	for _, engine := range engines {
		t.Run(string(engine), func(t *testing.T) {
			f := newFixture(t, engine)
			f.db.SetMaxOpenConns(1)
			var x int
			err := f.db.QueryRowContext(forTenant("zz_no_such_tenant"), f.sql("SELECT x FROM t WHERE id = ?"), 1).Scan(&x)
			if !errors.Is(err, ErrNotFound) {
				t.Errorf("a missing tenant: %v, want ErrNotFound", err)
			}
			if err := f.db.QueryRowContext(forTenant(f.a), f.sql("SELECT x FROM t WHERE id = ?"), 1).Scan(&x); err != nil || x != 10 {
				t.Errorf("after it, a read %d, %v", x, err)
			}
			if n := f.counter.connects.Load(); n != 1 {
				t.Errorf("%d connections opened, want the one kept", n)
			}
		})
	}
}

// A connection whose switch failed half-way is never used again: outside a
// transaction the statement runs on a fresh connection; inside one it fails,
// and the connection is dropped with the transaction.
func TestConnectionLeftMidSwitchIsNotReused(t *testing.T) {
	for _, engine := range engines {
		t.Run(string(engine), func(t *testing.T) {
			f := newFixture(t, engine)
			f.db.SetMaxOpenConns(1)
			var failures atomic.Int64
			f.c.opts.beforeSwitch = func() error {
				if failures.Add(-1) >= 0 {
					return errors.New("connection lost mid-switch")
				}
				return nil
			}
			if x, err := f.whose(f.db, forTenant(f.a)); err != nil || x != 10 { // opens connection 1
				t.Fatalf("a read %d, %v", x, err)
			}
			failures.Store(1)
			if x, err := f.whose(f.db, forTenant(f.b)); err != nil || x != 20 {
				t.Errorf("b, its first switch failing, read %d, %v", x, err)
			}
			if n := f.counter.connects.Load(); n != 2 {
				t.Errorf("%d connections opened, want 2: the one left mid-switch dropped", n)
			}

			tx, err := f.db.BeginTx(forTenant(f.b), nil)
			if err != nil {
				t.Fatal(err)
			}
			failures.Store(1)
			if _, err := f.whose(tx, forTenant(f.a)); err == nil {
				t.Error("a switch failing inside a transaction did not fail the statement")
			}
			_ = tx.Rollback()
			if x, err := f.whose(f.db, forTenant(f.a)); err != nil || x != 10 {
				t.Errorf("after the failed transaction, a read %d, %v", x, err)
			}
			if n := f.counter.connects.Load(); n != 3 {
				t.Errorf("%d connections opened, want 3", n)
			}
		})
	}
}

// Many goroutines on a pool smaller than the number of targets, so that
// connections switch all the time, in and out of transactions: every read
// sees its own target's row.
func TestConcurrentSwitching(t *testing.T) {
	for _, engine := range engines {
		t.Run(string(engine), func(t *testing.T) {
			f := newFixture(t, engine)
			f.db.SetMaxOpenConns(2)
			targets := []struct {
				tenant string
				want   int
			}{{f.a, 10}, {f.b, 20}, {"", 0}}
			var wrong atomic.Int64
			var wg sync.WaitGroup
			for w := range 12 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					rng := mrand.New(mrand.NewSource(int64(w)))
					for range 80 {
						c := targets[rng.Intn(len(targets))]
						ctx := forTenant(c.tenant)
						var x int
						var err error
						if rng.Intn(3) == 0 {
							tx, berr := f.db.BeginTx(ctx, nil)
							if berr != nil {
								t.Error(berr)
								return
							}
							other := targets[rng.Intn(len(targets))]
							if y, err := f.whose(tx, forTenant(other.tenant)); err != nil || y != other.want {
								wrong.Add(1)
							}
							x, err = f.whose(tx, ctx)
							_ = tx.Commit()
						} else {
							x, err = f.whose(f.db, ctx)
						}
						if err != nil || x != c.want {
							wrong.Add(1)
						}
					}
				}()
			}
			wg.Wait()
			if n := wrong.Load(); n != 0 {
				t.Errorf("%d reads saw another target's row or failed", n)
			}
		})
	}
}

func TestScanEffects(t *testing.T) {
	const (
		none    = effect(0)
		unknown = effUnknown
		ends    = effUnknown | effEndsTx
		sticky  = effSticky
		unlocks = effUnknown | effUnlocks
	)
	pg, my := dialect.Postgres, dialect.MySQL
	for _, tc := range []struct {
		engine dialect.Engine
		q      string
		want   effect
	}{
		{pg, "SELECT * FROM posts WHERE id = $1", none},
		{pg, "UPDATE posts SET title = 'use search' WHERE id = 1", none},
		{pg, "SELECT temperature, prepared_at FROM readings", none},
		{pg, "SET search_path TO x", unknown},
		{pg, "SET SCHEMA 'tb'", unknown},
		{pg, "select SET_CONFIG('SEARCH_PATH', 'x', false)", unknown},
		{pg, "SELECT set_config($1, $2, false)", unknown},
		{pg, "/* trace=1 */ RESET ALL", unknown},
		{pg, "SELECT 1; RESET ALL", unknown},
		{pg, "-- note\n  discard all", unlocks},
		{pg, "SELECT pg_advisory_unlock_all()", unlocks},
		{pg, "select PG_ADVISORY_UNLOCK_SHARED(1, 2)", unlocks},
		{pg, "SELECT pg_catalog.pg_advisory_unlock($1)", unlocks},
		{pg, "SELECT pg_advisory_lock(1)", none},
		{pg, "ROLLBACK TO SAVEPOINT sp", unknown},
		{pg, "/* undo */ ROLLBACK TO SAVEPOINT sp", unknown},
		{pg, "ROLLBACK", ends},
		{pg, "COMMIT", ends},
		{pg, "SELECT 1; END", ends},
		{pg, "abort", ends},
		{pg, "CALL refresh()", unknown},
		{pg, "DO $$ BEGIN PERFORM 1; END $$", unknown},
		{pg, "CREATE FUNCTION f() RETURNS void AS $fn$ BEGIN PERFORM 1; COMMIT; END $fn$ LANGUAGE plpgsql", none},
		{pg, "CREATE FUNCTION f() AS $$ BEGIN PERFORM set_config('search_path', 'x', false); END $$", unknown},
		{pg, "SELECT 'not; COMMIT', \"a;b\" FROM t WHERE id = $1", none},
		{pg, "SELECT 'it''s; END'", none},
		{pg, "SELECT 1; COMMIT", ends},
		{pg, "SELECT 'unclosed; COMMIT", none},
		{my, "SELECT 'it\\'s; COMMIT' FROM t", none},
		{my, "SELECT `a;b` FROM t; ROLLBACK", ends},
		{my, "EXECUTE IMMEDIATE 'SET @x = 1; USE b'", unknown},
		{pg, "CREATE TEMP TABLE report AS SELECT * FROM posts", sticky},
		{pg, "PREPARE p AS SELECT * FROM posts", unknown | sticky},
		{pg, "LISTEN jobs", unknown | sticky},
		{my, "  use `acme`", unknown},
		{my, "USE`review_tb_x`", unknown},
		{my, "/*!USE review_tb_x*/", unknown},
		{my, "/*M!100000 USE review_tb_x*/", unknown},
		{my, "EXECUTE IMMEDIATE 'USE review_tb_x'", unknown},
		{my, "PREPARE s FROM 'USE review_tb_x'; EXECUTE s", unknown | sticky},
		{my, "SELECT 1; # comment\nUSE x", unknown},
		{my, "CREATE TEMPORARY TABLE t (id INT)", sticky},
		{my, "SELECT * FROM posts WHERE id = ?", none},
	} {
		if got := scanEffects(tc.q, tc.engine); got != tc.want {
			t.Errorf("%s: scanEffects(%q) = %b, want %b", tc.engine, tc.q, got, tc.want)
		}
	}
}
