package provision

import (
	"context"
	"reflect"
	"strings"

	"gorm.io/gorm"
	"gorm.io/gorm/callbacks"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/schema"

	"github.com/kirayedar/kirayedar/internal/relations"
)

// Tenants are migrated by a separate, short-lived *gorm.DB with a schema
// cache of its own, on the connection (or transaction) it is handed. In its
// private cache the plugin can adjust what GORM's AutoMigrate would otherwise
// get wrong for tenants, without the application's cache ever seeing it:
//
//   - under StrategyPrefix, tenant tables, models with their own TableName
//     and index names given in tags carry the tenant's prefix;
//   - relations to global models are not migrated: AutoMigrate would create a
//     copy of the global table in every tenant and point the foreign key at
//     that empty copy. The referencing column is migrated; the constraint
//     is not;
//   - join tables that the application replaced with SetupJoinTable are set
//     up the same way.

// pooledDialector is the application's dialector, initialized already, put on
// another connection pool.
type pooledDialector struct {
	gorm.Dialector
	pool     gorm.ConnPool
	builders map[string]clause.ClauseBuilder
}

func (d pooledDialector) Initialize(db *gorm.DB) error {
	db.ConnPool = d.pool
	callbacks.RegisterDefaultCallbacks(db, &callbacks.Config{})
	for name, b := range d.builders {
		db.ClauseBuilders[name] = b
	}
	return nil
}

// prefixNamer names tenant tables with the tenant's prefix and leaves other
// tables as the application's naming strategy names them.
type prefixNamer struct {
	schema.Namer
	prefix string
	models Models
}

func (n prefixNamer) TableName(str string) string { return n.prefixed(n.Namer.TableName(str)) }

func (n prefixNamer) JoinTableName(str string) string {
	return n.prefixed(n.Namer.JoinTableName(str))
}

func (n prefixNamer) SchemaName(table string) string {
	return n.Namer.SchemaName(strings.TrimPrefix(table, n.prefix))
}

func (n prefixNamer) prefixed(table string) string {
	if n.models.IsTenant(table) {
		return n.prefix + table
	}
	return table
}

// migrationDB returns a *gorm.DB on pool that migrates tenant's tables.
func (pr *Provisioner) migrationDB(pool gorm.ConnPool, tenant string) (*gorm.DB, error) {
	pool = unprepared(pool)
	app, models := pr.db, pr.cfg.Models
	prefix := ""
	if pr.cfg.Prefixed {
		prefix = tenant + pr.cfg.PrefixSeparator
	}
	db, err := gorm.Open(pooledDialector{Dialector: app.Dialector, pool: pool, builders: pr.cfg.Builders}, &gorm.Config{
		NamingStrategy:                           prefixNamer{Namer: app.NamingStrategy, prefix: prefix, models: models},
		Logger:                                   app.Logger,
		NowFunc:                                  app.NowFunc,
		SkipDefaultTransaction:                   true,
		DisableAutomaticPing:                     true,
		DisableForeignKeyConstraintWhenMigrating: app.DisableForeignKeyConstraintWhenMigrating,
		IgnoreRelationshipsWhenMigrating:         app.IgnoreRelationshipsWhenMigrating,
	})
	if err != nil {
		return nil, err
	}
	for _, s := range models.Schemas() {
		for _, rel := range s.Relationships.Many2Many {
			if jt := rel.JoinTable; jt != nil && jt.ModelType.Name() != "" { // a named model: SetupJoinTable
				owner, join := reflect.New(s.ModelType).Interface(), reflect.New(jt.ModelType).Interface()
				if err := db.SetupJoinTable(owner, rel.Name, join); err != nil {
					return nil, err
				}
			}
		}
	}
	seen := map[*schema.Schema]bool{}
	var fix func(s *schema.Schema)
	fix = func(s *schema.Schema) {
		if s == nil || seen[s] {
			return
		}
		seen[s] = true
		if prefix != "" {
			if models.IsTenant(s.Table) {
				s.Table = prefix + s.Table // a model with its own TableName
			}
			if strings.HasPrefix(s.Table, prefix) {
				for _, f := range s.Fields {
					f.Tag = prefixIndexNames(f.Tag, prefix)
				}
			}
		}
		_ = relations.Walk(&s.Relationships, func(rel *schema.Relationship) error {
			if rel.JoinTable == nil && rel.FieldSchema != nil {
				if models.IsGlobal(rel.FieldSchema.Table) {
					rel.Field.IgnoreMigration = true
					return nil
				}
			}
			fix(rel.FieldSchema)
			fix(rel.JoinTable)
			return nil
		})
	}
	for _, m := range models.Models() {
		stmt := &gorm.Statement{DB: db}
		if err := stmt.Parse(m); err != nil {
			return nil, err
		}
		fix(stmt.Schema)
	}
	return db, nil
}

