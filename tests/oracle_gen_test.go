package tests

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"strings"
)

// The statement generator of TestScanOracle: random SQL from a small grammar
// of the forms the engines accept where a table can stand (FROM lists, every
// join form, derived tables, subselects, CTEs, set operations, engine table
// suffixes, multi-table writes), naming tables of every kind in every quoting.
// A statement is built as a small tree, so that a failing one can be shrunk
// to the smallest form that still fails (shrink), and rendered to SQL only at
// the end (sqlWriter).

// sqlWorld is what the generator knows of one target: the engine, how a
// tenant's tables are named, and which tables exist.
type sqlWorld struct {
	engine string // "postgres", "mysql" or "sqlite"
	// schemaTenants: each tenant has a schema or database of its own
	// (schema and session strategies); otherwise tenant tables are prefixed.
	schemaTenants bool
	// session: unqualified names resolve in the statement's tenant first.
	session          bool
	global           string // the schema or database of global tables
	tenantA, tenantB string
	tenantTables     []string
	globalTables     []string
	// partitioned is, on MySQL, a partitioned global table of the test's own
	// (PARTITION (p0) needs one); "" elsewhere.
	partitioned string
	// indexes are, on SQLite, each physical table's indexes (INDEXED BY).
	indexes map[string][]string
}

// nameClass is the table a generated name is meant to reach. The generator
// only aims: the database decides what a name resolves to.
type nameClass uint8

const (
	classA           nameClass = iota // tenant A's physical table
	classB                            // tenant B's physical table
	classGlobalCopy                   // the global copy of a tenant table
	classGlobal                       // a global model's table
	classCTE                          // a CTE in scope
	classUnknown                      // a table that does not exist
	classPartitioned                  // sqlWorld.partitioned
)

var classCodes = [...]string{classA: "A", classB: "B", classGlobalCopy: "G", classGlobal: "M",
	classCTE: "C", classUnknown: "U", classPartitioned: "P"}

// quoteStyle is how one identifier is written.
type quoteStyle uint8

const (
	quoteBare    quoteStyle = iota // posts
	quoteUpper                     // POSTS
	quoteDouble                    // "posts"
	quoteBack                      // `posts`
	quoteBracket                   // [posts] (SQLite)
	quoteString                    // 'posts' (SQLite takes a string as a name)
	quoteUnicode                   // U&"\0070osts" (PostgreSQL)
)

var quoteCodes = [...]string{quoteBare: "", quoteUpper: "^", quoteDouble: `"`, quoteBack: "`",
	quoteBracket: "[", quoteString: "'", quoteUnicode: "U&"}

func quoteIdent(name string, st quoteStyle) string {
	switch st {
	case quoteUpper:
		return strings.ToUpper(name)
	case quoteDouble:
		return `"` + name + `"`
	case quoteBack:
		return "`" + name + "`"
	case quoteBracket:
		return "[" + name + "]"
	case quoteString:
		return "'" + name + "'"
	case quoteUnicode:
		return fmt.Sprintf(`U&"\%04x%s"`, name[0], name[1:])
	}
	return name
}

// The statement tree.

// genStmt is one generated statement: a query or a write.
type genStmt struct {
	q *selectStmt
	w *write
}

// selectStmt is a SELECT: [WITH ...] SELECT ... FROM ... [WHERE ...] [UNION ...].
type selectStmt struct {
	with      []*cte
	recursive bool
	distinct  bool
	star      bool        // SELECT *; otherwise one column, named id
	scalar    *selectStmt // a scalar subselect in the select list
	from      []*elem
	where     *cond
	setOp     string      // UNION, UNION ALL, EXCEPT, INTERSECT
	next      *selectStmt // the set operation's right arm (no WITH of its own)
}

// cte is one WITH name [(id)] AS [[NOT] MATERIALIZED] (body).
type cte struct {
	name string
	cols bool
	mat  string
	body *selectStmt
}

// elem is one item of a FROM list and how it is joined to what precedes it.
type elem struct {
	sep     string // "" for the first, "," or a join keyword
	on      *cond
	using   bool
	it      *item
	exec    bool // MySQL: the separator and item in an executable comment /*! ... */
	comment bool // a comment before the item
}

type itemKind uint8

const (
	itemTable   itemKind = iota
	itemDerived          // (SELECT ...) alias
	itemParen            // (a JOIN b ON ...)
	itemFunc             // a table function
	itemValues           // (VALUES (1)) v(id)
)

// item is one table reference in a FROM list.
type item struct {
	kind      itemKind
	ref       *tableRef
	only      bool   // PostgreSQL: ONLY name
	star      bool   // PostgreSQL: name *
	partition bool   // MySQL: PARTITION (p0)
	sample    string // PostgreSQL: TABLESAMPLE ...
	hint      string // MySQL: USE INDEX (...) and the like
	indexed   string // SQLite: INDEXED BY ... / NOT INDEXED
	lateral   bool
	sub       *selectStmt
	inner     []*elem
	alias     string // as written, quoted or not; "" for none
	asKw      bool   // AS before the alias
	colAlias  bool   // alias (c1): renames the first column
}

