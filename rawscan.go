package kirayedar

import (
	"slices"
	"strings"
	"sync"

	"github.com/kirayedar/kirayedar/internal/sqlscan"
)

// The policy over internal/sqlscan: which of the tables a piece of SQL names
// may stand in a statement under a scope. The scanner accounts for every name
// where a table may stand, or says what it could not read; SQL it cannot read
// is refused, never passed.

var scanners = sync.Pool{New: func() any { return new(sqlscan.Scanner) }}

// checkRaw checks a fragment of a statement (a Where or Select string, a join
// string or table expression with sqlscan.TableList) under sc. A tenant
// table it names by its neutral name passes under a tenant: the sent
// statement is read again, whole, and rewritten (StrategySchema,
// StrategyPrefix) or scoped by the connection (StrategySession).
func (p *Plugin) checkRaw(sc *scope, sql string, mode sqlscan.Mode) error {
	_, err := p.checkSQL(sc, nil, sql, mode, p.sessionScoped(sc))
	return err
}

// sessionScoped reports whether the connection itself resolves unqualified
// names in sc's tenant (StrategySession).
func (p *Plugin) sessionScoped(sc *scope) bool {
	return p.strategy == StrategySession && sc != nil && sc.tenant != "" && sc.err == nil
}

// checkRawScoped checks SQL about to be sent under sc and returns it as it
// is to be sent: each tenant table named by its neutral name is replaced by
// the tenant's table ("acme"."posts"; under StrategyPrefix "acme__posts",
// aliased "posts" where a FROM item may take an alias). scoped says the connection's name
// resolution makes unqualified tenant tables resolve to the statement's
// tenant (StrategySession, Transaction), so they are left as written.
// Tables that Table references or embedded subqueries wrote for other scopes
// (marks) are accepted for those scopes.
func (p *Plugin) checkRawScoped(sc *scope, marks *rawMarks, sql string, scoped bool) (string, error) {
	return p.checkSQL(sc, marks, sql, sqlscan.Statements, scoped)
}

// rewrite is one table reference replaced in the SQL text.
type rewrite struct {
	pos, end int
	with     string
}

func (p *Plugin) checkSQL(sc *scope, marks *rawMarks, sql string, mode sqlscan.Mode, scoped bool) (string, error) {
	if sc != nil && sc.global || sql == "" {
		return sql, nil
	}
	scanner := scanners.Get().(*sqlscan.Scanner)
	defer scanners.Put(scanner)
	refs, unreadable := scanner.Scan(sql, p.engine, mode)
	check := tableCheck{p: p, sc: sc, marks: marks, scoped: scoped}
	var rewrites []rewrite
	for i := range refs {
		phys, err := check.table(&refs[i])
		if err != nil {
			return "", err
		}
		if phys != nil {
			with := phys.quoted
			if refs[i].Item && !refs[i].Aliased {
				// Under StrategyPrefix the name changes: an item keeps its
				// neutral name as an alias, so column qualifiers hold.
				with = phys.aliased
			}
			rewrites = append(rewrites, rewrite{pos: refs[i].Pos, end: refs[i].End, with: with})
		}
	}
	if unreadable != nil {
		st := &StatementError{Err: ErrUnroutable,
			Detail: "the SQL check cannot read it, so it is refused: " + unreadable.Error() +
				" (the README lists what raw SQL may hold)"}
		if sc != nil {
			st.Tenant = sc.tenant
		}
		return "", st
	}
	if len(rewrites) == 0 || mode != sqlscan.Statements {
		return sql, nil
	}
	return splice(sql, rewrites), nil
}

// splice returns sql with each rewrite's span replaced.
func splice(sql string, rewrites []rewrite) string {
	slices.SortFunc(rewrites, func(a, b rewrite) int { return a.pos - b.pos })
	var b strings.Builder
	b.Grow(len(sql) + 16*len(rewrites))
	at := 0
	for _, r := range rewrites {
		b.WriteString(sql[at:r.pos])
		b.WriteString(r.with)
		at = r.end
	}
	b.WriteString(sql[at:])
	return b.String()
}

// tableCheck decides whether one table reference may stand under a scope.
type tableCheck struct {
	p      *Plugin
	sc     *scope
	marks  *rawMarks
	scoped bool
}

// table refuses a table named where the plugin cannot route it: another
// tenant's physical table, the global copy of a tenant table, or a tenant
// table by its neutral name where it cannot be rewritten (no tenant, or a
// statement the reader does not follow). It returns the tenant's table for
// a neutral name to be rewritten, or nil to leave the reference as written.
func (c tableCheck) table(ref *sqlscan.Ref) (*physical, error) {
	p := c.p
	kind, name := p.tables.classify(ref.Name)
	if ref.Qualifier == "" && kind == tenantTable {
		if c.marks != nil && c.marks.global || c.scoped {
			return nil, nil
		}
		if p.strategy != StrategySession && c.sc != nil && c.sc.tenant != "" && !ref.Loose {
			return p.resolve(c.sc, "", ref.Name)
		}
		st := &StatementError{Table: name, Err: ErrUnroutable, Detail: c.unroutable(ref)}
		if c.sc != nil {
			st.Tenant = c.sc.tenant
		}
		return nil, st
	}
	_, err := p.resolve(c.sc, ref.Qualifier, ref.Name)
	if err != nil && c.marks != nil {
		for _, tenant := range c.marks.tenants {
			if _, again := p.resolve(&scope{tenant: tenant}, ref.Qualifier, ref.Name); again == nil {
				return nil, nil
			}
		}
	}
	return nil, err
}

// unroutable says why a neutral name could not be routed.
func (c tableCheck) unroutable(ref *sqlscan.Ref) string {
	switch {
	case c.sc == nil || c.sc.tenant == "":
		return "raw SQL names it and the context names no tenant"
	}
	return "raw SQL names it in a statement the SQL check does not follow (DDL, SET, CALL ...), which is not rewritten; name it with kirayedar.Table"
}
