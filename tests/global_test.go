package tests

import (
	"context"
	"errors"
	"testing"

	"gorm.io/gorm"

	"github.com/kirayedar/kirayedar"
)

// Global() and GlobalContext opt out of tenancy on purpose: tenant tables
// resolve to their global copies, as written.
func TestGlobalScopeReadsAndWritesTheGlobalCopy(t *testing.T) {
	forEachTarget(t, func(t *testing.T, e *env) {
		a := e.newTenant(t)
		seed(t, e, a)
		for name, db := range map[string]func() []Post{
			"Global scope": func() []Post {
				var posts []Post
				must(t, e.db.Scopes(kirayedar.Global()).Find(&posts).Error)
				return posts
			},
			"GlobalContext over a tenant context": func() []Post {
				var posts []Post
				must(t, e.db.WithContext(kirayedar.GlobalContext(ctxFor(a))).Find(&posts).Error)
				return posts
			},
		} {
			if posts := db(); len(posts) != 1 || posts[0].Title != "sentinel" {
				t.Errorf("%s read %+v, want only the global sentinel", name, posts)
			}
		}

		global := e.db.Session(&gorm.Session{NewDB: true}).Scopes(kirayedar.Global()).Session(&gorm.Session{})
		p := Post{Tenant: "global", Title: "written globally"}
		must(t, global.Create(&p).Error)
		wantCount(t, e, "", "posts", "title = ?", 1, "written globally")
		wantCount(t, e, a, "posts", "title = ?", 0, "written globally")
		must(t, global.Unscoped().Delete(&p).Error)
		must(t, global.Where("action = ?", "create post written globally").Delete(&AuditLog{}).Error)
		e.assertGlobalUntouched(t)
	})
}

// Global models are never qualified, with a tenant, without one, or globally.
func TestGlobalModelsAreNeverQualified(t *testing.T) {
	forEachTarget(t, func(t *testing.T, e *env) {
		a := e.newTenant(t)
		contexts := map[string]context.Context{
			"no tenant":  context.Background(),
			"tenant":     ctxFor(a),
			"global":     kirayedar.GlobalContext(context.Background()),
			"bad tenant": ctxFor("Not Valid"),
		}
		for name, ctx := range contexts {
			var plans []Plan
			err := e.db.WithContext(ctx).Where("name IN ?", []string{"free", "pro"}).Find(&plans).Error
			if name == "bad tenant" && e.tg.strategy == kirayedar.StrategySession {
				// The connection cannot be set for an invalid tenant,
				// and never falls back to the global schema.
				if !errors.Is(err, kirayedar.ErrInvalidTenantID) {
					t.Errorf("%s: %v, want ErrInvalidTenantID", name, err)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s: reading plans: %v", name, err)
			} else if len(plans) != 2 {
				t.Errorf("%s: read %d plans, want 2", name, len(plans))
			}
		}
		p := Plan{Name: "written by a tenant"}
		must(t, e.db.WithContext(ctxFor(a)).Create(&p).Error)
		var n int64
		must(t, e.db.Model(&Plan{}).Where("id = ?", p.ID).Count(&n).Error)
		if n != 1 {
			t.Errorf("a plan written under a tenant is not in the global table")
		}
		must(t, e.db.Delete(&p).Error)
	})
}

func TestContextAccessors(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name      string
		ctx       context.Context
		tenant    string
		hasTenant bool
		isGlobal  bool
	}{
		{"empty", ctx, "", false, false},
		{"tenant", kirayedar.NewContext(ctx, "acme"), "acme", true, false},
		{"replaced tenant", kirayedar.NewContext(kirayedar.NewContext(ctx, "acme"), "globex"), "globex", true, false},
		{"cleared", kirayedar.NewContext(kirayedar.NewContext(ctx, "acme"), ""), "", false, false},
		{"invalid", kirayedar.NewContext(ctx, "Acme"), "", false, false},
		{"global", kirayedar.GlobalContext(ctx), "", false, true},
		{"global over tenant", kirayedar.GlobalContext(kirayedar.NewContext(ctx, "acme")), "", false, true},
		{"tenant over global", kirayedar.NewContext(kirayedar.GlobalContext(ctx), "acme"), "acme", true, false},
		{"global cleared", kirayedar.NewContext(kirayedar.GlobalContext(ctx), ""), "", false, false},
	}
	for _, tc := range cases {
		tenant, ok := kirayedar.FromContext(tc.ctx)
		if tenant != tc.tenant || ok != tc.hasTenant || kirayedar.IsGlobal(tc.ctx) != tc.isGlobal {
			t.Errorf("%s: FromContext = %q, %v; IsGlobal = %v; want %q, %v, %v",
				tc.name, tenant, ok, kirayedar.IsGlobal(tc.ctx), tc.tenant, tc.hasTenant, tc.isGlobal)
		}
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
