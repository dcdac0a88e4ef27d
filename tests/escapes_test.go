package tests

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/logger"

	"github.com/kirayedar/kirayedar"
)

// Each case is a way a statement for tenant A could name a table the plugin
// does not route: another tenant's, the global copy, or a tenant table under
// no tenant at all. Every one must be refused before anything is sent.
func TestEscapesAreClosed(t *testing.T) {
	forEachTarget(t, func(t *testing.T, e *env) {
		a, b := e.newTenant(t), e.newTenant(t)
		seed(t, e, a)
		seed(t, e, b)
		A := e.db.WithContext(ctxFor(a))
		plain, err := gorm.Open(e.db.Dialector, &gorm.Config{Logger: logger.Discard}) // no plugin
		must(t, err)
		physicalB := e.table(b, "posts") // quoted, as raw SQL would name it
		physicalBName := b + prefixSeparator + "posts"
		if e.tg.schemaPerTenant() {
			physicalBName = b + " . posts"
		} else if e.tg.engine != "sqlite" {
			physicalBName = e.global + "." + b + prefixSeparator + "posts"
		}

		cases := []struct {
			name string
			run  func() error
			want []error
		}{
			{"a gorm.G subquery, which GORM builds without the context", func() error {
				var got []string
				return A.Model(&Post{}).Select("(?)", gorm.G[Comment](A).Select("body").Limit(1)).Scan(&got).Error
			}, []error{kirayedar.ErrUnroutable}},
			{"a raw subselect in Select", func() error {
				var rows []map[string]any
				return A.Model(&Post{}).Select("posts.id, (SELECT COUNT(*) FROM comments WHERE comments.post_id = posts.id) AS n").Scan(&rows).Error
			}, []error{kirayedar.ErrUnroutable}},
			{"a raw subselect in Order, without a tenant", func() error {
				return e.db.Model(&Plan{}).Order("(SELECT count(*) FROM comments)").Find(&[]Plan{}).Error
			}, []error{kirayedar.ErrUnroutable}},
			{"another tenant's physical table, qualified", func() error {
				var m []map[string]any
				return A.Table(physicalBName).Find(&m).Error
			}, []error{kirayedar.ErrCrossTenant}},
			{"a tenant table in upper case, without a tenant", func() error {
				var m []map[string]any
				return e.db.Table("COMMENTS").Find(&m).Error
			}, []error{kirayedar.ErrNoTenant}},
			{"a db.Raw subquery", func() error {
				var rows []map[string]any
				return A.Model(&Post{}).Select("id, (?) AS body", e.db.Raw("SELECT body FROM comments LIMIT 1")).Scan(&rows).Error
			}, []error{kirayedar.ErrUnroutable}},
			{"a subquery whose own scope picks another tenant", func() error {
				sub := e.db.Scopes(kirayedar.WithTenant(b)).Model(&Comment{}).Select("post_id")
				return A.Where("id IN (?)", sub).Find(&[]Post{}).Error
			}, []error{kirayedar.ErrCrossTenant}},
			{"kirayedar.Table for another tenant", func() error {
				return A.Where("id IN (SELECT post_id FROM ?)", kirayedar.Table(ctxFor(b), "comments")).Find(&[]Post{}).Error
			}, []error{kirayedar.ErrCrossTenant}},
			{"a clause.Table argument", func() error {
				return A.Where("id IN (SELECT post_id FROM ?)", clause.Table{Name: "comments"}).Find(&[]Post{}).Error
			}, []error{kirayedar.ErrUnroutable}},
			{"a subquery inside VALUES of a batch of maps", func() error {
				return A.Table("posts").Create([]map[string]any{{"title": gorm.Expr("(?)", e.db.Model(&Comment{}).Select("body").Limit(1))}}).Error
			}, []error{kirayedar.ErrNoTenant}},
			{"a subquery built on a DB without the plugin", func() error {
				return A.Where("id IN (?)", plain.Model(&Comment{}).Select("post_id")).Find(&[]Post{}).Error
			}, []error{kirayedar.ErrUnroutable}},
			{"creating a tenant table under a tenant context", func() error {
				return A.Migrator().CreateTable(&Comment{})
			}, []error{kirayedar.ErrUnroutable}},
			{"raw SQL naming another tenant's physical table", func() error {
				var n int64
				return A.Raw("SELECT COUNT(*) FROM " + physicalB).Scan(&n).Error
			}, []error{kirayedar.ErrCrossTenant}},
			// The second review: forms the inspector does not know, which
			// the check of the SQL as it is sent catches.
			{"a derived table, then a comma join", func() error {
				var m []map[string]any
				return A.Table("(SELECT 1 AS x) s, comments").Find(&m).Error
			}, []error{kirayedar.ErrUnroutable}},
			{"a raw join starting with a comma", func() error {
				var m []map[string]any
				return A.Model(&Post{}).Joins(", comments c").Select("c.body").Scan(&m).Error
			}, []error{kirayedar.ErrUnroutable}},
			{"a *clause.Expr argument", func() error {
				return A.Where("id IN (?)", &clause.Expr{SQL: "SELECT post_id FROM comments"}).Find(&[]Post{}).Error
			}, []error{kirayedar.ErrUnroutable}},
			{"a GormValuer that writes SQL", func() error {
				return A.Where("title = ?", sneakyValue("(SELECT body FROM comments LIMIT 1)")).Find(&[]Post{}).Error
			}, []error{kirayedar.ErrUnroutable}},
			{"an expression as a condition's column", func() error {
				return A.Where(clause.Eq{Column: clause.Expr{SQL: "(SELECT count(*) FROM comments)"}, Value: 1}).Find(&[]Post{}).Error
			}, []error{kirayedar.ErrUnroutable}},
			{"a raw table in a FROM clause", func() error {
				return A.Clauses(clause.From{Joins: []clause.Join{{Type: clause.LeftJoin, Table: clause.Table{Name: "comments", Raw: true}, ON: clause.Where{Exprs: []clause.Expression{clause.Expr{SQL: "1=1"}}}}}}).Find(&[]Post{}).Error
			}, []error{kirayedar.ErrUnroutable}},
			{"a slice of tenant-less subqueries", func() error {
				return A.Where("id IN (?)", []*gorm.DB{e.db.Model(&Comment{}).Select("post_id")}).Find(&[]Post{}).Error
			}, []error{kirayedar.ErrNoTenant, kirayedar.ErrUnroutable}},
		}
		if e.tg.engine == "mysql" && e.tg.strategy == kirayedar.StrategyPrefix {
			cases = append(cases, struct {
				name string
				run  func() error
				want []error
			}{"a hard delete with LIMIT, which MySQL cannot alias", func() error {
				return A.Unscoped().Where("body = ?", "hello").Limit(1).Delete(&Comment{}).Error
			}, []error{kirayedar.ErrUnroutable}})
		}
		before := e.snapshot(t, b)
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				if len(tc.want) == 1 && tc.want[0] == kirayedar.ErrUnroutable {
					// Not an escape: the unqualified table is rewritten
					// to, or resolved by the connection in, tenant a (or,
					// without a tenant, refused). Whatever it does, b and
					// the global copies stay as they were.
					_ = tc.run()
					return
				}
				if msg := e.refusal(tc.run, tc.want...); msg != "" {
					t.Fatal(msg)
				}
			})
		}
		if after := e.snapshot(t, b); after != before {
			t.Errorf("tenant %s changed", b)
		}
		e.assertGlobalUntouched(t)

		t.Run("a tenant table named in mixed case routes like its model", func(t *testing.T) {
			var bodies []string
			must(t, A.Table("Comments c").Pluck("c.tenant", &bodies).Error)
			if len(bodies) != 3 || sameTenant(A, bodies) != nil {
				t.Errorf("read %v through Table(\"Comments c\")", bodies)
			}
		})
	})
}

