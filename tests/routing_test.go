package tests

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/kirayedar/kirayedar"
)

// seed writes the same fixture into a tenant: three posts "seed-1".."seed-3",
// each with a company, two tags and a comment by an author.
func seed(t testing.TB, e *env, tenant string) {
	t.Helper()
	db := e.db.WithContext(ctxFor(tenant))
	for i := 1; i <= 3; i++ {
		p := Post{
			Title:    fmt.Sprintf("seed-%d", i),
			Company:  &Company{Stamp: Stamp{tenant}, Name: fmt.Sprintf("company-%d", i)},
			Tags:     []Tag{{Stamp: Stamp{tenant}, Name: fmt.Sprintf("tag-%d-a", i)}, {Stamp: Stamp{tenant}, Name: fmt.Sprintf("tag-%d-b", i)}},
			Comments: []Comment{{Stamp: Stamp{tenant}, Body: "hello", Author: &Author{Stamp: Stamp{tenant}, Name: "ann"}}},
		}
		if err := db.Create(&p).Error; err != nil {
			t.Fatalf("%s: seeding %s: %v", e.tg, tenant, err)
		}
	}
}

// snapshot describes everything in a tenant's tables (or the global copies),
// so a test can show they did not change.
func (e *env) snapshot(t testing.TB, tenant string) string {
	t.Helper()
	var b strings.Builder
	for _, table := range tenantTables {
		fmt.Fprintf(&b, "%s=%d ", table, e.count(t, tenant, table, ""))
	}
	var rows []struct {
		ID      uint
		Title   string
		Views   int
		Deleted bool
	}
	err := e.admin().Raw("SELECT id, title, views, deleted_at IS NOT NULL AS deleted FROM " + e.table(tenant, "posts") + " ORDER BY id").
		Scan(&rows).Error
	if err != nil {
		t.Fatalf("%s: snapshot of %q: %v", e.tg, tenant, err)
	}
	fmt.Fprintf(&b, "%v", rows)
	return b.String()
}

