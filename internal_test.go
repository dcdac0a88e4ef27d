package kirayedar

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/kirayedar/kirayedar/dialect"
	"github.com/kirayedar/kirayedar/internal/sqlscan"
)

// testPlugin is a plugin as Initialize would leave it, without a database.
func testPlugin(engine dialect.Engine, strategy Strategy) *Plugin {
	p := New(Config{})
	p.engine, p.strategy, p.global = engine, strategy, engine.DefaultGlobalSchema()
	p.tables = registryOf(map[string]tableKind{
		"posts": tenantTable, "comments": tenantTable, "blog_posts": tenantTable, "plans": globalTable,
	})
	p.baseRules = dialect.Rules{Engine: engine, GlobalSchema: "public"}
	return p
}

func registryOf(kinds map[string]tableKind) *tableRegistry {
	r := &tableRegistry{}
	r.current.Store(&tableSnapshot{kind: kinds})
	return r
}

func TestMainTableOf(t *testing.T) {
	p := testPlugin(dialect.Postgres, StrategySchema)
	cases := []struct {
		table string
		expr  *clause.Expr
		want  mainTable
	}{
		{"posts", nil, mainTable{table: "posts"}},
		{"posts", &clause.Expr{SQL: `"posts"`}, mainTable{table: "posts"}},
		{"posts", &clause.Expr{SQL: `"acme"."posts"`}, mainTable{qualifier: "acme", table: "posts"}},
		{"p", &clause.Expr{SQL: "posts p"}, mainTable{table: "posts", alias: "p"}},
		{"p", &clause.Expr{SQL: "posts AS p"}, mainTable{table: "posts", alias: "p"}},
		{"p", &clause.Expr{SQL: "acme.posts as p"}, mainTable{qualifier: "acme", table: "posts", alias: "p"}},
		{"u", &clause.Expr{SQL: "(?) AS u", Vars: []any{1}}, mainTable{raw: true}},
		{"p", &clause.Expr{SQL: "(SELECT * FROM posts) p"}, mainTable{raw: true}},
		{"x", &clause.Expr{SQL: "posts p JOIN comments c ON true"}, mainTable{raw: true}},
		{"", &clause.Expr{SQL: "acme . posts"}, mainTable{qualifier: "acme", table: "posts"}},
		{"", &clause.Expr{SQL: "acme/**/./**/posts x"}, mainTable{qualifier: "acme", table: "posts", alias: "x"}},
		{"posts", &clause.Expr{SQL: "ONLY posts"}, mainTable{raw: true}},
	}
	for _, tc := range cases {
		stmt := &gorm.Statement{Table: tc.table, TableExpr: tc.expr}
		if got := p.mainTableOf(stmt); got != tc.want {
			t.Errorf("mainTableOf(%v) = %+v, want %+v", tc.expr, got, tc.want)
		}
	}
}

