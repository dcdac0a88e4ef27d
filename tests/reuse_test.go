package tests

import (
	"context"
	"errors"
	"strings"
	"testing"

	"gorm.io/gorm"

	"github.com/kirayedar/kirayedar"
)

// GORM reuses statements: a chain's *gorm.DB keeps its Statement, and
// WithContext copies it, table and all. A reused chain switched between
// contexts must route each statement by its own context only.
func TestReusedChainFollowsContext(t *testing.T) {
	forEachTarget(t, func(t *testing.T, e *env) {
		a, b := e.newTenant(t), e.newTenant(t)
		for i, tenant := range []string{a, b, b} { // a: 1 post, b: 2
			if err := e.db.WithContext(ctxFor(tenant)).Create(&Post{Title: "p", Views: i}).Error; err != nil {
				t.Fatal(err)
			}
		}
		want := map[string]int{a: 1, b: 2}
		check := func(t *testing.T, tenant string, posts []Post, err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
			if len(posts) != want[tenant] {
				t.Fatalf("read %d posts for %s, want %d", len(posts), tenant, want[tenant])
			}
			for _, p := range posts {
				if p.Tenant != tenant {
					t.Fatalf("read a post of %s under %s", p.Tenant, tenant)
				}
			}
		}

		t.Run("a shared Model chain", func(t *testing.T) {
			base := e.db.Model(&Post{}).Where("views >= ?", 0)
			for i := 0; i < 3; i++ {
				for _, tenant := range []string{a, b} {
					var posts []Post
					err := base.WithContext(ctxFor(tenant)).Find(&posts).Error
					check(t, tenant, posts, err)
				}
			}
		})
		t.Run("a chain that already ran for one tenant", func(t *testing.T) {
			q := e.db.WithContext(ctxFor(a)).Model(&Post{})
			var n int64
			if err := q.Count(&n).Error; err != nil || n != 1 {
				t.Fatalf("count for %s: %d, %v", a, n, err)
			}
			var posts []Post
			err := q.WithContext(ctxFor(b)).Find(&posts).Error
			check(t, b, posts, err)
		})
		t.Run("a Table chain", func(t *testing.T) {
			q := e.db.Table("posts").Select("tenant")
			for _, tenant := range []string{b, a, b} {
				var tenants []string
				if err := q.WithContext(ctxFor(tenant)).Scan(&tenants).Error; err != nil {
					t.Fatal(err)
				}
				if len(tenants) != want[tenant] {
					t.Fatalf("read %d rows for %s, want %d", len(tenants), tenant, want[tenant])
				}
			}
		})
		t.Run("then globally, then without a tenant", func(t *testing.T) {
			q := e.db.WithContext(ctxFor(a)).Model(&Post{})
			var posts []Post
			if err := q.Find(&posts).Error; err != nil {
				t.Fatal(err)
			}
			var global []Post
			if err := q.WithContext(kirayedar.GlobalContext(context.Background())).Find(&global).Error; err != nil {
				t.Fatal(err)
			}
			if len(global) != 1 || global[0].Title != "sentinel" {
				t.Fatalf("the global read after a tenant read saw %+v, want the sentinel", global)
			}
			err := q.WithContext(context.Background()).Find(&posts).Error
			if !errors.Is(err, kirayedar.ErrNoTenant) {
				t.Fatalf("a tenant-less read after a tenant read: %v, want ErrNoTenant", err)
			}
		})
		t.Run("a transaction handle reused after commit", func(t *testing.T) {
			err := e.db.WithContext(ctxFor(a)).Transaction(func(tx *gorm.DB) error {
				var posts []Post
				err := tx.Find(&posts).Error
				check(t, a, posts, err)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	})
}

// GORM's schema cache is shared by every session of a DB. Nothing the plugin
// does (routing statements, migrating tenants through its private DB) may
// leave a tenant's name in it.
func TestSchemaCacheStaysTenantNeutral(t *testing.T) {
	forEachTarget(t, func(t *testing.T, e *env) {
		a, b := e.newTenant(t), e.newTenant(t)
		seed(t, e, a)
		seed(t, e, b)
		must(t, e.prov.Migrate(context.Background(), a))
		for _, model := range []any{&Post{}, &Invoice{}, &Tag{}} {
			stmt := &gorm.Statement{DB: e.db}
			must(t, stmt.Parse(model))
			if strings.Contains(stmt.Schema.Table, a) || strings.Contains(stmt.Schema.Table, b) || strings.Contains(stmt.Table, ".") {
				t.Errorf("the schema cache names %T's table %q", model, stmt.Schema.Table)
			}
		}
		sql := e.db.WithContext(kirayedar.GlobalContext(context.Background())).ToSQL(func(tx *gorm.DB) *gorm.DB {
			return tx.Preload("Tags").Joins("Company").Find(&[]Post{})
		})
		if strings.Contains(sql, a) || strings.Contains(sql, b) {
			t.Errorf("a global statement after tenant statements names a tenant: %s", sql)
		}
	})
}

// A Raw chain is built when Raw is called. A table reference it made for one
// tenant must be refused when the chain is sent under another tenant's
// context, whichever order the chain was built in.
func TestReusedRawChainCarriesNoTableIntoAnotherContext(t *testing.T) {
	forEachTarget(t, func(t *testing.T, e *env) {
		a, b := e.newTenant(t), e.newTenant(t)
		seed(t, e, a)
		seed(t, e, b)
		ctxA, ctxB := ctxFor(a), ctxFor(b)
		cases := []struct {
			name string
			run  func() error
		}{
			{"Raw for b, then WithContext(a)", func() error {
				r := e.db.Raw("SELECT l.tenant FROM ? l", kirayedar.Table(ctxB, "tags"))
				var tags []string
				return r.WithContext(ctxA).Scan(&tags).Error
			}},
			{"WithContext(a), then Raw for b", func() error {
				var tags []string
				return e.db.WithContext(ctxA).Raw("SELECT l.tenant FROM ? l", kirayedar.Table(ctxB, "tags")).Scan(&tags).Error
			}},
		}
		before := e.snapshot(t, b)
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				if msg := e.refusal(tc.run, kirayedar.ErrCrossTenant); msg != "" {
					t.Fatal(msg)
				}
			})
		}
		t.Run("the same chain still reads b without a tenant, as built", func(t *testing.T) {
			r := e.db.Raw("SELECT l.tenant FROM ? l", kirayedar.Table(ctxB, "tags"))
			var tags []string
			must(t, r.Scan(&tags).Error)
			if len(tags) != 6 || sameTenant(e.db.WithContext(ctxB), tags) != nil {
				t.Errorf("read %v", tags)
			}
		})
		if after := e.snapshot(t, b); after != before {
			t.Errorf("tenant %s changed", b)
		}
	})
}