// Each case runs one GORM operation for tenant A, on A's context, and checks
// what it did to A's tables. The harness checks that tenant B, seeded with
// the same data, and the global copies did not change at all.
var routingCases = []struct {
	name  string
	run   func(t *testing.T, db *gorm.DB) error
	check func(t *testing.T, e *env, a string)
}{
	{
		name: "Create with belongs-to, many2many, has-many and hooks",
		run: func(t *testing.T, db *gorm.DB) error {
			return db.Create(&Post{Title: "created", Company: &Company{Name: "c"}, Tags: []Tag{{Name: "created-tag"}},
				Comments: []Comment{{Body: "b", Author: &Author{Name: "bo"}}}}).Error
		},
		check: func(t *testing.T, e *env, a string) {
			wantCount(t, e, a, "posts", "title = 'created'", 1)
			wantCount(t, e, a, "tags", "name = 'created-tag'", 1)
			wantCount(t, e, a, "post_tags", "", 7)
			wantCount(t, e, a, "audit_logs", "action = 'create post created'", 1)
		},
	},
	{
		name: "CreateInBatches",
		run: func(t *testing.T, db *gorm.DB) error {
			posts := []Post{{Title: "batch"}, {Title: "batch"}, {Title: "batch"}, {Title: "batch"}, {Title: "batch"}}
			return db.CreateInBatches(&posts, 2).Error
		},
		check: func(t *testing.T, e *env, a string) { wantCount(t, e, a, "posts", "title = 'batch'", 5) },
	},
	{
		name: "First, Take, Last and Find",
		run: func(t *testing.T, db *gorm.DB) error {
			var first, take, last Post
			var all []Post
			if err := errors.Join(db.Where("title LIKE ?", "seed-%").First(&first).Error, db.Take(&take).Error,
				db.Last(&last).Error, db.Find(&all).Error); err != nil {
				return err
			}
			return ownedBy(db, append(all, first, take, last)...)
		},
	},
	{
		name: "Count and Pluck",
		run: func(t *testing.T, db *gorm.DB) error {
			var n int64
			var tenants []string
			if err := errors.Join(db.Model(&Post{}).Where("title LIKE ?", "seed-%").Count(&n).Error,
				db.Model(&Post{}).Pluck("tenant", &tenants).Error); err != nil {
				return err
			}
			if n != 3 {
				return fmt.Errorf("counted %d seed posts, want 3", n)
			}
			return sameTenant(db, tenants)
		},
	},
	{
		name: "Scan, Row and Rows",
		run: func(t *testing.T, db *gorm.DB) error {
			var scanned []string
			if err := db.Model(&Post{}).Select("tenant").Scan(&scanned).Error; err != nil {
				return err
			}
			var one string
			if err := db.Model(&Post{}).Select("tenant").Limit(1).Row().Scan(&one); err != nil {
				return err
			}
			rows, err := db.Model(&Comment{}).Select("tenant").Rows()
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var s string
				if err := rows.Scan(&s); err != nil {
					return err
				}
				scanned = append(scanned, s)
			}
			return sameTenant(db, append(scanned, one))
		},
	},
	{
		name: "Update, Updates, UpdateColumn and UpdateColumns",
		run: func(t *testing.T, db *gorm.DB) error {
			return errors.Join(
				db.Model(&Post{}).Where("title = ?", "seed-1").Update("views", 11).Error,
				db.Model(&Post{}).Where("title = ?", "seed-2").Updates(Post{Views: 12}).Error,
				db.Model(&Post{}).Where("title = ?", "seed-3").Updates(map[string]any{"views": 13}).Error,
				db.Model(&Comment{}).Where("body = ?", "hello").UpdateColumn("body", "hi").Error,
				db.Model(&Company{}).Where("1 = 1").UpdateColumns(map[string]any{"name": "renamed"}).Error)
		},
		check: func(t *testing.T, e *env, a string) {
			wantCount(t, e, a, "posts", "views IN (11, 12, 13)", 3)
			wantCount(t, e, a, "comments", "body = 'hi'", 3)
			wantCount(t, e, a, "companies", "name = 'renamed'", 3)
		},
	},
	{
		name: "Save updates a loaded record and inserts a new one",
		run: func(t *testing.T, db *gorm.DB) error {
			var p Post
			if err := db.Where("title = ?", "seed-1").First(&p).Error; err != nil {
				return err
			}
			p.Title = "saved"
			return errors.Join(db.Save(&p).Error, db.Save(&Post{Title: "saved-new"}).Error)
		},
		check: func(t *testing.T, e *env, a string) {
			wantCount(t, e, a, "posts", "title IN ('saved', 'saved-new')", 2)
			wantCount(t, e, a, "posts", "title = 'seed-1'", 0)
		},
	},
	{
		name: "Delete soft and Unscoped hard",
		run: func(t *testing.T, db *gorm.DB) error {
			var p Post
			if err := db.Where("title = ?", "seed-1").First(&p).Error; err != nil {
				return err
			}
			return errors.Join(db.Delete(&p).Error,
				db.Unscoped().Where("body = ?", "hello").Delete(&Comment{}).Error,
				db.Where("title = ?", "seed-2").Delete(&Post{}).Error)
		},
		check: func(t *testing.T, e *env, a string) {
			wantCount(t, e, a, "posts", "title IN ('seed-1', 'seed-2') AND deleted_at IS NOT NULL", 2)
			wantCount(t, e, a, "comments", "", 0)
		},
	},
	{
		name: "FindInBatches",
		run: func(t *testing.T, db *gorm.DB) error {
			var seen []Post
			var batch []Post
			err := db.FindInBatches(&batch, 2, func(tx *gorm.DB, _ int) error {
				seen = append(seen, batch...)
				return nil
			}).Error
			if err != nil {
				return err
			}
			if len(seen) != 3 {
				return fmt.Errorf("saw %d posts in batches, want 3", len(seen))
			}
			return ownedBy(db, seen...)
		},
	},
	{
		name: "FirstOrCreate creates once",
		run: func(t *testing.T, db *gorm.DB) error {
			var p1, p2 Post
			return errors.Join(db.Where(Post{Title: "foc"}).FirstOrCreate(&p1).Error,
				db.Where(Post{Title: "foc"}).FirstOrCreate(&p2).Error)
		},
		check: func(t *testing.T, e *env, a string) { wantCount(t, e, a, "posts", "title = 'foc'", 1) },
	},
	{
		name: "Model, Table and Table with an alias",
		run: func(t *testing.T, db *gorm.DB) error {
			var viaTable, viaAlias []map[string]any
			if err := errors.Join(
				db.Table("posts").Where("title = ?", "seed-1").Find(&viaTable).Error,
				db.Table("posts p").Where("p.title = ?", "seed-2").Find(&viaAlias).Error,
				db.Table("posts").Where("title = ?", "seed-3").Update("views", 5).Error,
				db.Model(&Post{}).Where("title = ?", "seed-3").Update("views", gorm.Expr("views + 1")).Error,
			); err != nil {
				return err
			}
			var tenants []string
			for _, row := range append(viaTable, viaAlias...) {
				tenants = append(tenants, fmt.Sprint(row["tenant"]))
			}
			if len(tenants) != 2 {
				return fmt.Errorf("read %d rows through Table, want 2", len(tenants))
			}
			return sameTenant(db, tenants)
		},
		check: func(t *testing.T, e *env, a string) { wantCount(t, e, a, "posts", "views = 6", 1) },
	},
	{
		name: "Joins on a relation and nested Preload",
		run: func(t *testing.T, db *gorm.DB) error {
			var posts []Post
			err := db.Joins("Company").Preload("Tags").Preload("Comments.Author").Order("posts.id").Find(&posts).Error
			if err != nil {
				return err
			}
			if len(posts) != 3 {
				return fmt.Errorf("read %d posts, want 3", len(posts))
			}
			var tenants []string
			for _, p := range posts {
				if p.Company == nil || len(p.Tags) != 2 || len(p.Comments) != 1 || p.Comments[0].Author == nil {
					return fmt.Errorf("post %q came back without its relations: %+v", p.Title, p)
				}
				tenants = append(tenants, p.Tenant, p.Company.Tenant, p.Tags[0].Tenant, p.Tags[1].Tenant,
					p.Comments[0].Tenant, p.Comments[0].Author.Tenant)
			}
			return sameTenant(db, tenants)
		},
	},
	{
		name: "Association Find, Count, Append, Replace, Delete and Clear",
		run: func(t *testing.T, db *gorm.DB) error {
			var p1, p2 Post
			if err := errors.Join(db.Where("title = ?", "seed-1").First(&p1).Error,
				db.Where("title = ?", "seed-2").First(&p2).Error); err != nil {
				return err
			}
			var tags []Tag
			if err := db.Model(&p1).Association("Tags").Find(&tags); err != nil {
				return err
			}
			if n := db.Model(&p1).Association("Tags").Count(); n != 2 || len(tags) != 2 {
				return fmt.Errorf("association read %d tags, counted %d, want 2", len(tags), n)
			}
			if err := sameTenant(db, []string{tags[0].Tenant, tags[1].Tenant}); err != nil {
				return err
			}
			fresh := Tag{Name: "appended"}
			return errors.Join(
				db.Model(&p1).Association("Tags").Append(&fresh),
				db.Model(&p1).Association("Tags").Delete(&tags[0]),
				db.Model(&p2).Association("Tags").Replace(&tags[1]),
				db.Model(&p2).Association("Comments").Clear())
		},
		check: func(t *testing.T, e *env, a string) {
			wantCount(t, e, a, "tags", "name = 'appended'", 1)
			wantCount(t, e, a, "post_tags", "", 5) // 6 seeded, +1 appended, -1 deleted, p2's 2 replaced by 1
			wantCount(t, e, a, "comments", "post_id IS NULL", 1)
		},
	},
	{
		name: "Transaction, Begin/Commit and Begin/Rollback",
		run: func(t *testing.T, db *gorm.DB) error {
			err := db.Transaction(func(tx *gorm.DB) error {
				if err := tx.Create(&Post{Title: "in-tx"}).Error; err != nil {
					return err
				}
				return tx.Model(&Post{}).Where("title = ?", "seed-1").Update("views", 21).Error
			})
			if err != nil {
				return err
			}
			tx := db.Begin()
			if err := tx.Create(&Post{Title: "committed"}).Error; err != nil {
				tx.Rollback()
				return err
			}
			if err := tx.Commit().Error; err != nil {
				return err
			}
			tx = db.Begin()
			if err := tx.Create(&Post{Title: "rolled-back"}).Error; err != nil {
				return err
			}
			return tx.Rollback().Error
		},
		check: func(t *testing.T, e *env, a string) {
			wantCount(t, e, a, "posts", "title IN ('in-tx', 'committed')", 2)
			wantCount(t, e, a, "posts", "title = 'rolled-back'", 0)
			wantCount(t, e, a, "posts", "views = 21", 1)
		},
	},
	{
		name: "a model with its own TableName",
		run: func(t *testing.T, db *gorm.DB) error {
			if err := db.Create(&Invoice{Amount: 42}).Error; err != nil {
				return err
			}
			var inv Invoice
			if err := db.First(&inv).Error; err != nil {
				return err
			}
			return sameTenant(db, []string{inv.Tenant})
		},
		check: func(t *testing.T, e *env, a string) { wantCount(t, e, a, "billing_invoices", "amount = 42", 1) },
	},
	{
		name: "upsert with ON CONFLICT",
		run: func(t *testing.T, db *gorm.DB) error {
			var p Post
			if err := db.Where("title = ?", "seed-1").First(&p).Error; err != nil {
				return err
			}
			p.Views = 99
			return db.Clauses(clause.OnConflict{UpdateAll: true}).Create(&p).Error
		},
		check: func(t *testing.T, e *env, a string) { wantCount(t, e, a, "posts", "views = 99", 1) },
	},
	{
		name: "a subquery built for the same tenant",
		run: func(t *testing.T, db *gorm.DB) error {
			var posts []Post
			sub := db.Session(&gorm.Session{NewDB: true}).Model(&Comment{}).Select("post_id")
			if err := db.Where("id IN (?)", sub).Find(&posts).Error; err != nil {
				return err
			}
			if len(posts) != 3 {
				return fmt.Errorf("read %d posts with comments, want 3", len(posts))
			}
			return ownedBy(db, posts...)
		},
	},
}

