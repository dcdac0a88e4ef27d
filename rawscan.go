package kirayedar

import (
	"strings"

	"github.com/kirayedar/kirayedar/dialect"
)

// rawScan walks a piece of SQL and checks every table it names where only a
// table can stand: after FROM, JOIN, USING, INTO, UPDATE, TABLE, TRUNCATE,
// REFERENCES, COPY, LOCK, MySQL's INSERT and REPLACE, CREATE INDEX ... ON and
// CREATE TABLE ... LIKE; in the lists after them, past derived tables and
// table functions (FROM (SELECT ...) s, comments); inside parentheses; and
// past ONLY or LATERAL. Names in expressions are left alone: EXTRACT(YEAR
// FROM d), IS DISTINCT FROM, ON DUPLICATE KEY UPDATE, and the names of CTEs
// the SQL defines. It is a lexical check, not a parser: a table name
// assembled inside the database (dynamic SQL in a function) escapes it.
type rawScan struct {
	p     *Plugin
	sc    *scope
	marks *rawMarks
	lx    lexer
	// scoped: unqualified tenant tables resolve to sc's tenant (a bound
	// transaction's search_path).
	scoped bool

	groups [32]groupKind // what each open parenthesis is
	depth  int

	last         token   // the last token
	prev1, prev2 keyword // the keywords of the last two words

	sawIndex, sawCreate bool
	// A CTE definition, WITH [RECURSIVE] name [(columns)] AS [[NOT]
	// MATERIALIZED] (...): 1 after WITH, 2 after its name, 3 after AS.
	cteState int
	cteDepth int
	cteName  string
	ctes     [8]string
	nctes    int
}

type groupKind uint8

const (
	groupPlain   groupKind = iota
	groupItem              // an item of a table list: a derived table or table function
	groupSpecial           // EXTRACT(...), SUBSTRING(...): FROM inside is not a table
	groupCTE               // the body of a CTE
)

// position says what may follow a keyword.
type position uint8

const (
	noTable position = iota
	tableList
	tableListOrFunction // a name followed by "(" is a function (generate_series(...))
)

// checkRaw checks sql under sc. With tablePosition, its first word is a
// table too (a table expression, a raw join).
func (p *Plugin) checkRaw(sc *scope, sql string, tablePosition bool) error {
	return p.checkRawMarked(sc, nil, sql, tablePosition)
}

func (p *Plugin) checkRawMarked(sc *scope, marks *rawMarks, sql string, tablePosition bool) error {
	return p.scanRaw(rawScan{p: p, sc: sc, marks: marks, lx: lexer{s: sql, engine: p.engine}}, tablePosition)
}

// checkRawScoped is checkRawMarked for SQL sent in a transaction; scoped
// says the transaction's search_path makes unqualified names resolve to the
// statement's tenant (Transaction), so tenant tables may be named unqualified.
func (p *Plugin) checkRawScoped(sc *scope, marks *rawMarks, sql string, scoped bool) error {
	return p.scanRaw(rawScan{p: p, sc: sc, marks: marks, scoped: scoped, lx: lexer{s: sql, engine: p.engine}}, false)
}

func (p *Plugin) scanRaw(r rawScan, tablePosition bool) error {
	if r.sc != nil && r.sc.global || r.lx.s == "" {
		return nil
	}
	if tablePosition {
		if err := r.tables(tableListOrFunction); err != nil {
			return err
		}
	}
	for {
		tok := r.lx.next()
		switch tok.kind {
		case tokEOF:
			return nil
		case tokPunct:
			switch tok.text {
			case "(":
				r.open(r.groupFor())
			case ")":
				if err := r.close(); err != nil {
					return err
				}
			case ";":
				r.sawIndex, r.sawCreate, r.cteState = false, false, 0
			default:
				if r.cteState >= 2 && r.depth == r.cteDepth {
					r.cteState = 0
				}
			}
		case tokWord:
			info := keywordOf(tok.text)
			if err := r.word(tok, info); err != nil {
				return err
			}
			r.last, r.prev2, r.prev1 = tok, r.prev1, info.kw
			continue
		}
		r.last = tok
	}
}

func (r *rawScan) remember(tok token) {
	r.last = tok
	if tok.kind == tokWord {
		r.prev2, r.prev1 = r.prev1, keywordOf(tok.text).kw
	}
}

func (r *rawScan) top() groupKind {
	if r.depth == 0 || r.depth > len(r.groups) {
		return groupPlain
	}
	return r.groups[r.depth-1]
}

func (r *rawScan) open(kind groupKind) {
	if r.depth < len(r.groups) {
		r.groups[r.depth] = kind
	}
	r.depth++
}

func (r *rawScan) groupFor() groupKind {
	if r.cteState == 2 && r.depth == r.cteDepth {
		return groupPlain // the CTE's column list
	}
	if r.cteState == 3 {
		r.cteState = 0
		if r.nctes < len(r.ctes) {
			r.ctes[r.nctes] = r.cteName
			r.nctes++
		}
		return groupCTE
	}
	if r.last.kind == tokWord && r.prev1 == kwSpecialFunc {
		return groupSpecial
	}
	return groupPlain
}

func (r *rawScan) close() error {
	if r.depth == 0 {
		return nil
	}
	kind := r.top()
	r.depth--
	switch kind {
	case groupItem:
		return r.afterItem()
	case groupCTE:
		if r.lx.peek().is(",") {
			r.lx.next()
			r.cteState = 1
		}
	}
	return nil
}