// sneakyValue writes itself into SQL as is.
type sneakyValue string

func (v sneakyValue) GormValue(context.Context, *gorm.DB) clause.Expr {
	return clause.Expr{SQL: string(v)}
}

// Ordinary GORM code that a stricter check could mistake for an escape must
// keep working.
func TestLegitimateStatementsPass(t *testing.T) {
	forEachTarget(t, func(t *testing.T, e *env) {
		a := e.newTenant(t)
		seed(t, e, a)
		A := e.db.WithContext(ctxFor(a))

		t.Run("an upsert that names the table in its update", func(t *testing.T) {
			var p Post
			must(t, A.Where("title = ?", "seed-1").First(&p).Error)
			views := gorm.Expr("posts.views + 10") // PostgreSQL and SQLite qualify, aliased INSERT
			if e.tg.engine == "mysql" {
				views = gorm.Expr("views + 10") // MySQL's INSERT takes no alias
			}
			must(t, A.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "id"}},
				DoUpdates: clause.Assignments(map[string]any{"views": views})}).Create(&p).Error)
			wantCount(t, e, a, "posts", "views = 10", 1)
		})
		t.Run("a soft delete with LIMIT", func(t *testing.T) {
			must(t, A.Where("title = ?", "seed-2").Limit(1).Delete(&Post{}).Error)
			wantCount(t, e, a, "posts", "title = 'seed-2' AND deleted_at IS NOT NULL", 1)
		})
		t.Run("a CTE named like a tenant table, over Table", func(t *testing.T) {
			var n int64
			must(t, e.db.Raw("WITH posts AS (SELECT * FROM ?) SELECT COUNT(*) FROM posts", kirayedar.Table(ctxFor(a), "posts")).Scan(&n).Error)
			if n != 3 {
				t.Errorf("counted %d through the CTE, want 3", n)
			}
		})
		t.Run("a correlated subselect built from the tenant's own session", func(t *testing.T) {
			var rows []struct {
				ID uint
				N  int64
			}
			sub := A.Session(&gorm.Session{NewDB: true}).Model(&Comment{}).Select("COUNT(*)").Where("comments.post_id = posts.id")
			must(t, A.Model(&Post{}).Select("posts.id, (?) AS n", sub).Scan(&rows).Error)
			if len(rows) != 2 { // seed-2 was soft-deleted above
				t.Errorf("read %+v", rows)
			}
			for _, r := range rows {
				if r.N != 1 {
					t.Errorf("post %d has %d comments, want 1", r.ID, r.N)
				}
			}
		})
	})
}

