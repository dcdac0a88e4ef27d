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
		physicalBName := b + "_posts"
		if e.tg.strategy == kirayedar.StrategySchema {
			physicalBName = b + " . posts"
		} else if e.tg.engine != "sqlite" {
			physicalBName = e.global + "." + b + "_posts"
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
				var err error
				sent, begins := e.sentDuring(func() { err = tc.run() })
				matched := false
				for _, want := range tc.want {
					matched = matched || errors.Is(err, want)
				}
				if !matched {
					t.Fatalf("got %v, want %v", err, tc.want)
				}
				if sent+begins != 0 {
					t.Fatalf("%d statements and %d begins reached the database", sent, begins)
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
	tg := target{"postgres", kirayedar.StrategySchema}
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
			must(t, e.admin().Raw("SELECT COUNT(*) FROM "+e.plugin.Engine().RegistryName(e.global, "kirayedar_tenants")+" WHERE id = ?", id).Scan(&rows).Error)
			if rows != 0 {
				t.Errorf("a Create cut off after %v left a registry row", after)
			}
			must(t, e.prov.Create(context.Background(), id))
			must(t, e.prov.Drop(context.Background(), id))
		}
	})
}

func TestProvisionerAndConfigRefuseMisuse(t *testing.T) {
	e := newEnv(t, target{"sqlite", kirayedar.StrategyPrefix}, nil)
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
