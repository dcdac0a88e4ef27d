package tests

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"gorm.io/gorm"

	"github.com/kirayedar/kirayedar"
)

// Under StrategySession a connection keeps its name resolution set for the
// last tenant it ran. When another process (another instance of the
// application, the operator CLI) drops or renames that tenant, the pool's
// connections still set for it must not resolve the tenant's tables
// anywhere else: on PostgreSQL a missing schema is skipped on search_path,
// so unqualified names would fall through to the global copies. Every
// statement under the gone tenant fails instead, and the global copies stay
// untouched.
//
// "Another process" is a second pool with its own connector, plugin and
// provisioner on the same database. The global schema holds copies of every
// tenant table (ensureGlobalTables), which is what makes a fall-through
// visible.

// warmConns is how many connections of the first pool are left set for the
// tenant, idle in the pool.
const warmConns = 4

func TestSessionTenantDroppedElsewhere(t *testing.T) {
	forEachSessionTarget(t, func(t *testing.T, tg target) {
		t.Run("Drop by another pool's provisioner", func(t *testing.T) {
			goneElsewhere(t, newEnv(t, tg, nil), newEnv(t, tg, nil), true, func(ctx context.Context, other *env, tenant string) string {
				must(t, other.prov.Drop(ctx, tenant))
				return ""
			})
		})
		t.Run("Rename by another pool's provisioner", func(t *testing.T) {
			goneElsewhere(t, newEnv(t, tg, nil), newEnv(t, tg, nil), true, func(ctx context.Context, other *env, tenant string) string {
				to := other.tenantID()
				must(t, other.prov.Rename(ctx, tenant, to))
				t.Cleanup(func() { _ = other.prov.Drop(context.Background(), to) })
				return to
			})
		})
	})
}

// A schema or database dropped (or renamed) by hand, on a plain connection,
// behind the provisioner's back (its registry row stays).
//
// MySQL/MariaDB fail closed by themselves. On PostgreSQL the guarantee rests
// on the tenant lock connections set for a tenant hold, which the
// provisioner's Drop and Rename act on. By hand, a superuser installs
// kirayedar.SessionDropGuardSQL's event triggers, which act on it the same
// way. Without them, a transaction that switched to the tenant inside still
// holds the schema until it ends, but a connection left idle in the pool
// set for the tenant is not covered: the README says so.
func TestSessionTenantDroppedByHand(t *testing.T) {
	forEachSessionTarget(t, func(t *testing.T, tg target) {
		dropByHand := func(ctx context.Context, other *env, tenant string) string {
			_, err := operatorDB(t, other).ExecContext(ctx, other.plugin.Engine().DropSchema(tenant))
			must(t, err)
			return ""
		}
		if tg.engine == "mysql" {
			goneElsewhere(t, newEnv(t, tg, nil), newEnv(t, tg, nil), false, dropByHand)
			return
		}
		guarded := func(t *testing.T) (e, other *env) {
			e = newBareEnv(t, tg)
			guard, err := kirayedar.SessionDropGuardSQL(e.global)
			must(t, err)
			_, err = operatorDB(t, e).Exec(guard)
			must(t, err)
			seedGlobalCopies(t, e)
			return e, openBareEnv(t, e.d, nil)
		}
		t.Run("with SessionDropGuardSQL, DROP SCHEMA", func(t *testing.T) {
			e, other := guarded(t)
			// DROP SCHEMA waits for the running statement's table lock
			// before the trigger runs.
			goneElsewhere(t, e, other, false, dropByHand)
		})
		t.Run("with SessionDropGuardSQL, ALTER SCHEMA RENAME", func(t *testing.T) {
			e, other := guarded(t)
			goneElsewhere(t, e, other, true, func(ctx context.Context, other *env, tenant string) string {
				to := other.tenantID()
				_, err := operatorDB(t, other).ExecContext(ctx, "ALTER SCHEMA "+other.plugin.Engine().QuoteIdent(tenant)+
					" RENAME TO "+other.plugin.Engine().QuoteIdent(to))
				must(t, err)
				// The registry still names the old ID: the new one is
				// reachable, but not provisioned.
				return ""
			})
		})
		t.Run("without it, inside a transaction the schema cannot be dropped under it", func(t *testing.T) {
			e := newEnv(t, tg, nil)
			tenant := e.newTenant(t)
			seed(t, e, tenant)
			ctx := ctxFor(tenant)
			// A transaction begun without the tenant switches inside it,
			// transaction-locally.
			tx := e.db.WithContext(kirayedar.GlobalContext(context.Background())).Begin()
			must(t, tx.Error)
			defer tx.Rollback()
			var n int64
			must(t, tx.WithContext(ctx).Raw("SELECT 1").Scan(&n).Error)

			dropped := make(chan error, 1)
			go func() {
				dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				_, err := operatorDB(t, e).ExecContext(dctx, e.plugin.Engine().DropSchema(tenant))
				dropped <- err
			}()
			select {
			case err := <-dropped:
				t.Fatalf("DROP SCHEMA by hand went through under an open transaction set for the tenant: %v", err)
			case <-time.After(500 * time.Millisecond):
			}
			must(t, tx.WithContext(ctx).Raw("SELECT count(*) FROM posts").Scan(&n).Error)
			if n != 3 {
				t.Fatalf("the transaction read %d posts, want the tenant's 3", n)
			}
			must(t, tx.Commit().Error)
			must(t, <-dropped)
			var count int64
			if err := e.db.WithContext(ctx).Raw("SELECT count(*) FROM posts").Scan(&count).Error; !errors.Is(err, kirayedar.ErrTenantNotFound) {
				t.Fatalf("after the drop, a statement on a fresh switch: %d, %v; want ErrTenantNotFound", count, err)
			}
			e.assertGlobalUntouched(t)
		})
		t.Run("without it, a connection idle in the pool is not covered", func(t *testing.T) {
			e := newEnv(t, tg, nil)
			tenant := e.newTenant(t)
			e.sqlDB.SetMaxOpenConns(1)
			var n int64
			must(t, e.db.WithContext(ctxFor(tenant)).Raw("SELECT 1").Scan(&n).Error)
			dropByHand(context.Background(), e, tenant)
			err := e.db.WithContext(ctxFor(tenant)).Raw("SELECT count(*) FROM posts").Scan(&n).Error
			t.Logf("the known limit (README): after a DROP SCHEMA by hand without SessionDropGuardSQL, "+
				"a connection left set for the tenant read %d rows (the global copy's), error %v", n, err)
		})
	})
}