// DeletedPost's table, deleted_posts, is an ordinary name: under the
// default separator "__" it is nobody's prefixed table.
type DeletedPost struct {
	ID    uint
	Title string `gorm:"size:50"`
}

// LookalikePost's table, archived__posts, looks like tenant "archived"'s
// posts under the prefix strategy. Listed as a global model it is one.
type LookalikePost struct {
	ID    uint
	Title string `gorm:"size:50"`
}

func (LookalikePost) TableName() string { return "archived" + prefixSeparator + "posts" }

func TestPrefixLookalikeTablesNeedListing(t *testing.T) {
	for _, tg := range targets {
		if tg.strategy != kirayedar.StrategyPrefix {
			continue
		}
		t.Run(tg.String(), func(t *testing.T) {
			unlisted := newEnv(t, tg, nil)
			must(t, unlisted.admin().AutoMigrate(&LookalikePost{}))
			a := unlisted.newTenant(t)
			err := unlisted.db.WithContext(ctxFor(a)).Find(&[]LookalikePost{}).Error
			if !errors.Is(err, kirayedar.ErrCrossTenant) || !strings.Contains(err.Error(), "GlobalModels") {
				t.Errorf("an unlisted look-alike table: %v, want ErrCrossTenant saying to list it", err)
			}
			listed := newEnv(t, tg, func(c *kirayedar.Config) { c.GlobalModels = append(c.GlobalModels, &LookalikePost{}) })
			must(t, listed.db.WithContext(ctxFor(a)).Create(&LookalikePost{Title: "x"}).Error)
			must(t, listed.db.Find(&[]LookalikePost{}).Error)
			if err := listed.prov.Create(context.Background(), "archived"); !errors.Is(err, kirayedar.ErrInvalidTenantID) {
				t.Errorf("tenant \"archived\", whose posts would be archived__posts: %v, want ErrInvalidTenantID", err)
			}
		})
	}
}

// A table named like "<word>_<tenant table>" is an ordinary global table:
// the default separator has two underscores, and "deleted" is a tenant
// like any other.
func TestPrefixSingleUnderscoreTablesAreOrdinary(t *testing.T) {
	for _, tg := range targets {
		if tg.strategy != kirayedar.StrategyPrefix {
			continue
		}
		t.Run(tg.String(), func(t *testing.T) {
			e := newEnv(t, tg, func(c *kirayedar.Config) { c.GlobalModels = append(c.GlobalModels, &DeletedPost{}) })
			must(t, e.admin().AutoMigrate(&DeletedPost{}))
			a := e.newTenant(t)
			must(t, e.db.WithContext(ctxFor(a)).Create(&DeletedPost{Title: "x"}).Error)
			var n int64
			must(t, e.db.Model(&DeletedPost{}).Count(&n).Error)
			if n < 1 {
				t.Errorf("the global deleted_posts holds %d rows after a tenant wrote one", n)
			}
			deleted := "deleted"
			must(t, e.prov.Create(context.Background(), deleted))
			t.Cleanup(func() { _ = e.prov.Drop(context.Background(), deleted) })
			must(t, e.db.WithContext(ctxFor(deleted)).Create(&Post{Title: "mine"}).Error)
		})
	}
}

// Book's join table is a model of its own, set up with SetupJoinTable after
// the plugin was registered.
type Book struct {
	ID     uint
	Title  string  `gorm:"size:100"`
	Labels []Label `gorm:"many2many:book_labels"`
}

type Label struct {
	ID   uint
	Name string `gorm:"size:100"`
}

type BookLabel struct {
	BookID  uint   `gorm:"primaryKey"`
	LabelID uint   `gorm:"primaryKey"`
	Note    string `gorm:"size:50;default:'linked'"`
}

