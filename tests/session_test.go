package tests

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/kirayedar/kirayedar"
)

// StrategySession: the connection that runs a statement resolves names in
// the statement's tenant, so raw SQL is scoped too. The behaviour tests run
// on the session targets like on every other; these are the properties of
// the strategy itself.

func forEachSessionTarget(t *testing.T, fn func(t *testing.T, tg target)) {
	t.Helper()
	for _, tg := range targets {
		if tg.strategy == kirayedar.StrategySession {
			t.Run(tg.String(), func(t *testing.T) { fn(t, tg) })
		}
	}
}

func TestSessionScopesRawSQL(t *testing.T) {
	forEachSessionTarget(t, func(t *testing.T, tg target) {
		e := newEnv(t, tg, nil)
		a, b := e.newTenant(t), e.newTenant(t)
		seed(t, e, a)
		seed(t, e, b)
		A, B := e.db.WithContext(ctxFor(a)), e.db.WithContext(ctxFor(b))

		t.Run("Raw, Exec, Row, Rows and Scan under a tenant use its tables", func(t *testing.T) {
			var tenants []string
			must(t, A.Raw("SELECT tenant FROM posts").Scan(&tenants).Error)
			if len(tenants) != 3 || sameTenant(A, tenants) != nil {
				t.Fatalf("Raw read %v for tenant %s", tenants, a)
			}
			res := B.Exec("UPDATE posts SET views = views + 5 WHERE id = ?", 1)
			must(t, res.Error)
			if res.RowsAffected != 1 || e.count(t, b, "posts", "views = 5") != 1 || e.count(t, a, "posts", "views = 5") != 0 {
				t.Fatalf("Exec under %s updated %d rows, not exactly b's", b, res.RowsAffected)
			}
			var owner string
			must(t, A.Raw("SELECT tenant FROM comments LIMIT 1").Row().Scan(&owner))
			if owner != a {
				t.Fatalf("Row read a comment of %q", owner)
			}
			rows, err := B.Raw("SELECT c.tenant FROM comments c JOIN posts p ON p.id = c.post_id").Rows()
			must(t, err)
			for rows.Next() {
				must(t, rows.Scan(&owner))
				if owner != b {
					t.Fatalf("Rows read a comment of %q", owner)
				}
			}
			must(t, rows.Close())
		})

		t.Run("global tables resolve under a tenant", func(t *testing.T) {
			var plans []Plan
			must(t, A.Find(&plans).Error)
			if len(plans) != 2 {
				t.Fatalf("read %d plans under a tenant", len(plans))
			}
		})

		t.Run("without a tenant raw SQL runs against the global schema", func(t *testing.T) {
			where := "SELECT current_schema()"
			if tg.engine == "mysql" {
				where = "SELECT DATABASE()"
			}
			var current string
			must(t, e.db.Raw(where).Scan(&current).Error)
			if current != e.global {
				t.Fatalf("raw SQL without a tenant ran in %q, want the global schema %q", current, e.global)
			}
			// Where the plugin sees a tenant table named, it refuses the
			// statement rather than let it read the global copy.
			if msg := e.refusal(func() error {
				var n int64
				return e.db.Raw("SELECT count(*) FROM posts").Scan(&n).Error
			}, kirayedar.ErrUnroutable); msg != "" {
				t.Fatal(msg)
			}
		})

		t.Run("a tenant without a schema or database fails closed", func(t *testing.T) {
			var n int64
			err := e.db.WithContext(ctxFor("ghost_" + randomID(6))).Raw("SELECT count(*) FROM posts").Scan(&n).Error
			if !errors.Is(err, kirayedar.ErrTenantNotFound) {
				t.Fatalf("got %v, want ErrTenantNotFound", err)
			}
		})

		t.Run("an ID the plugin reserves is refused before anything is sent", func(t *testing.T) {
			if msg := e.refusal(func() error {
				return e.db.WithContext(ctxFor(e.global)).Exec("SELECT 1").Error
			}, kirayedar.ErrInvalidTenantID); msg != "" {
				t.Fatal(msg)
			}
		})
	})
}

