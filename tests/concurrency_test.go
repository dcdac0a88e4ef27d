package tests

import (
	"fmt"
	"math/rand"
	"sync"
	"sync/atomic"
	"testing"

	"gorm.io/gorm"

	"github.com/kirayedar/kirayedar"
)

// tenantLedger is what the workers did to one tenant, as the database
// acknowledged it. At the end each tenant's tables must show exactly this.
type tenantLedger struct {
	created atomic.Int64 // posts created
	viewed  atomic.Int64 // view increments that hit a row
	deleted atomic.Int64 // posts soft-deleted
	tagged  atomic.Int64 // tags appended through the association
}

// TestConcurrentIsolation runs 32 workers over 10 tenants on a pool of 8
// (fewer connections than tenants, so they switch tenants constantly), 5,120
// operations of every kind, raw SQL reads and writes and tenant transactions
// among them, and then proves that every tenant's tables
// hold exactly what was written for it, and that no read ever returned
// another tenant's row.
func TestConcurrentIsolation(t *testing.T) {
	const (
		tenants   = 10
		workers   = 32
		perWorker = 160
	)
	forEachTarget(t, func(t *testing.T, e *env) {
		ids := make([]string, tenants)
		ledgers := make(map[string]*tenantLedger, tenants)
		for i := range ids {
			ids[i] = e.newTenant(t)
			seed(t, e, ids[i])
			ledgers[ids[i]] = &tenantLedger{}
		}

		var failures atomic.Int64
		var firstFailure sync.Once
		fail := func(format string, args ...any) {
			failures.Add(1)
			firstFailure.Do(func() { t.Errorf(format, args...) })
		}
		var ops atomic.Int64
		var wg sync.WaitGroup
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				rng := rand.New(rand.NewSource(int64(w)))
				for i := 0; i < perWorker; i++ {
					tenant := ids[rng.Intn(tenants)]
					ops.Add(1)
					if err := isolationOp(e, e.db.WithContext(ctxFor(tenant)), tenant, ledgers[tenant], rng, fmt.Sprintf("w%d-%d", w, i), i%isolationOps); err != nil {
						fail("%s: tenant %s, op %d of worker %d: %v", e.tg, tenant, i%isolationOps, w, err)
					}
				}
			}(w)
		}
		wg.Wait()
		if n := ops.Load(); n < 5000 {
			t.Fatalf("ran %d operations, want at least 5000", n)
		}
		if failures.Load() > 0 {
			t.Fatalf("%d operations failed", failures.Load())
		}

		for _, id := range ids {
			l := ledgers[id]
			for _, table := range tenantTables {
				if table == "post_tags" {
					continue
				}
				if n := e.foreignRows(t, id, table); n != 0 {
					t.Errorf("%s of tenant %s holds %d rows of another tenant", table, id, n)
				}
			}
			wantCount(t, e, id, "posts", "", 3+l.created.Load())
			wantCount(t, e, id, "posts", "deleted_at IS NOT NULL", l.deleted.Load())
			wantCount(t, e, id, "tags", "name LIKE 'appended-%'", l.tagged.Load())
			var views int64
			must(t, e.admin().Raw("SELECT COALESCE(SUM(views), 0) FROM "+e.table(id, "posts")).Scan(&views).Error)
			if views != l.viewed.Load() {
				t.Errorf("tenant %s has %d views, but %d increments were acknowledged for it", id, views, l.viewed.Load())
			}
		}
		e.assertGlobalUntouched(t)
	})
}

// isolationOps is the number of operation kinds isolationOp knows.
const isolationOps = 10

