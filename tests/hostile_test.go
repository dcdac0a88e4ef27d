package tests

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/kirayedar/kirayedar"
)

// hostileIDs are refused on every engine and strategy.
var hostileIDs = []string{
	"",
	" ",
	"Acme",
	"ACME",
	"acme corp",
	"-acme",
	"acme-",
	"café",
	"acme.corp",
	"acme.posts",
	"acme;drop table posts",
	"acme'--",
	`acme"`,
	"acme`",
	`x"; DROP SCHEMA public CASCADE; --`,
	"robert'); DROP TABLE students;--",
	"acme\x00",
	"acme\n",
	"acme\t",
	"ümlaut",
	"ａｃｍｅ", // full-width letters
	"😀",
	"../etc",
	"acme/x",
	"acme%",
	"acme*",
	"$1",
	"a$b",
	"public",
	"pg_toast",
	"pg_catalog",
	"pg_temp_1",
	"information_schema",
	"mysql",
	"sys",
	"performance_schema",
	"main",
	"temp",
	"sqlite_master",
	strings.Repeat("a", 64),
	strings.Repeat("a", 200),
}

// targetHostileIDs adds what only this deployment refuses: its global schema
// and, under the prefix strategy, IDs that would blur the prefix or push the
// longest prefixed table name ("__billing_invoices") past the identifier limit.
func (e *env) targetHostileIDs() []string {
	ids := append([]string{e.global}, hostileIDs...)
	if e.tg.strategy == kirayedar.StrategyPrefix {
		ids = append(ids, "acme"+prefixSeparator+"corp", "acme_", strings.Repeat("b", 50))
	}
	return ids
}

func TestHostileTenantIDsAreRejectedEverywhere(t *testing.T) {
	forEachTarget(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		tenantsBefore, err := e.prov.List(ctx)
		must(t, err)
		catalogBefore := e.catalog(t)

		for _, id := range e.targetHostileIDs() {
			id := id
			entryPoints := map[string]func() error{
				"Plugin.ValidateTenantID": func() error { return e.plugin.ValidateTenantID(id) },
				"NewContext": func() error {
					err := e.db.WithContext(kirayedar.NewContext(ctx, id)).Find(&[]Post{}).Error
					if id == "" && errors.Is(err, kirayedar.ErrNoTenant) {
						return kirayedar.ErrInvalidTenantID // "" clears the tenant, as documented
					}
					return err
				},
				"WithTenant": func() error {
					return e.db.Scopes(kirayedar.WithTenant(id)).Create(&Post{Title: "x"}).Error
				},
				"Table": func() error {
					var n int64
					return e.db.Raw("SELECT COUNT(*) FROM ?", kirayedar.Table(kirayedar.NewContext(ctx, id), "posts")).Scan(&n).Error
				},
				"Provisioner.Create":  func() error { return e.prov.Create(ctx, id) },
				"Provisioner.Drop":    func() error { return e.prov.Drop(ctx, id) },
				"Provisioner.Migrate": func() error { return e.prov.Migrate(ctx, id) },
				"Provisioner.Exists": func() error {
					_, err := e.prov.Exists(ctx, id)
					return err
				},
			}
			for name, call := range entryPoints {
				var err error
				sent, begins := e.sentDuring(func() { err = call() })
				if id == "" && name == "Table" && errors.Is(err, kirayedar.ErrNoTenant) {
					err = kirayedar.ErrInvalidTenantID
				}
				if !errors.Is(err, kirayedar.ErrInvalidTenantID) {
					t.Errorf("%s(%q): got %v, want ErrInvalidTenantID", name, id, err)
				}
				if sent+begins != 0 {
					t.Errorf("%s(%q): %d statements reached the database", name, id, sent+begins)
				}
			}
		}
		for _, id := range hostileIDs { // FromContext knows the rules of every engine, not the deployment's
			if _, ok := kirayedar.FromContext(kirayedar.NewContext(ctx, id)); ok {
				t.Errorf("FromContext reports the invalid tenant %q", id)
			}
		}

		tenantsAfter, err := e.prov.List(ctx)
		must(t, err)
		if strings.Join(tenantsAfter, ",") != strings.Join(tenantsBefore, ",") {
			t.Errorf("the registry changed: %v, then %v", tenantsBefore, tenantsAfter)
		}
		if after := e.catalog(t); after != catalogBefore {
			t.Errorf("the catalog changed: %s", catalogDiff(catalogBefore, after))
		}
	})
}

// The rules that hold on every engine are available without a database, for
// middleware that validates before anything else.
func TestValidateTenantIDWithoutADatabase(t *testing.T) {
	for _, id := range hostileIDs {
		if err := kirayedar.ValidateTenantID(id); !errors.Is(err, kirayedar.ErrInvalidTenantID) {
			t.Errorf("ValidateTenantID(%q) = %v, want ErrInvalidTenantID", id, err)
		}
	}
	for _, id := range []string{"acme", "a", "acme_corp", "acme-corp", "a-b-c", "tenant42", "0day", strings.Repeat("a", 63)} {
		if err := kirayedar.ValidateTenantID(id); err != nil {
			t.Errorf("ValidateTenantID(%q) = %v, want nil", id, err)
		}
	}
	err := kirayedar.ValidateTenantID("Acme")
	if err == nil || !strings.Contains(err.Error(), "upper case") {
		t.Errorf("the error does not say why: %v", err)
	}
}

// catalog describes the schemas (or databases) and tables that could belong
// to this run's tenants, and the global schema's, so a test can show that
// nothing was created.
func (e *env) catalog(t testing.TB) string {
	t.Helper()
	var query string
	args := []any{e.global, "t" + runID + "%"}
	switch {
	case e.tg.engine == "postgres":
		query = "SELECT n.nspname || '.' || COALESCE(c.relname, '') FROM pg_namespace n LEFT JOIN pg_class c ON c.relnamespace = n.oid AND c.relkind IN ('r', 'i', 'S') WHERE n.nspname = ? OR n.nspname LIKE ? ORDER BY 1"
	case e.tg.engine == "mysql":
		query = "SELECT CONCAT(s.SCHEMA_NAME, '.', COALESCE(t.TABLE_NAME, '')) FROM information_schema.SCHEMATA s LEFT JOIN information_schema.TABLES t ON t.TABLE_SCHEMA = s.SCHEMA_NAME WHERE s.SCHEMA_NAME = ? OR s.SCHEMA_NAME LIKE ? ORDER BY 1"
	default:
		query, args = "SELECT type || '.' || name FROM sqlite_master WHERE type IN ('table', 'index') ORDER BY 1", nil
	}
	var names []string
	if err := e.admin().Raw(query, args...).Scan(&names).Error; err != nil {
		t.Fatalf("%s: reading the catalog: %v", e.tg, err)
	}
	return strings.Join(names, " ")
}

// catalogDiff says what differs between two catalogs.
func catalogDiff(before, after string) string {
	was := map[string]bool{}
	for _, n := range strings.Fields(before) {
		was[n] = true
	}
	var added, removed []string
	for _, n := range strings.Fields(after) {
		if !was[n] {
			added = append(added, n)
		}
		delete(was, n)
	}
	for n := range was {
		removed = append(removed, n)
	}
	return fmt.Sprintf("added %v, removed %v", added, removed)
}