// tableRef is a table name as written.
type tableRef struct {
	class  nameClass
	base   string // the tenant-neutral name: posts, plans, ...
	name   string // the name part, unquoted: a_posts under the prefix strategy
	qual   string // the qualifier, unquoted; "" for none
	nStyle quoteStyle
	qStyle quoteStyle
	dot    string
}

type condKind uint8

const (
	condIn        condKind = iota // x.id IN (sub)
	condExists                    // EXISTS (sub)
	condNotExists                 // NOT EXISTS (sub)
	condScalar                    // x.id = (sub)
	condCmp                       // x.id > 0
	condEq                        // ON prev.id = x.id
	condTrue                      // ON 1 = 1
)

type cond struct {
	kind condKind
	sub  *selectStmt
	or   *cond
}

type writeKind uint8

const (
	writeUpdate writeKind = iota
	writeDelete
	writeInsert
)

// write is an UPDATE, DELETE or INSERT ... SELECT in the engine's forms.
type write struct {
	kind writeKind
	verb string // UPDATE, UPDATE OR IGNORE, INSERT INTO, REPLACE INTO, ...
	with []*cte
	// target is the written table (UPDATE, DELETE FROM, INSERT INTO); on
	// MySQL a multi-table UPDATE lists several, with joins, in targets.
	target  *item
	targets []*elem
	// from is PostgreSQL's and SQLite's UPDATE ... FROM, PostgreSQL's
	// DELETE ... USING and MySQL's multi-table DELETE list.
	from []*elem
	// delForm is MySQL's DELETE form: 0 DELETE FROM t, 1 DELETE t1[, t2]
	// FROM list, 2 DELETE FROM t1[, t2] USING list; delRefs how many of the
	// list's first tables are deleted from.
	delForm, delRefs int
	where            *cond
	source           *selectStmt
	onConflict       bool
}

// The generator.

type generator struct {
	w        *sqlWorld
	r        *rand.Rand
	noTenant bool // the statement runs without a tenant: mostly global tables
	// forbiddenLeft is how many more names may aim at a table the statement
	// may not reach. Few per statement, so that one where the check does not
	// look is not hidden by another where it does.
	forbiddenLeft int
	depth         int
	scope         []string // the CTE names visible here
	nalias        int
}

func newGenerator(w *sqlWorld, r *rand.Rand, noTenant bool) *generator {
	g := &generator{w: w, r: r, noTenant: noTenant}
	g.forbiddenLeft = pick(g, 0, 1, 1, 1, 1, 2, 2)
	return g
}

func (g *generator) pct(p int) bool { return g.r.IntN(100) < p }

func pick[T any](g *generator, xs ...T) T { return xs[g.r.IntN(len(xs))] }

// statement generates one statement.
func (g *generator) statement() *genStmt {
	if g.pct(30) {
		return &genStmt{w: g.write()}
	}
	return &genStmt{q: g.query(true, false)}
}

// query generates a SELECT; top: the statement itself (SELECT * allowed);
// arm: the right arm of a set operation (no WITH, no set operation).
func (g *generator) query(top, arm bool) *selectStmt {
	g.depth++
	saved := len(g.scope)
	defer func() { g.depth--; g.scope = g.scope[:saved] }()
	q := &selectStmt{}
	if !arm && g.depth <= 3 && g.pct(22) {
		q.with, q.recursive = g.ctes(), g.pct(10)
	}
	q.from = g.fromList(1 + g.r.IntN(max(1, 4-g.depth)))
	if g.pct(45) {
		q.where = g.cond(false)
	}
	if g.depth <= 3 && g.pct(8) {
		q.scalar = g.query(false, false)
	}
	if !arm && g.depth <= 2 && g.pct(12) {
		q.setOp = pick(g, "UNION", "UNION ALL", "UNION", "EXCEPT", "INTERSECT")
		q.next = g.query(false, true)
	}
	q.distinct = g.pct(10)
	q.star = top && q.next == nil && q.scalar == nil && g.pct(30)
	return q
}

// ctes generates a WITH list, bringing its names into scope.
func (g *generator) ctes() []*cte {
	var out []*cte
	for n := 1 + g.r.IntN(2); n > 0; n-- {
		c := &cte{name: "cte" + fmt.Sprint(len(g.scope)+1), cols: g.pct(25)}
		if g.pct(65) { // named like a tenant table: it shadows it, in its scope only
			c.name = pick(g, g.w.tenantTables...)
		}
		if g.w.engine == "postgres" && g.pct(10) {
			c.mat = pick(g, "MATERIALIZED", "NOT MATERIALIZED")
		}
		c.body = g.query(false, false)
		g.scope = append(g.scope, c.name)
		out = append(out, c)
	}
	return out
}

// joinOp is a way to join an item to the list before it.
type joinOp struct {
	text string
	// constraint: 0 none allowed, 1 ON or USING required, 2 optional
	constraint int
}

