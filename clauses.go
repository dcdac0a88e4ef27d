package kirayedar

import (
	"errors"
	"strings"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/kirayedar/kirayedar/dialect"
	"github.com/kirayedar/kirayedar/internal/sqlscan"
)

// The clause builders write tenant tables under their physical names while
// GORM builds a statement. An error is added to the statement, never
// panicked: GORM checks db.Error after building and sends nothing. Where GORM
// drops that error (it does for subqueries it builds itself), the refusal
// marker written in the table's place keeps the SQL from parsing, so it can
// never run against the global copy.

// refusedMarker starts the comment written, with the reason's sentinel and
// an unbalanced parenthesis, where a refused table would have stood.
const refusedMarker = "kirayedar: statement refused: "

func (p *Plugin) refuse(stmt *gorm.Statement, err error) {
	_ = stmt.AddError(err)
	stmt.WriteString("/* " + refusedMarker + sentinelOf(err).Error() + " */ )")
}

var sentinels = []error{ErrNoTenant, ErrCrossTenant, ErrInvalidTenantID, ErrUnroutable}

func sentinelOf(err error) error {
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return s
		}
	}
	return ErrUnroutable
}

// refusalIn returns the error for SQL that carries a refusal marker, which
// means GORM built a part of it (a subquery) and dropped the refusal, or nil.
func refusalIn(sql string) error {
	i := strings.Index(sql, refusedMarker)
	if i < 0 {
		return nil
	}
	reason := sql[i+len(refusedMarker):]
	for _, s := range sentinels {
		if strings.HasPrefix(reason, s.Error()) {
			return &StatementError{Err: s, Detail: "in a part GORM built on its own, such as a subquery"}
		}
	}
	return &StatementError{Err: ErrUnroutable, Detail: "in a part GORM built on its own, such as a subquery"}
}

func (p *Plugin) buildFrom(c clause.Clause, b clause.Builder) {
	stmt, ok := b.(*gorm.Statement)
	from, isFrom := c.Expression.(clause.From)
	if !ok || !isFrom {
		p.delegate("FROM", c, b)
		return
	}
	sc := scopeOf(stmt.Context)
	if !p.inspect(stmt, sc) {
		p.refuse(stmt, stmt.Error)
		return
	}
	if sc != nil && sc.global {
		p.delegate("FROM", c, b)
		return
	}

	if len(from.Tables) == 0 && p.plain(c, "FROM") {
		// The common case, written directly as clause.From would write it,
		// without copying the clause.
		ref, err := p.mainRef(stmt, sc, true)
		if err != nil {
			p.refuse(stmt, err)
			return
		}
		stmt.WriteString("FROM ")
		if ref != "" {
			stmt.WriteString(ref)
		} else {
			stmt.WriteQuoted(clause.Table{Name: clause.CurrentTable})
		}
		for _, j := range from.Joins {
			stmt.WriteByte(' ')
			if j.Expression == nil {
				rt, err := p.routeTable(sc, j.Table)
				if err != nil {
					p.refuse(stmt, err)
					return
				}
				j.Table = rt
			}
			j.Build(stmt)
		}
		return
	}

	routed := clause.From{Tables: from.Tables, Joins: from.Joins}
	changed := false
	if len(from.Tables) == 0 {
		ref, err := p.mainRef(stmt, sc, true)
		if err != nil {
			p.refuse(stmt, err)
			return
		}
		if ref != "" {
			routed.Tables = []clause.Table{{Name: ref, Raw: true}}
			changed = true
		}
	}
	tablesCopied := false
	for i, t := range from.Tables {
		rt, err := p.routeTable(sc, t)
		if err != nil {
			p.refuse(stmt, err)
			return
		}
		if rt != t {
			if !tablesCopied {
				routed.Tables = append([]clause.Table(nil), from.Tables...)
				tablesCopied = true
			}
			routed.Tables[i] = rt
			changed = true
		}
	}
	joinsCopied := false
	for i, j := range from.Joins {
		if j.Expression != nil {
			continue // raw joins: inspect checked them
		}
		rt, err := p.routeTable(sc, j.Table)
		if err != nil {
			p.refuse(stmt, err)
			return
		}
		if rt != j.Table {
			if !joinsCopied {
				routed.Joins = append([]clause.Join(nil), from.Joins...)
				joinsCopied = true
			}
			routed.Joins[i].Table = rt
			changed = true
		}
	}
	if changed {
		c.Expression = routed
	}
	p.delegate("FROM", c, b)
}