func TestCheckRaw(t *testing.T) {
	schema := testPlugin(dialect.Postgres, StrategySchema)
	mysql := testPlugin(dialect.MySQL, StrategySchema)
	prefix := testPlugin(dialect.SQLite, StrategyPrefix)
	acme := &scope{tenant: "acme"}
	cases := []struct {
		p    *Plugin
		sc   *scope
		sql  string
		want error
	}{
		{schema, acme, "title = ?", nil},
		{schema, acme, "posts.title = ? AND posts.views > 1", nil},
		{schema, acme, "title = 'SELECT * FROM posts'", nil},
		{schema, acme, `"from" = 1`, nil},
		{schema, acme, "id IN (SELECT post_id FROM comments)", ErrUnroutable},
		{schema, acme, "EXISTS (select 1 from Comments c where c.post_id = posts.id)", ErrUnroutable},
		{schema, acme, "JOIN comments c ON c.post_id = posts.id", ErrUnroutable},
		{schema, acme, `LEFT JOIN "comments" ON true`, ErrUnroutable},
		{schema, acme, "JOIN plans ON plans.id = posts.plan_id", nil},
		{schema, acme, "FROM plans p, comments c", ErrUnroutable},
		{schema, acme, "FROM plans AS p JOIN posts ON true", ErrUnroutable},
		{schema, acme, "UPDATE posts SET views = 1", ErrUnroutable},
		{schema, acme, "INSERT INTO comments VALUES (1)", ErrUnroutable},
		{schema, acme, "FROM acme.comments", nil},
		{schema, acme, "FROM globex.comments", ErrCrossTenant},
		{schema, acme, "FROM public.comments", ErrCrossTenant},
		{schema, nil, "FROM acme.comments", ErrNoTenant},
		{schema, &scope{global: true}, "FROM comments", nil},
		{prefix, acme, "FROM acme__comments", nil},
		{prefix, acme, "FROM globex__comments", ErrCrossTenant},
		{prefix, acme, "FROM globex__unknown", nil},
		{prefix, nil, "FROM acme_blog__posts", ErrNoTenant},
		{prefix, acme, "FROM main.globex__posts", ErrCrossTenant},
		{prefix, acme, "FROM main.posts", ErrCrossTenant},
		{prefix, acme, "FROM [comments]", ErrUnroutable},
		{prefix, acme, "FROM `COMMENTS`", ErrUnroutable},
		// What the review found escaping a keyword-after-keyword scan.
		{schema, acme, "SELECT * FROM ONLY comments", ErrUnroutable},
		{schema, acme, "EXISTS (TABLE comments)", ErrUnroutable},
		{schema, acme, "FROM (comments)", ErrUnroutable},
		{schema, acme, "FROM/**/comments", ErrUnroutable},
		{schema, acme, "FROM -- a comment\n comments", ErrUnroutable},
		{schema, acme, "STRAIGHT_JOIN comments ON true", ErrUnroutable},
		{schema, acme, "FROM globex . comments", ErrCrossTenant},
		{schema, acme, "LEFT JOIN LATERAL (SELECT * FROM comments) c ON true", ErrUnroutable},
		{schema, acme, "FROM plans, LATERAL generate_series(1, 3) g", nil},
		{schema, acme, "EXTRACT(YEAR FROM created_at)", nil},
		{schema, acme, "title = 'it''s FROM comments'", nil},
		{schema, acme, "title = E'\\' FROM comments'", nil},
		{schema, acme, "title = $$ FROM comments $$", nil},
		{schema, acme, "title = $1", nil},
		{schema, acme, `CREATE TABLE "posts" (id int)`, ErrUnroutable},
		{schema, acme, "ALTER TABLE posts ADD x int", ErrUnroutable},
		{schema, acme, "DROP TABLE IF EXISTS plans, posts CASCADE", ErrUnroutable},
		{schema, acme, "CREATE INDEX IF NOT EXISTS idx ON posts (title)", ErrUnroutable},
		{schema, acme, "CONSTRAINT fk FOREIGN KEY (post_id) REFERENCES posts(id)", ErrUnroutable},
		{schema, acme, "TRUNCATE comments", ErrUnroutable},
		{schema, acme, "JOIN x ON posts.id = x.post_id", nil},
		{schema, acme, `SELECT "acme"."posts"."id" FROM "acme"."posts"`, nil},
		// Second review: lists that go on past derived tables and functions.
		{schema, acme, "FROM (SELECT 1 AS x) s, comments", ErrUnroutable},
		{schema, acme, "FROM generate_series(1,1) g, comments c", ErrUnroutable},
		{schema, acme, "FROM (plans), comments c", ErrUnroutable},
		{schema, acme, "CROSS JOIN (SELECT 1 AS x) s, comments c", ErrUnroutable},
		{schema, acme, "FROM test.public.comments", ErrCrossTenant},
		{schema, acme, `FROM U&"comments"`, ErrUnroutable},
		{schema, acme, `FROM U&"\0063omments"`, ErrUnroutable},
		{schema, acme, "COPY comments TO STDOUT", ErrUnroutable},
		{schema, acme, "LOCK posts", ErrUnroutable},
		{schema, acme, `title LIKE'x\' UNION SELECT id FROM comments --'`, ErrUnroutable},
		{mysql, acme, "SELECT * FROM /*! comments */", ErrUnroutable},
		{mysql, acme, "SELECT id--1 AS v FROM comments", ErrUnroutable},
		{mysql, acme, "INSERT posts (title) VALUES ('x')", ErrUnroutable},
		{mysql, acme, "REPLACE posts VALUES (1)", ErrUnroutable},
		{mysql, acme, "CREATE TABLE x LIKE posts", ErrUnroutable},
		{prefix, acme, "SELECT COUNT(*) FROM 'comments'", ErrUnroutable},
		{schema, acme, "WITH RECURSIVE c(n) AS (SELECT 1) SELECT * FROM c, comments", ErrUnroutable},
		// ... and what must stay allowed: names in expressions, not tables.
		{schema, acme, "SUBSTRING(body FROM posts + 1)", nil},
		{schema, acme, "EXTRACT(YEAR FROM posts)", nil},
		{schema, acme, "title IS DISTINCT FROM posts", nil},
		{schema, acme, "title IS NOT DISTINCT FROM comments", nil},
		{mysql, acme, "ON DUPLICATE KEY UPDATE posts = posts + 1", nil},
		{mysql, acme, "REPLACE(title, 'a', 'b')", nil},
		{schema, acme, "WITH posts AS (SELECT 1) SELECT * FROM posts", nil},
		{schema, acme, "WITH x (a, b) AS MATERIALIZED (SELECT 1, 2), comments AS (SELECT 3) SELECT * FROM x, comments", nil},
		{schema, acme, "JOIN x USING (posts)", nil},
		{schema, acme, "SELECT * FROM plans FOR UPDATE OF plans", nil},
		{schema, acme, "ON CONFLICT (id) DO UPDATE SET views = posts.views + 1", nil},
		{schema, acme, "timestamp WITH TIME ZONE", nil},
	}
	// A tenant table found by its neutral name is rewritten when the
	// statement is sent: the fragment passes under a tenant and is refused
	// without one. Statements the reader does not
	// follow (DDL) are not rewritten and stay refused.
	notFollowed := func(sql string) bool {
		word, _, _ := strings.Cut(strings.ToUpper(sql), " ")
		return slices.Contains([]string{"CREATE", "ALTER", "DROP", "TRUNCATE", "COPY", "LOCK"}, word)
	}
	for _, tc := range cases {
		if tc.want == ErrUnroutable && tc.sc == acme && !notFollowed(tc.sql) {
			if err := tc.p.checkRaw(acme, tc.sql, sqlscan.Fragment); err != nil {
				t.Errorf("%s checkRaw(%q) under a tenant = %v, want nil (rewritten when sent)", tc.p.engine, tc.sql, err)
			}
			if err := tc.p.checkRaw(nil, tc.sql, sqlscan.Fragment); !errors.Is(err, ErrUnroutable) {
				t.Errorf("%s checkRaw(%q) without a tenant = %v, want ErrUnroutable", tc.p.engine, tc.sql, err)
			}
			continue
		}
		err := tc.p.checkRaw(tc.sc, tc.sql, sqlscan.Fragment)
		if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%s checkRaw(%q) = %v, want %v", tc.p.strategy, tc.sql, err, tc.want)
		}
	}
	for _, fragment := range []string{"comments c", ", comments", "ONLY comments", "LEFT JOIN comments ON true"} {
		if err := schema.checkRaw(nil, fragment, sqlscan.TableList); !errors.Is(err, ErrUnroutable) {
			t.Errorf("the table expression or join %q without a tenant: %v, want ErrUnroutable", fragment, err)
		}
		if err := prefix.checkRaw(nil, fragment, sqlscan.TableList); !errors.Is(err, ErrUnroutable) {
			t.Errorf("the table expression or join %q under StrategyPrefix without a tenant: %v, want ErrUnroutable", fragment, err)
		}
	}
}