// isolationOp runs one operation of the given kind for tenant and checks
// every row it reads. Raw SQL names tenant tables by their neutral names,
// which the plugin rewrites (or the connection resolves), or through
// kirayedar.Table.
func isolationOp(e *env, db *gorm.DB, tenant string, l *tenantLedger, rng *rand.Rand, name string, kind int) error {
	owned := func(got ...string) error {
		for _, g := range got {
			if g != tenant {
				return fmt.Errorf("read a row of tenant %q", g)
			}
		}
		return nil
	}
	switch kind {
	case 0: // create with a belongs-to, a many2many and a has-many
		p := Post{Title: name, Company: &Company{Name: name}, Tags: []Tag{{Name: "tag-" + name}},
			Comments: []Comment{{Body: name, Author: &Author{Name: name}}}}
		if err := db.Create(&p).Error; err != nil {
			return err
		}
		l.created.Add(1)
	case 1: // read through a join and nested preloads
		var posts []Post
		if err := db.Joins("Company").Preload("Tags").Preload("Comments.Author").Order("posts.id DESC").Limit(10).Find(&posts).Error; err != nil {
			return err
		}
		for _, p := range posts {
			if err := owned(p.Tenant); err != nil {
				return err
			}
			if p.Company != nil {
				if err := owned(p.Company.Tenant); err != nil {
					return err
				}
			}
			for _, tag := range p.Tags {
				if err := owned(tag.Tenant); err != nil {
					return err
				}
			}
			for _, c := range p.Comments {
				if err := owned(c.Tenant); err != nil {
					return err
				}
				if c.Author != nil {
					if err := owned(c.Author.Tenant); err != nil {
						return err
					}
				}
			}
		}
	case 2: // update by primary key: ids repeat across tenants
		res := db.Model(&Post{}).Where("id = ?", 1+rng.Intn(3)).Update("views", gorm.Expr("views + 1"))
		if res.Error != nil {
			return res.Error
		}
		l.viewed.Add(res.RowsAffected)
	case 3: // soft delete by primary key
		res := db.Delete(&Post{}, 4+rng.Intn(40))
		if res.Error != nil {
			return res.Error
		}
		l.deleted.Add(res.RowsAffected)
	case 4: // many2many association calls
		var p Post
		if err := db.Where("id = ?", 1+rng.Intn(3)).First(&p).Error; err != nil {
			return err
		}
		if err := owned(p.Tenant); err != nil {
			return err
		}
		if err := db.Model(&p).Association("Tags").Append(&Tag{Name: "appended-" + name}); err != nil {
			return err
		}
		l.tagged.Add(1)
		var tags []Tag
		if err := db.Model(&p).Association("Tags").Find(&tags); err != nil {
			return err
		}
		for _, tag := range tags {
			if err := owned(tag.Tenant); err != nil {
				return err
			}
		}
	case 5: // count and pluck
		var got []string
		if err := db.Model(&Comment{}).Limit(50).Pluck("tenant", &got).Error; err != nil {
			return err
		}
		return owned(got...)
	case 6: // a transaction that writes and reads
		return db.Transaction(func(tx *gorm.DB) error {
			p := Post{Title: name}
			if err := tx.Create(&p).Error; err != nil {
				return err
			}
			var back Post
			if err := tx.First(&back, p.ID).Error; err != nil {
				return err
			}
			l.created.Add(1)
			return owned(back.Tenant)
		})
	case 7: // raw SQL through the Table helper
		var got []string
		ctx := db.Statement.Context
		if err := db.Raw("SELECT a.tenant FROM ? a", kirayedar.Table(ctx, "audit_logs")).Scan(&got).Error; err != nil {
			return err
		}
		return owned(got...)
	case 8: // raw SQL read and write, unqualified where the strategy scopes it
		posts, args := "posts", []any(nil) // rewritten as sent, or resolved by the connection
		if rng.Intn(2) == 0 {
			posts, args = "?", []any{kirayedar.Table(db.Statement.Context, "posts")}
		}
		res := db.Exec("UPDATE "+posts+" SET views = views + 1 WHERE id = ?", append(args, 1+rng.Intn(3))...)
		if res.Error != nil {
			return res.Error
		}
		l.viewed.Add(res.RowsAffected)
		var got []string
		if err := db.Raw("SELECT p.tenant FROM "+posts+" p ORDER BY p.id DESC LIMIT 20", args...).Scan(&got).Error; err != nil {
			return err
		}
		return owned(got...)
	case 9: // raw SQL in a tenant transaction
		var viewed int64
		err := kirayedar.Transaction(db.Statement.Context, e.db, tenant, func(tx *gorm.DB) error {
			posts, args := e.rawPosts(tenant)
			res := tx.Exec("UPDATE "+posts+" SET views = views + 1 WHERE id = ?", append(args, 1+rng.Intn(3))...)
			if res.Error != nil {
				return res.Error
			}
			viewed = res.RowsAffected
			var got []string
			if err := tx.Raw("SELECT p.tenant FROM "+posts+" p ORDER BY p.id DESC LIMIT 20", args...).Scan(&got).Error; err != nil {
				return err
			}
			return owned(got...)
		})
		if err == nil {
			l.viewed.Add(viewed)
		}
		return err
	}
	return nil
}