func TestJoinTableSetUpAfterThePlugin(t *testing.T) {
	for _, tg := range targets {
		t.Run(tg.String(), func(t *testing.T) {
			e := newEnvWith(t, tg, func(c *kirayedar.Config) { c.TenantModels = []any{&Book{}} },
				func(db *gorm.DB) error { return db.SetupJoinTable(&Book{}, "Labels", &BookLabel{}) })
			a := e.newTenant(t)
			A := e.db.WithContext(ctxFor(a))
			book := Book{Title: "b", Labels: []Label{{Name: "x"}}}
			must(t, A.Create(&book).Error)
			must(t, A.Model(&book).Association("Labels").Append(&Label{Name: "y"}))
			wantCount(t, e, a, "book_labels", "note = 'linked'", 2)
			var n int64
			sent, _ := e.sentDuring(func() { n = A.Model(&book).Association("Labels").Count() })
			if n != 2 || sent != 1 {
				t.Errorf("the association counted %d labels in %d statements", n, sent)
			}
		})
	}
}

// Account belongs to the global Plan. Provisioning must not copy plans into
// the tenant, and writing an account must not fail on a foreign key to an
// empty copy.
type Account struct {
	ID     uint
	PlanID uint
	Plan   Plan
	Name   string `gorm:"size:50"`
}

func TestTenantModelsReferencingGlobalModels(t *testing.T) {
	for _, tg := range targets {
		t.Run(tg.String(), func(t *testing.T) {
			e := newEnv(t, tg, func(c *kirayedar.Config) { c.TenantModels = []any{&Account{}} })
			a := e.newTenant(t)
			if got := e.tablesOf(t, a); strings.Join(got, ",") != "accounts" {
				t.Errorf("tenant %s has tables %v, want only accounts", a, got)
			}
			var plan Plan
			must(t, e.db.Where("name = ?", "pro").First(&plan).Error)
			must(t, e.db.WithContext(ctxFor(a)).Create(&Account{PlanID: plan.ID, Name: "x"}).Error)
			var got Account
			must(t, e.db.WithContext(ctxFor(a)).Joins("Plan").First(&got).Error)
			if got.Plan.Name != "pro" {
				t.Errorf("the account's plan came back as %+v", got.Plan)
			}
		})
	}
}

// Mood is a PostgreSQL enum type installed in the global schema; tenant
// tables can use it.
type Diary struct {
	ID   uint
	Mood string `gorm:"type:mood"`
}

func TestPostgresTenantsSeeGlobalTypes(t *testing.T) {
	tg := target{engine: "postgres", strategy: kirayedar.StrategySchema}
	e := newEnv(t, tg, func(c *kirayedar.Config) { c.TenantModels = []any{&Diary{}} })
	must(t, e.admin().Exec("DO $$ BEGIN CREATE TYPE mood AS ENUM ('ok', 'happy'); EXCEPTION WHEN duplicate_object THEN NULL; END $$").Error)
	a := e.newTenant(t)
	must(t, e.db.WithContext(ctxFor(a)).Create(&Diary{Mood: "happy"}).Error)
}

// A Create whose context ends at any point either completes or leaves
// nothing behind, and the same Create then succeeds.
func TestCreateCutOffByItsContext(t *testing.T) {
	forEachTarget(t, func(t *testing.T, e *env) {
		for _, ms := range []int{1, 2, 3, 5, 8, 12, 20, 30, 45, 70} {
			after := time.Duration(ms) * time.Millisecond
			id := e.tenantID()
			before := e.catalog(t)
			ctx, cancel := context.WithTimeout(context.Background(), after)
			err := e.prov.Create(ctx, id)
			cancel()
			if err == nil {
				must(t, e.prov.Drop(context.Background(), id))
				continue
			}
			if now := e.catalog(t); now != before {
				t.Errorf("a Create cut off after %v (%v) left objects behind: %s", after, err, catalogDiff(before, now))
			}
			var rows int64
			must(t, e.admin().Raw("SELECT COUNT(*) FROM "+e.registry()+" WHERE id = ?", id).Scan(&rows).Error)
			if rows != 0 {
				t.Errorf("a Create cut off after %v left a registry row", after)
			}
			must(t, e.prov.Create(context.Background(), id))
			must(t, e.prov.Drop(context.Background(), id))
		}
	})
}

func TestProvisionerAndConfigRefuseMisuse(t *testing.T) {
	e := newEnv(t, target{engine: "sqlite", strategy: kirayedar.StrategyPrefix}, nil)
	err := e.db.Transaction(func(tx *gorm.DB) error {
		_, err := kirayedar.NewProvisioner(tx)
		return err
	})
	if err == nil {
		t.Error("NewProvisioner accepted a transaction")
	}
	for _, cfg := range []kirayedar.Config{{RegistryTable: "x`; DROP TABLE y"}, {GlobalSchema: "a.b"}} {
		if err := openSQLite(t, "misuse").Use(kirayedar.New(cfg)); err == nil {
			t.Errorf("Initialize accepted %+v", cfg)
		}
	}
}
