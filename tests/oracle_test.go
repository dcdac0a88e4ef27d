package tests

import (
	"cmp"
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"gorm.io/gorm"

	"github.com/kirayedar/kirayedar"
)

// TestScanOracle is a differential test of the check the plugin makes of
// every SQL text it sends, with the database as the oracle. Statements are
// generated from a grammar of the forms each engine accepts where a table
// can stand (oracle_gen_test.go), after a corpus of known forms (oracleSeeds).
// Each is sent through the plugin under tenant A (some under no tenant), and
// the database is asked, on a connection of its own without the plugin but
// with the same name resolution, which relations it resolves to. A statement
// the plugin let through that resolves to tenant B's table or to the global
// copy of a tenant table (under no tenant: to any tenant table) fails the
// test, and is shrunk to the smallest form that still does.
//
// How the database answers:
//
//   - PostgreSQL: EXPLAIN (VERBOSE, FORMAT JSON), as a role that may read and
//     write every table except the forbidden ones. Every plan node's
//     "Relation Name" and "Schema" are read (scans, subplans, CTEs, InitPlans,
//     the ModifyTable target); the role's privileges catch, as "permission
//     denied", a join the planner removed (an unused LEFT JOIN), since the
//     executor checks the privileges of every table left in the plan's range
//     table. For a query, the dependencies of a temporary view of it add what
//     the planner drops altogether: a CTE no one uses, a subquery under a
//     condition that is always false.
//   - MariaDB: EXPLAIN as root (is the statement valid?), then as a user
//     granted every table except the forbidden ones. Its EXPLAIN names tables
//     by their aliases only, so the grants are the oracle: MariaDB checks the
//     privileges of every table a statement names, and its refusal names it
//     as `database`.`table`.
//   - SQLite: the root pages the EXPLAIN bytecode opens (OpenRead, OpenWrite,
//     Clear), looked up in sqlite_master. SQLite leaves out of the plan a
//     LEFT JOIN of a table no column of which is used; generated statements
//     use a column of every table.
//
// The counts are logged per target and in all, with the refused statements
// that resolve nothing forbidden: what the check costs legitimate SQL.
//
// An answer that cannot be read fails the test: the oracle never passes what
// it cannot read. Statements the database rejects are counted and skipped.
//
// The budget is KIRAYEDAR_ORACLE_DURATION per target (default 3s, and as long
// again at most for shrinking), or KIRAYEDAR_ORACLE_COUNT statements (0: the
// seeds only); KIRAYEDAR_ORACLE_SEED picks the sequence (default 1). FuzzScanOracle does
// the same on PostgreSQL for as long as go test -fuzz runs.
func TestScanOracle(t *testing.T) {
	budget, count := oracleBudget(t)
	seed := oracleSeedValue(t)
	var total oracleStats
	for _, tg := range targets {
		if tg.via != "" {
			continue // the same plugin and engine as without the pooler
		}
		t.Run(tg.String(), func(t *testing.T) {
			o := newOracleRun(t, tg)
			o.run(t, rand.New(rand.NewPCG(seed, hashString(tg.String()))), budget, count)
			total.add(o.stats)
		})
	}
	t.Logf("in all: %s", total)
}

// run checks the oracle, the seeds, then statements from r for budget or,
// with count, count of them, and reports.
func (o *oracleRun) run(t *testing.T, r *rand.Rand, budget time.Duration, count int) {
	o.selfCheck(t)
	for _, c := range o.seedCandidates(t) {
		o.check(t, c)
	}
	o.stats.seeds = o.stats.generated
	deadline := time.Now().Add(budget)
	for i := 0; count > 0 && i < count || count == 0 && time.Now().Before(deadline); i++ {
		o.check(t, o.generate(r))
	}
	o.report(t)
}

// FuzzScanOracle is TestScanOracle's check on PostgreSQL under the schema
// strategy, with the generator's choices taken from the fuzzer's bytes:
//
//	go test -run '^$' -fuzz FuzzScanOracle ./tests/
func FuzzScanOracle(f *testing.F) {
	for _, seed := range []string{"", "\x00", "\x01\x02\x03", "using-list", "\xff\x10\x80\x40\x20\x08"} {
		f.Add([]byte(seed))
	}
	o := newOracleRun(f, target{engine: "postgres", strategy: kirayedar.StrategySchema})
	o.selfCheck(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		c := o.generate(rand.New(newByteSource(data)))
		v, out := o.evaluate(c)
		switch {
		case v.invalid != nil:
		case v.unreadable != nil:
			t.Fatalf("the oracle cannot read the database's answer for %s: %v", c.sql, v.unreadable)
		case out == outcomePassed && len(v.forbidden) > 0:
			t.Fatalf("under %s the plugin sent\n\t%s\nwhich resolves %v (relations: %v)", c.mode.name, c.sql, v.forbidden, v.relations)
		}
	})
}

// oracleBudget reads how long (or how many statements) each target runs.
func oracleBudget(t testing.TB) (time.Duration, int) {
	if v := os.Getenv("KIRAYEDAR_ORACLE_COUNT"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			t.Fatalf("KIRAYEDAR_ORACLE_COUNT=%q: want a count", v)
		}
		return 0, n
	}
	d, err := time.ParseDuration(envOr("KIRAYEDAR_ORACLE_DURATION", "3s"))
	if err != nil {
		t.Fatalf("KIRAYEDAR_ORACLE_DURATION: %v", err)
	}
	return d, 0
}

func oracleSeedValue(t testing.TB) uint64 {
	seed, err := strconv.ParseUint(envOr("KIRAYEDAR_ORACLE_SEED", "1"), 10, 64)
	if err != nil {
		t.Fatalf("KIRAYEDAR_ORACLE_SEED: %v", err)
	}
	return seed
}

func hashString(s string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(s))
	return h.Sum64()
}

// oracleRun is the test's state on one target.
type oracleRun struct {
	e        *env
	world    *sqlWorld
	a, b     string
	modes    []*oracleMode // tenant A, then no tenant
	stats    oracleStats
	findings []*finding
	byForm   map[string]*finding
	escapes  []escape
	// unreadable are statements whose answer the oracle could not read.
	unreadable []string
	// shrinkLeft is the time left for shrinking failures.
	shrinkLeft time.Duration
}

