package tests

import (
	"context"
	"errors"
	"testing"

	"gorm.io/gorm"

	"github.com/kirayedar/kirayedar"
)

// Raw and Exec are not rewritten. kirayedar.Table names a tenant table in
// them through a placeholder.
func TestTableHelperInRawSQL(t *testing.T) {
	forEachTarget(t, func(t *testing.T, e *env) {
		a, b := e.newTenant(t), e.newTenant(t)
		seed(t, e, a)
		seed(t, e, b)
		must(t, e.db.WithContext(ctxFor(b)).Create(&Post{Title: "only in b"}).Error)
		posts := kirayedar.Table(ctxFor(a), "posts")

		var n int64
		must(t, e.db.Raw("SELECT COUNT(*) FROM ?", posts).Scan(&n).Error)
		if n != 3 {
			t.Errorf("counted %d posts of %s through Table, want 3", n, a)
		}
		var title string
		must(t, e.db.Raw("SELECT p.title FROM ? p WHERE p.title = ?", posts, "seed-2").Scan(&title).Error)
		if title != "seed-2" {
			t.Errorf("read %q through an aliased Table, want seed-2", title)
		}
		must(t, e.db.Exec("UPDATE ? SET views = views + 1", posts).Error)
		wantCount(t, e, a, "posts", "views = 1", 3)
		wantCount(t, e, b, "posts", "views = 0", 4)

		t.Run("the statement's context when Table has none", func(t *testing.T) {
			var n int64
			must(t, e.db.WithContext(ctxFor(b)).Raw("SELECT COUNT(*) FROM ?", kirayedar.Table(nil, "posts")).Scan(&n).Error) //nolint:staticcheck
			if n != 4 {
				t.Errorf("counted %d posts of %s, want 4", n, b)
			}
		})
		t.Run("globally, the global copy", func(t *testing.T) {
			var n int64
			must(t, e.db.Raw("SELECT COUNT(*) FROM ?", kirayedar.Table(kirayedar.GlobalContext(context.Background()), "posts")).Scan(&n).Error)
			if n != 1 {
				t.Errorf("counted %d global posts, want the sentinel", n)
			}
		})
		t.Run("a global table as given", func(t *testing.T) {
			var n int64
			must(t, e.db.Raw("SELECT COUNT(*) FROM ? WHERE name IN ('free', 'pro')", kirayedar.Table(ctxFor(a), "plans")).Scan(&n).Error)
			if n != 2 {
				t.Errorf("counted %d plans, want 2", n)
			}
		})
		for name, tc := range map[string]struct {
			ctx  context.Context
			want error
		}{
			"without a tenant":  {context.Background(), kirayedar.ErrNoTenant},
			"an invalid tenant": {ctxFor("a;b"), kirayedar.ErrInvalidTenantID},
		} {
			t.Run(name, func(t *testing.T) {
				var n int64
				msg := e.refusal(func() error {
					return e.db.Raw("SELECT COUNT(*) FROM ?", kirayedar.Table(tc.ctx, "posts")).Scan(&n).Error
				}, tc.want)
				if msg != "" {
					t.Fatal(msg)
				}
			})
		}
		t.Run("raw SQL naming a tenant table without a tenant, or another tenant's, is refused", func(t *testing.T) {
			// Without a tenant it would resolve to the global copy.
			for name, ctx := range map[string]context.Context{"a tenant": ctxFor(a), "no tenant": context.Background()} {
				for i, run := range []func(db *gorm.DB) error{
					func(db *gorm.DB) error { var n int64; return db.Raw("SELECT COUNT(*) FROM posts").Scan(&n).Error },
					func(db *gorm.DB) error { return db.Exec("UPDATE comments SET body = 'x'").Error },
					func(db *gorm.DB) error {
						return db.Raw("SELECT * FROM plans WHERE id IN (SELECT post_id FROM comments)").Find(&[]Plan{}).Error
					},
					func(db *gorm.DB) error { return db.Raw("SELECT * FROM " + e.table(b, "posts")).Find(&[]Post{}).Error },
				} {
					if name == "a tenant" && i < 3 {
						continue // scoped to the tenant: TestHandWrittenSQL
					}
					msg := e.refusal(func() error { return run(e.db.WithContext(ctx)) },
						kirayedar.ErrUnroutable, kirayedar.ErrCrossTenant, kirayedar.ErrNoTenant)
					if msg != "" {
						t.Errorf("%s: %s", name, msg)
					}
				}
			}
			var n int64
			must(t, e.admin().Raw("SELECT COUNT(*) FROM posts").Scan(&n).Error)
			if n != 1 {
				t.Errorf("raw SQL under GlobalContext counted %d posts in the global copy, want 1", n)
			}
		})
		t.Run("the migrator under a tenant context is refused", func(t *testing.T) {
			if e.tg.strategy == kirayedar.StrategySession {
				// Under StrategySession it is scoped like any SQL: it drops
				// the tenant's table, and only that.
				must(t, e.db.WithContext(ctxFor(a)).Migrator().DropTable(&Comment{}))
				if tables := e.tablesOf(t, a); containsString(tables, "comments") {
					t.Errorf("the tenant's comments survived DropTable under its context: %v", tables)
				}
				e.assertGlobalUntouched(t)
				return
			}
			err := e.db.WithContext(ctxFor(a)).Migrator().DropTable(&Comment{})
			if !errors.Is(err, kirayedar.ErrUnroutable) {
				t.Errorf("DropTable under a tenant: %v, want ErrUnroutable", err)
			}
			wantCount(t, e, a, "comments", "", 3)
		})
	})
}
