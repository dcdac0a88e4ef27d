package kirayedar

import (
	"context"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Table names a tenant table inside raw SQL explicitly, for the tenant in
// ctx, which may differ from the statement's own context:
//
//	db.Raw("SELECT * FROM ? WHERE id = ?", kirayedar.Table(ctx, "posts"), id)
//	db.Exec("UPDATE ? SET views = views + 1", kirayedar.Table(ctx, "posts"))
//
// It writes "acme"."posts" under StrategySchema and "acme__posts" under
// StrategyPrefix; under StrategyPrefix, qualify columns with an alias of your
// own ("FROM ? p WHERE p.id = ?"), since the table's name changed. Without a
// tenant in ctx the statement fails with ErrNoTenant, under GlobalContext it
// writes the unqualified table, and a table that is not a tenant table is
// written as given. A tenant table named in raw SQL by its neutral name is
// rewritten for the statement's own tenant as it is sent.
func Table(ctx context.Context, name string) TableRef {
	return TableRef{ctx: ctx, Name: name}
}

// TableRef is a table reference for raw SQL, built by Table. It implements
// clause.Expression, so GORM expands it wherever a "?" placeholder takes it.
type TableRef struct {
	ctx  context.Context
	Name string
}

// Build writes the reference. It is called by GORM while it builds SQL.
func (t TableRef) Build(b clause.Builder) {
	stmt, ok := b.(*gorm.Statement)
	if !ok {
		b.WriteQuoted(clause.Table{Name: t.Name})
		return
	}
	p, err := pluginOf(stmt.DB)
	if err != nil {
		_ = stmt.AddError(err)
		return
	}
	sc := scopeOf(t.ctx)
	if t.ctx == nil {
		sc = scopeOf(stmt.Context)
	} else if own := scopeOf(stmt.Context); own != nil && own.tenant != "" && sc != nil && sc.tenant != "" && own.tenant != sc.tenant {
		p.refuse(stmt, &StatementError{Table: t.Name, Tenant: own.tenant, Err: ErrCrossTenant,
			Detail: "kirayedar.Table names it for tenant " + quoteName(sc.tenant)})
		return
	}
	qualifier, table := splitQualified(t.Name)
	phys, err := p.resolve(sc, qualifier, table)
	if err != nil {
		p.refuse(stmt, err)
		return
	}
	if own := scopeOf(stmt.Context); sc != nil && (sc.global || sc.tenant != "" && (own == nil || own.tenant != sc.tenant)) {
		markRawScope(stmt, sc)
	}
	if phys == nil {
		stmt.WriteQuoted(clause.Table{Name: t.Name})
		return
	}
	stmt.WriteString(phys.quoted)
}

// rawMarks are the scopes, other than the statement's own, that parts of a
// statement were written for on purpose: Table references and embedded
// subqueries. The check of the statement's SQL accepts their tables, but
// only while the statement runs under the scope it had when they were
// written: a Raw chain built without a tenant and sent under another
// context (db.Raw(..., Table(ctxB, ...)).WithContext(ctxA)) carries marks
// made for no tenant, which tenant A's statement does not honour.
type rawMarks struct {
	tenants []string
	global  bool
	// owner is the tenant of the statement's scope when they were written
	// ("" for none), ownerGlobal whether that scope was global.
	owner       string
	ownerGlobal bool
}

type rawMarksKey struct{}

func markRawScope(stmt *gorm.Statement, sc *scope) {
	tenant, global := scopeKeyOf(scopeOf(stmt.Context))
	m := &rawMarks{owner: tenant, ownerGlobal: global}
	// Copied, never changed in place: clones of a chain share their marks.
	if v, ok := stmt.Settings.Load(rawMarksKey{}); ok {
		if old := v.(*rawMarks); old.owner == tenant && old.ownerGlobal == global {
			m.tenants, m.global = append([]string(nil), old.tenants...), old.global
		} // else written for another scope by an earlier build of a reused chain
	}
	if sc.global {
		m.global = true
	} else if sc.tenant != "" && !contains(m.tenants, sc.tenant) {
		m.tenants = append(m.tenants, sc.tenant)
	}
	stmt.Settings.Store(rawMarksKey{}, m)
}

// marksOf returns the marks written for stmt under the scope it runs under
// now, or nil.
func marksOf(stmt *gorm.Statement) *rawMarks {
	v, ok := stmt.Settings.Load(rawMarksKey{})
	if !ok {
		return nil
	}
	m := v.(*rawMarks)
	if tenant, global := scopeKeyOf(scopeOf(stmt.Context)); m.owner != tenant || m.ownerGlobal != global {
		return nil
	}
	return m
}

func scopeKeyOf(sc *scope) (tenant string, global bool) {
	if sc == nil {
		return "", false
	}
	return sc.tenant, sc.global
}

// checkSent is the last check of every statement, on the SQL text about to
// be sent, whoever built it: GORM from its clauses, Raw and Exec, GORM's
// migrator, another plugin. A tenant table it names directly, or another
// tenant's physical table, is refused; so is SQL carrying the marker of a
// refusal whose error GORM dropped.
func (p *Plugin) checkSent(stmt *gorm.Statement, pool gorm.ConnPool, sql string, raw bool) (string, error) {
	if err := refusalIn(sql); err != nil {
		return "", err
	}
	sc := scopeOf(stmt.Context)
	// Under StrategySession the connection resolves unqualified names in
	// the statement's tenant.
	scoped := p.sessionScoped(sc)
	if bound, ok := p.boundTo(pool); ok {
		inTx, err := p.checkBound(sc, bound, sql)
		if err != nil {
			return "", err
		}
		scoped = scoped || inTx
	}
	if sc != nil && sc.global {
		return sql, nil
	}
	if p.cfg.StrictRawSQL && (sc == nil || sc.tenant == "") && (raw || !p.onGlobalModel(stmt)) {
		return "", &StatementError{Err: ErrNoTenant,
			Detail: "Config.StrictRawSQL: SQL that is not a statement on a global model needs a tenant (NewContext) or GlobalContext"}
	}
	return p.checkRawScoped(sc, marksOf(stmt), sql, scoped)
}

// onGlobalModel reports whether stmt is for a global model: its main table
// is one of Config.GlobalModels' (or the registry).
func (p *Plugin) onGlobalModel(stmt *gorm.Statement) bool {
	m := p.mainTableOf(stmt)
	if m.raw || m.table == "" || m.qualifier != "" {
		return false
	}
	kind, _ := p.tables.classify(m.table)
	return kind == globalTable
}