// oracleMode is a context statements are sent under, and the database's
// view with the same name resolution.
type oracleMode struct {
	name   string
	ctx    context.Context // the plugin's statements' context
	tenant string          // "" for none
	res    sqlOracle
}

// sqlOracle asks the database what a statement resolves to.
type sqlOracle interface {
	// resolve answers for query; write says it is an UPDATE, DELETE or
	// INSERT (with a WITH before it, maybe).
	resolve(ctx context.Context, query string, write bool) resolution
}

// resolution is the database's answer about one statement.
type resolution struct {
	invalid    error      // the database rejected the statement
	unreadable error      // its answer could not be read
	relations  []relation // the relations it resolves to, as far as the answer lists them
	denied     []relation // relations the restricted principal may not touch (schema "?": unknown)
}

// relation is a table as the database resolved it.
type relation struct{ schema, table string }

func (r relation) String() string { return r.schema + "." + r.table }

// candidate is one statement to check.
type candidate struct {
	name  string // seeds: what the form is
	mode  *oracleMode
	sql   string
	write bool
	stmt  *genStmt // generated statements, for shrinking
	// send, for statements GORM builds, sends it (sql is what GORM writes).
	send func(db *gorm.DB) error
}

// verdict is the oracle's answer about a candidate: the resolution, with the
// relations the mode may not reach.
type verdict struct {
	resolution
	forbidden []relation
}

type outcome uint8

const (
	outcomeRefused outcome = iota // refused with ErrUnroutable, ErrCrossTenant or ErrNoTenant
	outcomePassed                 // it reached the driver
	outcomeUnsent                 // another error, before anything was sent
)

// oracleStats counts what the test checked.
type oracleStats struct {
	generated, seeds, invalid, valid, refused, passed, escapes, unreadable, unsent, forms int
	// refusedClean are refused statements that resolve nothing forbidden:
	// what the check costs legitimate SQL. Not a failure.
	refusedClean int
}

func (s *oracleStats) add(o oracleStats) {
	s.generated += o.generated
	s.seeds += o.seeds
	s.invalid += o.invalid
	s.valid += o.valid
	s.refused += o.refused
	s.passed += o.passed
	s.escapes += o.escapes
	s.unreadable += o.unreadable
	s.unsent += o.unsent
	s.forms += o.forms
	s.refusedClean += o.refusedClean
}

func (s oracleStats) String() string {
	return fmt.Sprintf("%d statements checked (%d seeds): %d valid, %d rejected by the database; "+
		"of the valid, %d refused by the plugin (%d of them resolve nothing forbidden), %d passed "+
		"(%d of them resolve a forbidden relation, in %d distinct forms), %d neither refused nor sent, "+
		"%d whose answer the oracle could not read",
		s.generated, s.seeds, s.valid, s.invalid, s.refused, s.refusedClean, s.passed, s.escapes, s.forms,
		s.unsent, s.unreadable)
}

// finding is one form of statement that passed and resolves a forbidden
// relation.
type finding struct {
	form, mode, sql, original string
	forbidden, relations      []relation
	count                     int
	seed                      int // 1 for a seed's form
}

// newOracleRun opens the target with two tenants and sets the oracle up.
func newOracleRun(t testing.TB, tg target) *oracleRun {
	t.Helper()
	e := newEnv(t, tg, nil)
	o := &oracleRun{e: e, byForm: map[string]*finding{}}
	budget, _ := oracleBudget(t)
	o.shrinkLeft = max(budget, 2*time.Second)
	o.a, o.b = e.newTenant(t), e.newTenant(t)
	o.world = &sqlWorld{
		engine:        tg.engine,
		schemaTenants: tg.schemaPerTenant(),
		session:       tg.strategy == kirayedar.StrategySession,
		global:        e.global,
		tenantA:       o.a,
		tenantB:       o.b,
		tenantTables:  tenantTables,
		globalTables:  []string{"plans"},
	}
	o.modes = []*oracleMode{
		{name: "tenant A", ctx: ctxFor(o.a), tenant: o.a},
		{name: "no tenant", ctx: context.Background()},
	}
	switch tg.engine {
	case "postgres":
		o.setUpPostgres(t)
	case "mysql":
		o.setUpMySQL(t)
	case "sqlite":
		o.setUpSQLite(t)
	}
	return o
}

// owner tells whether r is a tenant table and whose: a tenant ID, or "" for
// the global copy.
func (o *oracleRun) owner(r relation) (tenant string, ok bool) {
	w := o.world
	if w.schemaTenants {
		switch {
		case !slices.Contains(w.tenantTables, r.table):
			return "", false
		case r.schema == w.global:
			return "", true
		}
		return r.schema, true
	}
	if r.schema != w.global && r.schema != "?" {
		return "", false
	}
	if slices.Contains(w.tenantTables, r.table) {
		return "", true
	}
	if i := strings.Index(r.table, prefixSeparator); i > 0 && slices.Contains(w.tenantTables, r.table[i+len(prefixSeparator):]) {
		return r.table[:i], true
	}
	return "", false
}

// forbidden tells whether a statement under mode may not reach r: another
// tenant's table or a global copy, or under no tenant any tenant table.
func (o *oracleRun) forbidden(mode *oracleMode, r relation) bool {
	owner, ok := o.owner(r)
	return ok && (mode.tenant == "" || owner != mode.tenant)
}

// generate makes the next statement: under tenant A, or one in five under no
// tenant.
func (o *oracleRun) generate(r *rand.Rand) candidate {
	mode := o.modes[0]
	if r.IntN(100) < 20 {
		mode = o.modes[1]
	}
	s := newGenerator(o.world, r, mode.tenant == "").statement()
	return candidate{mode: mode, sql: s.render(o.world, false), write: s.isWrite(), stmt: s}
}

// check checks one candidate and keeps it if it passed the plugin and
// resolves a forbidden relation.
func (o *oracleRun) check(t testing.TB, c candidate) {
	t.Helper()
	v, out := o.evaluate(c)
	switch {
	case v.invalid != nil:
	case v.unreadable != nil:
		o.unreadable = append(o.unreadable, fmt.Sprintf("under %s: %s\n\t%v", c.mode.name, c.sql, v.unreadable))
	case out == outcomePassed && len(v.forbidden) > 0:
		o.stats.escapes++
		o.escapes = append(o.escapes, escape{c, v})
	}
}

// escape is a statement that passed the plugin and resolves a forbidden
// relation.
type escape struct {
	c candidate
	v verdict
}

