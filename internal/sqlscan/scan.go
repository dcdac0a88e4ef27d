// Package sqlscan finds the tables a piece of SQL names, for one engine.
//
// It is a reader, not a parser: it follows the structure of the statements
// whose table positions it knows (SELECT, VALUES, TABLE, WITH, INSERT,
// REPLACE, UPDATE, DELETE) closely enough to account for every name that
// stands where a table may: FROM lists with their joins, derived tables,
// table functions, aliases and engine-specific suffixes, subqueries wherever
// an expression may hold one, CTEs with their scope, write targets. Where it
// meets a form it does not know in such a statement it stops and says where
// (an *Error): a check built on it refuses what it cannot read, it never
// passes it. Statements of any other kind (DDL, SET, CALL, ...) are not read
// structurally: every name in them is reported as a Loose reference, one that
// may or may not be a table.
//
// The package knows nothing of GORM or of tenants; what a reference means is
// its caller's policy.
package sqlscan

import (
	"fmt"
	"strings"

	"github.com/kirayedar/kirayedar/dialect"
)

// Mode says where a piece of SQL stands.
type Mode uint8

const (
	// Statements is SQL as it is sent: one or more whole statements.
	Statements Mode = iota
	// Fragment is a piece of a statement that stands where an expression or
	// a clause may (a Where, Select or Order string, a subquery's text). A
	// fragment that starts like a statement is read as one. What the reader
	// cannot place in a fragment is skipped, not refused: the statement the
	// fragment ends up in is read again, whole, when it is sent.
	Fragment
	// TableList is a piece that stands where a FROM list goes on: a table
	// expression ("posts p", "(SELECT ...) AS x") or a join string
	// ("JOIN comments c ON ...", ", labels l"). It is read leniently, as
	// Fragment is.
	TableList
)

// Ref is one name the SQL gives a table.
type Ref struct {
	// Qualifier is the schema or database the name is qualified with ("" if
	// none); for a three-part name, the middle part.
	Qualifier string
	// Name is the table's name, unquoted.
	Name string
	// Pos and End are the byte span of the whole reference, quotes and
	// qualifier included.
	Pos, End int
	// Loose marks a name in a statement the reader does not follow (DDL,
	// SET, CALL, ...): it may be a table, a column or anything else.
	Loose bool
	// Item marks a table of a FROM list or join, or an UPDATE or DELETE
	// target, where an alias may follow; Aliased says one does. An INSERT
	// target is not an item.
	Item, Aliased bool
}

// Error says which part of the SQL the reader could not read.
type Error struct {
	Pos    int    // byte offset of the token it stopped at
	Near   string // that token
	Reason string // what it expected there
}

func (e *Error) Error() string {
	if e.Near == "" {
		return fmt.Sprintf("at byte %d: %s", e.Pos, e.Reason)
	}
	return fmt.Sprintf("%s at byte %d (%q)", e.Reason, e.Pos, e.Near)
}

// maxDepth bounds the nesting of parentheses and subqueries the reader
// follows.
const maxDepth = 200

// Scanner reads SQL and reports its table references. Its buffers are reused
// from one Scan to the next: a Scanner is not safe for concurrent use, and the
// refs a Scan returns are valid until the next Scan.
type Scanner struct {
	refs []Ref
	ctes []string // CTE names in scope, innermost last
	// cteFloor hides the CTEs below it: MariaDB resolves a name inside a
	// CTE's body to the table, not to a CTE of an enclosing WITH.
	cteFloor int
	// noCTE: the names being read are write targets, which a CTE never is.
	noCTE   bool
	aliases []string // aliases defined by the FROM list being read
	lx      lexer
	tok     token   // the next token, not consumed yet
	kwc     keyword // its keyword
	depth   int
	err     *Error
}

// Scan reads sql for engine and returns the table references it names. The
// error is an *Error when a statement the reader follows holds a form it does
// not know; the references found before it are returned with it.
func (s *Scanner) Scan(sql string, engine dialect.Engine, mode Mode) ([]Ref, error) {
	s.refs, s.ctes, s.aliases = s.refs[:0], s.ctes[:0], s.aliases[:0]
	s.lx = lexer{s: sql, engine: engine}
	s.depth, s.err = 0, nil
	s.advance()
	switch mode {
	case Statements:
		s.statements()
	case TableList:
		s.tableListFragment()
	default:
		s.fragment()
	}
	if s.err != nil {
		return s.refs, s.err
	}
	return s.refs, nil
}

// ------------------------------------------------------------ tokens

// advance moves to the next token.
func (s *Scanner) advance() {
	s.lx.nextInto(&s.tok)
	s.kwc = kwNone
	if s.tok.kind == tokWord {
		s.kwc = keywordOf(s.tok.text)
	}
}

