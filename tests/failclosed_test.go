package tests

import (
	"context"
	"errors"
	"testing"

	"gorm.io/gorm"

	"github.com/kirayedar/kirayedar"
)

// Every kind of statement on a tenant table, run on a context without a
// tenant, must fail with ErrNoTenant before anything reaches the database.
var noTenantStatements = []struct {
	name string
	run  func(db *gorm.DB) error
	// opensTransaction: GORM itself begins a transaction before the first
	// statement runs (CreateInBatches with several batches); the BEGIN is
	// sent, the statement refused, the transaction rolled back.
	opensTransaction bool
}{
	{name: "Create", run: func(db *gorm.DB) error { return db.Create(&Post{Title: "x"}).Error }},
	{name: "CreateInBatches", run: func(db *gorm.DB) error { return db.CreateInBatches(&[]Post{{Title: "x"}, {Title: "y"}}, 1).Error }, opensTransaction: true},
	{name: "First", run: func(db *gorm.DB) error { return db.First(&Post{}).Error }},
	{name: "Take", run: func(db *gorm.DB) error { return db.Take(&Post{}).Error }},
	{name: "Last", run: func(db *gorm.DB) error { return db.Last(&Post{}).Error }},
	{name: "Find", run: func(db *gorm.DB) error { return db.Find(&[]Post{}).Error }},
	{name: "Count", run: func(db *gorm.DB) error { var n int64; return db.Model(&Post{}).Count(&n).Error }},
	{name: "Pluck", run: func(db *gorm.DB) error { var s []string; return db.Model(&Post{}).Pluck("title", &s).Error }},
	{name: "Scan", run: func(db *gorm.DB) error { var s []string; return db.Model(&Post{}).Select("title").Scan(&s).Error }},
	{name: "Row", run: func(db *gorm.DB) error {
		// GORM returns a nil *sql.Row for every statement refused before it
		// is sent; the error is on the chain.
		tx := db.Model(&Post{}).Select("title")
		if row := tx.Row(); row != nil {
			return row.Err()
		}
		return tx.Error
	}},
	{name: "Rows", run: func(db *gorm.DB) error {
		rows, err := db.Model(&Post{}).Rows()
		if err == nil {
			rows.Close()
		}
		return err
	}},
	{name: "Update", run: func(db *gorm.DB) error { return db.Model(&Post{}).Where("1 = 1").Update("views", 1).Error }},
	{name: "Updates", run: func(db *gorm.DB) error { return db.Model(&Post{ID: 1}).Updates(Post{Views: 2}).Error }},
	{name: "UpdateColumn", run: func(db *gorm.DB) error { return db.Model(&Post{ID: 1}).UpdateColumn("views", 3).Error }},
	{name: "Save", run: func(db *gorm.DB) error { return db.Save(&Post{ID: 1, Title: "x"}).Error }},
	{name: "Delete", run: func(db *gorm.DB) error { return db.Delete(&Post{ID: 1}).Error }},
	{name: "Unscoped Delete", run: func(db *gorm.DB) error { return db.Unscoped().Delete(&Comment{ID: 1}).Error }},
	{name: "FindInBatches", run: func(db *gorm.DB) error {
		var batch []Post
		return db.FindInBatches(&batch, 10, func(*gorm.DB, int) error { return nil }).Error
	}},
	{name: "FirstOrCreate", run: func(db *gorm.DB) error { return db.Where(Post{Title: "x"}).FirstOrCreate(&Post{}).Error }},
	{name: "Table", run: func(db *gorm.DB) error { var m []map[string]any; return db.Table("posts").Find(&m).Error }},
	{name: "Table with an alias", run: func(db *gorm.DB) error { var m []map[string]any; return db.Table("posts p").Find(&m).Error }},
	{name: "model with its own TableName", run: func(db *gorm.DB) error { return db.Find(&[]Invoice{}).Error }},
	{name: "Association Find", run: func(db *gorm.DB) error { return db.Model(&Post{ID: 1}).Association("Tags").Find(&[]Tag{}) }},
	{name: "Association Append", run: func(db *gorm.DB) error {
		return db.Model(&Post{ID: 1}).Association("Tags").Append(&Tag{Name: "x"})
	}},
}

func TestNoTenantFailsClosed(t *testing.T) {
	contexts := map[string]context.Context{
		"background":                      context.Background(),
		"tenant cleared":                  kirayedar.NewContext(ctxFor("acme"), ""),
		"global marker cleared by tenant": kirayedar.NewContext(kirayedar.GlobalContext(context.Background()), ""),
	}
	forEachTarget(t, func(t *testing.T, e *env) {
		for ctxName, ctx := range contexts {
			for _, st := range noTenantStatements {
				t.Run(ctxName+"/"+st.name, func(t *testing.T) {
					var err error
					sent, begins := e.sentDuring(func() { err = st.run(e.db.WithContext(ctx)) })
					if !errors.Is(err, kirayedar.ErrNoTenant) {
						t.Fatalf("got %v, want ErrNoTenant", err)
					}
					if sent != 0 {
						t.Fatalf("%d statements reached the database before ErrNoTenant", sent)
					}
					if begins != 0 && !st.opensTransaction {
						t.Fatalf("%d transactions were opened before ErrNoTenant", begins)
					}
				})
			}
		}
		e.assertGlobalUntouched(t)
	})
}