// groupEscapes shrinks the escapes, for as long as the budget lasts, and
// groups them by form. Those left unshrunk are grouped as one.
func (o *oracleRun) groupEscapes() {
	var unshrunk *finding
	for _, esc := range o.escapes {
		c, v := esc.c, esc.v
		form := c.name
		if c.stmt != nil {
			if o.shrinkLeft <= 0 {
				if unshrunk == nil {
					unshrunk = &finding{form: "(not shrunk: the budget ran out)", mode: c.mode.name, sql: c.sql,
						original: c.sql, forbidden: v.forbidden, relations: v.relations}
				}
				unshrunk.count++
				continue
			}
			start := time.Now()
			c, v = o.shrink(c, v, start.Add(o.shrinkLeft))
			o.shrinkLeft -= time.Since(start)
			form = c.stmt.render(o.world, true)
		}
		key := c.mode.name + ": " + form
		if f := o.byForm[key]; f != nil {
			f.count++
			continue
		}
		f := &finding{form: form, mode: c.mode.name, sql: c.sql, original: esc.c.sql,
			forbidden: v.forbidden, relations: v.relations, count: 1}
		if c.stmt == nil {
			f.seed = 1
		}
		o.byForm[key] = f
		o.findings = append(o.findings, f)
	}
	// The seeds' forms first, then the generated ones, shortest first.
	slices.SortStableFunc(o.findings, func(a, b *finding) int {
		return cmp.Or(cmp.Compare(b.seed, a.seed), cmp.Compare(len(a.sql), len(b.sql)))
	})
	o.stats.forms = len(o.findings)
	if unshrunk != nil {
		o.findings = append(o.findings, unshrunk)
	}
}

// evaluate asks the database, then the plugin, about c, and counts.
func (o *oracleRun) evaluate(c candidate) (verdict, outcome) {
	o.stats.generated++
	v := o.resolve(c.mode, c.sql, c.write)
	switch {
	case v.invalid != nil:
		o.stats.invalid++
		return v, outcomeUnsent
	case v.unreadable != nil:
		o.stats.valid++
		o.stats.unreadable++
		return v, outcomeUnsent
	}
	o.stats.valid++
	out, sent := o.send(c)
	if out == outcomePassed {
		if rv := o.judgeSent(c, v, sent); rv.invalid != nil {
			v.forbidden = nil // the database refused the rewritten text
		} else {
			v = rv
		}
	}
	switch out {
	case outcomeRefused:
		o.stats.refused++
		if len(v.forbidden) == 0 {
			o.stats.refusedClean++
		}
	case outcomePassed:
		o.stats.passed++
	default:
		o.stats.unsent++
	}
	return v, out
}

// resolve asks the database how query resolves under mode, and which of its
// relations are forbidden there.
func (o *oracleRun) resolve(mode *oracleMode, query string, write bool) verdict {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v := verdict{resolution: mode.res.resolve(ctx, query, write)}
	if v.invalid != nil || v.unreadable != nil {
		return v
	}
	for _, r := range v.relations {
		if o.forbidden(mode, r) && !slices.Contains(v.forbidden, r) {
			v.forbidden = append(v.forbidden, r)
		}
	}
	for _, r := range v.denied {
		switch {
		case slices.Contains(v.forbidden, r):
		case r.schema == "?" && slices.ContainsFunc(v.forbidden, func(f relation) bool { return f.table == r.table }):
			// The plan names it, with its schema.
		case !o.forbidden(mode, r):
			// The principal may touch every table the mode may reach that
			// existed when it was set up.
			v.unreadable = fmt.Errorf("the database refused %s, which %s may reach: the oracle's grants are out of date", r, mode.name)
			return v
		default:
			v.forbidden = append(v.forbidden, r)
		}
	}
	return v
}

var errRollback = errors.New("rolled back on purpose")

// send sends c through the plugin under its mode's context: a read with
// Rows, a write with Exec in a transaction that is rolled back. It returns
// the text that reached the driver, which the plugin may have rewritten.
func (o *oracleRun) send(c candidate) (outcome, string) {
	ctx, cancel := context.WithTimeout(c.mode.ctx, 10*time.Second)
	defer cancel()
	db := o.e.db.WithContext(ctx)
	var err error
	sent, _ := o.e.sentDuring(func() {
		switch {
		case c.send != nil:
			err = c.send(db)
		case c.write:
			err = db.Transaction(func(tx *gorm.DB) error {
				if err := tx.Exec(c.sql).Error; err != nil {
					return err
				}
				return errRollback
			})
		default:
			var rows *sql.Rows
			if rows, err = db.Raw(c.sql).Rows(); rows != nil {
				_ = rows.Close()
			}
		}
	})
	switch {
	case errors.Is(err, kirayedar.ErrUnroutable), errors.Is(err, kirayedar.ErrCrossTenant), errors.Is(err, kirayedar.ErrNoTenant):
		return outcomeRefused, ""
	case sent > 0:
		return outcomePassed, *o.e.sent.last.Load()
	}
	return outcomeUnsent, ""
}

// judgeSent replaces v's relations with those of the text the plugin sent,
// when it rewrote c: that text, not c's, is what the database ran.
func (o *oracleRun) judgeSent(c candidate, v verdict, sent string) verdict {
	if sent == "" || sent == c.sql {
		return v
	}
	return o.resolve(c.mode, sent, c.write)
}

// shrink makes a failing generated statement as small as it can, until
// deadline, while it still passes the plugin and resolves a forbidden
// relation.
func (o *oracleRun) shrink(c candidate, v verdict, deadline time.Time) (candidate, verdict) {
	const maxTries = 300
	tries := 0
	more := func() bool { return tries < maxTries && time.Now().Before(deadline) }
	for changed := true; changed && more(); {
		changed = false
		for i := 0; i < shrinkEdits(c.stmt) && more(); tries++ {
			s := shrinkEdit(c.stmt, i)
			next := candidate{mode: c.mode, sql: s.render(o.world, false), write: s.isWrite(), stmt: s}
			if next.sql == c.sql {
				i++
				continue
			}
			if nv, ok := o.stillFails(next); ok {
				c, v, changed = next, nv, true
				continue // the same edit number, on the smaller statement
			}
			i++
		}
	}
	return c, v
}

