package tests

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"gorm.io/gorm"

	"github.com/kirayedar/kirayedar"
)

// searchPathScoped reports whether a Transaction on e scopes raw SQL, so
// raw SQL may name tenant tables unqualified: search_path on PostgreSQL
// under StrategySchema, the connection itself under StrategySession.
func (e *env) searchPathScoped() bool {
	return e.tg.strategy == kirayedar.StrategySession ||
		e.tg.engine == "postgres" && e.tg.strategy == kirayedar.StrategySchema
}

// rawPosts names the posts table in raw SQL inside a Transaction for tenant:
// unqualified where search_path scopes it, through Table otherwise.
func (e *env) rawPosts(tenant string) (string, []any) {
	if e.searchPathScoped() {
		return "posts", nil
	}
	return "?", []any{kirayedar.Table(ctxFor(tenant), "posts")}
}

// A tenant transaction commits what fn wrote, for its tenant only, and raw
// SQL in it reads and writes the tenant's tables.
func TestTenantTransactionScopesRawSQL(t *testing.T) {
	forEachTarget(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		a, b := e.newTenant(t), e.newTenant(t)
		seed(t, e, a)
		seed(t, e, b)
		before := e.count(t, a, "posts", "")

		var raw int64
		err := kirayedar.Transaction(ctx, e.db, a, func(tx *gorm.DB) error {
			if err := tx.Create(&Post{Title: "in tx"}).Error; err != nil {
				return err
			}
			posts, args := e.rawPosts(a)
			if err := tx.Exec("INSERT INTO "+posts+" (tenant, title, views) VALUES (?, ?, ?)", append(args, a, "raw", 0)...).Error; err != nil {
				return err
			}
			return tx.Raw("SELECT COUNT(*) FROM "+posts, args...).Scan(&raw).Error
		})
		must(t, err)
		if raw != before+2 {
			t.Errorf("raw SQL in the transaction counted %d posts, want %d", raw, before+2)
		}
		if n := e.count(t, a, "posts", ""); n != before+2 {
			t.Errorf("tenant %s has %d posts after the commit, want %d", a, n, before+2)
		}
		if n := e.foreignRows(t, b, "posts"); n != 0 {
			t.Errorf("tenant %s got %d rows of another tenant", b, n)
		}
		e.assertGlobalUntouched(t)
	})
}

// The callback's error or panic rolls back everything it wrote, and no
// search_path is left on any pooled connection.
func TestTenantTransactionRollsBack(t *testing.T) {
	forEachTarget(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		a := e.newTenant(t)
		errStop := errors.New("stop")
		err := kirayedar.Transaction(ctx, e.db, a, func(tx *gorm.DB) error {
			must(t, tx.Create(&Post{Title: "rolled back"}).Error)
			return errStop
		})
		if !errors.Is(err, errStop) {
			t.Errorf("Transaction returned %v, want the callback's error", err)
		}
		func() {
			defer func() {
				if r := recover(); r != "boom" {
					t.Errorf("the panic became %v", r)
				}
			}()
			_ = kirayedar.Transaction(ctx, e.db, a, func(tx *gorm.DB) error {
				must(t, tx.Create(&Post{Title: "rolled back"}).Error)
				panic("boom")
			})
		}()
		if n := e.count(t, a, "posts", "title = ?", "rolled back"); n != 0 {
			t.Errorf("%d posts survived the rollbacks", n)
		}
		if e.tg.engine == "postgres" {
			// Every connection of the pool, held at once, has the default
			// search_path again.
			conns := make([]*gorm.DB, 0, 8)
			for range 8 {
				tx := e.admin().Begin()
				must(t, tx.Error)
				conns = append(conns, tx)
			}
			for _, tx := range conns {
				var path string
				must(t, tx.Raw("SHOW search_path").Scan(&path).Error)
				if strings.Contains(path, a) {
					t.Errorf("a pooled connection kept search_path %q", path)
				}
				must(t, tx.Rollback().Error)
			}
		}
	})
}

