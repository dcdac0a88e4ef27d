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
// guard because the builders refuse them before the query is sent. The SQL
// text itself is checked as it is sent (sent.go).

const (
	guardName       = "kirayedar:guard"
	guardPoolName   = "kirayedar:guard_pool"
	unguardPoolName = "kirayedar:unguard_pool"
)

func (p *Plugin) register(db *gorm.DB) error {
	cb := db.Callback()
	errs := []error{
		cb.Create().Before("*").Register(guardName, p.guard),
		cb.Update().Before("*").Register(guardName, p.guard),
		cb.Delete().Before("*").Register(guardName, p.guardDelete),
	}
	// The pool is guarded around the one callback of each chain that sends,
	// and given back before the next one (preloads, association saves, hooks
	// and the commit run on the plain pool).
	errs = append(errs,
		cb.Query().Before("gorm:query").Register(guardPoolName, p.guardPool),
		cb.Query().Before("gorm:preload").Register(unguardPoolName, p.unguardPool),
		cb.Row().Before("gorm:row").Register(guardPoolName, p.guardPool),
		cb.Row().After("gorm:row").Register(unguardPoolName, p.unguardPool),
		cb.Raw().Before("gorm:raw").Register(guardPoolName, p.guardPool),
		cb.Raw().After("gorm:raw").Register(unguardPoolName, p.unguardPool),
		cb.Create().Before("gorm:create").Register(guardPoolName, p.guardPool),
		cb.Create().Before("gorm:save_after_associations").Register(unguardPoolName, p.unguardPool),
		cb.Update().Before("gorm:update").Register(guardPoolName, p.guardPool),
		cb.Update().Before("gorm:save_after_associations").Register(unguardPoolName, p.unguardPool),
		cb.Delete().Before("gorm:delete").Register(guardPoolName, p.guardPool),
		cb.Delete().Before("gorm:after_delete").Register(unguardPoolName, p.unguardPool),
	)
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
	if sc == nil || sc.global || softDeletes(db.Statement) {
		return // a soft delete is an UPDATE, which MySQL aliases with LIMIT too
	}
	if m := p.mainTableOf(db.Statement); !m.raw {
		if phys, _ := p.resolve(sc, m.qualifier, m.table); phys != nil {
			if err := p.mysqlDeleteUnaliasable(db.Statement); err != nil {
				_ = db.AddError(err)
			}
		}
	}
}

// softDeletes reports whether a delete will run as GORM's soft-delete UPDATE.
func softDeletes(stmt *gorm.Statement) bool {
	if stmt.Unscoped || stmt.Schema == nil {
		return false
	}
	for _, c := range stmt.Schema.DeleteClauses {
		if _, ok := c.(interface{ ModifyStatement(*gorm.Statement) }); ok {
			return true
		}
	}
	return false
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