// stillFails reports whether c passes the plugin and resolves a forbidden
// relation, without counting it.
func (o *oracleRun) stillFails(c candidate) (verdict, bool) {
	saved := o.stats
	defer func() { o.stats = saved }()
	out, sent := o.send(c)
	if out != outcomePassed {
		return verdict{}, false
	}
	v := o.resolve(c.mode, c.sql, c.write)
	if v.invalid == nil && v.unreadable == nil {
		v = o.judgeSent(c, v, sent)
	}
	return v, v.invalid == nil && v.unreadable == nil && len(v.forbidden) > 0
}

// report fails the test for every form that escaped and every answer the
// oracle could not read, and logs the counts.
func (o *oracleRun) report(t testing.TB) {
	t.Helper()
	o.groupEscapes()
	const maxReported = 30
	for i, f := range o.findings {
		if i == maxReported {
			t.Errorf("... and %d more forms", len(o.findings)-maxReported)
			break
		}
		msg := fmt.Sprintf("under %s the plugin sent a statement that resolves %v (%d statements in this form)\n\tSQL:       %s\n\trelations: %v\n\tform:      %s",
			f.mode, f.forbidden, f.count, f.sql, f.relations, f.form)
		if f.original != f.sql {
			msg += "\n\tshrunk from: " + f.original
		}
		t.Error(msg)
	}
	for i, u := range o.unreadable {
		if i == 10 {
			t.Errorf("... and %d more statements whose answer the oracle could not read", len(o.unreadable)-10)
			break
		}
		t.Errorf("the oracle could not read the database's answer %s", u)
	}
	t.Logf("%s", o.stats)
}

// selfCheck makes sure the oracle tells what it must: a tenant's own table
// from the global copy and another tenant's, through a join the planner
// removes too, and a statement the database rejects.
func (o *oracleRun) selfCheck(t testing.TB) {
	t.Helper()
	const clean, forbidden, invalid = "clean", "forbidden", "invalid"
	cases := []struct {
		mode    int
		sql     string
		want    string
		engines string // "" for all
		write   bool
	}{
		{0, "SELECT t.id FROM {A.tags} t", clean, "", false},
		{0, "SELECT p.id FROM {M.plans} p", clean, "", false},
		{0, "SELECT t.id FROM {G.tags} t", forbidden, "", false},
		{0, "SELECT t.id FROM {B.tags} t", forbidden, "", false},
		// A join the planner removes: its table is read by no plan node.
		{0, "SELECT p.id FROM {A.posts} p LEFT JOIN {G.tags} t ON t.id = p.id", forbidden, "postgres mysql", false},
		// A CTE no one uses: the planner leaves it out.
		{0, "WITH x AS (SELECT id FROM {G.tags}) SELECT t.id FROM {A.tags} t", forbidden, "postgres mysql", false},
		{0, "UPDATE {G.tags} SET name = name", forbidden, "", true},
		{0, "DELETE FROM {G.tags}", forbidden, "", true},
		{0, "INSERT INTO {A.tags} (name) SELECT t.name FROM {B.tags} t", forbidden, "", true},
		{0, "SELECT t.id FROM oracle_no_such_table t", invalid, "", false},
		{1, "SELECT p.id FROM {M.plans} p", clean, "", false},
		{1, "SELECT t.id FROM {A.tags} t", forbidden, "", false},
	}
	for _, tc := range cases {
		if tc.engines != "" && !slices.Contains(strings.Fields(tc.engines), o.world.engine) {
			continue
		}
		query := o.expand(tc.sql)
		v := o.resolve(o.modes[tc.mode], query, tc.write)
		got := clean
		switch {
		case v.invalid != nil:
			got = invalid
		case v.unreadable != nil:
			t.Fatalf("the oracle cannot read the answer for %s: %v", query, v.unreadable)
		case len(v.forbidden) > 0:
			got = forbidden
		}
		if got != tc.want {
			t.Fatalf("the oracle calls %s %s under %s, want %s (relations %v, invalid: %v)",
				query, got, o.modes[tc.mode].name, tc.want, v.relations, v.invalid)
		}
	}
}

var placeholder = regexp.MustCompile(`\{([ABGM])\.(\w+)\}`)

// expand writes the physical tables of a seed: {A.posts} is tenant A's
// posts, {B.posts} tenant B's, {G.posts} the global copy and {M.plans} a
// global table, each qualified as the harness writes them.
func (o *oracleRun) expand(template string) string {
	return placeholder.ReplaceAllStringFunc(template, func(m string) string {
		parts := placeholder.FindStringSubmatch(m)
		tenant := map[string]string{"A": o.a, "B": o.b}[parts[1]]
		return o.e.table(tenant, parts[2])
	})
}

// oracleSeed is a form known to matter, checked before the generated ones.
type oracleSeed struct {
	name     string
	engines  string // the engines it is valid on; "" for all
	noTenant bool
	write    bool
	sql      string // with placeholders (expand)
	// gorm builds the statement instead of sql, as an application would.
	gorm func(db *gorm.DB, tenantA context.Context) *gorm.DB
}

