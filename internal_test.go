package kirayedar

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/kirayedar/kirayedar/dialect"
)

// testPlugin is a plugin as Initialize would leave it, without a database.
func testPlugin(engine dialect.Engine, strategy Strategy) *Plugin {
	p := New(Config{})
	p.engine, p.strategy, p.global = engine, strategy, "public"
	p.tables = &tableRegistry{kind: map[string]tableKind{
		"posts": tenantTable, "comments": tenantTable, "blog_posts": tenantTable, "plans": globalTable,
	}}
	p.rules = dialect.Rules{Engine: engine, GlobalSchema: "public"}
	if strategy == StrategyPrefix {
		p.rules.PrefixSeparator = "_"
	}
	return p
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
		{prefix, acme, "FROM acme_comments", nil},
		{prefix, acme, "FROM globex_comments", ErrCrossTenant},
		{prefix, acme, "FROM globex_unknown", nil},
		{prefix, nil, "FROM acme_blog_posts", ErrNoTenant},
	}
	for _, tc := range cases {
		err := tc.p.checkRaw(tc.sc, tc.sql, false)
		if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%s checkRaw(%q) = %v, want %v", tc.p.strategy, tc.sql, err, tc.want)
		}
	}
	if err := schema.checkRaw(acme, "comments c", true); !errors.Is(err, ErrUnroutable) {
		t.Errorf("a raw table expression naming a tenant table: %v", err)
	}
}

func TestResolvePrefixedNamesAreUnambiguous(t *testing.T) {
	p := testPlugin(dialect.Postgres, StrategyPrefix)
	acme := &scope{tenant: "acme"}
	phys, err := p.resolve(acme, "", "blog_posts")
	if err != nil || phys.name != "acme_blog_posts" || phys.aliased != `"acme_blog_posts" AS "blog_posts"` {
		t.Fatalf("resolve(blog_posts) = %+v, %v", phys, err)
	}
	// "acme_blog_posts" named directly is acme's own table, never tenant
	// "acme_blog"'s: tenant IDs cannot contain the separator.
	if _, err := p.resolve(acme, "", "acme_blog_posts"); err != nil {
		t.Errorf("acme's own physical table refused: %v", err)
	}
	if _, err := p.resolve(&scope{tenant: "globex"}, "", "acme_blog_posts"); !errors.Is(err, ErrCrossTenant) {
		t.Errorf("another tenant's physical table: %v, want ErrCrossTenant", err)
	}
	if _, err := p.resolve(&scope{tenant: "acme_blog"}, "", "posts"); !errors.Is(err, ErrInvalidTenantID) {
		t.Errorf("a tenant ID containing the separator: %v, want ErrInvalidTenantID", err)
	}
}

func TestPrefixCollisionsAreReserved(t *testing.T) {
	r := &tableRegistry{kind: map[string]tableKind{
		"features": tenantTable, "posts": tenantTable, "blog_posts": tenantTable,
		"plan_features": globalTable, "kirayedar_tenants": globalTable,
	}}
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

func TestPrefixIndexNames(t *testing.T) {
	cases := map[reflect.StructTag]reflect.StructTag{
		`gorm:"index"`:                              `gorm:"index"`,
		`gorm:"size:10;index:idx_a"`:                `gorm:"size:10;index:acme_idx_a"`,
		`gorm:"uniqueIndex:uix,sort:desc" json:"a"`: `gorm:"uniqueIndex:acme_uix,sort:desc" json:"a"`,
		`gorm:"index:,unique"`:                      `gorm:"index:,unique"`,
		`gorm:"index:idx_a;index:idx_b,priority:2"`: `gorm:"index:acme_idx_a;index:acme_idx_b,priority:2"`,
		`json:"x"`:                   `json:"x"`,
		`gorm:"index:acme_idx_done"`: `gorm:"index:acme_idx_done"`,
	}
	for in, want := range cases {
		if got := prefixIndexNames(in, "acme_"); got != want {
			t.Errorf("prefixIndexNames(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestKeyedMutex(t *testing.T) {
	var k keyedMutex
	ctx := context.Background()
	unlock, err := k.lock(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	// Another key is independent.
	unlockB, err := k.lock(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	unlockB()

	// The same key waits, and gives up with its context.
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := k.lock(short, "a"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second lock of a held key: %v, want DeadlineExceeded", err)
	}

	var wg sync.WaitGroup
	acquired := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		u, err := k.lock(ctx, "a")
		if err == nil {
			close(acquired)
			u()
		}
	}()
	select {
	case <-acquired:
		t.Fatal("a held key was acquired twice")
	case <-time.After(20 * time.Millisecond):
	}
	unlock()
	wg.Wait()
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.entries) != 0 {
		t.Errorf("entries left after every lock was released: %d", len(k.entries))
	}
}