var joinOps = map[string][]joinOp{
	"postgres": {{"JOIN", 1}, {"INNER JOIN", 1}, {"LEFT JOIN", 1}, {"LEFT OUTER JOIN", 1}, {"RIGHT JOIN", 1},
		{"RIGHT OUTER JOIN", 1}, {"FULL JOIN", 1}, {"FULL OUTER JOIN", 1}, {"CROSS JOIN", 0},
		{"NATURAL JOIN", 0}, {"NATURAL LEFT JOIN", 0}, {"NATURAL FULL JOIN", 0}},
	"mysql": {{"JOIN", 2}, {"INNER JOIN", 2}, {"CROSS JOIN", 2}, {"STRAIGHT_JOIN", 2}, {"LEFT JOIN", 1},
		{"LEFT OUTER JOIN", 1}, {"RIGHT JOIN", 1}, {"RIGHT OUTER JOIN", 1}, {"NATURAL JOIN", 0},
		{"NATURAL LEFT JOIN", 0}, {"NATURAL RIGHT JOIN", 0}},
	"sqlite": {{"JOIN", 2}, {"INNER JOIN", 2}, {"CROSS JOIN", 2}, {"LEFT JOIN", 2}, {"LEFT OUTER JOIN", 2},
		{"RIGHT JOIN", 2}, {"FULL JOIN", 2}, {"FULL OUTER JOIN", 2}, {"NATURAL JOIN", 0}, {"NATURAL LEFT JOIN", 0}},
}

// fromList generates n items joined by commas and joins.
func (g *generator) fromList(n int) []*elem {
	elems := []*elem{{it: g.item()}}
	for i := 1; i < n; i++ {
		elems = append(elems, g.joined())
	}
	return elems
}

// joined generates an item with the separator or join that precedes it.
func (g *generator) joined() *elem {
	e := &elem{sep: ",", comment: g.pct(4)}
	op := joinOp{",", 0}
	if g.pct(65) {
		op = pick(g, joinOps[g.w.engine]...)
		e.sep = op.text
	}
	e.it = g.item()
	if op.constraint == 1 || op.constraint == 2 && g.pct(50) {
		if g.pct(25) {
			e.using = true
		} else {
			e.on = g.cond(true)
		}
	}
	e.exec = g.w.engine == "mysql" && g.pct(4)
	return e
}

// item generates one table reference of a FROM list.
func (g *generator) item() *item {
	roll := g.r.IntN(100)
	switch {
	case roll < 60 || g.depth >= 4:
		return g.tableItem()
	case roll < 80:
		it := &item{kind: itemDerived, sub: g.query(false, false), lateral: g.w.engine == "postgres" && g.pct(25)}
		g.aliasFor(it, true)
		it.colAlias = g.w.engine == "postgres" && g.pct(15) // MariaDB takes none
		return it
	case roll < 89:
		inner := g.fromList(2)
		if g.w.engine == "postgres" && inner[1].sep == "," { // PostgreSQL parenthesises joins only
			inner[1].sep, inner[1].on = "CROSS JOIN", nil
			inner[1].using = false
		}
		return &item{kind: itemParen, inner: inner}
	case roll < 96 || g.w.engine != "postgres":
		it := &item{kind: itemFunc}
		g.aliasFor(it, true)
		return it
	}
	it := &item{kind: itemValues}
	g.aliasFor(it, true)
	return it
}

// tableItem generates a table name with the engine's suffixes and an alias.
func (g *generator) tableItem() *item {
	it := &item{kind: itemTable, ref: g.tableRef()}
	g.aliasFor(it, g.pct(75))
	switch g.w.engine {
	case "postgres":
		if g.pct(6) {
			it.only = true
		} else if g.pct(5) {
			it.star = true
		}
		it.colAlias = it.alias != "" && g.pct(10)
		if g.pct(8) {
			it.sample = pick(g, "SYSTEM (100)", "BERNOULLI (100) REPEATABLE (1)")
		}
	case "mysql":
		it.partition = it.ref.class == classPartitioned && g.pct(70)
		if g.pct(12) {
			it.hint = pick(g, "USE INDEX (PRIMARY)", "FORCE INDEX (PRIMARY)", "IGNORE INDEX (PRIMARY)",
				"USE KEY ()", "USE INDEX FOR JOIN (PRIMARY)", "IGNORE INDEX FOR ORDER BY (PRIMARY)")
		}
	case "sqlite":
		if g.pct(10) {
			it.indexed = "NOT INDEXED"
			if idx := g.w.indexes[strings.ToLower(it.ref.name)]; len(idx) > 0 && g.pct(60) {
				it.indexed = "INDEXED BY " + pick(g, idx...)
			}
		}
	}
	return it
}

// aliasFor gives it an alias, quoted in one of the engine's ways.
func (g *generator) aliasFor(it *item, want bool) {
	if !want {
		return
	}
	g.nalias++
	name := fmt.Sprintf("t%d", g.nalias)
	switch {
	case g.pct(85):
	case g.w.engine == "mysql":
		name = quoteIdent(name, quoteBack)
	default:
		name = quoteIdent(name, quoteDouble)
	}
	it.alias, it.asKw = name, g.pct(60)
}