// oracleSeeds are the forms a lexical check is known to misread, and
// controls that must pass or be refused.
var oracleSeeds = []oracleSeed{
	{name: "a comma after a join's ON, from Joins", gorm: func(db *gorm.DB, ctxA context.Context) *gorm.DB {
		var tags []string
		return db.Model(&Post{}).Joins("JOIN ? c ON c.post_id = posts.id, tags l", kirayedar.Table(ctxA, "comments")).Distinct().Pluck("l.tenant", &tags)
	}},
	{name: "a comma after a join's ON", sql: "SELECT DISTINCT l.tenant FROM {A.posts} p JOIN {A.comments} c ON c.post_id = p.id, tags l"},
	{name: "a comma after a USING list", sql: "SELECT l.tenant FROM {A.posts} p JOIN {A.comments} c USING (id), tags l"},
	{name: "another tenant's table after a USING list", sql: "SELECT t.id FROM {A.posts} p JOIN {A.comments} c USING (id), {B.tags} t"},
	{name: "a comma after a column-alias list", engines: "postgres", sql: "SELECT l.tenant FROM {A.posts} AS p (x, y), tags l"},
	{name: "a comma after a derived table's column-alias list", engines: "postgres", sql: "SELECT l.tenant FROM (SELECT id FROM {A.posts}) AS p (x), tags l"},
	{name: "a comma after an index hint", engines: "mysql", sql: "SELECT l.tenant FROM {A.posts} p USE INDEX (PRIMARY), tags l"},
	{name: "a join after an index hint", engines: "mysql", sql: "SELECT l.tenant FROM {A.posts} p FORCE INDEX FOR JOIN (PRIMARY) JOIN tags l ON l.id = p.id"},
	{name: "a comma after PARTITION", engines: "mysql", sql: "SELECT l.tenant FROM oracleparts PARTITION (p0), tags l"},
	{name: "a comma in an executable comment", engines: "mysql", sql: "SELECT l.tenant FROM {A.posts} p /*!, tags l */"},
	{name: "a comma after TABLESAMPLE", engines: "postgres", sql: "SELECT l.tenant FROM {A.posts} p TABLESAMPLE SYSTEM (100), tags l"},
	{name: "a join after TABLESAMPLE ... REPEATABLE", engines: "postgres", sql: "SELECT l.tenant FROM {A.posts} p TABLESAMPLE BERNOULLI (100) REPEATABLE (1) JOIN tags l ON l.id = p.id"},
	{name: "ONLY and a descendant star", engines: "postgres", sql: "SELECT l.tenant FROM ONLY {A.posts} p, tags * l"},
	{name: "a comma after NOT INDEXED", engines: "sqlite", sql: "SELECT l.tenant FROM {A.posts} p NOT INDEXED, tags l"},
	{name: "a bracketed name after a USING list", engines: "sqlite", sql: "SELECT l.tenant FROM {A.posts} p JOIN {A.comments} c USING (id), [tags] l"},
	{name: "a comma after a parenthesised join", sql: "SELECT l.tenant FROM ({A.posts} p JOIN {A.comments} c USING (id)), tags l"},
	{name: "LATERAL, then a comma", engines: "postgres", sql: "SELECT s.id FROM {A.posts} p, LATERAL (SELECT t.id FROM {A.tags} t) s (id), tags l"},
	{name: "a subselect in IN", sql: "SELECT p.id FROM {A.posts} p WHERE p.id IN (SELECT c.post_id FROM {A.comments} c JOIN {A.tags} t USING (id), tags l)"},
	{name: "a scalar subselect", sql: "SELECT p.id, (SELECT count(*) FROM {A.comments} c JOIN {A.tags} t USING (id), tags l) AS n FROM {A.posts} p"},
	{name: "a subselect in EXISTS", sql: "SELECT p.id FROM {A.posts} p WHERE EXISTS (SELECT 1 FROM {A.tags} t JOIN {A.comments} c USING (id), tags l WHERE l.id = p.id)"},
	{name: "MySQL multi-table UPDATE", engines: "mysql", write: true, sql: "UPDATE {A.posts} p, tags l SET l.tenant = l.tenant"},
	{name: "MySQL multi-table UPDATE after a USING list", engines: "mysql", write: true, sql: "UPDATE {A.posts} p JOIN {A.comments} c USING (id), tags l SET l.tenant = l.tenant"},
	{name: "MySQL DELETE of two tables", engines: "mysql", write: true, sql: "DELETE p, l FROM {A.posts} p, tags l WHERE p.id = l.id"},
	{name: "MySQL DELETE ... FROM after a USING list", engines: "mysql", write: true, sql: "DELETE l FROM {A.posts} p JOIN {A.comments} c USING (id), tags l WHERE l.id = p.id"},
	{name: "MySQL DELETE FROM ... USING after a USING list", engines: "mysql", write: true, sql: "DELETE FROM l USING {A.posts} p JOIN {A.comments} c USING (id), tags l WHERE l.id = p.id"},
	{name: "UPDATE ... FROM after a USING list", engines: "postgres sqlite", write: true, sql: "UPDATE {A.posts} AS p SET views = p.views FROM {A.comments} c JOIN {A.tags} t USING (id), tags l WHERE l.id = p.id"},
	{name: "UPDATE ... FROM", engines: "postgres sqlite", write: true, sql: "UPDATE {A.posts} AS p SET views = 0 FROM tags l WHERE l.id = p.id"},
	{name: "DELETE ... USING after a USING list", engines: "postgres", write: true, sql: "DELETE FROM {A.posts} p USING {A.comments} c JOIN {A.tags} t USING (id), tags l WHERE l.id = p.id"},
	{name: "DELETE ... USING", engines: "postgres", write: true, sql: "DELETE FROM {A.posts} p USING tags l WHERE l.id = p.id"},
	{name: "INSERT ... SELECT after a USING list", write: true, sql: "INSERT INTO {A.tags} (name) SELECT t.name FROM {A.tags} t JOIN {A.posts} p USING (id), tags l"},
	{name: "a CTE named like a tenant table, the table in a sibling", sql: "SELECT s.id FROM (WITH tags AS (SELECT id FROM {A.tags}) SELECT id FROM tags) s, (SELECT id FROM tags) s2"},
	{name: "a CTE named like a tenant table in one IN, the table in another", sql: "SELECT p.id FROM {A.posts} p WHERE p.id IN (WITH comments AS (SELECT post_id FROM {A.comments}) SELECT post_id FROM comments) OR p.id IN (SELECT post_id FROM comments)"},
	{name: "a comma after a table function's column list", engines: "postgres", sql: "SELECT g.id FROM generate_series(1, 2) AS g (id), tags l"},
	{name: "a comma after VALUES and its column list", engines: "postgres", sql: "SELECT v.id FROM (VALUES (1)) AS v (id), tags l"},
	{name: "a parenthesised table after DELETE ... USING", engines: "mysql", write: true, sql: "DELETE FROM l USING (tags l) WHERE l.id = 0"},
	{name: "a string as a qualified name", engines: "sqlite", sql: "SELECT l.tenant FROM main.'tags' l"},
	{name: "a CTE whose body names the table it is named like", sql: "WITH tags AS (SELECT id FROM tags) SELECT id FROM tags"},
	{name: "a write to the table a CTE is named like", engines: "postgres sqlite", write: true, sql: "WITH tags AS (SELECT id FROM {A.tags}) DELETE FROM tags"},
	// MariaDB resolves a name in a nested WITH's CTE to the table, not to
	// the outer CTE; PostgreSQL to the CTE.
	{name: "a nested WITH naming an outer CTE", sql: "WITH tags AS (SELECT id FROM {A.tags}) SELECT s.id FROM (WITH x AS (SELECT id FROM tags) SELECT id FROM x) s"},
	{name: "a global model joined to a tenant table, no tenant", noTenant: true, sql: "SELECT p.name FROM plans p JOIN plans q USING (id), comments c"},
	{name: "a global model with a subselect, no tenant", noTenant: true, sql: "SELECT p.name FROM plans p WHERE p.id IN (SELECT q.id FROM plans q JOIN plans r USING (id), comments c)"},
	{name: "a global model's Joins, no tenant", noTenant: true, gorm: func(db *gorm.DB, _ context.Context) *gorm.DB {
		return db.Model(&Plan{}).Joins("JOIN plans q USING (id), comments c").Find(&[]Plan{})
	}},
	// Controls.
	{name: "control: a join of the tenant's tables", sql: "SELECT p.id FROM {A.posts} p JOIN {A.comments} c ON c.post_id = p.id"},
	{name: "control: a CTE named like a tenant table, in its scope", sql: "WITH tags AS (SELECT id FROM {A.tags}) SELECT s.id FROM (SELECT id FROM tags) s"},
	{name: "control: a tenant table, unqualified", sql: "SELECT t.id FROM tags t"},
}

