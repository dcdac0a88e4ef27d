package kirayedar

import (
	"errors"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/kirayedar/kirayedar/dialect"
)

// How routing works. Nothing the plugin does changes a statement's state:
// tenant tables are written under their tenant's names while GORM builds the
// SQL, by clause builders wrapped around FROM, INSERT, UPDATE and DELETE (see
// clauses.go). Statement.Table and the schema cache stay tenant-neutral, so a
// *gorm.DB reused under another context never carries the previous tenant, and
// column qualifiers ("posts"."id") stay valid. There is nothing to restore.
//
// The guard callbacks below refuse writes without a tenant before GORM opens
// its default transaction or runs hooks and association saves; reads need no
// guard because the builders refuse them before the query is sent. Raw SQL
// is checked before it is sent (checkPrebuilt in rawsql.go).

const (
	guardName = "kirayedar:guard"
	rawName   = "kirayedar:raw_sql"
)

func (p *Plugin) register(db *gorm.DB) error {
	cb := db.Callback()
	errs := []error{
		cb.Create().Before("*").Register(guardName, p.guard),
		cb.Update().Before("*").Register(guardName, p.guard),
		cb.Delete().Before("*").Register(guardName, p.guardDelete),
		cb.Query().Before("gorm:query").Register(rawName, p.checkPrebuilt),
		cb.Row().Before("gorm:row").Register(rawName, p.checkPrebuilt),
		cb.Raw().Before("gorm:raw").Register(rawName, p.checkPrebuilt),
	}
	p.next = make(map[string]clause.ClauseBuilder, 4)
	for name, builder := range map[string]clause.ClauseBuilder{
		"FROM":   p.buildFrom,
		"INSERT": p.buildInsert,
		"UPDATE": p.buildUpdate,
		"DELETE": p.buildDelete,
	} {
		if next, ok := db.ClauseBuilders[name]; ok {
			p.next[name] = next
		}
		db.ClauseBuilders[name] = builder
	}
	return errors.Join(errs...)
}

// guardDelete is guard for deletes, which under StrategyPrefix on MySQL also
// refuses LIMIT and ORDER BY (see buildDelete) before a transaction opens.
func (p *Plugin) guardDelete(db *gorm.DB) {
	p.guard(db)
	if db.Error != nil || p.strategy != StrategyPrefix || p.engine != dialect.MySQL {
		return
	}
	sc := scopeOf(db.Statement.Context)
	if sc == nil || sc.global {
		return
	}
	if m := p.mainTableOf(db.Statement); !m.raw {
		if phys, _ := p.resolve(sc, m.qualifier, m.table); phys != nil {
			if err := p.mysqlDeleteUnaliasable(db.Statement); err != nil {
				_ = db.AddError(err)
			}
		}
	}
}

// guard fails a create, update or delete on a tenant table that has no
// usable tenant, or that embeds a subquery without one, before anything
// reaches the database.
func (p *Plugin) guard(db *gorm.DB) {
	stmt := db.Statement
	if db.Error != nil || stmt.SQL.Len() > 0 { // raw SQL is not routed
		return
	}
	sc := scopeOf(stmt.Context)
	if !p.inspect(stmt, sc) || (sc != nil && sc.global) {
		return
	}
	m := p.mainTableOf(stmt)
	if m.raw {
		return // the builders check raw table expressions
	}
	if _, err := p.resolve(sc, m.qualifier, m.table); err != nil {
		_ = db.AddError(err)
	}
}
