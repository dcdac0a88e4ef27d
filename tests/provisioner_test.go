package tests

import (
	"context"
	"errors"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/kirayedar/kirayedar"
)

// Broken is a tenant model whose table cannot be created on any engine: its
// check constraint names a column that does not exist.
type Broken struct {
	ID   uint
	Name string `gorm:"size:10;check:broken_check,no_such_column > 0"`
}

func TestProvisionerLifecycle(t *testing.T) {
	forEachTarget(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		id := e.tenantID()
		must(t, e.prov.Create(ctx, id))
		t.Cleanup(func() { _ = e.prov.Drop(ctx, id) })

		e.assertComplete(t, id)
		if idx := e.indexesOf(t, id, "audit_logs"); !strings.Contains(strings.Join(idx, ","), "idx_audit_action") {
			t.Errorf("tenant %s's audit_logs lacks its named index: %v", id, idx)
		}
		if ok, err := e.prov.Exists(ctx, id); err != nil || !ok {
			t.Errorf("Exists(%s) = %v, %v after Create", id, ok, err)
		}
		if ids, err := e.prov.List(ctx); err != nil || !containsString(ids, id) {
			t.Errorf("List = %v, %v; want it to hold %s", ids, err, id)
		}
		must(t, e.prov.Migrate(ctx, id)) // nothing to change, and no error
		if got := e.tablesOf(t, id); len(got) != len(tenantTables) {
			t.Errorf("Migrate changed the tables: %v", got)
		}

		must(t, e.prov.Drop(ctx, id))
		if got := e.tablesOf(t, id); len(got) != 0 {
			t.Errorf("tenant %s still has tables after Drop: %v", id, got)
		}
		if ok, err := e.prov.Exists(ctx, id); err != nil || ok {
			t.Errorf("Exists(%s) = %v, %v after Drop", id, ok, err)
		}
		if ids, _ := e.prov.List(ctx); containsString(ids, id) {
			t.Errorf("List still holds %s after Drop", id)
		}
	})
}

func TestCreateOfAnExistingTenantChangesNothing(t *testing.T) {
	forEachTarget(t, func(t *testing.T, e *env) {
		a := e.newTenant(t)
		seed(t, e, a)
		before := e.snapshot(t, a)
		err := e.prov.Create(context.Background(), a)
		if !errors.Is(err, kirayedar.ErrTenantExists) {
			t.Fatalf("Create of an existing tenant: %v, want ErrTenantExists", err)
		}
		var te *kirayedar.Error
		if !errors.As(err, &te) || te.Tenant != a || te.Op != "create" {
			t.Errorf("the error does not carry the tenant and operation: %#v", err)
		}
		if after := e.snapshot(t, a); after != before {
			t.Errorf("tenant %s changed:\nbefore %s\nafter  %s", a, before, after)
		}
	})
}

func TestMissingTenants(t *testing.T) {
	forEachTarget(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		missing := e.tenantID()
		for name, err := range map[string]error{
			"Drop":    e.prov.Drop(ctx, missing),
			"Migrate": e.prov.Migrate(ctx, missing),
		} {
			if !errors.Is(err, kirayedar.ErrTenantNotFound) {
				t.Errorf("%s of a missing tenant: %v, want ErrTenantNotFound", name, err)
			}
		}
		if ok, err := e.prov.Exists(ctx, missing); ok || err != nil {
			t.Errorf("Exists of a missing tenant: %v, %v", ok, err)
		}
	})
}