// seedCandidates returns the target's seeds, ready to check.
func (o *oracleRun) seedCandidates(t testing.TB) []candidate {
	t.Helper()
	var out []candidate
	for _, s := range oracleSeeds {
		if s.engines != "" && !slices.Contains(strings.Fields(s.engines), o.world.engine) {
			continue
		}
		mode := o.modes[0]
		if s.noTenant {
			mode = o.modes[1]
		}
		c := candidate{name: s.name, mode: mode, sql: o.expand(s.sql), write: s.write}
		if s.gorm != nil {
			build := s.gorm
			c.sql = o.e.db.WithContext(mode.ctx).ToSQL(func(tx *gorm.DB) *gorm.DB { return build(tx, o.modes[0].ctx) })
			c.send = func(db *gorm.DB) error { return build(db, o.modes[0].ctx).Error }
		}
		out = append(out, c)
	}
	return out
}

// PostgreSQL.

// pgResolver asks PostgreSQL for the plan, as a role that may not touch the
// forbidden relations.
type pgResolver struct {
	restricted, super *sql.Conn
}

func (r *pgResolver) resolve(ctx context.Context, query string, write bool) resolution {
	var plan []byte
	var res resolution
	err := r.restricted.QueryRowContext(ctx, "EXPLAIN (VERBOSE, FORMAT JSON) "+query).Scan(&plan)
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && pgErr.Code == "42501": // insufficient_privilege
		table, ok := strings.CutPrefix(pgErr.Message, "permission denied for table ")
		if !ok {
			return resolution{unreadable: fmt.Errorf("an unexpected refusal: %w", err)}
		}
		res.denied = []relation{{"?", table}}
		// The plan as the superuser sees it, for the report.
		if err := r.super.QueryRowContext(ctx, "EXPLAIN (VERBOSE, FORMAT JSON) "+query).Scan(&plan); err != nil {
			return resolution{unreadable: fmt.Errorf("the superuser cannot explain what the role could parse: %w", err)}
		}
	case err != nil:
		return resolution{invalid: err}
	}
	if res.relations, res.unreadable = pgRelations(plan); res.unreadable != nil || write {
		return res
	}
	named, err := r.named(ctx, query)
	if err != nil {
		return resolution{unreadable: fmt.Errorf("the plan reads, but no view can be made of it: %w", err)}
	}
	for _, rel := range named {
		if !slices.Contains(res.relations, rel) {
			res.relations = append(res.relations, rel)
		}
	}
	return res
}

// named returns the relations a query names, as PostgreSQL resolved them
// when it parsed it: the dependencies of a temporary view of it, made in a
// transaction that is rolled back. They include what the plan leaves out:
// a CTE no one uses, a subquery under a condition that is always false.
func (r *pgResolver) named(ctx context.Context, query string) ([]relation, error) {
	tx, err := r.super.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback() }()
	// As a derived table, the query may have columns of the same name.
	if _, err := tx.ExecContext(ctx, "CREATE TEMPORARY VIEW kirayedar_oracle AS SELECT 1 AS one FROM ("+query+") q"); err != nil {
		return nil, err
	}
	rows, err := tx.QueryContext(ctx, `SELECT DISTINCT n.nspname, c.relname
		FROM pg_depend d
		JOIN pg_rewrite w ON w.oid = d.objid
		JOIN pg_class c ON c.oid = d.refobjid
		JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass
		  AND w.ev_class = 'pg_temp.kirayedar_oracle'::regclass AND c.oid <> w.ev_class`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var rels []relation
	for rows.Next() {
		var rel relation
		if err := rows.Scan(&rel.schema, &rel.table); err != nil {
			return nil, err
		}
		rels = append(rels, rel)
	}
	return rels, rows.Err()
}

// pgScanNodes are the plan nodes that read or write a relation.
var pgScanNodes = map[string]bool{"Seq Scan": true, "Index Scan": true, "Index Only Scan": true,
	"Bitmap Heap Scan": true, "Tid Scan": true, "Tid Range Scan": true, "Sample Scan": true, "ModifyTable": true}

// pgRelations reads every relation of an EXPLAIN (VERBOSE, FORMAT JSON)
// plan: every node, at any depth (subplans, InitPlans, CTEs), that names
// one. A node that should name one and does not, or one without its schema,
// makes the plan unreadable.
func pgRelations(plan []byte) ([]relation, error) {
	var root []map[string]any
	if err := json.Unmarshal(plan, &root); err != nil {
		return nil, fmt.Errorf("the plan is not JSON: %w", err)
	}
	if len(root) != 1 || root[0]["Plan"] == nil {
		return nil, fmt.Errorf("no plan in %.200s", plan)
	}
	var rels []relation
	var bad error
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			name, hasName := x["Relation Name"].(string)
			schema, hasSchema := x["Schema"].(string)
			node, _ := x["Node Type"].(string)
			switch {
			case hasName && hasSchema:
				if r := (relation{schema, name}); !slices.Contains(rels, r) {
					rels = append(rels, r)
				}
			case hasName:
				bad = fmt.Errorf("a %q node names %q without its schema", node, name)
			case pgScanNodes[node]:
				bad = fmt.Errorf("a %q node names no relation", node)
			}
			for _, v := range x {
				walk(v)
			}
		}
	}
	walk(root[0]["Plan"])
	slices.SortFunc(rels, func(a, b relation) int { return strings.Compare(a.String(), b.String()) })
	return rels, bad
}