// prefixIndexNames prefixes the names given in a field's index and
// uniqueIndex tags: index names are unique per schema on PostgreSQL and per
// database on SQLite, where all tenants' tables share one.
func prefixIndexNames(tag reflect.StructTag, prefix string) reflect.StructTag {
	value, ok := tag.Lookup("gorm")
	if !ok || !strings.Contains(strings.ToLower(value), "index:") {
		return tag
	}
	parts := strings.Split(value, ";")
	changed := false
	for i, part := range parts {
		key, rest, found := strings.Cut(part, ":")
		k := strings.ToUpper(strings.TrimSpace(key))
		if !found || (k != "INDEX" && k != "UNIQUEINDEX") {
			continue
		}
		name, opts, _ := strings.Cut(rest, ",")
		if name == "" || strings.HasPrefix(name, prefix) {
			continue
		}
		parts[i] = key + ":" + prefix + name
		if opts != "" || strings.Contains(rest, ",") {
			parts[i] += "," + opts
		}
		changed = true
	}
	if !changed {
		return tag
	}
	old := `gorm:"` + value + `"`
	if !strings.Contains(string(tag), old) {
		return tag // an escaped tag: leave it rather than corrupt it
	}
	return reflect.StructTag(strings.Replace(string(tag), old, `gorm:"`+strings.Join(parts, ";")+`"`, 1))
}

// autoMigrateOn returns a function that runs GORM's AutoMigrate of the tenant
// models for tenant on a pool (a transaction, a pinned connection, or a
// recorder wrapping one), set up by the caller so that the tenant's tables
// resolve.
func (pr *Provisioner) autoMigrateOn(ctx context.Context, tenant string) func(gorm.ConnPool) error {
	return func(pool gorm.ConnPool) error {
		mdb, err := pr.migrationDB(pool, tenant)
		if err != nil {
			return err
		}
		return mdb.WithContext(ctx).AutoMigrate(pr.cfg.Models.Models()...)
	}
}

// createTablesOn returns a function that creates the tenant models' tables
// for tenant on a pool, as autoMigrateOn does, for a tenant that has none:
// GORM's CreateTable for each model in AutoMigrate's order, which is what
// AutoMigrate sends into an empty schema, without its catalog queries.
func (pr *Provisioner) createTablesOn(ctx context.Context, tenant string) func(gorm.ConnPool) error {
	if *pr.cfg.DisableDDLReplay {
		return pr.autoMigrateOn(ctx, tenant)
	}
	return func(pool gorm.ConnPool) error {
		mdb, err := pr.migrationDB(pool, tenant)
		if err != nil {
			return err
		}
		m := mdb.WithContext(ctx).Migrator()
		reorderer, ok := m.(interface {
			ReorderModels(values []any, autoAdd bool) []any
		})
		if !ok {
			return mdb.WithContext(ctx).AutoMigrate(pr.cfg.Models.Models()...)
		}
		for _, model := range reorderer.ReorderModels(pr.cfg.Models.Models(), true) {
			if err := m.CreateTable(model); err != nil {
				return err
			}
		}
		return nil
	}
}

// unprepared returns the connection or transaction under GORM's
// prepared-statement cache (gorm.Config.PrepareStmt), or pool itself. DDL is
// not worth preparing, a replay batch of several statements cannot be
// prepared at all on PostgreSQL, and GORM's PostgreSQL migrator, which
// believes the migration *gorm.DB unprepared, hands a prepared statement
// an extra argument (pgx's QueryExecModeSimpleProtocol) in ColumnTypes.
func unprepared(pool gorm.ConnPool) gorm.ConnPool {
	switch p := pool.(type) {
	case *gorm.PreparedStmtTX:
		if tx, ok := p.Tx.(gorm.ConnPool); ok {
			return tx
		}
	case *gorm.PreparedStmtDB:
		return p.ConnPool
	}
	return pool
}
