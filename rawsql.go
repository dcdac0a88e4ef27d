package kirayedar

import (
	"context"
	"strings"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Table names a tenant table inside raw SQL, for the tenant in ctx:
//
//	db.Raw("SELECT * FROM ? WHERE id = ?", kirayedar.Table(ctx, "posts"), id)
//	db.Exec("UPDATE ? SET views = views + 1", kirayedar.Table(ctx, "posts"))
//
// It writes "acme"."posts" under StrategySchema and "acme_posts" under
// StrategyPrefix; under StrategyPrefix, qualify columns with an alias of your
// own ("FROM ? p WHERE p.id = ?"), since the table's name changed. Without a
// tenant in ctx the statement fails with ErrNoTenant, under GlobalContext it
// writes the unqualified table, and a table that is not a tenant table is
// written as given. Raw SQL is otherwise not scoped: a table named in it
// directly resolves to the global copy.
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
	if sc != nil && (sc.tenant != "" || sc.global) {
		markRawScope(stmt, sc)
	}
	if phys == nil {
		stmt.WriteQuoted(clause.Table{Name: t.Name})
		return
	}
	stmt.WriteString(phys.quoted)
}

// rawScopeKey marks, in a raw statement's settings, the scope its Table
// references were written for, so the raw-SQL check accepts that tenant's
// physical names (or, for a global Table, the global copy) even when the
// statement's context carries no tenant.
type rawScopeKey struct{}

var mixedScopes = &scope{} // Table references for several scopes: accept none

func markRawScope(stmt *gorm.Statement, sc *scope) {
	if prev, loaded := stmt.Settings.LoadOrStore(rawScopeKey{}, sc); loaded {
		if p := prev.(*scope); p.tenant != sc.tenant || p.global != sc.global {
			stmt.Settings.Store(rawScopeKey{}, mixedScopes)
		}
	}
}

// checkPrebuilt checks raw SQL (Raw, Exec, and GORM's migrator, which runs
// through Exec) before it is sent: a tenant table it names directly is
// refused, as it would resolve to the global copy.
func (p *Plugin) checkPrebuilt(db *gorm.DB) {
	stmt := db.Statement
	if db.Error != nil || stmt.SQL.Len() == 0 {
		return
	}
	sc := scopeOf(stmt.Context)
	if sc != nil && sc.global {
		return
	}
	if sc == nil || sc.tenant == "" && sc.err == nil {
		if marked, ok := stmt.Settings.Load(rawScopeKey{}); ok {
			sc = marked.(*scope)
		}
	}
	if err := p.checkRaw(sc, stmt.SQL.String(), false); err != nil {
		_ = db.AddError(err)
	}
}

// checkRaw looks for tenant tables named in a raw SQL fragment where only a
// table can stand: after FROM, JOIN, USING, INTO, UPDATE, TABLE, TRUNCATE,
// REFERENCES and CREATE INDEX ... ON, in lists after them, inside
// parentheses and past ONLY or LATERAL; with tablePosition, also at its very
// start (a table expression, a raw join). Naming one there is refused unless
// the scope is global or the name is that tenant's own physical table: the
// plugin cannot rewrite raw SQL, and the name would resolve to the global
// copy. It is a lexical check, not a parser: a name assembled at run time
// escapes it.
func (p *Plugin) checkRaw(sc *scope, sqlText string, tablePosition bool) error {
	if sc != nil && sc.global || sqlText == "" {
		return nil
	}
	lx := lexer{s: sqlText, engine: p.engine}
	at, sawIndex := noTable, false
	if tablePosition {
		at = tableList
	}
	for {
		tok := lx.next()
		if tok.kind == tokEOF {
			return nil
		}
		if at != noTable {
			if err := p.checkTablesAt(&lx, tok, at, sc); err != nil {
				return err
			}
			at = noTable
			continue
		}
		switch {
		case tok.kind == tokPunct && tok.text == ";":
			sawIndex = false
		case tok.kind == tokWord:
			at = tablePositionAfter(tok.text, sawIndex)
			if strings.EqualFold(tok.text, "index") {
				sawIndex = true
			}
		}
	}
}