func (p *Plugin) buildInsert(c clause.Clause, b clause.Builder) {
	stmt, ok := b.(*gorm.Statement)
	ins, isInsert := c.Expression.(clause.Insert)
	if !ok || !isInsert {
		p.delegate("INSERT", c, b)
		return
	}
	// PostgreSQL and SQLite take an alias in INSERT INTO, so ON CONFLICT
	// clauses can name the table by its neutral name; MySQL takes none.
	p.buildTarget("INSERT", c, stmt, ins.Table, ins.Modifier, p.engine != dialect.MySQL,
		func(t clause.Table) clause.Expression {
			ins.Table = t
			return ins
		})
}

func (p *Plugin) buildUpdate(c clause.Clause, b clause.Builder) {
	stmt, ok := b.(*gorm.Statement)
	upd, isUpdate := c.Expression.(clause.Update)
	if !ok || !isUpdate {
		p.delegate("UPDATE", c, b)
		return
	}
	p.buildTarget("UPDATE", c, stmt, upd.Table, upd.Modifier, true,
		func(t clause.Table) clause.Expression {
			upd.Table = t
			return upd
		})
}

// buildTarget writes the one table of an INSERT or UPDATE clause, as
// clause.Insert and clause.Update would ("INSERT [modifier] INTO table",
// "UPDATE [modifier] table"), routed. with rebuilds the clause's expression
// around another table when the clause cannot be written directly.
func (p *Plugin) buildTarget(name string, c clause.Clause, stmt *gorm.Statement, table clause.Table, modifier string,
	aliased bool, with func(clause.Table) clause.Expression) {
	sc := scopeOf(stmt.Context)
	if !p.inspect(stmt, sc) {
		p.refuse(stmt, stmt.Error)
		return
	}
	if sc != nil && sc.global {
		p.delegate(name, c, stmt)
		return
	}
	if table.Name != "" && table.Name != clause.CurrentTable {
		rt, err := p.routeTable(sc, table)
		if err != nil {
			p.refuse(stmt, err)
			return
		}
		if rt != table {
			if !aliased || name == "INSERT" {
				rt.Alias = "" // a written alias has no AS, which INSERT INTO needs
			}
			c.Expression = with(rt)
		}
		p.delegate(name, c, stmt)
		return
	}
	ref, err := p.mainRef(stmt, sc, aliased)
	if err != nil {
		p.refuse(stmt, err)
		return
	}
	if ref == "" {
		p.delegate(name, c, stmt)
		return
	}
	if !p.plain(c, name) {
		c.Expression = with(clause.Table{Name: ref, Raw: true})
		p.delegate(name, c, stmt)
		return
	}
	stmt.WriteString(name)
	stmt.WriteByte(' ')
	if modifier != "" {
		stmt.WriteString(modifier)
		stmt.WriteByte(' ')
	}
	if name == "INSERT" {
		stmt.WriteString("INTO ")
	}
	stmt.WriteString(ref)
}