// tableRef generates a table name: whose table, qualified or not, quoted how.
func (g *generator) tableRef() *tableRef {
	w := g.w
	// The weights of the classes a statement may reach, then of those it
	// may not.
	allowed := [...]int{classA: 50, classGlobal: 15, classCTE: 12, classUnknown: 1, classPartitioned: 4}
	forbidden := [...]int{classB: 1, classGlobalCopy: 2}
	if g.noTenant {
		allowed = [...]int{classGlobal: 60, classCTE: 15, classUnknown: 1, classPartitioned: 5}
		forbidden = [...]int{classA: 1, classB: 1, classGlobalCopy: 2}
	}
	weights := allowed[:]
	if g.forbiddenLeft > 0 && g.pct(22) {
		weights = forbidden[:]
		g.forbiddenLeft--
	}
	class := g.weighted(weights)
	switch {
	case class == classCTE && len(g.scope) == 0:
		class = classA
		if g.noTenant {
			class = classGlobal
		}
	case class == classPartitioned && w.partitioned == "":
		class = classGlobal
	}
	ref := &tableRef{class: class, base: pick(g, w.tenantTables...), dot: "."}
	ref.name = ref.base
	optional := func(qual string) {
		if g.pct(45) {
			ref.qual = qual
		}
	}
	switch class {
	case classA, classB:
		tenant := w.tenantA
		if class == classB {
			tenant = w.tenantB
		}
		switch {
		case w.schemaTenants && w.session && class == classA:
			optional(tenant) // the connection resolves names in tenant A
		case w.schemaTenants:
			ref.qual = tenant
		default:
			ref.name = tenant + prefixSeparator + ref.base
			optional(w.global)
		}
	case classGlobalCopy:
		if w.session && !g.noTenant {
			ref.qual = w.global // unqualified, the connection finds tenant A's
		} else {
			optional(w.global)
		}
	case classGlobal:
		ref.base = pick(g, w.globalTables...)
		ref.name = ref.base
		g.globalQualifier(ref)
	case classCTE:
		ref.name = pick(g, g.scope...)
		ref.base = ref.name
	case classUnknown:
		ref.base, ref.name = "nosuch", "nosuch"
		optional(pick(g, w.global, w.tenantA))
	case classPartitioned:
		ref.base, ref.name = w.partitioned, w.partitioned
		g.globalQualifier(ref)
	}
	ref.nStyle = g.quoteStyle()
	ref.qStyle = g.quoteStyle()
	if ref.qual != "" && g.pct(12) {
		ref.dot = pick(g, " . ", "/**/.", ". ")
	}
	return ref
}

// globalQualifier qualifies a global table's name, or not where the
// statement's connection finds it unqualified: not on MySQL under the
// session strategy, whose connection has the tenant's database current.
func (g *generator) globalQualifier(ref *tableRef) {
	if g.w.engine == "mysql" && g.w.session && !g.noTenant || g.pct(45) {
		ref.qual = g.w.global
	}
}

// weighted picks an index of weights, each as likely as its weight.
func (g *generator) weighted(weights []int) nameClass {
	total := 0
	for _, n := range weights {
		total += n
	}
	roll := g.r.IntN(total)
	for c, n := range weights {
		if roll < n {
			return nameClass(c)
		}
		roll -= n
	}
	return 0
}

// quoteStyle picks one of the engine's ways to write a name.
func (g *generator) quoteStyle() quoteStyle {
	roll := g.r.IntN(100)
	switch g.w.engine {
	case "postgres":
		switch {
		case roll < 60:
			return quoteBare
		case roll < 88:
			return quoteDouble
		case roll < 96:
			return quoteUpper
		}
		return quoteUnicode
	case "mysql": // names are case-sensitive here: an upper-case one names no table
		if roll < 60 {
			return quoteBare
		}
		return quoteBack
	}
	switch {
	case roll < 40:
		return quoteBare
	case roll < 55:
		return quoteDouble
	case roll < 70:
		return quoteBack
	case roll < 85:
		return quoteBracket
	case roll < 93:
		return quoteUpper
	}
	return quoteString
}

// cond generates a WHERE condition, or with on a join's ON condition.
func (g *generator) cond(on bool) *cond {
	deep := g.depth >= 4
	c := &cond{kind: condCmp}
	switch roll := g.r.IntN(100); {
	case on && roll < 65:
		c.kind = condEq
	case on && roll < 80:
		c.kind = condTrue
	case on && !deep:
		c.kind = condIn
	case on:
		c.kind = condEq
	case deep || roll < 25:
		c.kind = condCmp
	case roll < 50:
		c.kind = condIn
	case roll < 68:
		c.kind = condExists
	case roll < 78:
		c.kind = condNotExists
	default:
		c.kind = condScalar
	}
	if c.kind != condCmp && c.kind != condEq && c.kind != condTrue {
		c.sub = g.query(false, false)
	}
	if !on && !deep && g.pct(12) {
		c.or = g.cond(false)
	}
	return c
}

