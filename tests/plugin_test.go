package tests

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/glebarez/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/kirayedar/kirayedar"
)

func openSQLite(t *testing.T, name string) *gorm.DB {
	t.Helper()
	db, err := gorm.Open(sqlite.Open("file:"+name+"?mode=memory&cache=shared"), &gorm.Config{Logger: logger.Discard})
	must(t, err)
	return db
}

func TestPluginInitialize(t *testing.T) {
	t.Run("is idempotent on one DB", func(t *testing.T) {
		db := openSQLite(t, "init_idempotent")
		p := kirayedar.New(kirayedar.Config{TenantModels: tenantModels()})
		must(t, db.Use(p))
		must(t, p.Initialize(db))
		if p.Name() != "kirayedar" || p.Strategy() != kirayedar.StrategyPrefix {
			t.Errorf("Name() = %q, Strategy() = %v", p.Name(), p.Strategy())
		}
		if got := strings.Join(p.TenantTables(), ","); got != strings.Join(tenantTables, ",") {
			t.Errorf("TenantTables() = %s, want the models and everything they relate to: %v", got, tenantTables)
		}
	})
	t.Run("refuses a second DB", func(t *testing.T) {
		p := kirayedar.New(kirayedar.Config{TenantModels: tenantModels()})
		must(t, openSQLite(t, "init_first").Use(p))
		if err := openSQLite(t, "init_second").Use(p); err == nil {
			t.Error("one plugin registered on two DBs")
		}
	})
	for name, cfg := range map[string]kirayedar.Config{
		"refuses the session strategy on SQLite":             {Strategy: kirayedar.StrategySession},
		"refuses the schema strategy on SQLite":              {Strategy: kirayedar.StrategySchema},
		"refuses a model listed twice":                       {TenantModels: []any{&Plan{}}, GlobalModels: []any{&Plan{}}},
		"refuses a prefix separator that is not underscores": {Strategy: kirayedar.StrategyPrefix, PrefixSeparator: "-"},
	} {
		t.Run(name, func(t *testing.T) {
			err := openSQLite(t, "init_"+strings.ReplaceAll(name, " ", "_")).Use(kirayedar.New(cfg))
			if err == nil {
				t.Fatal("Initialize accepted it")
			}
			t.Log(err)
		})
	}
	t.Run("NewProvisioner needs the plugin", func(t *testing.T) {
		if _, err := kirayedar.NewProvisioner(openSQLite(t, "init_noplugin")); err == nil {
			t.Error("NewProvisioner accepted a DB without the plugin")
		}
	})
	t.Run("Table needs the plugin", func(t *testing.T) {
		db := openSQLite(t, "init_table")
		var n int64
		err := db.Raw("SELECT COUNT(*) FROM ?", kirayedar.Table(ctxFor("acme"), "posts")).Scan(&n).Error
		if err == nil || !strings.Contains(err.Error(), "not registered") {
			t.Errorf("Table without the plugin: %v", err)
		}
	})
}

// Setting is in neither list: the plugin leaves it alone.
type Setting struct {
	ID  uint
	Key string `gorm:"size:50"`
}

func TestUnlistedModelsAreLeftAlone(t *testing.T) {
	forEachTarget(t, func(t *testing.T, e *env) {
		a := e.newTenant(t)
		must(t, e.db.AutoMigrate(&Setting{}))
		for _, ctx := range []context.Context{context.Background(), ctxFor(a), kirayedar.GlobalContext(context.Background())} {
			sql := e.db.WithContext(ctx).ToSQL(func(tx *gorm.DB) *gorm.DB { return tx.Find(&[]Setting{}) })
			if strings.Contains(sql, a) || !strings.Contains(sql, "settings") {
				t.Errorf("an unlisted model was routed: %s", sql)
			}
		}
		s := Setting{Key: "written under " + a}
		if e.tg.strategy == kirayedar.StrategySession {
			// Under StrategySession unlisted tables follow the
			// connection: the tenant's schema or database first.
			if err := e.db.WithContext(ctxFor(a)).Create(&Setting{}).Error; e.tg.engine == "mysql" && err == nil {
				t.Error("an unlisted model written under a tenant on MySQL found a table in the tenant's database")
			}
			must(t, e.db.Create(&s).Error)
		} else {
			must(t, e.db.WithContext(ctxFor(a)).Create(&s).Error)
		}
		var n int64
		must(t, e.db.Model(&Setting{}).Where("id = ?", s.ID).Count(&n).Error)
		if n != 1 {
			t.Error("an unlisted model written under a tenant is not in its one table")
		}
	})
}

func TestErrorsCarryTheTenant(t *testing.T) {
	e := newEnv(t, target{engine: "sqlite", strategy: kirayedar.StrategyPrefix}, nil)
	err := e.db.WithContext(ctxFor("Bad")).Find(&[]Post{}).Error
	var se *kirayedar.StatementError
	if !errors.As(err, &se) || se.Tenant != "Bad" || se.Table != "posts" {
		t.Errorf("the statement error does not say which tenant and table: %#v", err)
	}
	err = e.prov.Drop(context.Background(), "nope")
	var pe *kirayedar.Error
	if !errors.As(err, &pe) || pe.Tenant != "nope" || pe.Op != "drop" || !errors.Is(err, kirayedar.ErrTenantNotFound) {
		t.Errorf("the provisioning error does not carry tenant and operation: %#v", err)
	}
}
