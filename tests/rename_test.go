package tests

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/kirayedar/kirayedar"
)

// Rename moves a tenant to a new ID with every row, leaves nothing under the
// old ID (which can be created afresh), and keeps the registry right.
func TestRenameKeepsEveryRow(t *testing.T) {
	forEachTarget(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		from := e.newTenant(t)
		seed(t, e, from)
		for i := range 20 {
			must(t, e.db.WithContext(ctxFor(from)).Create(&Post{Title: "bulk", Views: i, Tags: []Tag{{Name: "bulk" + string(rune('a'+i))}}}).Error)
		}
		counts := map[string]int64{}
		for _, table := range tenantTables {
			counts[table] = e.count(t, from, table, "")
		}
		shape := e.shape(t, from)

		to := e.tenantID()
		must(t, e.prov.Rename(ctx, from, to))
		t.Cleanup(func() { _ = e.prov.Drop(context.Background(), to) })

		for _, table := range tenantTables {
			if n := e.count(t, to, table, ""); n != counts[table] {
				t.Errorf("%s has %d rows after the rename, had %d", table, n, counts[table])
			}
			if table == "post_tags" {
				continue // a join table: no tenant column
			}
			if n := e.count(t, to, table, "tenant <> ?", from); n != 0 {
				t.Errorf("%s has %d rows not written for the tenant", table, n)
			}
		}
		if diff := shapeDiff(shape, e.shape(t, to)); len(diff) > 0 {
			t.Errorf("the renamed tenant's tables differ:\n%s", strings.Join(diff, "\n"))
		}
		if got := e.tablesOf(t, from); len(got) != 0 {
			t.Errorf("the old ID still has tables %v", got)
		}
		if ok, _ := e.prov.Exists(ctx, from); ok {
			t.Errorf("the old ID still exists")
		}
		if ok, err := e.prov.Exists(ctx, to); !ok || err != nil {
			t.Errorf("Exists(new ID) = %v, %v", ok, err)
		}
		ids, err := e.prov.List(ctx)
		must(t, err)
		if containsString(ids, from) || !containsString(ids, to) {
			t.Errorf("List after the rename: %v", ids)
		}
		// The renamed tenant keeps working, its keys continuing after the
		// copied ones, and it stays current with the models.
		post := Post{Title: "after"}
		must(t, e.db.WithContext(ctxFor(to)).Where("title = ?", "seed-1").First(&Post{}).Error)
		must(t, e.db.WithContext(ctxFor(to)).Create(&post).Error)
		if post.ID <= uint(counts["posts"]) {
			t.Errorf("a new post got key %d, not after the %d copied", post.ID, counts["posts"])
		}
		report, err := e.prov.MigrateAll(ctx, kirayedar.MigrateOptions{Tenants: []string{to}})
		must(t, err)
		if report.UpToDate != 1 {
			t.Errorf("the renamed tenant is not current: %+v", report.Results)
		}
		// Nothing named for the old ID is left in the way of a new tenant.
		must(t, e.prov.Create(ctx, from))
		t.Cleanup(func() { _ = e.prov.Drop(context.Background(), from) })
		if n := e.count(t, from, "posts", ""); n != 0 {
			t.Errorf("a tenant created under the old ID has %d posts", n)
		}
	})
}

// Rename refuses bad input with a clear error and changes nothing.
func TestRenameRefusals(t *testing.T) {
	forEachTarget(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		a, b := e.newTenant(t), e.newTenant(t)
		seed(t, e, a)
		before := e.catalog(t)
		missing := e.tenantID()
		cases := []struct {
			name     string
			from, to string
			want     error
		}{
			{"missing source", missing, e.tenantID(), kirayedar.ErrTenantNotFound},
			{"existing target", a, b, kirayedar.ErrTenantExists},
			{"same ID", a, a, kirayedar.ErrTenantExists},
			{"invalid target", a, "Bad-ID", kirayedar.ErrInvalidTenantID},
			{"invalid source", "Bad-ID", missing, kirayedar.ErrInvalidTenantID},
			{"reserved target", a, "information_schema", kirayedar.ErrInvalidTenantID},
		}
		for _, c := range cases {
			err := e.prov.Rename(ctx, c.from, c.to)
			if !errors.Is(err, c.want) {
				t.Errorf("%s: Rename(%s, %s) = %v, want %v", c.name, c.from, c.to, err, c.want)
			}
			var ke *kirayedar.Error
			if !errors.As(err, &ke) || ke.Op != "rename" {
				t.Errorf("%s: the error is not a rename *Error: %#v", c.name, err)
			}
		}
		if after := e.catalog(t); after != before {
			t.Errorf("a refused rename changed the catalog: %s", catalogDiff(before, after))
		}
		if n := e.count(t, a, "posts", ""); n == 0 {
			t.Errorf("tenant %s lost its posts", a)
		}
	})
}