// write generates one of the engine's writes.
func (g *generator) write() *write {
	g.depth++
	defer func() { g.depth-- }()
	w := &write{kind: writeKind(g.r.IntN(3))}
	if g.w.engine != "mysql" && g.pct(20) {
		w.with = g.ctes()
	}
	target := func(alias bool) *item {
		it := &item{kind: itemTable, ref: g.tableRef()}
		g.aliasFor(it, alias && g.pct(60))
		it.asKw = it.asKw || g.w.engine == "sqlite" // SQLite's written table takes its alias after AS only
		it.only = g.w.engine == "postgres" && g.pct(8)
		if g.w.engine == "sqlite" && g.pct(8) {
			it.indexed = "NOT INDEXED"
		}
		return it
	}
	switch w.kind {
	case writeUpdate:
		w.verb = "UPDATE"
		switch g.w.engine {
		case "mysql":
			w.targets = g.fromList(1 + g.r.IntN(3))
		case "sqlite":
			w.verb = pick(g, "UPDATE", "UPDATE", "UPDATE OR IGNORE")
			fallthrough
		default:
			w.target = target(true)
			if g.pct(55) {
				w.from = g.fromList(1 + g.r.IntN(3))
			}
		}
	case writeDelete:
		w.verb = "DELETE"
		switch g.w.engine {
		case "mysql":
			w.delForm = g.r.IntN(3)
			if w.delForm == 0 {
				w.target = target(false)
			} else {
				w.from = g.fromList(1 + g.r.IntN(3))
				w.delRefs = 1 + g.r.IntN(min(2, len(w.from)))
			}
		case "postgres":
			w.target = target(true)
			if g.pct(55) {
				w.from = g.fromList(1 + g.r.IntN(3))
			}
		default:
			w.target = target(true)
		}
	case writeInsert:
		switch g.w.engine {
		case "mysql":
			w.verb = pick(g, "INSERT INTO", "REPLACE INTO", "INSERT IGNORE INTO")
		case "sqlite":
			w.verb = pick(g, "INSERT INTO", "REPLACE INTO", "INSERT OR REPLACE INTO")
		default:
			w.verb = "INSERT INTO"
			w.onConflict = g.pct(30)
		}
		w.target = target(false)
		w.target.indexed, w.target.only = "", false
		w.source = g.query(false, false)
	}
	if w.kind != writeInsert && g.pct(60) {
		w.where = g.cond(false)
	}
	return w
}

// Rendering.

// sqlWriter renders a statement for w's engine. In canonical mode it writes
// the statement's form instead, for telling failures apart: a name by what
// it aims at (A and B the tenants' tables, G a global copy, M a global
// model's table, C a CTE named like a tenant table and c another, P the
// partitioned table, U none), then how its name part is quoted ("`['^ U&),
// with Q. before a qualified name of a tenant table; x for aliases, k for
// select lists and c for columns.
type sqlWriter struct {
	w     *sqlWorld
	b     strings.Builder
	canon bool
}

// render returns s's SQL, or with canon its form.
func (s *genStmt) render(w *sqlWorld, canon bool) string {
	sw := &sqlWriter{w: w, canon: canon}
	if s.q != nil {
		sw.query(s.q)
	} else {
		sw.write(s.w)
	}
	return sw.b.String()
}

func (s *genStmt) isWrite() bool { return s.w != nil }

func (sw *sqlWriter) put(parts ...string) {
	for _, p := range parts {
		sw.b.WriteString(p)
	}
}

func (sw *sqlWriter) query(q *selectStmt) {
	sw.with(q.with, q.recursive)
	sw.core(q)
	if q.next != nil {
		sw.put(" ", q.setOp, " ")
		sw.core(q.next)
	}
}

func (sw *sqlWriter) with(ctes []*cte, recursive bool) {
	if len(ctes) == 0 {
		return
	}
	sw.put("WITH ")
	if recursive {
		sw.put("RECURSIVE ")
	}
	for i, c := range ctes {
		if i > 0 {
			sw.put(", ")
		}
		name := c.name
		if sw.canon {
			name = "c"
			if slices.Contains(sw.w.tenantTables, c.name) {
				name = "C"
			}
		}
		sw.put(name)
		if c.cols {
			sw.put(" (id)")
		}
		sw.put(" AS ")
		if c.mat != "" {
			sw.put(c.mat, " ")
		}
		sw.put("(")
		sw.query(c.body)
		sw.put(")")
	}
	sw.put(" ")
}

func (sw *sqlWriter) core(q *selectStmt) {
	sw.put("SELECT ")
	if q.distinct {
		sw.put("DISTINCT ")
	}
	switch {
	case q.star:
		sw.put("*")
	case sw.canon && q.scalar != nil:
		sw.put("k, (")
		sw.query(q.scalar)
		sw.put(")")
	case sw.canon:
		sw.put("k")
	default:
		cols := sw.columnList(leaves(q.from))
		if q.scalar != nil {
			inner := &sqlWriter{w: sw.w}
			inner.query(q.scalar)
			cols = append(cols, "("+inner.b.String()+")")
		}
		sw.put(coalesce(cols), " AS id")
	}
	sw.put(" FROM ")
	sw.from(q.from)
	if q.where != nil {
		sw.put(" WHERE ")
		sw.cond(q.where, nil, firstLeaf(q.from))
	}
}

func (sw *sqlWriter) from(elems []*elem) {
	var prev *item
	for i, e := range elems {
		if e.exec {
			sw.put(" /*!")
		}
		switch {
		case i == 0:
		case e.sep == ",":
			sw.put(", ")
		default:
			sw.put(" ", e.sep, " ")
		}
		if e.comment {
			sw.put("/* c */ ")
		}
		sw.item(e.it)
		switch {
		case e.on != nil:
			sw.put(" ON ")
			sw.cond(e.on, prev, firstLeaf([]*elem{e}))
		case e.using && sw.col(prev) == sw.col(firstLeaf([]*elem{e})):
			sw.put(" USING (", sw.col(prev), ")")
		case e.using: // no common column: join on the two
			sw.put(" ON ", sw.column(prev), " = ", sw.column(firstLeaf([]*elem{e})))
		}
		if e.exec {
			sw.put(" */")
		}
		if l := leaves([]*elem{e}); len(l) > 0 {
			prev = l[len(l)-1]
		}
	}
}

