package kirayedar

import (
	"sync"

	"github.com/kirayedar/kirayedar/internal/sqlscan"
)

// The policy over internal/sqlscan: which of the tables a piece of SQL names
// may stand in a statement under a scope. The scanner accounts for every name
// where a table may stand, or says what it could not read; SQL it cannot read
// is refused, never passed.

var scanners = sync.Pool{New: func() any { return new(sqlscan.Scanner) }}

// checkRaw checks a fragment of a statement (a Where or Select string, a join
// string or table expression with sqlscan.TableList) under sc.
func (p *Plugin) checkRaw(sc *scope, sql string, mode sqlscan.Mode) error {
	return p.checkSQL(sc, nil, sql, mode, false)
}

// checkRawScoped checks SQL about to be sent under sc. scoped says the
// connection's name resolution makes unqualified tenant tables resolve to the
// statement's tenant (StrategySession, Transaction), so they may be named
// unqualified. Tables that Table references or embedded subqueries wrote for
// other scopes (marks) are accepted for those scopes.
func (p *Plugin) checkRawScoped(sc *scope, marks *rawMarks, sql string, scoped bool) error {
	return p.checkSQL(sc, marks, sql, sqlscan.Statements, scoped)
}

func (p *Plugin) checkSQL(sc *scope, marks *rawMarks, sql string, mode sqlscan.Mode, scoped bool) error {
	if sc != nil && sc.global || sql == "" {
		return nil
	}
	scanner := scanners.Get().(*sqlscan.Scanner)
	defer scanners.Put(scanner)
	refs, unreadable := scanner.Scan(sql, p.engine, mode)
	check := tableCheck{p: p, sc: sc, marks: marks, scoped: scoped}
	for i := range refs {
		if err := check.table(refs[i].Qualifier, refs[i].Name); err != nil {
			return err
		}
	}
	if unreadable != nil {
		st := &StatementError{Err: ErrUnroutable,
			Detail: "the SQL check cannot read it, so it is refused: " + unreadable.Error() +
				" (the README lists what raw SQL may hold)"}
		if sc != nil {
			st.Tenant = sc.tenant
		}
		return st
	}
	return nil
}

// tableCheck decides whether one table reference may stand under a scope.
type tableCheck struct {
	p      *Plugin
	sc     *scope
	marks  *rawMarks
	scoped bool
}

// table refuses a table named where the plugin cannot route it: a tenant
// table by its neutral name, or another tenant's physical table.
func (c tableCheck) table(qualifier, table string) error {
	p := c.p
	kind, name := p.tables.classify(table)
	if qualifier == "" && kind == tenantTable {
		if c.marks != nil && c.marks.global || c.scoped {
			return nil
		}
		st := &StatementError{Table: name, Err: ErrUnroutable,
			Detail: "raw SQL names it; use a model, a relation join or kirayedar.Table"}
		if c.sc != nil {
			st.Tenant = c.sc.tenant
		}
		return st
	}
	_, err := p.resolve(c.sc, qualifier, table)
	if err != nil && c.marks != nil {
		for _, tenant := range c.marks.tenants {
			if _, again := p.resolve(&scope{tenant: tenant}, qualifier, table); again == nil {
				return nil
			}
		}
	}
	return err
}
