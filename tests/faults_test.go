package tests

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/kirayedar/kirayedar"
)

// waitFor polls query (returning one id, or none yet) until it finds one.
func (e *env) waitFor(t testing.TB, what, query string, args ...any) int64 {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		var ids []int64
		must(t, e.admin().Raw(query, args...).Scan(&ids).Error)
		if len(ids) > 0 {
			return ids[0]
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s: gave up waiting for %s", e.tg, what)
	return 0
}

// assertNoTrace checks that nothing of tenant exists: no registry row, no
// schema or database, no tables.
func (e *env) assertNoTrace(t testing.TB, tenant string) {
	t.Helper()
	var rows int64
	must(t, e.admin().Raw("SELECT COUNT(*) FROM "+e.registry()+" WHERE id = ?", tenant).Scan(&rows).Error)
	if rows != 0 {
		t.Errorf("%d registry rows left for %s", rows, tenant)
	}
	if got := e.tablesOf(t, tenant); len(got) != 0 {
		t.Errorf("tables left for %s: %v", tenant, got)
	}
	if e.tg.schemaPerTenant() {
		var n int64
		must(t, e.admin().Raw(e.plugin.Engine().SchemaExists(), tenant).Scan(&n).Error)
		if n != 0 {
			t.Errorf("the schema or database of %s is left", tenant)
		}
	}
}

// The PostgreSQL backend running a Create is terminated from another
// connection after the tenant's tables were built, while it waits to write
// the registry row: the transaction dies with it, leaving no schema, tables
// or registry row, and the same Create then succeeds.
func TestCreateSurvivesItsBackendBeingTerminated(t *testing.T) {
	for _, tg := range targets {
		if tg.engine != "postgres" {
			continue
		}
		t.Run(tg.String(), func(t *testing.T) {
			for _, replay := range []bool{false, true} {
				t.Run(fmt.Sprintf("replay=%v", replay), func(t *testing.T) {
					e := newEnv(t, tg, nil)
					if replay {
						e.newTenant(t) // records the DDL the next Create replays
					}
					ctx := context.Background()
					id := e.tenantID()
					registry := e.registry()

					blocker := e.admin().Begin()
					must(t, blocker.Exec("LOCK TABLE "+registry+" IN EXCLUSIVE MODE").Error)
					t.Cleanup(func() { blocker.Rollback() })
					done := make(chan error, 1)
					go func() { done <- e.prov.Create(ctx, id) }()
					pid := e.waitFor(t, "the Create to block on the registry",
						`SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%INSERT INTO%kirayedar_tenants%'`)
					var killed bool
					must(t, e.admin().Raw("SELECT pg_terminate_backend(?)", pid).Scan(&killed).Error)
					must(t, blocker.Rollback().Error)
					if !killed {
						t.Fatal("pg_terminate_backend did not terminate the backend")
					}
					err := <-done
					if err == nil {
						t.Fatal("the Create whose backend was terminated reported success")
					}
					var ke *kirayedar.Error
					if !errors.As(err, &ke) || ke.Tenant != id {
						t.Errorf("the error does not carry the tenant: %v", err)
					}
					e.assertNoTrace(t, id)

					must(t, e.prov.Create(ctx, id))
					t.Cleanup(func() { _ = e.prov.Drop(ctx, id) })
					e.assertComplete(t, id)
					must(t, e.db.WithContext(ctxFor(id)).Create(&Post{Title: "works"}).Error)
				})
			}
		})
	}
}

// On MySQL, whose DDL commits on its own, a Create whose connection is killed
// after it built the tenant's database, while it waits to mark its registry
// row ready, is compensated on a fresh connection: nothing is left, and the
// same Create then succeeds.
func TestMySQLCreateSurvivesItsConnectionBeingKilled(t *testing.T) {
	for _, tg := range targets {
		if tg.engine != "mysql" {
			continue
		}
		t.Run(tg.String(), func(t *testing.T) {
			e := newEnv(t, tg, nil)
			ctx := context.Background()
			registry := e.registry()
			for attempt := 1; ; attempt++ {
				id := e.tenantID()
				done := make(chan error, 1)
				go func() { done <- e.prov.Create(ctx, id) }()
				// Lock the registry row while the Create is still building,
				// so that its last step waits.
				e.waitFor(t, "the provisioning row", "SELECT 1 FROM "+registry+" WHERE id = ?", id)
				blocker := e.admin().Begin()
				var status string
				must(t, blocker.Raw("SELECT status FROM "+registry+" WHERE id = ? FOR UPDATE", id).Scan(&status).Error)
				if status != "provisioning" {
					must(t, blocker.Rollback().Error) // the Create was too quick; try again
					must(t, <-done)
					must(t, e.prov.Drop(ctx, id))
					if attempt == 10 {
						t.Fatal("every Create finished before its row could be locked")
					}
					continue
				}
				conn := e.waitFor(t, "the Create's last step to wait",
					`SELECT ID FROM information_schema.PROCESSLIST WHERE INFO LIKE 'UPDATE%kirayedar_tenants%'`)
				if got := e.tablesOf(t, id); len(got) != len(tenantTables) {
					t.Errorf("the Create was killed before it built its tables: %v", got)
				}
				must(t, e.admin().Exec(fmt.Sprintf("KILL CONNECTION %d", conn)).Error)
				must(t, blocker.Rollback().Error)
				if err := <-done; err == nil {
					t.Fatal("the Create whose connection was killed reported success")
				}
				e.assertNoTrace(t, id)
				must(t, e.prov.Create(ctx, id))
				t.Cleanup(func() { _ = e.prov.Drop(ctx, id) })
				e.assertComplete(t, id)
				return
			}
		})
	}
}

// An operation that waits for another one holding the tenant's lock (here,
// another process: a connection of our own) gives up after LockTimeout with
// ErrLockTimeout, and changes nothing.
func TestLockWaitsAreBounded(t *testing.T) {
	for _, tg := range targets {
		if tg.engine == "sqlite" {
			continue // no lock across processes: SQLite serializes writers itself
		}
		t.Run(tg.String(), func(t *testing.T) {
			e := newEnv(t, tg, nil)
			ctx := context.Background()
			id := e.newTenant(t)
			holder, err := e.sqlDB.Conn(ctx)
			must(t, err)
			defer holder.Close()
			lockName := "kirayedar:" + id
			if tg.engine == "postgres" {
				// In a transaction: behind PgBouncer's transaction pooling a
				// session lock would stay with a server connection that
				// other clients then get.
				tx, berr := holder.BeginTx(ctx, nil)
				must(t, berr)
				defer func() { _ = tx.Rollback() }()
				_, err = tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", lockName)
			} else {
				_, err = holder.ExecContext(ctx, "SELECT GET_LOCK(?, 10)", lockName)
			}
			must(t, err)

			e.prov.LockTimeout = 300 * time.Millisecond
			start := time.Now()
			err = e.prov.Drop(ctx, id)
			waited := time.Since(start)
			if !errors.Is(err, kirayedar.ErrLockTimeout) {
				t.Errorf("Drop while another process holds the lock: %v, want ErrLockTimeout", err)
			}
			if waited < 250*time.Millisecond || waited > 2*time.Second {
				t.Errorf("gave up after %v; LockTimeout is 300ms", waited)
			}
			// The context's deadline, when sooner, bounds the wait too.
			e.prov.LockTimeout = time.Minute
			short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
			defer cancel()
			start = time.Now()
			err = e.prov.Migrate(short, id)
			if !errors.Is(err, kirayedar.ErrLockTimeout) && !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Migrate while another process holds the lock: %v", err)
			}
			if waited := time.Since(start); waited > 2*time.Second {
				t.Errorf("a 300ms context waited %v", waited)
			}
			// One budget covers the wait in this process and the one in the
			// database: a Drop queued behind a Migrate that waits for the
			// database lock gives up after LockTimeout in all.
			e.prov.LockTimeout = 2 * time.Second
			queued := make(chan error, 1)
			go func() { queued <- e.prov.Migrate(ctx, id) }()
			time.Sleep(200 * time.Millisecond)
			start = time.Now()
			err = e.prov.Drop(ctx, id)
			waited = time.Since(start)
			if !errors.Is(err, kirayedar.ErrLockTimeout) {
				t.Errorf("a Drop queued in the process: %v, want ErrLockTimeout", err)
			}
			if waited > 3200*time.Millisecond {
				t.Errorf("a Drop queued in the process waited %v; LockTimeout is 2s", waited)
			}
			if err := <-queued; !errors.Is(err, kirayedar.ErrLockTimeout) {
				t.Errorf("the Migrate that held the process lock: %v, want ErrLockTimeout", err)
			}
			if ok, _ := e.prov.Exists(ctx, id); !ok {
				t.Error("the tenant is gone after a Drop that timed out")
			}
		})
	}
}