func (sw *sqlWriter) item(it *item) {
	switch it.kind {
	case itemTable:
		if it.only {
			sw.put("ONLY ")
		}
		sw.ref(it.ref)
		if it.star {
			sw.put(" *")
		}
		if it.partition {
			sw.put(" PARTITION (p0)")
		}
	case itemDerived:
		if it.lateral {
			sw.put("LATERAL ")
		}
		sw.put("(")
		sw.query(it.sub)
		sw.put(")")
	case itemParen:
		sw.put("(")
		sw.from(it.inner)
		sw.put(")")
		return
	case itemFunc:
		switch sw.w.engine {
		case "postgres":
			sw.put("generate_series(1, 2)")
		case "mysql":
			sw.put("JSON_TABLE('[1]', '$[*]' COLUMNS (id INT PATH '$'))")
		default:
			sw.put("json_each('[1]')")
		}
	case itemValues:
		sw.put("(VALUES (1))")
	}
	if it.alias != "" {
		if it.asKw {
			sw.put(" AS")
		}
		sw.put(" ", sw.aliasText(it))
		switch {
		case it.colAlias:
			sw.put(" (c1)")
		case it.kind == itemFunc && sw.w.engine == "postgres", it.kind == itemValues:
			sw.put(" (id)")
		}
	}
	if it.sample != "" {
		sw.put(" TABLESAMPLE ", it.sample)
	}
	if it.hint != "" {
		sw.put(" ", it.hint)
	}
	if it.indexed != "" {
		sw.put(" ", it.indexed)
	}
}

func (sw *sqlWriter) aliasText(it *item) string {
	if sw.canon {
		return "x"
	}
	return it.alias
}

func (sw *sqlWriter) ref(r *tableRef) {
	if sw.canon {
		if r.qual != "" && r.class != classGlobal {
			sw.put("Q.")
		}
		sw.put(classCodes[r.class], quoteCodes[r.nStyle])
		return
	}
	if r.qual != "" {
		sw.put(quoteIdent(r.qual, r.qStyle), r.dot)
	}
	sw.put(quoteIdent(r.name, r.nStyle))
}

// exposed is how the statement refers to a leaf item's columns: its alias,
// or the table's name as written.
func (sw *sqlWriter) exposed(it *item) string {
	switch {
	case sw.canon:
		return "x"
	case it.alias != "":
		return it.alias
	case it.ref != nil && it.ref.nStyle == quoteString:
		return it.ref.name
	case it.ref != nil:
		return quoteIdent(it.ref.name, it.ref.nStyle)
	}
	return "x"
}

// col is the column a leaf item is joined and selected by.
func (sw *sqlWriter) col(it *item) string {
	switch {
	case sw.canon:
		return "c"
	case it == nil:
		return "id"
	case it.colAlias:
		return "c1"
	case it.kind == itemFunc && sw.w.engine == "sqlite":
		return "key"
	case it.kind == itemTable && it.ref.class != classCTE && it.ref.base == "post_tags":
		return "post_id"
	}
	return "id"
}

func (sw *sqlWriter) column(it *item) string {
	if it == nil {
		return "1"
	}
	return sw.exposed(it) + "." + sw.col(it)
}

// columns refers to a column of every item, so that no engine drops one of
// them from the plan as unused.
func (sw *sqlWriter) columns(items []*item) string {
	if sw.canon {
		return "k"
	}
	return coalesce(sw.columnList(items))
}

func (sw *sqlWriter) columnList(items []*item) []string {
	cols := make([]string, len(items))
	for i, it := range items {
		cols[i] = sw.column(it)
	}
	return cols
}

func coalesce(cols []string) string {
	if len(cols) == 1 {
		return cols[0]
	}
	return "COALESCE(" + strings.Join(cols, ", ") + ")"
}

func (sw *sqlWriter) cond(c *cond, prev, this *item) {
	sub := func(open string) {
		sw.put(open, "(")
		sw.query(c.sub)
		sw.put(")")
	}
	switch c.kind {
	case condIn:
		sw.put(sw.column(this), " IN ")
		sub("")
	case condExists:
		sub("EXISTS ")
	case condNotExists:
		sub("NOT EXISTS ")
	case condScalar:
		sw.put(sw.column(this), " = ")
		sub("")
	case condCmp:
		sw.put(sw.column(this), " > 0")
	case condEq:
		sw.put(sw.column(prev), " = ", sw.column(this))
	case condTrue:
		sw.put("1 = 1")
	}
	if c.or != nil {
		sw.put(" OR ")
		sw.cond(c.or, prev, this)
	}
}