// seedGlobalCopies gives a bare database what ensureGlobalTables gives the
// shared ones: global copies of every tenant table, with one sentinel post.
func seedGlobalCopies(t *testing.T, e *env) {
	t.Helper()
	ctx := kirayedar.GlobalContext(context.Background())
	must(t, e.db.AutoMigrate(globalModels()...))
	must(t, e.db.WithContext(ctx).AutoMigrate(everyTenantModel()...))
	must(t, e.db.WithContext(ctx).Create(&Post{Tenant: "global", Title: "sentinel"}).Error)
}

// goneElsewhere warms connections of one pool for a tenant, lets gone
// remove the tenant through a second, independent pool, and checks that the
// first pool's statements under the tenant all fail, on the warm
// connections and on new ones, and touch no global copy. gone returns the
// tenant's new ID after a rename, or "".
//
// e is this process; other is another process on the same database: its own
// pool, plugin and provisioner. ends says that on PostgreSQL a statement
// running under the tenant is ended rather than waited for.
func goneElsewhere(t *testing.T, e, other *env, ends bool, gone func(ctx context.Context, other *env, tenant string) string) {
	t.Helper()
	tg := e.tg
	tenant := e.newTenant(t)
	seed(t, e, tenant)
	ctx := ctxFor(tenant)
	e.sqlDB.SetMaxOpenConns(warmConns)
	e.sqlDB.SetMaxIdleConns(warmConns)

	// Every connection of the pool set for the tenant, idle.
	conns := pinConns(t, e, ctx)
	for i, c := range conns {
		var n int64
		must(t, c.QueryRowContext(ctx, "SELECT count(*) FROM posts").Scan(&n))
		if n != 3 {
			t.Fatalf("connection %d read %d posts before the drop, want the tenant's 3", i, n)
		}
	}
	unpin(conns)

	// A transaction of this process, open and set for the tenant, that has
	// not touched the tenant's tables yet (so it holds no lock on them).
	inFlight := e.db.WithContext(ctx).Begin()
	must(t, inFlight.Error)
	defer inFlight.Rollback()
	must(t, inFlight.Exec("SELECT 1").Error)

	// A statement of this process running while the tenant goes.
	type result struct {
		n   int64
		err error
	}
	running := make(chan result, 1)
	started := time.Now()
	go func() {
		slow := "SELECT count(*) FROM posts, pg_sleep(2)"
		if tg.engine == "mysql" {
			slow = "SELECT count(*) FROM posts WHERE SLEEP(0.5) = 0"
		}
		var r result
		r.err = e.db.WithContext(ctx).Raw(slow).Scan(&r.n).Error
		running <- r
	}()
	time.Sleep(200 * time.Millisecond)

	before := globalCounts(t, e)
	gctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	renamed := gone(gctx, other, tenant)

	// It ran on the tenant's own rows before they went, or failed.
	if r := <-running; r.err == nil && r.n != 3 {
		t.Errorf("a statement running during the drop read %d posts, not the tenant's 3", r.n)
	} else if ends && tg.engine == "postgres" && (r.err == nil || time.Since(started) > 1500*time.Millisecond) {
		t.Errorf("a statement running during the drop: %d, %v after %v; want it ended", r.n, r.err, time.Since(started))
	}

	failures := map[string]int{}
	expectFail := func(what string, err error) {
		t.Helper()
		if err == nil {
			t.Errorf("%s under the gone tenant %s succeeded", what, tenant)
			return
		}
		kind := "database error"
		if errors.Is(err, kirayedar.ErrTenantNotFound) {
			kind = "ErrTenantNotFound"
		}
		failures[kind]++
		if testing.Verbose() {
			t.Logf("%s: %v", what, err)
		}
	}

	// The transaction in flight: its next statement fails.
	err := inFlight.Exec("INSERT INTO posts (tenant, title, views) VALUES (?, ?, 0)", tenant, "leak-in-flight").Error
	expectFail("a raw INSERT in a transaction open during the drop", errors.Join(err, inFlight.Commit().Error))

	statements := map[string]func(db *gorm.DB) error{
		"raw read": func(db *gorm.DB) error {
			var n int64
			err := db.Raw("SELECT count(*) FROM posts").Scan(&n).Error
			if err == nil {
				return fmt.Errorf("read %d rows", n)
			}
			return err
		},
		"raw read of a join": func(db *gorm.DB) error {
			var titles []string
			err := db.Raw("SELECT p.title FROM posts p LEFT JOIN comments c ON c.post_id = p.id").Scan(&titles).Error
			if err == nil {
				return fmt.Errorf("read %v", titles)
			}
			return err
		},
		"raw insert": func(db *gorm.DB) error {
			return db.Exec("INSERT INTO posts (tenant, title, views) VALUES (?, ?, 0)", tenant, "leak-raw").Error
		},
		"raw update": func(db *gorm.DB) error {
			return db.Exec("UPDATE posts SET views = views + 1").Error
		},
		"GORM read": func(db *gorm.DB) error {
			var posts []Post
			err := db.Find(&posts).Error
			if err == nil {
				return fmt.Errorf("read %d posts", len(posts))
			}
			return err
		},
		"GORM write": func(db *gorm.DB) error {
			return db.Create(&Post{Title: "leak-gorm"}).Error
		},
		"raw read in a Transaction": func(db *gorm.DB) error {
			return kirayedar.Transaction(ctx, db, tenant, func(tx *gorm.DB) error {
				var n int64
				if err := tx.Raw("SELECT count(*) FROM posts").Scan(&n).Error; err != nil {
					return err
				}
				return fmt.Errorf("read %d rows", n)
			})
		},
	}
	for round := 0; round < 2; round++ {
		for name, run := range statements {
			// On each connection of the pool, the ones left set for the
			// tenant included...
			conns := pinConns(t, e, ctx)
			for i, c := range conns {
				db := e.db.Session(&gorm.Session{NewDB: true, Context: ctx})
				db.Statement.ConnPool = c
				expectFail(fmt.Sprintf("round %d, %s on pinned connection %d", round, name, i), run(db))
			}
			unpin(conns)
			// ...and through the pool.
			for i := 0; i < warmConns; i++ {
				expectFail(fmt.Sprintf("round %d, %s through the pool", round, name), run(e.db.WithContext(ctx)))
			}
		}
	}
	t.Logf("every statement failed: %v", failures)

	if after := globalCounts(t, e); after != before {
		t.Errorf("the global copies changed: %s before, %s after", before, after)
	}
	e.assertGlobalUntouched(t)

	if renamed != "" {
		// The tenant lives on under its new ID, with its rows, for both
		// processes; nothing under the old one wrote there either.
		for _, db := range []*gorm.DB{e.db, other.db} {
			var titles []string
			must(t, db.WithContext(ctxFor(renamed)).Raw("SELECT title FROM posts ORDER BY id").Scan(&titles).Error)
			if strings.Join(titles, ",") != "seed-1,seed-2,seed-3" {
				t.Errorf("the renamed tenant has posts %v", titles)
			}
		}
	}
}