// A Create whose migration fails half-way leaves nothing behind: on
// PostgreSQL and SQLite the transaction rolls back, on MySQL the database or
// tables this call created are dropped. The same Create then succeeds.
func TestFailedCreateLeavesNothingBehind(t *testing.T) {
	for _, tg := range targets {
		t.Run(tg.String(), func(t *testing.T) {
			good := newEnv(t, tg, nil)
			broken := newEnv(t, tg, func(c *kirayedar.Config) { c.TenantModels = append(c.TenantModels, &Broken{}) })
			ctx := context.Background()
			id := good.tenantID()
			catalogBefore := good.catalog(t)

			err := broken.prov.Create(ctx, id)
			if err == nil {
				_ = broken.prov.Drop(ctx, id)
				t.Fatal("Create with a broken model succeeded")
			}
			if after := good.catalog(t); after != catalogBefore {
				t.Errorf("the failed Create left objects behind: %s", catalogDiff(catalogBefore, after))
			}
			if ok, err := good.prov.Exists(ctx, id); ok || err != nil {
				t.Errorf("the failed Create left a registry row: %v, %v", ok, err)
			}
			var rows int64
			must(t, good.admin().Raw("SELECT COUNT(*) FROM "+good.registry()+" WHERE id = ?", id).Scan(&rows).Error)
			if rows != 0 {
				t.Errorf("the failed Create left %d registry rows", rows)
			}
			must(t, good.prov.Create(ctx, id))
			t.Cleanup(func() { _ = good.prov.Drop(ctx, id) })
			if got := good.tablesOf(t, id); len(got) != len(tenantTables) {
				t.Errorf("the retried Create made tables %v", got)
			}
		})
	}
}

// Many goroutines creating one tenant at once: exactly one succeeds, every
// other one gets ErrTenantExists, and the tenant is complete.
func TestConcurrentCreatesOfOneTenant(t *testing.T) {
	forEachTarget(t, func(t *testing.T, e *env) {
		id := e.tenantID()
		t.Cleanup(func() { _ = e.prov.Drop(context.Background(), id) })
		errs := make([]error, 10)
		var wg sync.WaitGroup
		for i := range errs {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				errs[i] = e.prov.Create(context.Background(), id)
			}(i)
		}
		wg.Wait()
		created := 0
		for _, err := range errs {
			switch {
			case err == nil:
				created++
			case !errors.Is(err, kirayedar.ErrTenantExists):
				t.Errorf("a concurrent Create failed with %v, want ErrTenantExists", err)
			}
		}
		if created != 1 {
			t.Errorf("%d concurrent Creates succeeded, want exactly 1", created)
		}
		e.assertComplete(t, id)
	})
}

// A schema, database or table that exists without a registry row belongs to
// someone else: Create refuses it with ErrTenantExists and leaves it alone.
func TestCreateRefusesUnregisteredLeftovers(t *testing.T) {
	forEachTarget(t, func(t *testing.T, e *env) {
		id := e.tenantID()
		eng := e.plugin.Engine()
		var ddl, cleanup string
		switch {
		case e.tg.strategy == kirayedar.StrategyPrefix:
			ddl = "CREATE TABLE " + e.table(id, "posts") + " (keep int)"
			cleanup = "DROP TABLE " + e.table(id, "posts")
		default:
			ddl = eng.CreateSchema(id)
			cleanup = eng.DropSchema(id)
		}
		must(t, e.admin().Exec(ddl).Error)
		t.Cleanup(func() { _ = e.admin().Exec(cleanup).Error })
		before := e.catalog(t)
		if err := e.prov.Create(context.Background(), id); !errors.Is(err, kirayedar.ErrTenantExists) {
			t.Fatalf("Create over an unregistered leftover: %v, want ErrTenantExists", err)
		}
		if after := e.catalog(t); after != before {
			t.Errorf("Create touched the leftover: %s", catalogDiff(before, after))
		}
	})
}

// On MySQL a Create is a sequence of auto-committed steps. One cut off after
// its first DDL leaves a "provisioning" registry row; the next Create for the
// tenant cleans up what it left and succeeds.
func TestInterruptedMySQLCreateIsCleanedUp(t *testing.T) {
	for _, tg := range targets {
		if tg.engine != "mysql" {
			continue
		}
		t.Run(tg.String(), func(t *testing.T) {
			e := newEnv(t, tg, nil)
			ctx := context.Background()
			id := e.tenantID()
			registry := e.registry()
			must(t, e.admin().Exec("INSERT INTO "+registry+" (id, status) VALUES (?, 'provisioning')", id).Error)
			if tg.schemaPerTenant() {
				must(t, e.admin().Exec(e.plugin.Engine().CreateSchema(id)).Error)
				must(t, e.admin().Exec("CREATE TABLE "+e.table(id, "posts")+" (half int)").Error)
			} else {
				must(t, e.admin().Exec("CREATE TABLE "+e.table(id, "posts")+" (half int)").Error)
			}
			if ok, _ := e.prov.Exists(ctx, id); ok {
				t.Errorf("a provisioning tenant is reported as existing")
			}
			must(t, e.prov.Create(ctx, id))
			t.Cleanup(func() { _ = e.prov.Drop(ctx, id) })
			e.assertComplete(t, id)
			must(t, e.db.WithContext(ctxFor(id)).Create(&Post{Title: "works"}).Error)
		})
	}
}