func (sw *sqlWriter) write(w *write) {
	sw.with(w.with, false)
	this := w.target
	switch {
	case w.kind == writeUpdate && w.targets != nil: // MySQL, multi-table
		this = firstLeaf(w.targets)
		sw.put("UPDATE ")
		sw.from(w.targets)
		sw.put(" SET ", sw.column(this), " = ", sw.columns(leaves(w.targets)))
	case w.kind == writeUpdate:
		sw.put(w.verb, " ")
		sw.item(w.target)
		sw.put(" SET ", sw.col(this), " = ", sw.columns(append([]*item{this}, leaves(w.from)...)))
		if len(w.from) > 0 {
			sw.put(" FROM ")
			sw.from(w.from)
		}
	case w.kind == writeDelete && w.delForm > 0: // MySQL, multi-table
		this = firstLeaf(w.from)
		var refs []string
		for _, l := range leaves(w.from)[:min(w.delRefs, len(leaves(w.from)))] {
			if l.alias == "" && l.ref != nil {
				inner := &sqlWriter{w: sw.w, canon: sw.canon}
				inner.ref(l.ref)
				refs = append(refs, inner.b.String())
			} else {
				refs = append(refs, sw.exposed(l))
			}
		}
		if w.delForm == 1 {
			sw.put("DELETE ", strings.Join(refs, ", "), " FROM ")
		} else {
			sw.put("DELETE FROM ", strings.Join(refs, ", "), " USING ")
		}
		sw.from(w.from)
	case w.kind == writeDelete:
		sw.put("DELETE FROM ")
		sw.item(w.target)
		if len(w.from) > 0 {
			sw.put(" USING ")
			sw.from(w.from)
		}
	default:
		sw.put(w.verb, " ")
		sw.item(w.target)
		sw.put(" (", sw.col(w.target), ") ")
		sw.query(w.source)
		if w.onConflict {
			sw.put(" ON CONFLICT DO NOTHING")
		}
	}
	if w.where != nil {
		sw.put(" WHERE ")
		sw.cond(w.where, nil, this)
	}
}

// leaves returns the items of a FROM list that expose columns: every item
// but parenthesised joins, whose own items are leaves.
func leaves(elems []*elem) []*item {
	var out []*item
	for _, e := range elems {
		if e.it.kind == itemParen {
			out = append(out, leaves(e.it.inner)...)
		} else {
			out = append(out, e.it)
		}
	}
	return out
}

func firstLeaf(elems []*elem) *item {
	if l := leaves(elems); len(l) > 0 {
		return l[0]
	}
	return nil
}

// Cloning, for shrinking: every edit is made on a copy.

func (s *genStmt) clone() *genStmt {
	return &genStmt{q: s.q.clone(), w: s.w.clone()}
}

func (q *selectStmt) clone() *selectStmt {
	if q == nil {
		return nil
	}
	c := *q
	c.with = cloneCTEs(q.with)
	c.scalar = q.scalar.clone()
	c.from = cloneElems(q.from)
	c.where = q.where.clone()
	c.next = q.next.clone()
	return &c
}

func cloneCTEs(ctes []*cte) []*cte {
	if ctes == nil {
		return nil
	}
	out := make([]*cte, len(ctes))
	for i, c := range ctes {
		cc := *c
		cc.body = c.body.clone()
		out[i] = &cc
	}
	return out
}

func cloneElems(elems []*elem) []*elem {
	if elems == nil {
		return nil
	}
	out := make([]*elem, len(elems))
	for i, e := range elems {
		ce := *e
		ce.on = e.on.clone()
		ce.it = e.it.clone()
		out[i] = &ce
	}
	return out
}

func (it *item) clone() *item {
	if it == nil {
		return nil
	}
	c := *it
	c.sub = it.sub.clone()
	c.inner = cloneElems(it.inner)
	return &c // ref is never changed in place: edits replace it
}

func (c *cond) clone() *cond {
	if c == nil {
		return nil
	}
	cc := *c
	cc.sub = c.sub.clone()
	cc.or = c.or.clone()
	return &cc
}

func (w *write) clone() *write {
	if w == nil {
		return nil
	}
	c := *w
	c.with = cloneCTEs(w.with)
	c.target = w.target.clone()
	c.targets = cloneElems(w.targets)
	c.from = cloneElems(w.from)
	c.where = w.where.clone()
	c.source = w.source.clone()
	return &c
}

// Shrinking.

// shrinker walks a statement and applies the edit numbered want, one of the
// ways to make it smaller or plainer: drop a WITH, a CTE, a WHERE, a set
// operation, an item of a FROM list, a suffix or alias, a join's condition;
// turn a join into a comma; replace a derived table or parenthesised join by
// its first item; write a name bare. With want -1 it counts the edits.
type shrinker struct {
	want, n int
	done    bool
}

func (k *shrinker) here() bool {
	k.n++
	if k.n-1 == k.want {
		k.done = true
		return true
	}
	return false
}

// shrinkEdits returns how many edits shrinker can make to s.
func shrinkEdits(s *genStmt) int {
	k := &shrinker{want: -1}
	k.stmt(s.clone())
	return k.n
}

// shrinkEdit returns a copy of s with edit i made.
func shrinkEdit(s *genStmt, i int) *genStmt {
	c := s.clone()
	k := &shrinker{want: i}
	k.stmt(c)
	return c
}