// setUpPostgres makes, for each mode, a role that may read and write every
// table except the mode's forbidden ones, and connections without the plugin
// whose search_path is the plugin's connections'.
func (o *oracleRun) setUpPostgres(t testing.TB) {
	t.Helper()
	cfg, err := pgx.ParseConfig(envOr("KIRAYEDAR_POSTGRES_DSN", defaultPostgresDSN))
	must(t, err)
	cfg.Database = o.e.d.name
	cfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol // one round trip, no statement cache
	admin := stdlib.OpenDB(*cfg)
	t.Cleanup(func() { _ = admin.Close() })
	ctx := context.Background()
	schemas := []string{o.world.global}
	if o.world.schemaTenants {
		schemas = append(schemas, o.a, o.b)
	}
	var tables []relation
	rows, err := admin.QueryContext(ctx, "SELECT schemaname, tablename FROM pg_tables WHERE schemaname = ANY($1)", schemas)
	must(t, err)
	for rows.Next() {
		var r relation
		must(t, rows.Scan(&r.schema, &r.table))
		tables = append(tables, r)
	}
	must(t, rows.Err())
	for i, mode := range o.modes {
		role := fmt.Sprintf("%s_oracle%d", o.e.d.name, i)
		stmts := []string{"CREATE ROLE " + role + " NOLOGIN"}
		for _, s := range schemas {
			stmts = append(stmts, fmt.Sprintf(`GRANT USAGE ON SCHEMA %q TO %s`, s, role))
		}
		for _, r := range tables {
			if !o.forbidden(mode, r) {
				stmts = append(stmts, fmt.Sprintf(`GRANT ALL ON TABLE %q.%q TO %s`, r.schema, r.table, role))
			}
		}
		for _, s := range stmts {
			if _, err := admin.ExecContext(ctx, s); err != nil {
				t.Fatalf("%s: %v", s, err)
			}
		}
		t.Cleanup(func() {
			_, _ = admin.Exec("DROP OWNED BY " + role)
			_, _ = admin.Exec("DROP ROLE " + role)
		})
		searchPath := ""
		if o.world.session && mode.tenant != "" {
			// As the session connector sets it.
			searchPath = fmt.Sprintf(`SET search_path = %q, %q, pg_temp`, mode.tenant, o.world.global)
		}
		mode.res = &pgResolver{
			restricted: o.pinned(t, admin, searchPath, "SET ROLE "+role),
			super:      o.pinned(t, admin, searchPath),
		}
	}
}