// A target whose schema, database or tables exist without a registry row
// belongs to someone else: Rename refuses it and changes nothing.
func TestRenameRefusesAnUnregisteredTarget(t *testing.T) {
	forEachTarget(t, func(t *testing.T, e *env) {
		from, to := e.newTenant(t), e.tenantID()
		var ddl, cleanup string
		if e.tg.strategy == kirayedar.StrategyPrefix {
			ddl, cleanup = "CREATE TABLE "+e.table(to, "posts")+" (keep int)", "DROP TABLE "+e.table(to, "posts")
		} else {
			ddl, cleanup = e.plugin.Engine().CreateSchema(to), e.plugin.Engine().DropSchema(to)
		}
		must(t, e.admin().Exec(ddl).Error)
		t.Cleanup(func() { _ = e.admin().Exec(cleanup).Error })
		before := e.catalog(t)
		if err := e.prov.Rename(context.Background(), from, to); !errors.Is(err, kirayedar.ErrTenantExists) {
			t.Errorf("Rename onto an unregistered leftover: %v, want ErrTenantExists", err)
		}
		if after := e.catalog(t); after != before {
			t.Errorf("the refused rename changed the catalog: %s", catalogDiff(before, after))
		}
	})
}

// failRegistryUpdatesTo makes every update of the registry that gives a row
// the ID id fail, as a lost connection or a full disk would, until the
// returned function removes the trigger.
func (e *env) failRegistryUpdatesTo(t testing.TB, id string) func() {
	t.Helper()
	registry := e.registry()
	var create, drop []string
	switch e.tg.engine {
	case "postgres":
		create = []string{
			`CREATE OR REPLACE FUNCTION kt_fail() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$`,
			`CREATE TRIGGER kt_fail BEFORE UPDATE ON ` + registry + ` FOR EACH ROW WHEN (NEW.id = '` + id + `') EXECUTE FUNCTION kt_fail()`,
		}
		drop = []string{`DROP TRIGGER IF EXISTS kt_fail ON ` + registry, `DROP FUNCTION IF EXISTS kt_fail()`}
	case "mysql":
		create = []string{`CREATE TRIGGER kt_fail BEFORE UPDATE ON ` + registry + ` FOR EACH ROW BEGIN IF NEW.id = '` + id + `' THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'injected failure'; END IF; END`}
		drop = []string{`DROP TRIGGER IF EXISTS kt_fail`}
	default:
		create = []string{`CREATE TRIGGER kt_fail BEFORE UPDATE ON ` + registry + ` WHEN NEW.id = '` + id + `' BEGIN SELECT RAISE(ABORT, 'injected failure'); END`}
		drop = []string{`DROP TRIGGER IF EXISTS kt_fail`}
	}
	for _, stmt := range create {
		must(t, e.admin().Exec(stmt).Error)
	}
	removed := false
	remove := func() {
		if !removed {
			removed = true
			for _, stmt := range drop {
				must(t, e.admin().Exec(stmt).Error)
			}
		}
	}
	t.Cleanup(remove)
	return remove
}

// A rename whose last step (moving the registry row) fails loses nothing:
// the tenant stays under its old ID with every row, nothing is left under
// the new one, and the rename then succeeds.
func TestFailedRenameLosesNothing(t *testing.T) {
	forEachTarget(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		from, to := e.newTenant(t), e.tenantID()
		seed(t, e, from)
		counts := map[string]int64{}
		for _, table := range tenantTables {
			counts[table] = e.count(t, from, table, "")
		}
		heal := e.failRegistryUpdatesTo(t, to)

		err := e.prov.Rename(ctx, from, to)
		if err == nil || !strings.Contains(err.Error(), "injected failure") {
			t.Fatalf("Rename with a failing registry: %v", err)
		}
		if ok, err := e.prov.Exists(ctx, from); !ok || err != nil {
			t.Errorf("after the failed rename Exists(%s) = %v, %v", from, ok, err)
		}
		for _, table := range tenantTables {
			if n := e.count(t, from, table, ""); n != counts[table] {
				t.Errorf("%s has %d rows after the failed rename, had %d", table, n, counts[table])
			}
		}
		e.assertNoTrace(t, to)

		heal()
		must(t, e.prov.Rename(ctx, from, to))
		t.Cleanup(func() { _ = e.prov.Drop(context.Background(), to) })
		if n := e.count(t, to, "posts", ""); n != counts["posts"] {
			t.Errorf("the retried rename moved %d posts of %d", n, counts["posts"])
		}
	})
}