// take returns the next token and moves past it.
func (s *Scanner) take() token {
	t := s.tok
	s.advance()
	return t
}

// peek2 is the token after the next one.
func (s *Scanner) peek2() token { return s.lx.peek() }

func (s *Scanner) kw() keyword { return s.kwc }

func (s *Scanner) at(punct string) bool { return s.tok.is(punct) }

func (s *Scanner) atEnd() bool { return s.tok.kind == tokEOF }

// fail records the first error; every reader returns once one is set.
func (s *Scanner) fail(reason string) {
	if s.err == nil {
		s.err = &Error{Pos: s.tok.pos, Near: s.tok.text, Reason: reason}
	}
}

func (s *Scanner) failed() bool { return s.err != nil }

func (s *Scanner) expect(punct, where string) {
	if s.at(punct) {
		s.advance()
		return
	}
	s.fail("expected " + punct + " " + where)
}

// enter and leave bound the reader's recursion.
func (s *Scanner) enter() bool {
	s.depth++
	if s.depth > maxDepth {
		s.fail("nested too deeply")
		return false
	}
	return !s.failed()
}

func (s *Scanner) leave() { s.depth-- }

// isName reports whether t can name a table: a word, a quoted identifier or,
// on SQLite, a string.
func (s *Scanner) isName(t token) bool {
	return t.isName() || t.kind == tokString && s.lx.engine == dialect.SQLite
}

// ------------------------------------------------------------ statements

func (s *Scanner) statements() {
	for !s.failed() {
		switch {
		case s.atEnd():
			return
		case s.at(";"):
			s.advance()
			continue
		}
		s.statement()
		if s.failed() {
			return
		}
		if !s.atEnd() && !s.at(";") {
			s.fail("cannot read this after the end of a statement")
		}
	}
}

// statement reads one statement: one the reader follows, or any other kind
// loosely.
func (s *Scanner) statement() {
	if !s.enter() {
		return
	}
	defer s.leave()
	switch k := s.kw(); {
	case k == kwSelect || k == kwWith || k == kwValues || k == kwTable || s.at("("):
		s.query()
	case k == kwInsert, k == kwReplace && !s.peek2().is("("):
		s.insert()
	case k == kwUpdate:
		s.update()
	case k == kwDelete:
		s.delete()
	default:
		s.loose()
	}
}

// loose reports every name up to the end of the statement as a Loose
// reference: each name alone and each pair of a dotted name ("a.b.c" gives
// a, a.b and b.c), since any of them may be a table.
func (s *Scanner) loose() {
	depth := 0
	for !s.atEnd() {
		switch {
		case s.at(";") && depth == 0:
			return
		case s.at("("):
			depth++
		case s.at(")"):
			depth--
		case s.isName(s.tok):
			first := s.take()
			s.looseRef("", first, first)
			prev := first
			for s.at(".") {
				s.advance()
				if !s.isName(s.tok) {
					break
				}
				part := s.take()
				s.looseRef(prev.text, prev, part)
				prev = part
			}
			continue
		}
		s.advance()
	}
}

func (s *Scanner) looseRef(qualifier string, from, to token) {
	s.refs = append(s.refs, Ref{Qualifier: qualifier, Name: to.text, Pos: from.pos, End: to.end, Loose: true})
}

// query reads [WITH ...] body {set-operator body} and what follows them.
func (s *Scanner) query() {
	if !s.enter() {
		return
	}
	defer s.leave()
	mark := len(s.ctes)
	defer func() { s.ctes = s.ctes[:mark] }()
	if s.kw() == kwWith {
		s.advance()
		s.with()
		switch s.kw() { // PostgreSQL and MySQL 8: WITH ... INSERT / UPDATE / DELETE
		case kwInsert, kwReplace:
			s.insert()
			return
		case kwUpdate:
			s.update()
			return
		case kwDelete:
			s.delete()
			return
		}
	}
	for !s.failed() {
		s.queryTerm()
		switch s.kw() {
		case kwUnion, kwIntersect, kwExcept:
			s.advance()
			if k := s.kw(); k == kwDistinct || s.tok.kind == tokWord && strings.EqualFold(s.tok.text, "all") {
				s.advance()
			}
			continue
		}
		return
	}
}

// queryTerm reads SELECT ..., VALUES ..., TABLE name or ( query ), with the
// clauses that follow it at its level.
func (s *Scanner) queryTerm() {
	switch s.kw() {
	case kwSelect:
		s.advance()
		s.selectModifiers()
		s.clauses()
	case kwValues:
		s.advance()
		s.clauses()
	case kwTable:
		s.advance()
		s.tableName(true)
		s.clauses()
	default:
		if !s.at("(") {
			s.fail("expected SELECT, VALUES, TABLE or ( here")
			return
		}
		s.advance()
		s.parenthesised()
		s.expect(")", "to close a parenthesised query")
		s.clauses() // (SELECT ...) ORDER BY ... LIMIT ...
	}
}