// word handles a word outside a table position.
func (r *rawScan) word(tok token, info keywordInfo) error {
	switch r.cteState {
	case 1:
		if info.kw != kwRecursive {
			r.cteName, r.cteState, r.cteDepth = tok.text, 2, r.depth
		}
		return nil
	case 2:
		if r.depth > r.cteDepth {
			return nil // its column list
		}
		if info.kw == kwAs {
			r.cteState = 3
			return nil
		}
		r.cteState = 0 // not a CTE after all (WITH TIME ZONE, WITH ORDINALITY, ...)
	case 3:
		if info.kw == kwNot || info.kw == kwMaterialized {
			return nil
		}
		r.cteState = 0
	}
	switch info.kw {
	case kwNone, kwOther:
		return nil
	case kwWith:
		r.cteState = 1
		return nil
	case kwIndex:
		r.sawIndex = true
	case kwCreate:
		r.sawCreate = true
	}
	if at := r.positionAfter(info.kw); at != noTable {
		r.last, r.prev2, r.prev1 = tok, r.prev1, info.kw
		return r.tables(at)
	}
	return nil
}

func (r *rawScan) positionAfter(kw keyword) position {
	switch kw {
	case kwFrom:
		if r.top() == groupSpecial || r.prev1 == kwDistinct && (r.prev2 == kwIs || r.prev2 == kwNot) {
			return noTable
		}
		return tableListOrFunction
	case kwJoin:
		return tableListOrFunction
	case kwUsing:
		if r.lx.peek().is("(") { // JOIN ... USING (column)
			return noTable
		}
		return tableListOrFunction
	case kwInto, kwTable, kwTruncate, kwReferences, kwCopy, kwLock:
		return tableList
	case kwUpdate:
		if r.prev1 == kwKey || r.prev1 == kwDo || r.prev1 == kwFor { // ON DUPLICATE KEY UPDATE, DO UPDATE, FOR UPDATE
			return noTable
		}
		return tableList
	case kwInsert:
		if r.lx.peek().is("(") { // the REPLACE() function
			return noTable
		}
		return tableList
	case kwOn:
		if r.sawIndex {
			return tableList
		}
	case kwLike:
		if r.sawCreate {
			return tableList
		}
	}
	return noTable
}

// tables reads the table, or list of tables, at a table position.
func (r *rawScan) tables(at position) error {
	for {
		tok := r.lx.peek()
		switch {
		case tok.is("("):
			r.lx.next()
			r.remember(tok)
			r.open(groupItem) // (comments) or (SELECT ...) s: the list goes on after it
			continue
		case tok.is(","):
			r.lx.next()
			continue
		case tok.kind == tokWord && keywordOf(tok.text).modifier:
			r.lx.next()
			r.remember(tok)
			continue
		case tok.kind == tokWord && keywordOf(tok.text).subquery:
			return nil // the main loop reads it
		case tok.isName() || tok.kind == tokString && r.p.engine == dialect.SQLite:
			r.lx.next()
			qualifier, table, _ := readTableName(&r.lx, tok)
			if at == tableListOrFunction && qualifier == "" && r.lx.peek().is("(") {
				open := r.lx.next()
				r.remember(open)
				r.open(groupItem) // a table function: its arguments are expressions
				return nil
			}
			if qualifier != "" || !r.isCTE(table) {
				if err := r.checkTable(qualifier, table); err != nil {
					return err
				}
			}
			return r.afterItem()
		}
		return nil
	}
}

// afterItem reads an item's alias and, after a comma, the next item.
func (r *rawScan) afterItem() error {
	next := r.lx.peek()
	if next.kind == tokWord && keywordOf(next.text).kw == kwAs {
		r.lx.next()
		r.lx.next()
		next = r.lx.peek()
	} else if next.kind == tokQuoted || next.kind == tokWord && !keywordOf(next.text).clause {
		r.lx.next()
		next = r.lx.peek()
	}
	if next.is(",") {
		r.lx.next()
		return r.tables(tableListOrFunction)
	}
	return nil
}

func (r *rawScan) isCTE(name string) bool {
	for _, c := range r.ctes[:r.nctes] {
		if strings.EqualFold(c, name) {
			return true
		}
	}
	return false
}

// checkTable refuses a table named where the plugin cannot route it: a tenant
// table by its neutral name, or another tenant's physical table. Tables that
// Table references or embedded subqueries wrote for other scopes (marks) are
// accepted for those scopes.
func (r *rawScan) checkTable(qualifier, table string) error {
	p := r.p
	kind, name := p.tables.classify(table)
	if qualifier == "" && kind == tenantTable {
		if r.marks != nil && r.marks.global || r.scoped {
			return nil
		}
		st := &StatementError{Table: name, Err: ErrUnroutable,
			Detail: "raw SQL names it; use a model, a relation join or kirayedar.Table"}
		if r.sc != nil {
			st.Tenant = r.sc.tenant
		}
		return st
	}
	_, err := p.resolve(r.sc, qualifier, table)
	if err != nil && r.marks != nil {
		for _, tenant := range r.marks.tenants {
			if _, again := p.resolve(&scope{tenant: tenant}, qualifier, table); again == nil {
				return nil
			}
		}
	}
	return err
}

// readTableName reads "table", "schema.table" or "database.schema.table",
// bare or quoted (or, on SQLite, a string), starting with tok; white space and
// comments around the dots are allowed, as the engines allow them.
func readTableName(lx *lexer, tok token) (qualifier, table string, ok bool) {
	if !tok.isName() && !(tok.kind == tokString && lx.engine == dialect.SQLite) {
		return "", "", false
	}
	parts := [3]string{tok.text}
	n := 1
	for n < len(parts) && lx.peek().is(".") {
		lx.next()
		part := lx.next()
		if !part.isName() {
			return "", "", false
		}
		parts[n] = part.text
		n++
	}
	if n == 1 {
		return "", parts[0], true
	}
	return parts[n-2], parts[n-1], true
}
