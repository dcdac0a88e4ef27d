package tests

import (
	"testing"

	"github.com/kirayedar/kirayedar"
)

// TestHandWrittenSQL: an application's own SQL under a tenant (join strings
// with and without aliases, subselects in conditions, Raw selects and joins,
// CTEs, Exec updates, deletes and INSERT ... SELECT) reaches that tenant's
// tables and no others, without kirayedar.Table: rewritten as it is sent
// (StrategySchema, StrategyPrefix), resolved by the connection
// (StrategySession).
func TestHandWrittenSQL(t *testing.T) {
	forEachTarget(t, func(t *testing.T, e *env) {
		a, b := e.newTenant(t), e.newTenant(t)
		seed(t, e, a)
		seed(t, e, b)
		A := e.db.WithContext(ctxFor(a))
		before := e.snapshot(t, b)

		reads := []struct {
			name string
			run  func(got *[]string) error // the tenant column of each row read
		}{
			{"a join string without an alias", func(got *[]string) error {
				return A.Model(&Comment{}).Joins("JOIN posts ON posts.id = comments.post_id").
					Where("posts.title = ?", "seed-1").Pluck("comments.tenant", got).Error
			}},
			{"a join string with an alias", func(got *[]string) error {
				return A.Model(&Comment{}).Joins("JOIN posts p ON p.id = comments.post_id").
					Where("p.title <> ?", "none").Pluck("comments.tenant", got).Error
			}},
			{"a subselect in Where", func(got *[]string) error {
				return A.Model(&Post{}).Where("id IN (SELECT post_id FROM comments WHERE body = ?)", "hello").Pluck("tenant", got).Error
			}},
			{"a Raw select", func(got *[]string) error {
				return A.Raw("SELECT tenant FROM posts WHERE title LIKE ?", "seed-%").Scan(got).Error
			}},
			{"a Raw join over three tables", func(got *[]string) error {
				return A.Raw("SELECT c.tenant FROM comments c JOIN posts p ON p.id = c.post_id JOIN post_tags pt ON pt.post_id = p.id").Scan(got).Error
			}},
			{"a CTE", func(got *[]string) error {
				return A.Raw("WITH mine AS (SELECT id, tenant FROM posts) SELECT tenant FROM mine ORDER BY id").Scan(got).Error
			}},
			{"a Raw subselect in a select list", func(got *[]string) error {
				return A.Raw("SELECT (SELECT MIN(tenant) FROM tags) AS tenant FROM posts").Scan(got).Error
			}},
		}
		for _, r := range reads {
			t.Run(r.name, func(t *testing.T) {
				var got []string
				must(t, r.run(&got))
				if len(got) == 0 {
					t.Fatal("no rows: the tenant's rows were not reached")
				}
				for _, tenant := range got {
					if tenant != a {
						t.Fatalf("read a row of %q under tenant %q: %v", tenant, a, got)
					}
				}
			})
		}

		writes := []struct {
			name  string
			run   func() error
			table string
			cond  string
			want  int64 // rows of a's table matching cond afterwards
		}{
			{"an Exec update", func() error {
				return A.Exec("UPDATE posts SET views = views + 1 WHERE title = ?", "seed-1").Error
			}, "posts", "views = 1", 1},
			{"an Exec delete with a subselect", func() error {
				return A.Exec("DELETE FROM comments WHERE post_id IN (SELECT id FROM posts WHERE title = ?)", "seed-2").Error
			}, "comments", "", 2},
			{"an INSERT ... SELECT", func() error {
				return A.Exec("INSERT INTO authors (tenant, name) SELECT tenant, name FROM authors WHERE name = ?", "ann").Error
			}, "authors", "name = 'ann'", 6},
		}
		for _, w := range writes {
			t.Run(w.name, func(t *testing.T) {
				must(t, w.run())
				wantCount(t, e, a, w.table, w.cond, w.want)
			})
		}

		t.Run("without a tenant the same SQL is refused before it is sent", func(t *testing.T) {
			var got []string
			run := func() error {
				return e.db.Raw("SELECT tenant FROM posts WHERE title LIKE ?", "seed-%").Scan(&got).Error
			}
			if msg := e.refusal(run, kirayedar.ErrUnroutable); msg != "" {
				t.Fatal(msg)
			}
		})

		if after := e.snapshot(t, b); after != before {
			t.Errorf("tenant %s changed:\n\tbefore %s\n\tafter  %s", b, before, after)
		}
		e.assertGlobalUntouched(t)
	})
}