// parenthesised reads what stands inside parentheses where a query must.
func (s *Scanner) parenthesised() {
	switch s.kw() {
	case kwInsert, kwReplace:
		s.insert()
	case kwUpdate:
		s.update()
	case kwDelete:
		s.delete()
	default:
		s.query()
	}
}

// selectModifiers skips DISTINCT [ON (...)], ALL and MySQL's modifiers, one
// of which (STRAIGHT_JOIN) would otherwise read as a join.
func (s *Scanner) selectModifiers() {
	for {
		switch k := s.kw(); {
		case k == kwDistinct:
			s.advance()
			if s.kw() == kwOn && s.peek2().is("(") {
				s.advance()
				s.advance()
				s.group()
			}
		case k == kwStraightJoin, k == kwModifier,
			s.tok.kind == tokWord && (strings.EqualFold(s.tok.text, "all") || strings.EqualFold(s.tok.text, "distinctrow") ||
				len(s.tok.text) > 4 && strings.EqualFold(s.tok.text[:4], "sql_")):
			s.advance()
		default:
			return
		}
	}
}

// with reads a WITH list, putting each CTE's name in scope: after its body,
// or before it under RECURSIVE, where a CTE may name itself.
func (s *Scanner) with() {
	recursive := s.kw() == kwRecursive
	if recursive {
		s.advance()
	}
	if s.lx.engine == dialect.MySQL {
		floor := s.cteFloor
		s.cteFloor = len(s.ctes)
		defer func() { s.cteFloor = floor }()
	}
	for !s.failed() {
		if !s.isName(s.tok) {
			s.fail("expected the name of a common table expression")
			return
		}
		name := s.take()
		if s.at("(") { // its column names
			s.advance()
			s.group()
		}
		if s.kw() != kwAs {
			s.fail("expected AS after the name of a common table expression")
			return
		}
		s.advance()
		if s.kw() == kwNot {
			s.advance()
		}
		if s.kw() == kwMaterialized {
			s.advance()
		}
		if recursive {
			s.ctes = append(s.ctes, s.fold(name))
		}
		s.expect("(", "to open the body of a common table expression")
		s.parenthesised()
		s.expect(")", "to close the body of a common table expression")
		if !recursive {
			s.ctes = append(s.ctes, s.fold(name))
		}
		if !s.at(",") {
			return
		}
		s.advance()
	}
}

// fold is a name as the engine compares it to a CTE's: PostgreSQL folds
// unquoted names to lower case, SQLite ignores case, MySQL's comparison is
// taken as exact (a mismatch only makes the reader treat a CTE as a table).
func (s *Scanner) fold(t token) string {
	switch {
	case s.lx.engine == dialect.SQLite, s.lx.engine == dialect.Postgres && t.kind == tokWord:
		return strings.ToLower(t.text)
	}
	return t.text
}

func (s *Scanner) isCTE(t token) bool {
	if s.noCTE || len(s.ctes) <= s.cteFloor {
		return false
	}
	name := s.fold(t)
	for _, c := range s.ctes[s.cteFloor:] {
		if c == name {
			return true
		}
	}
	return false
}

// clauses reads the rest of a SELECT, UPDATE, DELETE or VALUES at one level:
// expressions, FROM lists and INTO targets, up to a token that ends the
// level (a set operator, ON of an upsert, ")", ";" or the end), which it
// leaves for its caller.
func (s *Scanner) clauses() {
	commas := true // whether a top-level comma may stand in the current clause
	for !s.failed() {
		s.expr(false, commas)
		switch k := s.kw(); k {
		case kwFrom:
			s.advance()
			s.fromList()
			if !s.failed() && !s.endsFromList() {
				s.fail("cannot read this after a FROM list")
			}
			commas = true
		case kwInto:
			s.advance()
			s.into()
		case kwWhere, kwHaving:
			s.advance()
			commas = false
		case kwGroup, kwOrder, kwWindow, kwLimit, kwOffset, kwFetch, kwSet, kwReturning:
			s.advance()
			commas = true
		case kwLock: // MySQL: LOCK IN SHARE MODE
			s.advance()
			commas = false
		case kwFor:
			if !s.lockingClause() {
				s.fail("cannot read FOR here (only FOR UPDATE, FOR SHARE and their kin)")
				return
			}
		case kwUnion, kwIntersect, kwExcept, kwOn:
			return
		default:
			if s.at(")") || s.at(";") || s.atEnd() {
				return
			}
			if s.at(",") {
				s.fail("cannot read a comma here")
				return
			}
			s.fail("cannot read this here")
			return
		}
	}
}