func TestSessionStrictRawSQL(t *testing.T) {
	forEachSessionTarget(t, func(t *testing.T, tg target) {
		e := newEnv(t, tg, func(c *kirayedar.Config) { c.StrictRawSQL = true })
		a := e.newTenant(t)
		seed(t, e, a)
		for name, run := range map[string]func() error{
			"Raw":  func() error { var n int64; return e.db.Raw("SELECT count(*) FROM plans").Scan(&n).Error },
			"Exec": func() error { return e.db.Exec("UPDATE plans SET name = name").Error },
			"Row":  func() error { var n int64; return e.db.Raw("SELECT 1").Row().Scan(&n) },
			"Rows": func() error { _, err := e.db.Raw("SELECT 1").Rows(); return err },
		} {
			t.Run(name+" without a tenant is refused", func(t *testing.T) {
				want := []error{kirayedar.ErrNoTenant}
				if name == "Row" {
					// A *sql.Row cannot carry an error of the plugin's own;
					// it carries a cancelled context's.
					want = append(want, context.Canceled)
				}
				if msg := e.refusal(run, want...); msg != "" {
					t.Fatal(msg)
				}
			})
		}
		t.Run("Raw on a global model's table is still raw", func(t *testing.T) {
			if msg := e.refusal(func() error {
				var n int64
				return e.db.Table("plans").Raw("SELECT count(*) FROM plans").Scan(&n).Error
			}, kirayedar.ErrNoTenant); msg != "" {
				t.Fatal(msg)
			}
		})
		t.Run("a tenant or GlobalContext makes it run", func(t *testing.T) {
			var n int64
			must(t, e.db.WithContext(ctxFor(a)).Raw("SELECT count(*) FROM posts").Scan(&n).Error)
			if n != 3 {
				t.Fatalf("read %d of tenant %s's posts", n, a)
			}
			must(t, e.db.WithContext(kirayedar.GlobalContext(context.Background())).Raw("SELECT count(*) FROM plans").Scan(&n).Error)
		})
		t.Run("GORM statements on global models need no context", func(t *testing.T) {
			var plans []Plan
			must(t, e.db.Find(&plans).Error)
		})
	})
}

// MySQL binds a prepared statement's tables in the database current when it
// was prepared, and PostgreSQL refuses a cached plan whose result type
// changed ("cached plan must not change result type"). The connector keeps
// one prepared statement per tenant, so neither reaches the application.
func TestSessionPreparedStatementsAcrossShapes(t *testing.T) {
	forEachSessionTarget(t, func(t *testing.T, tg target) {
		e := newEnv(t, tg, nil)
		a, b := e.newTenant(t), e.newTenant(t)
		seed(t, e, a)
		seed(t, e, b)
		must(t, e.admin().Exec("ALTER TABLE "+e.table(b, "tags")+" ADD COLUMN extra INT DEFAULT 7").Error)
		e.sqlDB.SetMaxOpenConns(1) // one connection, switched back and forth
		prepared := e.db.Session(&gorm.Session{PrepareStmt: true})
		columns := func(db *gorm.DB) int {
			t.Helper()
			var rows []map[string]any
			must(t, db.Raw("SELECT * FROM tags WHERE id > ?", 0).Scan(&rows).Error)
			if len(rows) == 0 {
				t.Fatal("read no tags")
			}
			return len(rows[0])
		}
		want := map[string]int{a: columns(e.db.WithContext(ctxFor(a)))}
		want[b] = want[a] + 1
		for round := 0; round < 4; round++ {
			for _, tenant := range []string{a, b, a, b} {
				for _, db := range []*gorm.DB{e.db, prepared} {
					ctx := ctxFor(tenant)
					if got := columns(db.WithContext(ctx)); got != want[tenant] {
						t.Fatalf("round %d, tenant %s: %d columns, want %d", round, tenant, got, want[tenant])
					}
					must(t, kirayedar.Transaction(ctx, db, tenant, func(tx *gorm.DB) error {
						if got := columns(tx); got != want[tenant] {
							t.Fatalf("round %d, tenant %s, in a transaction: %d columns, want %d", round, tenant, got, want[tenant])
						}
						return nil
					}))
				}
			}
		}
	})
}

// A warm connection, set for the statement's tenant already, gets exactly
// the application's statements; each change of tenant costs one switch.
func TestSessionSwitchesOnlyWhenTheTenantChanges(t *testing.T) {
	forEachSessionTarget(t, func(t *testing.T, tg target) {
		e := newEnv(t, tg, nil)
		a, b := e.newTenant(t), e.newTenant(t)
		seed(t, e, a)
		seed(t, e, b)
		e.sqlDB.SetMaxOpenConns(1)
		var p Post
		must(t, e.db.WithContext(ctxFor(a)).First(&p).Error)
		before := e.sent.switches.Load()
		sent, _ := e.sentDuring(func() {
			for i := 0; i < 10; i++ {
				must(t, e.db.WithContext(ctxFor(a)).First(&p, 1).Error)
			}
		})
		if sw := e.sent.switches.Load() - before; sw != 0 || sent != 10 {
			t.Fatalf("10 selects on a warm connection sent %d statements and %d switches", sent, sw)
		}
		before = e.sent.switches.Load()
		for i := 0; i < 10; i++ {
			must(t, e.db.WithContext(ctxFor([]string{a, b}[i%2])).First(&p, 1).Error)
		}
		if sw := e.sent.switches.Load() - before; sw != 9 {
			t.Fatalf("10 selects alternating tenants, starting with the connection's own, sent %d switches, want 9", sw)
		}
	})
}