// pinned returns a connection of db's of its own, set up with setup. When
// the test ends it is closed, not given back to db's pool with its role or
// current database.
func (o *oracleRun) pinned(t testing.TB, db *sql.DB, setup ...string) *sql.Conn {
	t.Helper()
	conn, err := db.Conn(context.Background())
	must(t, err)
	t.Cleanup(func() {
		_ = conn.Raw(func(any) error { return driver.ErrBadConn }) // database/sql closes it
		_ = conn.Close()
	})
	for _, s := range setup {
		if s == "" {
			continue
		}
		if _, err := conn.ExecContext(context.Background(), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	return conn
}

// MariaDB.

// mysqlResolver asks MariaDB to EXPLAIN a statement as root, whether it is
// valid, then as a user that may not touch the forbidden tables.
type mysqlResolver struct {
	root, restricted *sql.Conn
	databases        map[string]bool // every database, to tell tables from columns in the rewrite
}

var mysqlDenied = regexp.MustCompile("command denied to user .* for table `([^`]*)`\\.`([^`]*)`")

func (r *mysqlResolver) resolve(ctx context.Context, query string, _ bool) resolution {
	if err := drain(r.root.QueryContext(ctx, "EXPLAIN "+query)); err != nil {
		return resolution{invalid: err}
	}
	err := drain(r.restricted.QueryContext(ctx, "EXPLAIN "+query))
	var myErr *gomysql.MySQLError
	switch {
	case err == nil:
		return resolution{}
	case errors.As(err, &myErr) && myErr.Number == 1142: // ER_TABLEACCESS_DENIED_ERROR
		if m := mysqlDenied.FindStringSubmatch(myErr.Message); m != nil {
			return resolution{denied: []relation{{m[1], m[2]}}, relations: r.rewritten(ctx, query)}
		}
	}
	return resolution{unreadable: fmt.Errorf("root may explain it, the restricted user got: %w", err)}
}

// mysqlTable is a `database`.`table` in MariaDB's rewrite of a statement;
// followed by a dot, it is a column's qualifier instead, and an alias's
// column (`t1`.`id`) names no database.
var mysqlTable = regexp.MustCompile("`([^`]*)`\\.`([^`]*)`(\\.?)")

// rewritten returns, for the report, the tables MariaDB's rewrite of the
// statement names (EXPLAIN EXTENDED, then SHOW WARNINGS): all of them as a
// rule, but it writes some (in subquery lookups) unqualified, and leaves
// subqueries it has run out, so it is not the oracle.
func (r *mysqlResolver) rewritten(ctx context.Context, query string) []relation {
	if err := drain(r.root.QueryContext(ctx, "EXPLAIN EXTENDED "+query)); err != nil {
		return nil
	}
	rows, err := r.root.QueryContext(ctx, "SHOW WARNINGS")
	if err != nil {
		return nil
	}
	defer rows.Close()
	var rels []relation
	for rows.Next() {
		var level, message string
		var code int
		if rows.Scan(&level, &code, &message) != nil || code != 1003 {
			continue
		}
		for _, m := range mysqlTable.FindAllStringSubmatch(message, -1) {
			if rel := (relation{m[1], m[2]}); m[3] == "" && r.databases[rel.schema] && !slices.Contains(rels, rel) {
				rels = append(rels, rel)
			}
		}
	}
	return rels
}

// drain reads and closes rows, returning the first error.
func drain(rows *sql.Rows, err error) error {
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
	}
	return rows.Err()
}

// setUpMySQL creates a partitioned table of the test's own (PARTITION needs
// one) and, for each mode, a user granted every table except the mode's
// forbidden ones, with connections without the plugin whose current database
// is the plugin's connections'.
func (o *oracleRun) setUpMySQL(t testing.TB) {
	t.Helper()
	dsn := envOr("KIRAYEDAR_MYSQL_DSN", defaultMySQLDSN)
	cfg, err := gomysql.ParseDSN(dsn)
	must(t, err)
	cfg.DBName = o.e.d.name
	open := func(cfg *gomysql.Config) *sql.DB {
		connector, err := gomysql.NewConnector(cfg)
		must(t, err)
		db := sql.OpenDB(connector)
		t.Cleanup(func() { _ = db.Close() })
		return db
	}
	admin := open(cfg)
	ctx := context.Background()
	o.world.partitioned = "oracleparts"
	parts := "`" + o.world.global + "`.oracleparts"
	must(t, exec(ctx, admin, "CREATE TABLE IF NOT EXISTS "+parts+" (id BIGINT PRIMARY KEY) PARTITION BY HASH (id) PARTITIONS 2"))
	t.Cleanup(func() { _, _ = admin.Exec("DROP TABLE IF EXISTS " + parts) })
	var tables []relation
	rows, err := admin.QueryContext(ctx, "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA IN (?, ?, ?)",
		o.world.global, o.a, o.b)
	must(t, err)
	for rows.Next() {
		var r relation
		must(t, rows.Scan(&r.schema, &r.table))
		tables = append(tables, r)
	}
	must(t, rows.Err())
	databases := map[string]bool{}
	rows, err = admin.QueryContext(ctx, "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA")
	must(t, err)
	for rows.Next() {
		var name string
		must(t, rows.Scan(&name))
		databases[name] = true
	}
	must(t, rows.Err())
	for i, mode := range o.modes {
		user, password := fmt.Sprintf("%s_oracle%d", o.e.d.name, i), randomID(20)
		account := "'" + user + "'@'%'"
		must(t, exec(ctx, admin, "CREATE USER "+account+" IDENTIFIED BY '"+password+"'"))
		t.Cleanup(func() { _, _ = admin.Exec("DROP USER IF EXISTS " + account) })
		for _, r := range tables {
			if !o.forbidden(mode, r) {
				must(t, exec(ctx, admin, fmt.Sprintf("GRANT ALL ON `%s`.`%s` TO %s", r.schema, r.table, account)))
			}
		}
		use := ""
		if o.world.session && mode.tenant != "" {
			use = "USE `" + mode.tenant + "`" // as the session connector does
		}
		restricted := cfg.Clone()
		restricted.User, restricted.Passwd = user, password
		mode.res = &mysqlResolver{root: o.pinned(t, admin, use), restricted: o.pinned(t, open(restricted), use), databases: databases}
	}
}

func exec(ctx context.Context, db *sql.DB, query string) error {
	if _, err := db.ExecContext(ctx, query); err != nil {
		return fmt.Errorf("%s: %w", query, err)
	}
	return nil
}

// SQLite.

// sqliteResolver reads the tables a statement opens from its EXPLAIN
// bytecode: OpenRead, OpenWrite, ReopenIdx and Clear name a table's or an
// index's root page. SQLite leaves out of the plan a LEFT JOIN whose table
// the statement uses no column of; the generator refers to a column of
// every item, so it writes none.
type sqliteResolver struct {
	db    *sql.DB
	roots map[int64]relation
}

func (r *sqliteResolver) resolve(ctx context.Context, query string, _ bool) resolution {
	rows, err := r.db.QueryContext(ctx, "EXPLAIN "+query)
	if err != nil {
		return resolution{invalid: err}
	}
	defer rows.Close()
	var res resolution
	for rows.Next() {
		var (
			addr, p1, p2, p3 int64
			opcode           string
			p4, p5, comment  any
		)
		if err := rows.Scan(&addr, &opcode, &p1, &p2, &p3, &p4, &p5, &comment); err != nil {
			return resolution{unreadable: fmt.Errorf("reading the bytecode: %w", err)}
		}
		root, db := p2, p3
		switch opcode {
		case "OpenRead", "OpenWrite", "ReopenIdx":
			if flags, _ := p5.(int64); flags&0x10 != 0 { // OPFLAG_P2ISREG: P2 is a register
				return resolution{unreadable: fmt.Errorf("%d %s takes its root page from register %d", addr, opcode, p2)}
			}
		case "Clear": // DELETE without WHERE: P1 is the root page, P2 the database
			root, db = p1, p2
		default:
			continue
		}
		if db != 0 {
			return resolution{unreadable: fmt.Errorf("%d %s opens a table of database %d, not main", addr, opcode, db)}
		}
		rel, ok := r.roots[root]
		if !ok {
			if err := r.load(ctx); err != nil {
				return resolution{unreadable: err}
			}
			if rel, ok = r.roots[root]; !ok {
				return resolution{unreadable: fmt.Errorf("%d %s opens root page %d, which sqlite_master does not list", addr, opcode, root)}
			}
		}
		if !slices.Contains(res.relations, rel) {
			res.relations = append(res.relations, rel)
		}
	}
	if err := rows.Err(); err != nil {
		return resolution{invalid: err}
	}
	return res
}

// load reads every table's and index's root page.
func (r *sqliteResolver) load(ctx context.Context) error {
	rows, err := r.db.QueryContext(ctx, "SELECT rootpage, tbl_name FROM sqlite_master WHERE rootpage > 0")
	if err != nil {
		return err
	}
	defer rows.Close()
	r.roots = map[int64]relation{}
	for rows.Next() {
		var root int64
		var table string
		if err := rows.Scan(&root, &table); err != nil {
			return err
		}
		r.roots[root] = relation{"main", table}
	}
	return rows.Err()
}

// setUpSQLite opens the database file again without the plugin, and reads
// the tables' indexes (for INDEXED BY) and root pages.
func (o *oracleRun) setUpSQLite(t testing.TB) {
	t.Helper()
	_, db, err := o.e.d.open(new(counters))
	must(t, err)
	t.Cleanup(func() { _ = db.Close() })
	res := &sqliteResolver{db: db}
	must(t, res.load(context.Background()))
	o.world.indexes = map[string][]string{}
	rows, err := db.Query("SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_autoindex%'")
	must(t, err)
	for rows.Next() {
		var name, table string
		must(t, rows.Scan(&name, &table))
		o.world.indexes[strings.ToLower(table)] = append(o.world.indexes[strings.ToLower(table)], name)
	}
	must(t, rows.Err())
	for _, mode := range o.modes {
		mode.res = res // names resolve the same under every mode
	}
}