// lockingClause reads FOR UPDATE, FOR NO KEY UPDATE, FOR SHARE, FOR KEY
// SHARE (with OF, NOWAIT and SKIP LOCKED left to the expression reader).
func (s *Scanner) lockingClause() bool {
	switch keywordOf(s.peek2().text) {
	case kwUpdate, kwShare, kwNo, kwKey:
		s.advance()
		s.advance()
		return true
	}
	return false
}

// endsFromList reports whether the next token may end a FROM list.
func (s *Scanner) endsFromList() bool {
	switch s.kw() {
	case kwWhere, kwGroup, kwHaving, kwWindow, kwOrder, kwLimit, kwOffset, kwFetch, kwFor, kwLock,
		kwUnion, kwIntersect, kwExcept, kwReturning, kwSet, kwInto, kwOn:
		return true
	}
	return s.at(")") || s.at(";") || s.atEnd()
}

// into reads the target of SELECT ... INTO: a new table on PostgreSQL,
// variables or a file on MySQL.
func (s *Scanner) into() {
	for s.kw() == kwTemporary || s.kw() == kwTable {
		s.advance()
	}
	if s.at("@") || s.tok.kind == tokWord && (strings.EqualFold(s.tok.text, "outfile") || strings.EqualFold(s.tok.text, "dumpfile")) {
		return // the expression reader takes variables and file names
	}
	s.tableName(false)
}

// ------------------------------------------------------------ expressions

// expr reads an expression, or a list of them, up to a word that starts a
// clause, a join or a statement, or to ")", ";", the end, and (when commas
// is false) a top-level comma. Parentheses are read by group. In a FROM
// list's join condition (inJoin), a comma or a join word ends it too.
func (s *Scanner) expr(inJoin, commas bool) {
	var prev, prev2 keyword // the last two keywords, for IS [NOT] DISTINCT FROM and WITHIN GROUP
	for !s.failed() {
		switch s.tok.kind {
		case tokEOF:
			return
		case tokPunct:
			switch s.tok.text {
			case ")", ";":
				return
			case ",":
				if inJoin || !commas {
					return
				}
			case "(":
				s.advance()
				s.group()
				prev, prev2 = kwNone, prev
				continue
			case ".":
				s.advance()
				if s.tok.isName() || s.at("*") {
					s.advance() // a name after a dot is never a keyword: p.order
				}
				prev, prev2 = kwNone, prev
				continue
			}
		case tokWord:
			k := s.kw()
			if s.stopsExpr(k, prev, prev2) {
				return
			}
			prev, prev2 = k, prev
			s.advance()
			if k == kwReferences && s.isName(s.tok) { // a foreign key's table
				s.tableName(false)
			}
			continue
		}
		prev, prev2 = kwNone, prev
		s.advance()
	}
}

// stopsExpr reports whether the word k (after the keywords prev2 prev) ends
// an expression at a statement's level.
func (s *Scanner) stopsExpr(k, prev, prev2 keyword) bool {
	switch k {
	case kwFrom:
		return !(prev == kwDistinct && (prev2 == kwIs || prev2 == kwNot))
	case kwGroup:
		return prev != kwWithin
	case kwInto, kwWhere, kwHaving, kwWindow, kwOrder, kwLimit, kwOffset, kwFetch, kwFor, kwLock,
		kwUnion, kwIntersect, kwExcept, kwReturning, kwSet, kwOn, kwJoin, kwStraightJoin,
		kwSelect, kwTable:
		return true
	case kwUsing: // PostgreSQL's ORDER BY x USING < is an operator
		return s.peek2().kind != tokPunct || s.peek2().is("(")
	case kwInner, kwCross, kwNatural, kwOuter, kwLeft, kwRight, kwFull:
		// LEFT(s, 1) and RIGHT(s, 1) are functions
		return !s.peek2().is("(")
	}
	return false
}

// group reads what follows "(" in an expression, up to and including its
// ")": a subquery, or an expression group (function arguments, a row, a
// parenthesised expression) in which any query that begins is read as one.
// Inside a group FROM, FOR and IN are the syntax of functions such as
// EXTRACT(YEAR FROM d), not clauses.
func (s *Scanner) group() {
	if !s.enter() {
		return
	}
	defer s.leave()
	if s.startsQuery() {
		s.parenthesised()
		if !s.failed() && !s.at(")") {
			s.fail("cannot read this inside a parenthesised query")
			return
		}
		s.advance()
		return
	}
	for !s.failed() {
		switch {
		case s.atEnd():
			return
		case s.at(")"):
			s.advance()
			return
		case s.at("("):
			s.advance()
			s.group()
			continue
		case s.at("."):
			s.advance()
			if s.tok.isName() {
				s.advance()
			}
			continue
		}
		switch s.kw() {
		case kwSelect: // ((SELECT ...) UNION SELECT ...)
			s.query()
			continue
		case kwTable:
			if s.isName(s.peek2()) {
				s.query()
				continue
			}
		case kwUnion, kwIntersect, kwExcept:
			s.advance()
			if s.kw() == kwTable || s.kw() == kwValues {
				s.query()
			}
			continue
		}
		s.advance()
	}
}