// pinConns takes every connection the pool may open, as *sql.Conn: the
// idle ones first.
func pinConns(t *testing.T, e *env, ctx context.Context) []*sql.Conn {
	t.Helper()
	conns := make([]*sql.Conn, warmConns)
	for i := range conns {
		c, err := e.sqlDB.Conn(ctx)
		must(t, err)
		conns[i] = c
	}
	return conns
}

func unpin(conns []*sql.Conn) {
	for _, c := range conns {
		_ = c.Close()
	}
}

// globalCounts counts the rows of the global copies of the tenant tables.
func globalCounts(t *testing.T, e *env) string {
	t.Helper()
	var b strings.Builder
	for _, table := range tenantTables {
		fmt.Fprintf(&b, "%s=%d ", table, e.count(t, "", table, ""))
	}
	return strings.TrimSpace(b.String())
}

// operatorDB opens a pool on e's database without kirayedar: an operator's
// psql.
func operatorDB(t *testing.T, e *env) *sql.DB {
	t.Helper()
	var db *sql.DB
	switch e.tg.engine {
	case "postgres":
		cfg, err := pgx.ParseConfig(envOr("KIRAYEDAR_POSTGRES_DSN", defaultPostgresDSN))
		must(t, err)
		cfg.Database = e.d.name
		db = stdlib.OpenDB(*cfg)
	case "mysql":
		cfg, err := gomysql.ParseDSN(envOr("KIRAYEDAR_MYSQL_DSN", defaultMySQLDSN))
		must(t, err)
		cfg.DBName = e.d.name
		connector, err := gomysql.NewConnector(cfg)
		must(t, err)
		db = sql.OpenDB(connector)
	default:
		t.Fatalf("no plain connection to %s", e.tg)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}