// position says what may follow a keyword: one table, a list of them, or a
// list in which a name followed by "(" is a function (FROM generate_series(...)).
type position uint8

const (
	noTable position = iota
	tableList
	tableListOrFunction
)

func tablePositionAfter(word string, sawIndex bool) position {
	switch {
	case oneOf(word, "FROM", "JOIN", "USING", "STRAIGHT_JOIN"):
		return tableListOrFunction
	case oneOf(word, "INTO", "UPDATE", "TABLE", "TABLES", "TRUNCATE", "REFERENCES"):
		return tableList
	case sawIndex && oneOf(word, "ON"):
		return tableList
	}
	return noTable
}

// oneOf reports whether word is one of the upper-case keywords, ignoring
// case, without allocating.
func oneOf(word string, keywords ...string) bool {
	for _, k := range keywords {
		if len(word) == len(k) && strings.EqualFold(word, k) {
			return true
		}
	}
	return false
}

// checkTablesAt reads the table (or tables) starting with tok and checks each.
func (p *Plugin) checkTablesAt(lx *lexer, tok token, at position, sc *scope) error {
	for {
		switch {
		case tok.kind == tokPunct && (tok.text == "(" || tok.text == ","):
			tok = lx.next()
			continue
		case tok.kind == tokWord && isTableModifier(tok.text):
			tok = lx.next()
			continue
		case tok.kind == tokWord && isSubqueryStart(tok.text):
			return nil // its own FROM is checked as the scan goes on
		}
		qualifier, table, ok := readTableName(lx, tok)
		if !ok {
			return nil
		}
		if next := lx.peek(); at == tableListOrFunction && next.kind == tokPunct && next.text == "(" && qualifier == "" {
			return nil // a function call, not a table
		}
		if err := p.checkRawTable(sc, qualifier, table); err != nil {
			return err
		}
		// An alias, then possibly another table of the list.
		next := lx.peek()
		if next.kind == tokWord && strings.EqualFold(next.text, "as") {
			lx.next()
			lx.next()
			next = lx.peek()
		} else if next.kind == tokQuoted || next.kind == tokWord && !isClauseKeyword(next.text) {
			lx.next()
			next = lx.peek()
		}
		if next.kind != tokPunct || next.text != "," {
			return nil
		}
		lx.next()
		tok = lx.next()
	}
}

func (p *Plugin) checkRawTable(sc *scope, qualifier, table string) error {
	kind, name := p.tables.classify(table)
	if qualifier == "" && kind == tenantTable {
		st := &StatementError{Table: name, Err: ErrUnroutable,
			Detail: "raw SQL names it; use a model, a relation join or kirayedar.Table"}
		if sc != nil {
			st.Tenant = sc.tenant
		}
		return st
	}
	_, err := p.resolve(sc, qualifier, table)
	return err
}

func isTableModifier(w string) bool {
	return oneOf(w, "ONLY", "LATERAL", "IF", "NOT", "EXISTS", "IGNORE", "LOW_PRIORITY", "HIGH_PRIORITY", "DELAYED",
		"QUICK", "TABLE", "TEMPORARY", "TEMP", "UNLOGGED", "CONCURRENTLY", "OR", "REPLACE", "ABORT",
		"FAIL", "ROLLBACK", "NATURAL", "INNER", "OUTER", "LEFT", "RIGHT", "FULL", "CROSS", "JOIN")
}

func isSubqueryStart(w string) bool {
	return oneOf(w, "SELECT", "VALUES", "WITH", "SET", "DEFAULT")
}

func isClauseKeyword(w string) bool {
	return oneOf(w, "ON", "USING", "WHERE", "JOIN", "LEFT", "RIGHT", "INNER", "OUTER", "FULL", "CROSS", "NATURAL",
		"GROUP", "ORDER", "LIMIT", "OFFSET", "HAVING", "UNION", "EXCEPT", "INTERSECT", "SET", "VALUES",
		"SELECT", "WINDOW", "FOR", "RETURNING", "STRAIGHT_JOIN", "LATERAL", "PARTITION", "USE", "FORCE",
		"IGNORE", "DEFAULT", "ADD", "DROP", "ALTER", "RENAME", "CASCADE", "RESTRICT", "WITH", "AS")
}