// startsQuery reports whether the next token starts a query or a statement
// that may stand in parentheses (a CTE body, a subquery).
func (s *Scanner) startsQuery() bool {
	switch s.kw() {
	case kwSelect, kwWith, kwValues:
		return true
	case kwTable:
		return s.isName(s.peek2())
	case kwInsert, kwUpdate, kwDelete:
		return true
	}
	return false
}

// ------------------------------------------------------------ FROM lists

// fromList reads table items separated by commas and joins, with their join
// conditions, up to a token that cannot continue the list.
func (s *Scanner) fromList() { s.joinedList(false) }

// joinedList is fromList whose first item was joined (a fragment that
// starts with JOIN) when joined is set.
func (s *Scanner) joinedList(joined bool) {
	if !s.enter() {
		return
	}
	defer s.leave()
	// joined: the item just read was joined (JOIN b), so USING (...) lists
	// columns; after any other, tables (DELETE ... USING).
	for !s.failed() {
		s.fromItem()
	joins:
		if s.failed() {
			return
		}
		switch k := s.kw(); {
		case s.at(","):
			s.advance()
			joined = false
			continue
		case s.joinWords():
			joined = true
			continue
		case k == kwOn:
			if p := keywordOf(s.peek2().text); p == kwConflict || p == kwDuplicate {
				return // INSERT ... SELECT ... FROM t ON CONFLICT / ON DUPLICATE KEY
			}
			s.advance()
			s.expr(true, false)
			goto joins
		case k == kwUsing:
			s.advance()
			if joined && s.at("(") { // JOIN b USING (columns)
				s.advance()
				s.group()
				goto joins
			}
			joined = false
			continue // DELETE ... USING tables, (tables) or (a JOIN b ...)
		}
		return
	}
}

// joinWords consumes [NATURAL] [LEFT|RIGHT|FULL|INNER|CROSS] [OUTER] JOIN or
// STRAIGHT_JOIN and reports whether it did.
func (s *Scanner) joinWords() bool {
	if s.kw() == kwStraightJoin {
		s.advance()
		return true
	}
	start := s.tok
	saved := s.lx
	for {
		switch s.kw() {
		case kwNatural, kwLeft, kwRight, kwFull, kwInner, kwCross, kwOuter:
			s.advance()
			continue
		case kwJoin:
			s.advance()
			return true
		}
		break
	}
	s.tok, s.lx = start, saved // not a join after all
	return false
}

// fromItem reads one table item: [LATERAL] [ONLY] a table name, a table
// function, a derived table or a parenthesised join, with its suffixes.
func (s *Scanner) fromItem() {
	for s.kw() == kwLateral || s.kw() == kwOnly {
		s.advance()
	}
	switch {
	case s.at("("):
		s.advance()
		if s.startsQuery() {
			s.parenthesised()
		} else {
			s.fromList() // (a JOIN b ON ...), (posts)
		}
		if s.failed() {
			return
		}
		if !s.at(")") {
			s.fail("cannot read this inside a parenthesised FROM item")
			return
		}
		s.advance()
	case s.at("?"), s.at("@") && s.peek2().kind == tokWord:
		// A placeholder in a fragment (?, @name): its value is checked on
		// its own.
		if s.take().is("@") {
			s.advance()
		}
	case s.isName(s.tok):
		switch s.kw() {
		case kwSelect, kwValues, kwWith:
			s.fail("expected a table, not a query without parentheses")
			return
		}
		n := len(s.refs)
		s.tableItem()
		if s.itemSuffix() && len(s.refs) == n+1 {
			s.refs[n].Aliased = true
		}
		return
	default:
		s.fail("expected a table here")
		return
	}
	s.itemSuffix()
}

// tableItem reads a name in a FROM list: a table, or a table function.
func (s *Scanner) tableItem() {
	first := s.tok
	ref, ok := s.dottedName()
	if !ok {
		return
	}
	if s.at("(") { // a table function: generate_series(...), JSON_TABLE(...)
		s.advance()
		s.group()
		return
	}
	if ref.Qualifier == "" && s.isCTE(first) {
		return
	}
	ref.Item = true
	s.refs = append(s.refs, ref)
}