func TestRouting(t *testing.T) {
	forEachTarget(t, func(t *testing.T, e *env) {
		for _, tc := range routingCases {
			t.Run(tc.name, func(t *testing.T) {
				a, b := e.newTenant(t), e.newTenant(t)
				seed(t, e, a)
				seed(t, e, b)
				before, globalBefore := e.snapshot(t, b), e.snapshot(t, "")

				if err := tc.run(t, e.db.WithContext(ctxFor(a))); err != nil {
					t.Fatalf("%s for tenant %s: %v", tc.name, a, err)
				}

				if tc.check != nil {
					tc.check(t, e, a)
				}
				for _, table := range tenantTables {
					if table != "post_tags" {
						if n := e.foreignRows(t, a, table); n != 0 {
							t.Errorf("%s of tenant %s holds %d rows of another tenant", table, a, n)
						}
					}
				}
				if after := e.snapshot(t, b); after != before {
					t.Errorf("tenant %s changed:\nbefore %s\nafter  %s", b, before, after)
				}
				if after := e.snapshot(t, ""); after != globalBefore {
					t.Errorf("the global copies changed:\nbefore %s\nafter  %s", globalBefore, after)
				}
			})
		}
	})
}

// TestWithTenantScope shows that the WithTenant scope routes a chain on a
// context that has no tenant, and refuses to override one that has another
// (tests/withtenant_test.go covers every path GORM makes sessions on).
func TestWithTenantScope(t *testing.T) {
	forEachTarget(t, func(t *testing.T, e *env) {
		a, b := e.newTenant(t), e.newTenant(t)
		if err := e.db.Scopes(kirayedar.WithTenant(a)).Create(&Post{Title: "scoped"}).Error; err != nil {
			t.Fatal(err)
		}
		override := func() error {
			return e.db.WithContext(ctxFor(b)).Scopes(kirayedar.WithTenant(a)).Create(&Post{Title: "override"}).Error
		}
		if msg := e.refusal(override, kirayedar.ErrCrossTenant); msg != "" {
			t.Fatal(msg)
		}
		var posts []Post
		if err := e.db.Scopes(kirayedar.WithTenant(a)).Preload("Tags").Find(&posts).Error; err != nil {
			t.Fatal(err)
		}
		if len(posts) != 1 {
			t.Fatalf("tenant %s has %d posts through the scope, want 1", a, len(posts))
		}
		wantCount(t, e, a, "posts", "tenant = ?", 1, a)
		wantCount(t, e, b, "posts", "", 0)
	})
}

func wantCount(t *testing.T, e *env, tenant, table, cond string, want int64, args ...any) {
	t.Helper()
	if n := e.count(t, tenant, table, cond, args...); n != want {
		t.Errorf("%s of tenant %s where %q: %d rows, want %d", table, tenant, cond, n, want)
	}
}

// ownedBy checks that every post read under db's tenant belongs to it.
func ownedBy(db *gorm.DB, posts ...Post) error {
	tenants := make([]string, len(posts))
	for i, p := range posts {
		tenants[i] = p.Tenant
	}
	return sameTenant(db, tenants)
}

func sameTenant(db *gorm.DB, tenants []string) error {
	want, _ := kirayedar.FromContext(db.Statement.Context)
	for _, got := range tenants {
		if got != want {
			return fmt.Errorf("read a row of tenant %q under tenant %q", got, want)
		}
	}
	return nil
}

var _ = context.Background
