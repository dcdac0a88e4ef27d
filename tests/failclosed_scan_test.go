package tests

import (
	"fmt"
	"testing"

	"gorm.io/gorm"

	"github.com/kirayedar/kirayedar"
)

// The raw-SQL check reads every name where a table may stand, past the forms
// a keyword scanner stopped at, and refuses what it cannot read. Each case
// below once read the global copy, or another tenant's table, under tenant A.
// Every one is refused before anything is sent, naming either tenant A's
// neutral table (which would resolve to the global copy) or tenant B's
// physical table.
func TestRawSQLCheckFailsClosed(t *testing.T) {
	forEachTarget(t, func(t *testing.T, e *env) {
		a, b := e.newTenant(t), e.newTenant(t)
		seed(t, e, a)
		seed(t, e, b)
		ctxA := ctxFor(a)
		A := e.db.WithContext(ctxA)

		// Each form is written with %s where the escaping table stands.
		forms := []struct {
			name   string
			engine string // "" for every engine
			run    func(table string) error
		}{
			{"a comma after a join's ON condition", "", func(table string) error {
				var tags []string
				return A.Model(&Post{}).Joins(fmt.Sprintf("JOIN ? c ON c.post_id = posts.id, %s l", table), kirayedar.Table(ctxA, "comments")).
					Distinct().Pluck("l.tenant", &tags).Error
			}},
			{"a comma after USING (...)", "", func(table string) error {
				var n int64
				return A.Raw(fmt.Sprintf("SELECT COUNT(*) FROM ? p JOIN ? c USING (id), %s l", table),
					kirayedar.Table(ctxA, "posts"), kirayedar.Table(ctxA, "comments")).Scan(&n).Error
			}},
			{"a comma after a column-alias list", "postgres", func(table string) error {
				var n int64
				return A.Raw(fmt.Sprintf("SELECT COUNT(*) FROM ? AS p(a, b), %s l", table), kirayedar.Table(ctxA, "posts")).Scan(&n).Error
			}},
			{"a comma after an index hint", "mysql", func(table string) error {
				var n int64
				return A.Raw(fmt.Sprintf("SELECT COUNT(*) FROM ? p USE INDEX (PRIMARY), %s l", table), kirayedar.Table(ctxA, "posts")).Scan(&n).Error
			}},
			{"a comma after a sampling clause", "postgres", func(table string) error {
				var n int64
				return A.Raw(fmt.Sprintf("SELECT COUNT(*) FROM ? p TABLESAMPLE SYSTEM (100), %s l", table), kirayedar.Table(ctxA, "posts")).Scan(&n).Error
			}},
			{"inside a subselect of a Where", "", func(table string) error {
				return A.Where(fmt.Sprintf("id IN (SELECT c.post_id FROM ? c JOIN ? p ON p.id = c.post_id, %s l)", table),
					kirayedar.Table(ctxA, "comments"), kirayedar.Table(ctxA, "posts")).Find(&[]Post{}).Error
			}},
			{"a multi-table UPDATE", "mysql", func(table string) error {
				return A.Exec(fmt.Sprintf("UPDATE ? p, %s l SET l.name = l.name", table), kirayedar.Table(ctxA, "posts")).Error
			}},
			{"an UPDATE ... FROM", "postgres", func(table string) error {
				return A.Exec(fmt.Sprintf("UPDATE ? p SET views = p.views FROM ? c, %s l WHERE c.post_id = p.id", table),
					kirayedar.Table(ctxA, "posts"), kirayedar.Table(ctxA, "comments")).Error
			}},
			{"a DELETE ... USING", "postgres", func(table string) error {
				return A.Exec(fmt.Sprintf("DELETE FROM ? p USING ? c, %s l WHERE false", table),
					kirayedar.Table(ctxA, "posts"), kirayedar.Table(ctxA, "comments")).Error
			}},
			{"a multi-table DELETE", "mysql", func(table string) error {
				return A.Exec(fmt.Sprintf("DELETE l FROM ? p JOIN %s l ON false", table), kirayedar.Table(ctxA, "posts")).Error
			}},
			{"a CTE named like the table in a sibling subquery", "", func(table string) error {
				var n int64
				return A.Raw(fmt.Sprintf("SELECT (SELECT COUNT(*) FROM (WITH tags AS (SELECT 1 AS x) SELECT x FROM tags) s) + (SELECT COUNT(*) FROM %s)", table)).Scan(&n).Error
			}},
		}
		variants := []struct {
			name  string
			table string
			want  error
		}{
			{"tenant B's physical table", e.table(b, "tags"), kirayedar.ErrCrossTenant},
		}
		before := e.snapshot(t, b)
		for _, form := range forms {
			if form.engine != "" && form.engine != e.tg.engine {
				continue
			}
			for _, v := range variants {
				t.Run(form.name+", "+v.name, func(t *testing.T) {
					if msg := e.refusal(func() error { return form.run(v.table) }, v.want); msg != "" {
						t.Fatal(msg)
					}
				})
			}
		}

		t.Run("a global model's query without a tenant", func(t *testing.T) {
			var names []string
			run := func() error {
				return e.db.Model(&Plan{}).Joins("JOIN plans p2 ON p2.id = plans.id, tags l").Pluck("l.name", &names).Error
			}
			if msg := e.refusal(run, kirayedar.ErrNoTenant, kirayedar.ErrUnroutable); msg != "" {
				t.Fatal(msg)
			}
		})
		t.Run("a form the check cannot read is refused, saying where", func(t *testing.T) {
			run := func() error {
				return A.Raw("SELECT 1 FROM ? p CROSS APPLY something", kirayedar.Table(ctxA, "posts")).Scan(&[]map[string]any{}).Error
			}
			if msg := e.refusal(run, kirayedar.ErrUnroutable); msg != "" {
				t.Fatal(msg)
			}
		})
		if after := e.snapshot(t, b); after != before {
			t.Errorf("tenant %s changed", b)
		}
		e.assertGlobalUntouched(t)
	})
}

// Statements an application writes every day still run.
func TestRawSQLCheckKeepsOrdinarySQL(t *testing.T) {
	forEachTarget(t, func(t *testing.T, e *env) {
		a := e.newTenant(t)
		seed(t, e, a)
		ctxA := ctxFor(a)
		A := e.db.WithContext(ctxA)
		var n int64
		must(t, A.Raw("SELECT COUNT(*) FROM ? p JOIN ? c ON c.post_id = p.id, ? t WHERE p.title LIKE 'seed%'",
			kirayedar.Table(ctxA, "posts"), kirayedar.Table(ctxA, "comments"), kirayedar.Table(ctxA, "tags")).Scan(&n).Error)
		must(t, A.Raw("WITH recent AS (SELECT id FROM ? WHERE views >= 0) SELECT COUNT(*) FROM recent r JOIN ? p USING (id)",
			kirayedar.Table(ctxA, "posts"), kirayedar.Table(ctxA, "posts")).Scan(&n).Error)
		if n != 3 {
			t.Errorf("the CTE counted %d posts, want 3", n)
		}
		must(t, A.Model(&Post{}).Where("id IN (SELECT post_id FROM ? c WHERE c.body <> '')", kirayedar.Table(ctxA, "comments")).
			Order("id").Find(&[]Post{}).Error)
		must(t, A.Session(&gorm.Session{}).Exec("UPDATE ? SET views = views + 1 WHERE id IN (SELECT post_id FROM ?)",
			kirayedar.Table(ctxA, "posts"), kirayedar.Table(ctxA, "comments")).Error)
	})
}