// tableName reads a name where only a table may stand (INSERT INTO, TABLE,
// SELECT INTO, UPDATE and DELETE targets). With cte, a CTE's name is
// accepted as one (TABLE cte).
func (s *Scanner) tableName(cte bool) {
	if !s.isName(s.tok) {
		s.fail("expected a table here")
		return
	}
	first := s.tok
	ref, ok := s.dottedName()
	if !ok {
		return
	}
	if cte && ref.Qualifier == "" && s.isCTE(first) {
		return
	}
	s.refs = append(s.refs, ref)
}

// dottedName reads name [. name [. name]] (a trailing .* is MySQL's multi-table
// DELETE) and returns it as a reference.
func (s *Scanner) dottedName() (Ref, bool) {
	var parts [3]token
	parts[0] = s.take()
	n := 1
	for s.at(".") {
		if s.peek2().is("*") {
			break
		}
		s.advance()
		if n == len(parts) || !s.isName(s.tok) {
			s.fail("cannot read this name")
			return Ref{}, false
		}
		parts[n] = s.take()
		n++
	}
	ref := Ref{Name: parts[n-1].text, Pos: parts[0].pos, End: parts[n-1].end}
	if n > 1 {
		ref.Qualifier = parts[n-2].text
	}
	return ref, true
}

// itemSuffix reads what may follow a FROM item: an alias with its column
// names, PostgreSQL's * and TABLESAMPLE and WITH ORDINALITY, MySQL's
// PARTITION and index hints, SQLite's INDEXED BY and NOT INDEXED. It
// reports whether it read an alias.
func (s *Scanner) itemSuffix() (aliased bool) {
	for !s.failed() {
		switch k := s.kw(); {
		case s.at("*"):
			s.advance()
		case s.at(".") && s.peek2().is("*"): // DELETE t.* FROM ...
			s.advance()
			s.advance()
		case k == kwAs:
			s.advance()
			if !s.isName(s.tok) {
				s.fail("expected an alias after AS")
				return aliased
			}
			s.alias()
			aliased = true
		case s.tok.kind == tokQuoted, s.tok.kind == tokWord && !endsItem(k) && !aliased:
			s.alias()
			aliased = true
		case s.at("(") && aliased: // the alias's column names
			s.advance()
			s.group()
		case k == kwPartition && s.lx.engine == dialect.MySQL && s.peek2().is("("):
			s.advance()
			s.advance()
			s.group()
		case k == kwTablesample && s.lx.engine == dialect.Postgres:
			s.advance()
			if s.tok.kind != tokWord || !s.peek2().is("(") {
				s.fail("expected a sampling method and its arguments")
				return aliased
			}
			s.advance()
			s.advance()
			s.group()
			if s.kw() == kwRepeatable && s.peek2().is("(") {
				s.advance()
				s.advance()
				s.group()
			}
		case k == kwWith && keywordOf(s.peek2().text) == kwOrdinality:
			s.advance()
			s.advance()
		case (k == kwUse || k == kwForce || k == kwIgnore) && s.lx.engine == dialect.MySQL:
			s.indexHint()
		case s.at(",") && s.lx.engine == dialect.MySQL && s.indexHintFollows():
			s.advance()
		case k == kwIndexed && s.lx.engine == dialect.SQLite:
			s.advance()
			if s.tok.kind != tokWord || !strings.EqualFold(s.tok.text, "by") {
				s.fail("expected INDEXED BY")
				return aliased
			}
			s.advance()
			if !s.isName(s.tok) {
				s.fail("expected an index name after INDEXED BY")
				return aliased
			}
			s.advance()
		case k == kwNot && s.lx.engine == dialect.SQLite && keywordOf(s.peek2().text) == kwIndexed:
			s.advance()
			s.advance()
		default:
			return aliased
		}
	}
	return aliased
}

func (s *Scanner) alias() {
	t := s.take()
	if len(s.aliases) < 64 {
		s.aliases = append(s.aliases, t.text)
	}
}

// indexHint reads {USE|FORCE|IGNORE} {INDEX|KEY} [FOR {JOIN|ORDER BY|GROUP
// BY}] (index, ...).
func (s *Scanner) indexHint() {
	s.advance()
	if s.tok.kind != tokWord || !(strings.EqualFold(s.tok.text, "index") || strings.EqualFold(s.tok.text, "key")) {
		s.fail("expected INDEX or KEY in an index hint")
		return
	}
	s.advance()
	if s.kw() == kwFor {
		s.advance()
		for s.tok.kind == tokWord && !s.at("(") {
			s.advance() // JOIN, ORDER BY, GROUP BY
		}
	}
	if !s.at("(") {
		s.fail("expected the index list of an index hint")
		return
	}
	s.advance()
	s.group()
}

// indexHintFollows reports whether the comma here separates two index hints
// rather than two tables.
func (s *Scanner) indexHintFollows() bool {
	switch keywordOf(s.peek2().text) {
	case kwUse, kwForce, kwIgnore:
		return true
	}
	return false
}