// GORM's MySQL migrator inspects the connection's current database whatever
// table name it is given. The tenant's tables must land in the tenant's
// database, and none in the default database, which here starts empty.
func TestMySQLTenantTablesLandInTheTenantDatabase(t *testing.T) {
	tg := target{engine: "mysql", strategy: kirayedar.StrategySchema}
	e := newBareEnv(t, tg)
	ctx := context.Background()
	id := e.tenantID()
	must(t, e.prov.Create(ctx, id))
	t.Cleanup(func() { _ = e.prov.Drop(ctx, id) })

	e.assertComplete(t, id)
	var inDefault []string
	must(t, e.admin().Raw("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? ORDER BY 1", e.global).Scan(&inDefault).Error)
	if strings.Join(inDefault, ",") != "kirayedar_tenants" {
		t.Errorf("the default database %s holds %v, want only the registry", e.global, inDefault)
	}
	var current string
	for i := 0; i < 16; i++ { // every pooled connection is back on the default database
		must(t, e.admin().Raw("SELECT DATABASE()").Scan(&current).Error)
		if current != e.global {
			t.Fatalf("a pooled connection is left on database %s", current)
		}
	}
}

// assertComplete checks that a tenant has every tenant table.
func (e *env) assertComplete(t testing.TB, tenant string) {
	t.Helper()
	if got := e.tablesOf(t, tenant); strings.Join(got, ",") != strings.Join(tenantTables, ",") {
		t.Errorf("%s: tenant %s has tables %v, want %v", e.tg, tenant, got, tenantTables)
	}
}

// registry is the registry table, quoted for raw SQL.
func (e *env) registry() string {
	return e.plugin.Engine().RegistryName(e.global, "kirayedar_tenants")
}

// tablesOf lists a tenant's tables as GORM names them, sorted.
func (e *env) tablesOf(t testing.TB, tenant string) []string {
	t.Helper()
	var query string
	var args []any
	switch {
	case e.tg.schemaPerTenant() && e.tg.engine == "postgres":
		query, args = "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = ? AND c.relkind = 'r'", []any{tenant}
	case e.tg.schemaPerTenant():
		query, args = "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?", []any{tenant}
	case e.tg.engine == "postgres":
		query, args = "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = ? AND c.relkind = 'r'", []any{e.global}
	case e.tg.engine == "mysql":
		query, args = "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?", []any{e.global}
	default:
		query = "SELECT name FROM sqlite_master WHERE type = 'table'"
	}
	var names []string
	if err := e.admin().Raw(query, args...).Scan(&names).Error; err != nil {
		t.Fatalf("%s: listing tables: %v", e.tg, err)
	}
	var tables []string
	for _, n := range names {
		if e.tg.schemaPerTenant() {
			tables = append(tables, n)
		} else if rest, ok := strings.CutPrefix(n, tenant+prefixSeparator); ok {
			tables = append(tables, rest)
		}
	}
	sort.Strings(tables)
	return tables
}

// indexesOf lists the index names of a tenant's table.
func (e *env) indexesOf(t testing.TB, tenant, table string) []string {
	t.Helper()
	schema, name := tenant, table
	if e.tg.strategy == kirayedar.StrategyPrefix {
		schema, name = e.global, tenant+prefixSeparator+table
	}
	var query string
	switch e.tg.engine {
	case "postgres":
		query = "SELECT indexname FROM pg_indexes WHERE schemaname = ? AND tablename = ?"
	case "mysql":
		query = "SELECT INDEX_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?"
	default:
		query = "SELECT name FROM sqlite_master WHERE type = 'index' AND ? <> '' AND tbl_name = ?"
	}
	var names []string
	must(t, e.admin().Raw(query, schema, name).Scan(&names).Error)
	return names
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