// A transaction opened without a tenant fails its first tenant statement and
// rolls back; nothing is written anywhere.
func TestNoTenantInTransaction(t *testing.T) {
	forEachTarget(t, func(t *testing.T, e *env) {
		err := e.db.Transaction(func(tx *gorm.DB) error {
			if err := tx.Create(&Plan{Name: "in-tx"}).Error; err != nil {
				return err
			}
			return tx.Create(&Post{Title: "no tenant"}).Error
		})
		if !errors.Is(err, kirayedar.ErrNoTenant) {
			t.Fatalf("got %v, want ErrNoTenant", err)
		}
		var plans int64
		e.db.Model(&Plan{}).Where("name = ?", "in-tx").Count(&plans)
		if plans != 0 {
			t.Errorf("the transaction was not rolled back: %d plans written", plans)
		}
		e.assertGlobalUntouched(t)
	})
}

// A subquery is built from its own *gorm.DB and context. One built without a
// tenant, or for another tenant, fails the whole statement before it is sent.
func TestSubqueriesFailClosed(t *testing.T) {
	forEachTarget(t, func(t *testing.T, e *env) {
		a, b := e.newTenant(t), e.newTenant(t)
		seed(t, e, a)
		tenantDB := e.db.WithContext(ctxFor(a))
		cases := []struct {
			name string
			run  func() error
			want error
		}{
			{"in a WHERE, without a tenant", func() error {
				return tenantDB.Where("id IN (?)", e.db.Model(&Comment{}).Select("post_id")).Find(&[]Post{}).Error
			}, kirayedar.ErrNoTenant},
			{"in a WHERE, for another tenant", func() error {
				sub := e.db.WithContext(ctxFor(b)).Model(&Comment{}).Select("post_id")
				return tenantDB.Where("id IN (?)", sub).Find(&[]Post{}).Error
			}, kirayedar.ErrCrossTenant},
			{"nested two levels deep, without a tenant", func() error {
				inner := e.db.Model(&Author{}).Select("id")
				outer := tenantDB.Session(&gorm.Session{NewDB: true}).Model(&Comment{}).Where("author_id IN (?)", inner).Select("post_id")
				return tenantDB.Where("id IN (?)", outer).Find(&[]Post{}).Error
			}, kirayedar.ErrNoTenant},
			{"under a global table's query", func() error {
				return e.db.Where("id IN (?)", e.db.Model(&Post{}).Select("views")).Find(&[]Plan{}).Error
			}, kirayedar.ErrNoTenant},
			{"as a table expression", func() error {
				var m []map[string]any
				return tenantDB.Table("(?) AS t", e.db.Model(&Post{})).Find(&m).Error
			}, kirayedar.ErrNoTenant},
			{"as a selected column", func() error {
				var m []map[string]any
				return tenantDB.Model(&Post{}).Select("id, (?) AS n", e.db.Model(&Comment{}).Select("count(*)")).Find(&m).Error
			}, kirayedar.ErrNoTenant},
			{"as an updated value", func() error {
				return tenantDB.Model(&Post{}).Where("1 = 1").
					Updates(map[string]any{"views": e.db.Model(&Comment{}).Select("count(*)")}).Error
			}, kirayedar.ErrNoTenant},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				if msg := e.refusal(tc.run, tc.want); msg != "" {
					t.Fatal(msg)
				}
			})
		}
		wantCount(t, e, a, "posts", "views = 0", 3)
	})
}

// Naming another tenant's physical table explicitly, or a tenant table inside
// raw SQL the plugin cannot rewrite, is refused before anything is sent.
func TestExplicitAndRawTableNamesFailClosed(t *testing.T) {
	forEachTarget(t, func(t *testing.T, e *env) {
		a, b := e.newTenant(t), e.newTenant(t)
		seed(t, e, b)
		physicalB := b + prefixSeparator + "posts"
		if e.tg.schemaPerTenant() {
			physicalB = b + ".posts"
		}
		tenantDB := e.db.WithContext(ctxFor(a))
		cases := []struct {
			name string
			run  func() error
			want error
		}{
			{"another tenant's table by name", func() error {
				var m []map[string]any
				return tenantDB.Table(physicalB).Find(&m).Error
			}, kirayedar.ErrCrossTenant},
			{"another tenant's table by name, without a tenant", func() error {
				var m []map[string]any
				return e.db.Table(physicalB).Find(&m).Error
			}, kirayedar.ErrNoTenant},
			{"the global copy by a qualified name", func() error {
				var m []map[string]any
				return tenantDB.Table(e.global + ".posts").Find(&m).Error
			}, kirayedar.ErrCrossTenant},
			{"a raw join", func() error {
				return tenantDB.Joins("JOIN comments c ON c.post_id = posts.id").Find(&[]Post{}).Error
			}, kirayedar.ErrUnroutable},
			{"a raw subselect in a condition", func() error {
				return tenantDB.Where("id IN (SELECT post_id FROM comments)").Find(&[]Post{}).Error
			}, kirayedar.ErrUnroutable},
			{"a raw FROM list in a table expression", func() error {
				var m []map[string]any
				return tenantDB.Table("(SELECT * FROM posts) AS p").Find(&m).Error
			}, kirayedar.ErrUnroutable},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				if tc.want == kirayedar.ErrUnroutable {
					must(t, tc.run()) // scoped to the tenant: TestHandWrittenSQL
					return
				}
				if msg := e.refusal(tc.run, tc.want); msg != "" {
					t.Fatal(msg)
				}
			})
		}
		// The same raw fragments run on purpose under Global().
		var posts []Post
		if err := e.db.Scopes(kirayedar.Global()).Where("id IN (SELECT post_id FROM comments)").Find(&posts).Error; err != nil {
			t.Errorf("a raw subselect under Global(): %v", err)
		}
	})
}