// buildDelete exists for MySQL under StrategyPrefix: MySQL's single-table
// DELETE takes no alias, and the statement's conditions name the table by its
// neutral name. The multi-table form "DELETE `posts` FROM `acme__posts` AS
// `posts`" keeps them valid.
func (p *Plugin) buildDelete(c clause.Clause, b clause.Builder) {
	stmt, ok := b.(*gorm.Statement)
	del, isDelete := c.Expression.(clause.Delete)
	if !ok || !isDelete || p.strategy != StrategyPrefix || p.engine != dialect.MySQL {
		p.delegate("DELETE", c, b)
		return
	}
	sc := scopeOf(stmt.Context)
	if sc == nil || sc.global || sc.tenant == "" || sc.err != nil {
		p.delegate("DELETE", c, b) // FROM refuses or leaves it alone
		return
	}
	m := p.mainTableOf(stmt)
	if m.raw {
		p.delegate("DELETE", c, b)
		return
	}
	if phys, err := p.resolve(sc, m.qualifier, m.table); err != nil || phys == nil {
		p.delegate("DELETE", c, b)
		return
	}
	if err := p.mysqlDeleteUnaliasable(stmt); err != nil {
		p.refuse(stmt, err)
		return
	}
	alias := m.alias
	if alias == "" {
		alias = m.table
	}
	stmt.WriteString("DELETE")
	if del.Modifier != "" {
		stmt.WriteByte(' ')
		stmt.WriteString(del.Modifier)
	}
	stmt.WriteByte(' ')
	stmt.WriteString(p.engine.QuoteIdent(alias))
}

// mysqlDeleteUnaliasable refuses a MySQL delete the multi-table form cannot
// express: MySQL allows neither LIMIT nor ORDER BY in it.
func (p *Plugin) mysqlDeleteUnaliasable(stmt *gorm.Statement) error {
	for _, name := range []string{"LIMIT", "ORDER BY"} {
		if _, ok := stmt.Clauses[name]; ok {
			sc := scopeOf(stmt.Context)
			return &StatementError{Table: stmt.Table, Tenant: sc.tenant, Err: ErrUnroutable,
				Detail: "MySQL cannot delete with " + name + " from an aliased prefixed table; delete by key instead"}
		}
	}
	return nil
}

// mainRef returns the statement's main table, pre-quoted, when the plugin
// routes it ("" to leave it as written). aliased asks for the neutral-name
// alias that keeps column qualifiers valid under StrategyPrefix.
func (p *Plugin) mainRef(stmt *gorm.Statement, sc *scope, aliased bool) (string, error) {
	m := p.mainTableOf(stmt)
	if m.raw {
		if stmt.TableExpr != nil {
			if err := p.checkRaw(sc, stmt.TableExpr.SQL, sqlscan.TableList); err != nil {
				return "", err
			}
		}
		return "", nil
	}
	if m.table == "" {
		return "", nil
	}
	phys, err := p.resolve(sc, m.qualifier, m.table)
	if err != nil || phys == nil {
		return "", err
	}
	switch {
	case m.alias != "" && aliased:
		return phys.quoted + " AS " + p.engine.QuoteIdent(m.alias), nil
	case aliased:
		return phys.aliased, nil
	}
	return phys.quoted, nil
}

// routeTable routes a table named in a clause (a join, an explicit FROM
// list, an INSERT or UPDATE target).
func (p *Plugin) routeTable(sc *scope, t clause.Table) (clause.Table, error) {
	if t.Raw || t.Name == clause.CurrentTable {
		return t, nil
	}
	qualifier, table := splitQualified(t.Name)
	phys, err := p.resolve(sc, qualifier, table)
	if err != nil || phys == nil {
		return t, err
	}
	routed := clause.Table{Name: phys.name, Alias: t.Alias}
	if routed.Alias == "" && p.strategy == StrategyPrefix {
		routed.Alias = table
	}
	return routed, nil
}

// plain reports whether c can be written directly: no expressions around it
// and no other builder to hand it to.
func (p *Plugin) plain(c clause.Clause, name string) bool {
	return c.BeforeExpression == nil && c.AfterNameExpression == nil && c.AfterExpression == nil &&
		c.Builder == nil && p.next[name] == nil
}

func (p *Plugin) delegate(name string, c clause.Clause, b clause.Builder) {
	if next := p.next[name]; next != nil {
		next(c, b)
		return
	}
	c.Build(b)
}

func splitQualified(name string) (qualifier, table string) {
	for i := len(name) - 1; i >= 0; i-- {
		if name[i] == '.' {
			return name[:i], name[i+1:]
		}
	}
	return "", name
}