func TestResolvePrefixedNamesAreUnambiguous(t *testing.T) {
	p := testPlugin(dialect.Postgres, StrategyPrefix)
	acme := &scope{tenant: "acme"}
	phys, err := p.resolve(acme, "", "blog_posts")
	if err != nil || phys.name != "acme__blog_posts" || phys.aliased != `"acme__blog_posts" AS "blog_posts"` {
		t.Fatalf("resolve(blog_posts) = %+v, %v", phys, err)
	}
	// "acme__blog_posts" named directly is acme's own table, never tenant
	// "acme__blog"'s: tenant IDs cannot contain the separator.
	if _, err := p.resolve(acme, "", "acme__blog_posts"); err != nil {
		t.Errorf("acme's own physical table refused: %v", err)
	}
	if _, err := p.resolve(&scope{tenant: "globex"}, "", "acme__blog_posts"); !errors.Is(err, ErrCrossTenant) {
		t.Errorf("another tenant's physical table: %v, want ErrCrossTenant", err)
	}
	if _, err := p.resolve(&scope{tenant: "acme__blog"}, "", "posts"); !errors.Is(err, ErrInvalidTenantID) {
		t.Errorf("a tenant ID containing the separator: %v, want ErrInvalidTenantID", err)
	}
	if phys, err := p.resolve(&scope{tenant: "acme_blog"}, "", "posts"); err != nil || phys.name != "acme_blog__posts" {
		t.Errorf("a tenant ID with one underscore: %+v, %v, want acme_blog__posts", phys, err)
	}
}