// ------------------------------------------------------------ writes

// insert reads INSERT or REPLACE: its target, its source and an upsert's
// clauses.
func (s *Scanner) insert() {
	s.advance()
	for {
		switch k := s.kw(); {
		case k == kwModifier, k == kwIgnore, k == kwInto:
			s.advance()
			continue
		case k == kwOr: // SQLite: INSERT OR REPLACE / IGNORE / ...
			s.advance()
			s.advance()
			continue
		}
		break
	}
	s.tableName(false)
	if s.kw() == kwPartition && s.peek2().is("(") {
		s.advance()
		s.advance()
		s.group()
	}
	if s.kw() == kwAs && s.isName(s.peek2()) { // PostgreSQL, SQLite: INSERT INTO t AS alias
		s.advance()
		s.alias()
	}
	if s.at("(") && !s.startsQueryAfterParen() { // the column list
		s.advance()
		s.group()
	}
	switch s.kw() {
	case kwValues:
		s.advance()
	case kwDefault:
		s.advance()
		if s.kw() == kwValues {
			s.advance()
		}
	case kwSet:
		s.advance()
	case kwSelect, kwWith, kwTable:
		s.query()
	default:
		if s.at("(") {
			s.query()
		} else if s.tok.kind == tokWord && strings.EqualFold(s.tok.text, "value") {
			s.advance()
		} else {
			s.fail("expected VALUES, SELECT, SET or DEFAULT VALUES after the table of an INSERT")
			return
		}
	}
	for !s.failed() { // values, ON DUPLICATE KEY UPDATE, ON CONFLICT ... DO UPDATE SET ... WHERE, RETURNING
		s.clauses()
		if s.kw() != kwOn {
			return
		}
		s.advance()
	}
}

// startsQueryAfterParen reports whether "(" here opens a query (INSERT INTO
// t (SELECT ...)) rather than a column list.
func (s *Scanner) startsQueryAfterParen() bool {
	switch keywordOf(s.peek2().text) {
	case kwSelect, kwWith, kwValues:
		return s.peek2().kind == tokWord
	}
	return false
}

// update reads UPDATE: its tables (MySQL takes a whole FROM list there), SET,
// and PostgreSQL's FROM, WHERE and RETURNING.
func (s *Scanner) update() {
	s.advance()
	for {
		switch k := s.kw(); {
		case k == kwModifier, k == kwIgnore:
			s.advance()
			continue
		case k == kwOr:
			s.advance()
			s.advance()
			continue
		}
		break
	}
	mark := len(s.aliases)
	defer func() { s.aliases = s.aliases[:mark] }()
	noCTE := s.noCTE
	s.noCTE = true // the tables an UPDATE writes are never CTEs
	s.fromList()
	s.noCTE = noCTE
	if s.failed() {
		return
	}
	if s.kw() != kwSet {
		s.fail("expected SET after the tables of an UPDATE")
		return
	}
	s.clauses()
}

// delete reads DELETE: FROM list [USING list] and, on MySQL, the multi-table
// forms whose targets name tables of the FROM list, by name or alias.
func (s *Scanner) delete() {
	s.advance()
	for k := s.kw(); k == kwModifier || k == kwIgnore; k = s.kw() {
		s.advance()
	}
	mark := len(s.aliases)
	defer func() { s.aliases = s.aliases[:mark] }()
	var targets []Ref
	if s.kw() != kwFrom { // MySQL: DELETE t1, t2 FROM ...
		for !s.failed() {
			if !s.isName(s.tok) {
				s.fail("expected a table to delete from")
				return
			}
			ref, ok := s.dottedName()
			if !ok {
				return
			}
			if s.at(".") && s.peek2().is("*") {
				s.advance()
				s.advance()
			}
			targets = append(targets, ref)
			if !s.at(",") {
				break
			}
			s.advance()
		}
		if s.kw() != kwFrom {
			s.fail("expected FROM after the tables of a DELETE")
			return
		}
	}
	s.advance()
	noCTE := s.noCTE
	s.noCTE = true // nor are the tables a DELETE names
	first := len(s.refs)
	s.fromList()
	s.noCTE = noCTE
	if s.lx.engine == dialect.MySQL && len(targets) == 0 {
		// DELETE FROM t [, u] ...: MySQL takes no alias there.
		for i := first; i < len(s.refs); i++ {
			s.refs[i].Item = false
		}
	}
	for _, t := range targets {
		if t.Qualifier != "" || !s.isAlias(t.Name, mark) {
			s.refs = append(s.refs, t)
		}
	}
	if !s.failed() && !s.endsFromList() {
		s.fail("cannot read this after the tables of a DELETE")
		return
	}
	s.clauses()
}