// A switch cut off by its context leaves the connection's state unknown: the
// connection is closed, and the next statement runs on a fresh one.
func TestSessionConnectionLeftMidSwitchIsNotReused(t *testing.T) {
	tg := target{engine: "postgres", strategy: kirayedar.StrategySession}
	e := newEnv(t, tg, nil)
	a, b := e.newTenant(t), e.newTenant(t)
	e.sqlDB.SetMaxOpenConns(1)
	pid := func(tenant string) (n int64) {
		t.Helper()
		must(t, e.db.WithContext(ctxFor(tenant)).Raw("SELECT pg_backend_pid()").Scan(&n).Error)
		return n
	}
	first := pid(a)

	// The switch reads pg_namespace; an exclusive lock on it holds the
	// switch until the statement's deadline cancels it.
	_, other, err := e.d.open(new(counters)) // the pool's one connection is busy
	must(t, err)
	t.Cleanup(func() { _ = other.Close() })
	blocker, err := other.Begin()
	must(t, err)
	t.Cleanup(func() { _ = blocker.Rollback() })
	_, err = blocker.Exec("LOCK TABLE pg_catalog.pg_namespace IN ACCESS EXCLUSIVE MODE")
	must(t, err)
	ctx, cancel := context.WithTimeout(ctxFor(b), 300*time.Millisecond)
	defer cancel()
	var n int64
	err = e.db.WithContext(ctx).Raw("SELECT count(*) FROM posts").Scan(&n).Error
	must(t, blocker.Rollback())
	if err == nil {
		t.Fatal("the statement ran although its switch was blocked past its deadline")
	}
	t.Logf("the statement cut off mid-switch: %v", err)
	if next := pid(b); next == first {
		t.Fatalf("the connection cut off mid-switch (backend %d) was used again", first)
	}
	if got := pid(a); got == first {
		t.Fatal("the connection cut off mid-switch came back")
	}
}

// StrategySession sets search_path on the connection, which a pooler in
// transaction mode hands to other clients between transactions. A
// NewConnector pool notices the pooler on its first connection.
func TestSessionRefusesAPooler(t *testing.T) {
	d := databaseFor(t, target{engine: "postgres", strategy: kirayedar.StrategySchema, via: "pgbouncer"})
	open := func(opts kirayedar.ConnectorOptions) error {
		cfg, err := pgx.ParseConfig(pgbouncerDSN() + " default_query_exec_mode=exec")
		must(t, err)
		cfg.Database = d.name
		connector, err := kirayedar.NewConnector(stdlib.GetConnector(*cfg), opts)
		must(t, err)
		sqlDB := sql.OpenDB(connector)
		t.Cleanup(func() { _ = sqlDB.Close() })
		// gorm.Open pings, which opens the first connection.
		db, err := gorm.Open(postgres.New(postgres.Config{Conn: sqlDB}), &gorm.Config{Logger: logger.Discard})
		if err != nil {
			return err
		}
		return db.Use(kirayedar.New(kirayedar.Config{TenantModels: tenantModels(), Strategy: kirayedar.StrategySession}))
	}
	if err := open(kirayedar.ConnectorOptions{}); !errors.Is(err, kirayedar.ErrPooler) {
		t.Fatalf("behind PgBouncer: %v, want ErrPooler", err)
	}
	if err := open(kirayedar.ConnectorOptions{AllowPooler: true}); err != nil {
		t.Fatalf("with AllowPooler: %v", err)
	}
}

// StrategySession on a pool not opened with NewConnector would leave raw SQL
// unscoped: Initialize refuses it.
func TestSessionNeedsItsConnector(t *testing.T) {
	d := databaseFor(t, target{engine: "postgres", strategy: kirayedar.StrategySchema})
	dialector, sqlDB, err := d.open(new(counters))
	must(t, err)
	t.Cleanup(func() { _ = sqlDB.Close() })
	db, err := gorm.Open(dialector, &gorm.Config{Logger: logger.Discard})
	must(t, err)
	if err := db.Use(kirayedar.New(kirayedar.Config{TenantModels: tenantModels(), Strategy: kirayedar.StrategySession})); err == nil {
		t.Fatal("StrategySession accepted a pool without kirayedar.NewConnector")
	} else {
		t.Log(err)
	}
}