func TestPrefixCollisionsAreReserved(t *testing.T) {
	r := registryOf(map[string]tableKind{
		"features": tenantTable, "posts": tenantTable, "blog_posts": tenantTable,
		"plan_features": globalTable, "kirayedar_tenants": globalTable,
	})
	got := map[string]bool{}
	for _, id := range r.prefixCollisions("_") {
		got[id] = true
	}
	for _, want := range []string{"plan", "blog"} {
		if !got[want] {
			t.Errorf("tenant %q would collide but is not reserved (reserved: %v)", want, got)
		}
	}
}

// FuzzCheckRaw feeds arbitrary text to the raw-SQL check on every engine:
// it must never panic or loop, and a fragment that only prepends a comment
// or whitespace to a refused one stays refused.
func FuzzCheckRaw(f *testing.F) {
	for _, seed := range []string{
		"SELECT * FROM comments", "id IN (SELECT post_id FROM comments)", "FROM ONLY comments",
		"title = 'it''s FROM comments'", "title = E'\\\\' FROM comments'", "$$ FROM comments $$",
		"FROM /* x */ comments", "FROM [comments]", "FROM `comments`", `FROM "comments"`,
		"FROM acme.comments", "FROM acme . comments", "CREATE INDEX i ON comments (x)",
		"", "'", `"`, "`", "[", "$", "$a$", "/*", "--", "E'", "FROM", "FROM (", "FROM a,",
	} {
		f.Add(seed)
	}
	plugins := []*Plugin{
		testPlugin(dialect.Postgres, StrategySchema),
		testPlugin(dialect.MySQL, StrategySchema),
		testPlugin(dialect.SQLite, StrategyPrefix),
	}
	acme := &scope{tenant: "acme"}
	f.Fuzz(func(t *testing.T, sql string) {
		for _, p := range plugins {
			err := p.checkRaw(acme, sql, sqlscan.Fragment)
			_ = p.checkRaw(nil, sql, sqlscan.TableList)
			_, _ = p.checkRawScoped(acme, nil, sql, false)
			if err != nil {
				if again := p.checkRaw(acme, "/* c */ "+sql, sqlscan.Fragment); again == nil {
					t.Errorf("%s: %q is refused (%v) but not after a leading comment", p.engine, sql, err)
				}
			}
		}
	})
}

// BenchmarkCheckSent measures the check every statement's SQL text passes
// on its way to the driver.
func BenchmarkCheckSent(b *testing.B) {
	p := testPlugin(dialect.Postgres, StrategySchema)
	stmt := &gorm.Statement{Context: NewContext(context.Background(), "acme")}
	sql := `SELECT "posts"."id","posts"."title","Company"."id" AS "Company__id" FROM "acme"."posts" LEFT JOIN "acme"."comments" "Company" ON "posts"."company_id" = "Company"."id" WHERE "posts"."id" = $1 AND "posts"."deleted_at" IS NULL ORDER BY "posts"."id" LIMIT $2`
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := p.checkSent(stmt, nil, sql, true); err != nil {
			b.Fatal(err)
		}
	}
}