func (s *Scanner) isAlias(name string, from int) bool {
	for _, a := range s.aliases[from:] {
		if strings.EqualFold(a, name) {
			return true
		}
	}
	return false
}

// ------------------------------------------------------------ fragments

// fragment reads a piece of a statement leniently: as statements if it starts
// like one, else as the clauses of a query; what it cannot place it skips.
func (s *Scanner) fragment() {
	for !s.atEnd() && s.err == nil {
		switch s.kw() {
		case kwSelect, kwWith, kwValues, kwInsert, kwUpdate, kwDelete:
			s.statement()
		case kwReplace:
			if s.peek2().is("(") {
				s.clauses()
			} else {
				s.statement()
			}
		case kwTable:
			if s.isName(s.peek2()) {
				s.statement()
			} else {
				s.advance()
			}
		case kwJoin, kwStraightJoin, kwInner, kwLeft, kwRight, kwFull, kwCross, kwNatural:
			if s.joinWords() {
				s.joinedList(true)
			} else {
				s.clauses()
			}
		case kwUnion, kwIntersect, kwExcept:
			s.advance()
			if s.kw() == kwDistinct || s.tok.kind == tokWord && strings.EqualFold(s.tok.text, "all") {
				s.advance()
			}
		case kwOn, kwUsing:
			s.advance()
		default:
			if loosely(s.tok) {
				s.statement()
				continue
			}
			before := s.tok.pos
			s.clauses()
			if s.err == nil && s.tok.pos == before && !s.atEnd() {
				s.advance() // a token the clauses stop at but cannot place
			}
		}
		if s.err != nil {
			// What a fragment cannot place is read again when the whole
			// statement is sent; here, go on past it.
			s.err = nil
			if !s.atEnd() {
				s.advance()
			}
		}
	}
}

// loosely reports whether t starts a statement that is only read loosely
// (DDL and its kin), so that a fragment made of one is checked name by name.
func loosely(t token) bool {
	if t.kind != tokWord {
		return false
	}
	for _, w := range looseStatements {
		if strings.EqualFold(t.text, w) {
			return true
		}
	}
	return false
}

var looseStatements = [...]string{"CREATE", "ALTER", "DROP", "TRUNCATE", "COPY", "LOCK", "RENAME", "GRANT",
	"REVOKE", "COMMENT", "MERGE", "ANALYZE", "VACUUM", "CLUSTER", "REINDEX", "CALL", "DO", "EXPLAIN", "LOAD",
	"HANDLER", "OPTIMIZE", "REPAIR", "CHECK"}

// tableListFragment reads a table expression or a join string.
func (s *Scanner) tableListFragment() {
	if s.at(",") {
		s.advance()
	}
	s.joinedList(s.joinWords())
	if s.err == nil && !s.atEnd() {
		s.clauses()
	}
	if s.err != nil || !s.atEnd() {
		// Read the rest as a fragment: it is read again, whole, when sent.
		s.err = nil
		s.fragment()
	}
}

// TableExpr reads a table expression that names exactly one table, "[q.]t
// [[AS] alias]", and returns its parts; ok is false for anything else (a
// subquery, a join, a list, placeholders, a leading keyword such as ONLY).
func TableExpr(sql string, engine dialect.Engine) (qualifier, table, alias string, ok bool) {
	lx := lexer{s: sql, engine: engine}
	first := lx.next()
	if !first.isName() && !(first.kind == tokString && engine == dialect.SQLite) {
		return "", "", "", false
	}
	if first.kind == tokWord {
		switch keywordOf(first.text) {
		case kwSelect, kwWith, kwValues, kwTable, kwInsert, kwReplace, kwUpdate, kwDelete, kwLateral, kwOnly,
			kwJoin, kwStraightJoin, kwInner, kwLeft, kwRight, kwFull, kwCross, kwNatural, kwOuter, kwSet,
			kwDefault, kwInto, kwNot, kwOr, kwTemporary, kwModifier, kwIgnore:
			return "", "", "", false
		}
	}
	parts := [3]string{first.text}
	n := 1
	tok := lx.next()
	for tok.is(".") {
		part := lx.next()
		if n == len(parts) || !part.isName() {
			return "", "", "", false
		}
		parts[n] = part.text
		n++
		tok = lx.next()
	}
	table = parts[n-1]
	if n > 1 {
		qualifier = parts[n-2]
	}
	if tok.kind == tokWord && keywordOf(tok.text) == kwAs {
		tok = lx.next()
		if !tok.isName() {
			return "", "", "", false
		}
	}
	if tok.kind == tokEOF {
		return qualifier, table, "", true
	}
	if tok.isName() && lx.next().kind == tokEOF {
		return qualifier, table, tok.text, true
	}
	return "", "", "", false
}