// A tenant transaction is bound to its tenant: a statement in it for another
// tenant is refused before it is sent, and raw SQL without a tenant too.
func TestTenantTransactionIsBoundToItsTenant(t *testing.T) {
	forEachTarget(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		a, b := e.newTenant(t), e.newTenant(t)
		ran := false
		must(t, kirayedar.Transaction(ctx, e.db, a, func(tx *gorm.DB) error {
			ran = true
			if why := e.refusal(func() error {
				return tx.WithContext(ctxFor(b)).Create(&Post{Title: "other"}).Error
			}, kirayedar.ErrCrossTenant); why != "" {
				t.Errorf("a statement for another tenant: %s", why)
			}
			if why := e.refusal(func() error {
				return tx.WithContext(context.Background()).Exec("DELETE FROM posts").Error
			}, kirayedar.ErrNoTenant, kirayedar.ErrUnroutable); why != "" {
				t.Errorf("raw SQL without a tenant: %s", why)
			}
			return nil
		}))
		if !ran {
			t.Fatal("fn did not run")
		}
		// Nested: a savepoint for the same tenant, refused for another.
		err := kirayedar.Transaction(ctx, e.db, a, func(tx *gorm.DB) error {
			if err := kirayedar.Transaction(ctx, tx, b, func(*gorm.DB) error { return nil }); !errors.Is(err, kirayedar.ErrCrossTenant) {
				t.Errorf("a nested Transaction for another tenant: %v", err)
			}
			errUndo := errors.New("undo the savepoint")
			if err := kirayedar.Transaction(ctx, tx, a, func(inner *gorm.DB) error {
				must(t, inner.Create(&Post{Title: "inner, rolled back"}).Error)
				return errUndo
			}); !errors.Is(err, errUndo) {
				t.Errorf("the nested Transaction returned %v", err)
			}
			posts, args := e.rawPosts(a)
			return tx.Exec("INSERT INTO "+posts+" (tenant, title, views) VALUES (?, ?, ?)", append(args, a, "outer", 0)...).Error
		})
		must(t, err)
		if n := e.count(t, a, "posts", "title = ?", "outer"); n != 1 {
			t.Errorf("the outer transaction's raw insert after a nested one: %d rows", n)
		}
		if n := e.count(t, a, "posts", "title = ?", "inner, rolled back"); n != 0 {
			t.Errorf("the rolled-back savepoint left %d rows", n)
		}
		if err := kirayedar.Transaction(ctx, e.db, "Bad-ID", func(*gorm.DB) error { return nil }); !errors.Is(err, kirayedar.ErrInvalidTenantID) {
			t.Errorf("Transaction for an invalid ID: %v", err)
		}
	})
}

// Concurrent tenant transactions writing and reading with raw SQL, on a pool
// smaller than the number of tenants (and, on one target, through
// PgBouncer's transaction pooling): every row lands in its own tenant's
// table and every read sees only its own tenant's rows.
func TestConcurrentTenantTransactions(t *testing.T) {
	const (
		tenants   = 12
		workers   = 16
		perWorker = 40
	)
	forEachTarget(t, func(t *testing.T, e *env) {
		ids := make([]string, tenants)
		written := make([]atomic.Int64, tenants)
		for i := range ids {
			ids[i] = e.newTenant(t)
		}
		var failures atomic.Int64
		var once sync.Once
		fail := func(format string, args ...any) {
			failures.Add(1)
			once.Do(func() { t.Errorf(format, args...) })
		}
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewSource(int64(w)))
				for i := range perWorker {
					k := rng.Intn(tenants)
					tenant := ids[k]
					err := kirayedar.Transaction(context.Background(), e.db, tenant, func(tx *gorm.DB) error {
						posts, args := e.rawPosts(tenant)
						title := fmt.Sprintf("w%d-%d", w, i)
						if err := tx.Exec("INSERT INTO "+posts+" (tenant, title, views) VALUES (?, ?, ?)", append(args, tenant, title, w)...).Error; err != nil {
							return err
						}
						var foreign int64
						if err := tx.Raw("SELECT COUNT(*) FROM "+posts+" WHERE tenant <> ?", append(args, tenant)...).Scan(&foreign).Error; err != nil {
							return err
						}
						if foreign != 0 {
							return fmt.Errorf("tenant %s read %d rows of other tenants", tenant, foreign)
						}
						return nil
					})
					if err != nil {
						fail("worker %d: %v", w, err)
						continue
					}
					written[k].Add(1)
				}
			}()
		}
		wg.Wait()
		for k, id := range ids {
			if n := e.count(t, id, "posts", ""); n != written[k].Load() {
				t.Errorf("tenant %s has %d posts, %d were committed for it", id, n, written[k].Load())
			}
			if n := e.foreignRows(t, id, "posts"); n != 0 {
				t.Errorf("tenant %s holds %d rows of other tenants", id, n)
			}
		}
		e.assertGlobalUntouched(t)
		if failures.Load() > 0 {
			t.Errorf("%d transactions failed", failures.Load())
		}
	})
}