// SQL that changes the connection's name resolution, ends its transaction or
// leaves objects of its tenant on it, sent as raw SQL: the tracker notices,
// and the next statement of every tenant runs where it belongs. (What a
// function or procedure does inside cannot be seen; see the README.)
func TestSessionTrackerFollowsRawSessionChanges(t *testing.T) {
	forEachSessionTarget(t, func(t *testing.T, tg target) {
		e := newEnv(t, tg, nil)
		a, b := e.newTenant(t), e.newTenant(t)
		seed(t, e, a)
		seed(t, e, b)
		e.sqlDB.SetMaxOpenConns(1) // every statement on the one connection
		A, B := e.db.WithContext(ctxFor(a)), e.db.WithContext(ctxFor(b))
		prepared := A.Session(&gorm.Session{PrepareStmt: true})
		who := func(db *gorm.DB) string {
			t.Helper()
			var owner string
			must(t, db.Raw("SELECT tenant FROM posts LIMIT 1").Scan(&owner).Error)
			return owner
		}
		var scenarios map[string]func()
		if tg.engine == "postgres" {
			other := e.plugin.Engine().QuoteIdent(b)
			scenarios = map[string]func(){
				"SET SCHEMA":                  func() { A.Exec("SET SCHEMA '" + b + "'") },
				"set_config with arguments":   func() { A.Exec("SELECT set_config(?, ?, false)", "search_path", other) },
				"a comment, then RESET ALL":   func() { A.Exec("/* trace=1 */ RESET ALL") },
				"RESET ALL after a statement": func() { A.Exec("SELECT 1; RESET ALL") },
				"a prepared RESET":            func() { prepared.Exec("RESET search_path") },
				"COMMIT inside a transaction": func() {
					tx := A.Begin()
					_ = who(tx.WithContext(ctxFor(b)))
					tx.WithContext(ctxFor(b)).Exec("COMMIT")
					tx.Rollback()
				},
				"a temporary table": func() {
					A.Exec("CREATE TEMP TABLE report AS SELECT * FROM posts")
					var owners []string
					if err := B.Raw("SELECT tenant FROM report").Scan(&owners).Error; err == nil && len(owners) > 0 {
						t.Errorf("tenant %s read tenant %s's temporary table: %v", b, a, owners)
					}
				},
			}
		} else {
			scenarios = map[string]func(){
				"a comment, then USE":   func() { A.Exec("/* trace=1 */ USE " + b) },
				"USE with a backtick":   func() { A.Exec("USE`" + b + "`") },
				"an executable comment": func() { A.Exec("/*!USE " + b + "*/") },
				"EXECUTE IMMEDIATE":     func() { A.Exec("EXECUTE IMMEDIATE 'USE " + b + "'") },
				"a prepared USE":        func() { prepared.Exec("USE " + b) },
				"a statement prepared in SQL": func() {
					A.Exec("PREPARE p FROM 'SELECT tenant FROM posts'")
					var owners []string
					if err := B.Raw("EXECUTE p").Scan(&owners).Error; err == nil && len(owners) > 0 && owners[0] != b {
						t.Errorf("tenant %s executed tenant %s's prepared statement: %v", b, a, owners)
					}
				},
			}
		}
		for name, run := range scenarios {
			t.Run(name, func(t *testing.T) {
				run()
				if got := who(A); got != a {
					t.Errorf("afterwards tenant %s read %s's rows", a, got)
				}
				if got := who(B); got != b {
					t.Errorf("afterwards tenant %s read %s's rows", b, got)
				}
				if got := who(A); got != a {
					t.Errorf("afterwards tenant %s read %s's rows", a, got)
				}
			})
		}
	})
}

// Semicolons and keywords inside string literals and function bodies are
// not statements: a migration that creates a PL/pgSQL function inside a
// tenant's transaction goes on in that transaction.
func TestSessionTrackerReadsPastQuotedText(t *testing.T) {
	forEachSessionTarget(t, func(t *testing.T, tg target) {
		e := newEnv(t, tg, nil)
		a := e.newTenant(t)
		seed(t, e, a)
		body := "SELECT 'not; COMMIT' AS note"
		if tg.engine == "postgres" {
			body = "CREATE FUNCTION touch_" + a + "() RETURNS void AS $fn$ BEGIN PERFORM 1; END $fn$ LANGUAGE plpgsql"
		}
		must(t, kirayedar.Transaction(ctxFor(a), e.db, a, func(tx *gorm.DB) error {
			if err := tx.Exec(body).Error; err != nil {
				return err
			}
			var n int64
			return tx.Raw("SELECT count(*) FROM posts").Scan(&n).Error
		}))
	})
}