func (k *shrinker) stmt(s *genStmt) {
	if s.q != nil {
		k.query(s.q)
		return
	}
	w := s.w
	if len(w.with) > 0 && k.here() {
		w.with = nil
		return
	}
	k.ctes(&w.with)
	if w.where != nil && k.here() {
		w.where = nil
		return
	}
	if w.onConflict && k.here() {
		w.onConflict = false
		return
	}
	if len(w.from) > 0 && w.delForm == 0 && k.here() {
		w.from = nil
		return
	}
	if w.target != nil {
		k.item(&w.target)
	}
	k.elems(&w.targets)
	k.elems(&w.from)
	k.cond(w.where)
	k.query(w.source)
}

func (k *shrinker) ctes(ctes *[]*cte) {
	for i := range *ctes {
		if k.done {
			return
		}
		if k.here() {
			*ctes = append((*ctes)[:i:i], (*ctes)[i+1:]...)
			return
		}
		k.query((*ctes)[i].body)
	}
}

func (k *shrinker) query(q *selectStmt) {
	if q == nil || k.done {
		return
	}
	switch {
	case len(q.with) > 0 && k.here():
		q.with = nil
	case q.next != nil && k.here():
		q.next, q.setOp = nil, ""
	case q.where != nil && k.here():
		q.where = nil
	case q.scalar != nil && k.here():
		q.scalar = nil
	case q.distinct && k.here():
		q.distinct = false
	case q.recursive && k.here():
		q.recursive = false
	}
	if k.done {
		return
	}
	k.ctes(&q.with)
	k.elems(&q.from)
	k.cond(q.where)
	k.query(q.scalar)
	k.query(q.next)
}

func (k *shrinker) elems(elems *[]*elem) {
	es := *elems
	if len(es) > 1 {
		for i := range es {
			if k.here() {
				rest := append(es[:i:i], es[i+1:]...)
				if i == 0 {
					first := *rest[0]
					first.sep, first.on, first.using, first.exec = "", nil, false, false
					rest[0] = &first
				}
				*elems = rest
				return
			}
		}
	}
	for i, e := range es {
		if k.done {
			return
		}
		switch {
		case e.it.kind == itemParen && k.here(): // flatten (a JOIN b) into the list
			inner := cloneElems(e.it.inner)
			inner[0].sep, inner[0].on, inner[0].using = e.sep, e.on, e.using
			if i == 0 {
				inner[0].sep, inner[0].on, inner[0].using = "", nil, false
			}
			*elems = append(append(append([]*elem{}, es[:i]...), inner...), es[i+1:]...)
		case i > 0 && e.sep != "," && k.here():
			e.sep, e.on, e.using = ",", nil, false
		case e.on != nil && k.here():
			e.on = nil
		case e.using && k.here():
			e.using = false
		case e.exec && k.here():
			e.exec = false
		case e.comment && k.here():
			e.comment = false
		}
		if k.done {
			return
		}
		k.item(&e.it)
		k.cond(e.on)
	}
}

func (k *shrinker) item(pit **item) {
	it := *pit
	if k.done {
		return
	}
	switch {
	case it.kind == itemDerived && k.here(): // (SELECT ... FROM x ...) d → x d
		first := it.sub.from[0].it.clone()
		if first.kind != itemParen {
			first.alias, first.asKw, first.colAlias = it.alias, it.asKw, false
		}
		*pit = first
	case it.lateral && k.here():
		it.lateral = false
	case it.only && k.here():
		it.only = false
	case it.star && k.here():
		it.star = false
	case it.sample != "" && k.here():
		it.sample = ""
	case it.hint != "" && k.here():
		it.hint = ""
	case it.partition && k.here():
		it.partition = false
	case it.indexed != "" && k.here():
		it.indexed = ""
	case it.colAlias && k.here():
		it.colAlias = false
	case it.alias != "" && it.kind == itemTable && k.here():
		it.alias = ""
	case it.ref != nil && (it.ref.nStyle != quoteBare || it.ref.qStyle != quoteBare || it.ref.dot != ".") && k.here():
		plain := *it.ref
		plain.nStyle, plain.qStyle, plain.dot = quoteBare, quoteBare, "."
		it.ref = &plain
	}
	if k.done {
		return
	}
	k.query(it.sub)
	k.elems(&it.inner)
}

func (k *shrinker) cond(c *cond) {
	if c == nil || k.done {
		return
	}
	if c.or != nil && k.here() {
		c.or = nil
		return
	}
	k.query(c.sub)
	k.cond(c.or)
}

// byteSource is a rand.Source that plays the fuzzer's bytes back, one choice
// per byte, then goes on with a PCG seeded from them.
type byteSource struct {
	data []byte
	rest *rand.PCG
}

func newByteSource(data []byte) *byteSource {
	h := fnv.New64a()
	_, _ = h.Write(data)
	return &byteSource{data: data, rest: rand.NewPCG(h.Sum64(), uint64(len(data)))}
}

func (s *byteSource) Uint64() uint64 {
	if len(s.data) == 0 {
		return s.rest.Uint64()
	}
	b := s.data[0]
	s.data = s.data[1:]
	// splitmix64 of the byte: every choice of up to 256 options is reachable
	// from one byte, and a byte changed by the fuzzer changes one choice.
	z := uint64(b)<<8 + 0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}
