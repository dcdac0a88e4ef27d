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
	ctx := t.ctx
	if ctx == nil {
		ctx = stmt.Context
	}
	qualifier, table := splitQualified(t.Name)
	phys, err := p.resolve(scopeOf(ctx), qualifier, table)
	if err != nil {
		_ = stmt.AddError(err)
		return
	}
	if phys == nil {
		stmt.WriteQuoted(clause.Table{Name: t.Name})
		return
	}
	stmt.WriteString(phys.quoted)
}

// checkRaw looks for tenant tables named in a raw SQL fragment where only a
// table can stand (after FROM, JOIN, INTO, UPDATE, and in FROM lists; with
// tablePosition, also its first word). Naming one there is refused unless the
// scope is global or the name is already that tenant's own physical table:
// the plugin cannot rewrite raw SQL, and the name would resolve to the
// global copy.
func (p *Plugin) checkRaw(sc *scope, sqlText string, tablePosition bool) error {
	if sc != nil && sc.global {
		return nil
	}
	q := p.engine.QuoteChar()
	s := sqlText
	expectTable := tablePosition
	for len(s) > 0 {
		if expectTable {
			expectTable = false
			for {
				s = strings.TrimLeft(s, " \t\r\n")
				qualifier, table, rest := readQualified(s, q)
				if table == "" {
					break
				}
				if err := p.checkRawTable(sc, qualifier, table); err != nil {
					return err
				}
				s = skipAlias(rest, q)
				if !strings.HasPrefix(s, ",") {
					break
				}
				s = s[1:]
			}
			continue
		}
		c := s[0]
		switch {
		case c == '\'':
			s = skipQuoted(s, '\'')
		case c == q || c == '"' || c == '`':
			s = skipQuoted(s, c)
		case isIdentByte(c):
			i := 1
			for i < len(s) && isIdentByte(s[i]) {
				i++
			}
			expectTable = isTableKeyword(s[:i])
			s = s[i:]
		default:
			s = s[1:]
		}
	}
	return nil
}

func (p *Plugin) checkRawTable(sc *scope, qualifier, table string) error {
	if lower := strings.ToLower(table); lower != table && p.tables.lookup(lower) != unknownTable {
		table = lower // PostgreSQL folds unquoted names; be as strict everywhere
	}
	if qualifier == "" && p.tables.lookup(table) == tenantTable {
		st := &StatementError{Table: table, Err: ErrUnroutable,
			Detail: "raw SQL names it; use a model, a relation join or kirayedar.Table"}
		if sc != nil {
			st.Tenant = sc.tenant
		}
		return st
	}
	_, err := p.resolve(sc, qualifier, table)
	return err
}

func isTableKeyword(w string) bool {
	switch len(w) {
	case 4:
		return strings.EqualFold(w, "from") || strings.EqualFold(w, "join") || strings.EqualFold(w, "into")
	case 6:
		return strings.EqualFold(w, "update")
	}
	return false
}

// readQualified reads "table" or "schema.table", bare or quoted.
func readQualified(s string, q byte) (qualifier, table, rest string) {
	first, rest := nextIdent(s, q)
	if first == "" {
		return "", "", s
	}
	if strings.HasPrefix(rest, ".") {
		if second, after := nextIdent(rest[1:], q); second != "" {
			return first, second, after
		}
	}
	return "", first, rest
}

// skipAlias skips "[AS] alias" after a table unless the next word is a
// keyword that continues the statement.
func skipAlias(s string, q byte) string {
	t := strings.TrimLeft(s, " \t\r\n")
	word, rest := nextIdent(t, q)
	if word == "" {
		return t
	}
	if strings.EqualFold(word, "as") {
		t = strings.TrimLeft(rest, " \t\r\n")
		word, rest = nextIdent(t, q)
		if word == "" {
			return t
		}
	}
	if isClauseKeyword(word) {
		return t
	}
	return strings.TrimLeft(rest, " \t\r\n")
}

func isClauseKeyword(w string) bool {
	switch strings.ToLower(w) {
	case "on", "using", "where", "join", "left", "right", "inner", "outer", "full", "cross", "natural",
		"group", "order", "limit", "offset", "having", "union", "set", "values", "select", "window",
		"for", "returning", "straight_join", "lateral":
		return true
	}
	return false
}

func skipQuoted(s string, q byte) string {
	for i := 1; i < len(s); i++ {
		if s[i] == q {
			if i+1 < len(s) && s[i+1] == q { // doubled quote
				i++
				continue
			}
			return s[i+1:]
		}
	}
	return ""
}