// Under the prefix strategy a rename copies the rows into tables made from
// the models, so it refuses, before changing anything, a tenant that is not
// migrated to those models and one with columns the models lack.
func TestPrefixRenameRefusesWhatItWouldLose(t *testing.T) {
	for _, tg := range targets {
		if tg.strategy != kirayedar.StrategyPrefix {
			continue
		}
		t.Run(tg.String(), func(t *testing.T) {
			ctx := context.Background()
			e, v2 := newEnv(t, tg, nil), newEnvV2(t, tg)

			newer := v2.newTenant(t) // made by a process with the next models
			before := e.catalog(t)
			if err := e.prov.Rename(ctx, newer, e.tenantID()); err == nil || !strings.Contains(err.Error(), "not migrated to these models") {
				t.Errorf("a rename by older models: %v", err)
			}

			extra := e.newTenant(t)
			must(t, e.admin().Exec("ALTER TABLE "+e.table(extra, "posts")+" ADD legacy int").Error)
			before = e.catalog(t)
			if err := e.prov.Rename(ctx, extra, e.tenantID()); err == nil || !strings.Contains(err.Error(), "legacy") {
				t.Errorf("a rename that would drop a column: %v", err)
			}
			if after := e.catalog(t); after != before {
				t.Errorf("a refused rename changed the catalog: %s", catalogDiff(before, after))
			}
		})
	}
}

// On MySQL a rename cut off by a dying process leaves the tenant's row
// "renaming". The same Rename called again finishes it when the tables had
// moved, and starts it over when they had not; nothing is lost either way.
func TestInterruptedMySQLRenameResumes(t *testing.T) {
	for _, tg := range targets {
		if tg.engine != "mysql" || !tg.schemaPerTenant() {
			continue
		}
		t.Run(tg.String(), func(t *testing.T) {
			e := newEnv(t, tg, nil)
			ctx := context.Background()
			eng := e.plugin.Engine()
			registry := e.registry()
			for _, moved := range []bool{true, false} {
				from, to := e.newTenant(t), e.tenantID()
				t.Cleanup(func() { _ = e.prov.Drop(context.Background(), to) })
				seed(t, e, from)
				posts := e.count(t, from, "posts", "")
				// What a process that died mid-rename leaves.
				must(t, e.admin().Exec("UPDATE "+registry+" SET status = 'renaming', fingerprint = CONCAT('>', ?) WHERE id = ?", to, from).Error)
				must(t, e.admin().Exec(eng.CreateSchema(to)).Error)
				if moved {
					must(t, e.admin().Exec(eng.MoveTables(from, to, e.tablesOf(t, from))).Error)
				}
				if ok, _ := e.prov.Exists(ctx, from); ok {
					t.Errorf("a tenant cut off mid-rename is reported ready")
				}
				// Only the recorded target may finish it.
				before := e.catalog(t)
				if err := e.prov.Rename(ctx, from, e.tenantID()); err == nil || !strings.Contains(err.Error(), to) {
					t.Errorf("moved=%v: resuming toward another target: %v", moved, err)
				}
				if after := e.catalog(t); after != before {
					t.Errorf("moved=%v: a refused resume changed the catalog: %s", moved, catalogDiff(before, after))
				}
				must(t, e.prov.Rename(ctx, from, to))
				if n := e.count(t, to, "posts", ""); n != posts {
					t.Errorf("moved=%v: %d posts after resuming, want %d", moved, n, posts)
				}
				if ok, err := e.prov.Exists(ctx, to); !ok || err != nil {
					t.Errorf("moved=%v: Exists(%s) = %v, %v", moved, to, ok, err)
				}
				e.assertNoTrace(t, from)
			}
		})
	}
}