// Inside a Transaction whose search_path scopes raw SQL, nothing may undo
// that scope: SQL that changes search_path or ends the transaction is
// refused, GlobalContext statements may not name tenant tables unqualified
// (they would be the tenant's), and a temporary table cannot shadow a
// tenant table.
func TestTenantTransactionScopeCannotBeUndone(t *testing.T) {
	forEachTarget(t, func(t *testing.T, e *env) {
		if !e.searchPathScoped() {
			t.Skip("search_path scoping is for PostgreSQL's schema strategy")
		}
		ctx := context.Background()
		a, b := e.newTenant(t), e.newTenant(t)
		seed(t, e, b)
		ran := false
		err := kirayedar.Transaction(ctx, e.db, a, func(tx *gorm.DB) error {
			ran = true
			for _, sql := range []string{
				`SET LOCAL search_path TO "` + b + `"`,
				`SET search_path = "` + b + `"`,
				`SELECT set_config('search_path', '"` + b + `"', true)`,
				`RESET search_path`,
				`RESET ALL`,
				`DISCARD ALL`,
				`COMMIT`,
				`ROLLBACK`,
				`END`,
				`SELECT 1; COMMIT`,
				`SET ROLE postgres`,
			} {
				if why := e.refusal(func() error { return tx.Exec(sql).Error }, kirayedar.ErrUnroutable); why != "" {
					t.Errorf("%s: %s", sql, why)
				}
			}
			must(t, tx.Exec("SAVEPOINT sp").Error)
			must(t, tx.Exec("ROLLBACK TO SAVEPOINT sp").Error)

			global := tx.WithContext(kirayedar.GlobalContext(ctx))
			if why := e.refusal(func() error { return global.Create(&Post{Tenant: "global", Title: "x"}).Error },
				kirayedar.ErrNoTenant, kirayedar.ErrUnroutable); why != "" {
				t.Errorf("a GlobalContext write to a tenant table: %s", why)
			}
			var plans int64
			must(t, global.Model(&Plan{}).Count(&plans).Error)

			if e.tg.engine != "postgres" {
				return nil // pg_temp, searched last, is PostgreSQL's
			}
			must(t, tx.Exec("CREATE TEMP TABLE posts ON COMMIT DROP AS SELECT 1 AS id, 'temp'::text AS tenant, 'from-temp'::text AS title").Error)
			var fromTemp int64
			must(t, tx.Raw("SELECT COUNT(*) FROM posts WHERE title = 'from-temp'").Scan(&fromTemp).Error)
			if fromTemp != 0 {
				t.Errorf("a temporary table shadowed the tenant's posts")
			}
			return nil
		})
		must(t, err)
		if !ran {
			t.Fatal("fn did not run")
		}
		if n := e.count(t, "", "posts", ""); n != 1 {
			t.Errorf("the global copy of posts has %d rows", n)
		}
	})
}

// The binding holds whatever wraps the transaction, and Transaction is not
// nested in a transaction it did not start, whose savepoint would carry its
// search_path past its end.
func TestTenantTransactionBindingHolds(t *testing.T) {
	forEachTarget(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		a, b := e.newTenant(t), e.newTenant(t)
		ran := false
		err := kirayedar.Transaction(ctx, e.db, a, func(tx *gorm.DB) error {
			ran = true
			ps := tx.Session(&gorm.Session{PrepareStmt: true})
			if why := e.refusal(func() error { return ps.WithContext(ctxFor(b)).Create(&Post{Title: "other"}).Error },
				kirayedar.ErrCrossTenant); why != "" {
				t.Errorf("another tenant through a PrepareStmt session: %s", why)
			}
			if err := kirayedar.Transaction(ctx, ps, b, func(*gorm.DB) error { return nil }); !errors.Is(err, kirayedar.ErrCrossTenant) {
				t.Errorf("a nested Transaction for another tenant through a PrepareStmt session: %v", err)
			}
			return nil
		})
		must(t, err)
		if !ran {
			t.Fatal("fn did not run")
		}
		err = e.db.Transaction(func(plain *gorm.DB) error {
			if err := kirayedar.Transaction(ctx, plain, a, func(*gorm.DB) error { return nil }); err == nil {
				t.Error("Transaction nested in a plain GORM transaction was not refused")
			}
			return nil
		})
		must(t, err)
	})
}
