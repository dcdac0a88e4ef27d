package tests

import (
	"context"
	"testing"
)

// TestTenantIDsPeopleUse: hyphenated slugs (a subdomain is the tenant ID)
// and IDs with single underscores work end to end on every target: Create,
// statements GORM builds and statements written by hand, Rename, Exists and
// Drop.
func TestTenantIDsPeopleUse(t *testing.T) {
	forEachTarget(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		for _, suffix := range []string{"-corp", "_corp", "-a-b_c"} {
			id := e.tenantID() + suffix
			t.Run(suffix, func(t *testing.T) {
				must(t, e.prov.Create(ctx, id))
				t.Cleanup(func() { _ = e.prov.Drop(ctx, id) })
				db := e.db.WithContext(ctxFor(id))
				must(t, db.Create(&Post{Title: "slug", Comments: []Comment{{Body: "hi"}}}).Error)
				var got []Post
				must(t, db.Preload("Comments").Find(&got).Error)
				if len(got) != 1 || got[0].Tenant != id || len(got[0].Comments) != 1 {
					t.Fatalf("read %+v under %q, want its one post with its comment", got, id)
				}
				var n int64
				must(t, db.Raw("SELECT COUNT(*) FROM posts p JOIN comments c ON c.post_id = p.id").Scan(&n).Error)
				if n != 1 {
					t.Fatalf("hand-written SQL under %q counted %d rows, want 1", id, n)
				}

				renamed := id + "-2"
				must(t, e.prov.Rename(ctx, id, renamed))
				t.Cleanup(func() { _ = e.prov.Drop(ctx, renamed) })
				must(t, e.db.WithContext(ctxFor(renamed)).Find(&got).Error)
				if len(got) != 1 || got[0].Title != "slug" {
					t.Fatalf("after renaming %q to %q: %+v, want the post", id, renamed, got)
				}
				if ok, err := e.prov.Exists(ctx, id); err != nil || ok {
					t.Errorf("Exists(%q) after the rename = %v, %v", id, ok, err)
				}
				must(t, e.prov.Drop(ctx, renamed))
				if ok, err := e.prov.Exists(ctx, renamed); err != nil || ok {
					t.Errorf("Exists(%q) after Drop = %v, %v", renamed, ok, err)
				}
			})
		}
		e.assertGlobalUntouched(t)
	})
}