// TestCheckSentRewrites: under StrategySchema a statement naming tenant
// tables by their neutral names is sent with the tenant's tables in their
// place, and nothing else of its text changes.
func TestCheckSentRewrites(t *testing.T) {
	pg := testPlugin(dialect.Postgres, StrategySchema)
	my := testPlugin(dialect.MySQL, StrategySchema)
	pgPrefix := testPlugin(dialect.Postgres, StrategyPrefix)
	myPrefix := testPlugin(dialect.MySQL, StrategyPrefix)
	lite := testPlugin(dialect.SQLite, StrategyPrefix)
	acme := &gorm.Statement{Context: NewContext(context.Background(), "acme")}
	cases := []struct {
		p         *Plugin
		sql, want string
	}{
		{pg, "SELECT * FROM comments", `SELECT * FROM "acme"."comments"`},
		{pg, `SELECT c.body FROM comments c JOIN posts ON posts.id = c.post_id WHERE c.id IN (SELECT id FROM "comments") AND c.body <> 'FROM posts'`,
			`SELECT c.body FROM "acme"."comments" c JOIN "acme"."posts" ON posts.id = c.post_id WHERE c.id IN (SELECT id FROM "acme"."comments") AND c.body <> 'FROM posts'`},
		{pg, "WITH recent AS (SELECT * FROM posts) SELECT * FROM recent JOIN plans ON true", `WITH recent AS (SELECT * FROM "acme"."posts") SELECT * FROM recent JOIN plans ON true`},
		{pg, "UPDATE posts SET views = views + 1 WHERE id = $1", `UPDATE "acme"."posts" SET views = views + 1 WHERE id = $1`},
		{pg, "DELETE FROM comments WHERE post_id IN (SELECT id FROM posts)", `DELETE FROM "acme"."comments" WHERE post_id IN (SELECT id FROM "acme"."posts")`},
		{pg, `SELECT * FROM "acme"."posts"`, `SELECT * FROM "acme"."posts"`},
		{my, "UPDATE posts p JOIN comments ON comments.post_id = p.id SET p.views = 1", "UPDATE `acme`.`posts` p JOIN `acme`.`comments` ON comments.post_id = p.id SET p.views = 1"},
		{my, "INSERT INTO comments (body) SELECT title FROM posts", "INSERT INTO `acme`.`comments` (body) SELECT title FROM `acme`.`posts`"},
		// Under StrategyPrefix the name changes: items keep the neutral
		// name as an alias, unless they have one; INSERT targets and
		// MySQL's DELETE targets take none.
		{lite, "SELECT * FROM comments", "SELECT * FROM `acme__comments` AS `comments`"},
		{pgPrefix, "SELECT c.body FROM comments c JOIN posts ON posts.id = c.post_id", `SELECT c.body FROM "acme__comments" c JOIN "acme__posts" AS "posts" ON posts.id = c.post_id`},
		{pgPrefix, "UPDATE posts SET views = posts.views + 1", `UPDATE "acme__posts" AS "posts" SET views = posts.views + 1`},
		{pgPrefix, "INSERT INTO comments (body) SELECT title FROM posts", `INSERT INTO "acme__comments" (body) SELECT title FROM "acme__posts" AS "posts"`},
		{myPrefix, "DELETE FROM comments WHERE post_id IN (SELECT id FROM posts)", "DELETE FROM `acme__comments` WHERE post_id IN (SELECT id FROM `acme__posts` AS `posts`)"},
		{lite, "DELETE FROM comments WHERE comments.id = 1", "DELETE FROM `acme__comments` AS `comments` WHERE comments.id = 1"},
	}
	for _, tc := range cases {
		got, err := tc.p.checkSent(acme, nil, tc.sql, true)
		if err != nil || got != tc.want {
			t.Errorf("%s: checkSent(%q) =\n\t%q, %v\nwant\n\t%q", tc.p.engine, tc.sql, got, err, tc.want)
		}
	}
	// Without a tenant, and in DDL, the name is not rewritten: the
	// statement is refused.
	refused := []struct {
		p    *Plugin
		stmt *gorm.Statement
		sql  string
	}{
		{pg, &gorm.Statement{Context: context.Background()}, "SELECT * FROM comments"},
		{lite, &gorm.Statement{Context: context.Background()}, "SELECT * FROM comments"},
		{pg, acme, "TRUNCATE comments"},
		{pg, acme, "CREATE INDEX i ON comments (body)"},
	}
	for _, tc := range refused {
		if got, err := tc.p.checkSent(tc.stmt, nil, tc.sql, true); !errors.Is(err, ErrUnroutable) {
			t.Errorf("%s/%s: checkSent(%q) = %q, %v, want ErrUnroutable", tc.p.engine, tc.p.strategy, tc.sql, got, err)
		}
	}
}
