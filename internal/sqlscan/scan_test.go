package sqlscan

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/kirayedar/kirayedar/dialect"
)

const (
	pg = dialect.Postgres
	my = dialect.MySQL
	lt = dialect.SQLite
)

// names renders refs as "q.t" or "t", loose ones with a trailing "~".
func names(refs []Ref) []string {
	out := make([]string, 0, len(refs))
	for _, r := range refs {
		n := r.Name
		if r.Qualifier != "" {
			n = r.Qualifier + "." + n
		}
		if r.Loose {
			n += "~"
		}
		out = append(out, n)
	}
	return out
}

// TestScanFindsEveryTable: every name that stands where a table may is
// reported, past the forms a keyword scanner used to stop at.
func TestScanFindsEveryTable(t *testing.T) {
	cases := []struct {
		engine dialect.Engine
		sql    string
		want   []string
	}{
		// The forms of the isolation review: a list that goes on after them.
		{pg, `SELECT l.tenant FROM notes JOIN "a"."accounts" a ON a.id = notes.account_id, labels l`, []string{"notes", "a.accounts", "labels"}},
		{pg, `SELECT 1 FROM notes JOIN accounts USING (id), labels`, []string{"notes", "accounts", "labels"}},
		{pg, `SELECT 1 FROM (SELECT 1) AS x(a), labels`, []string{"labels"}},
		{pg, `SELECT 1 FROM notes AS n(a, b), labels`, []string{"notes", "labels"}},
		{my, "SELECT 1 FROM notes USE INDEX (PRIMARY), labels", []string{"notes", "labels"}},
		{my, "SELECT 1 FROM notes FORCE INDEX FOR JOIN (i) IGNORE KEY (j), labels", []string{"notes", "labels"}},
		{my, "SELECT 1 FROM notes PARTITION (p0) n, labels", []string{"notes", "labels"}},
		{pg, "SELECT 1 FROM notes TABLESAMPLE SYSTEM (10) REPEATABLE (1), labels", []string{"notes", "labels"}},
		{lt, "SELECT 1 FROM notes INDEXED BY i, labels NOT INDEXED", []string{"notes", "labels"}},
		{pg, "SELECT 1 FROM ONLY notes *, LATERAL generate_series(1, 2) WITH ORDINALITY g(a, n), labels", []string{"notes", "labels"}},
		{pg, "SELECT 1 FROM a NATURAL LEFT OUTER JOIN b CROSS JOIN c FULL JOIN d ON true", []string{"a", "b", "c", "d"}},
		{pg, "SELECT 1 FROM a JOIN b JOIN c ON c.x = b.x ON b.y = a.y, e", []string{"a", "b", "c", "e"}},
		{pg, "SELECT 1 FROM (a JOIN b ON true) JOIN (c) ON true", []string{"a", "b", "c"}},
		{my, "SELECT 1 FROM a STRAIGHT_JOIN b ON true, c", []string{"a", "b", "c"}},
		// Subqueries wherever an expression may hold one.
		{pg, "SELECT (SELECT x FROM a), ARRAY(SELECT y FROM b) FROM c WHERE id IN (SELECT z FROM d) AND EXISTS (TABLE e)", []string{"a", "b", "c", "d", "e"}},
		{pg, "SELECT 1 FROM a WHERE x = ANY (SELECT y FROM b UNION SELECT z FROM c)", []string{"a", "b", "c"}},
		{pg, "SELECT 1 FROM a WHERE x IN ((SELECT y FROM b) UNION SELECT z FROM c)", []string{"a", "b", "c"}},
		{pg, "SELECT 1 UNION ALL SELECT 2 FROM a EXCEPT TABLE b", []string{"a", "b"}},
		// Writes.
		{pg, "UPDATE a SET x = 1 FROM b, c WHERE a.id = b.id RETURNING *", []string{"a", "b", "c"}},
		{pg, "DELETE FROM a USING b, c WHERE a.id = b.id", []string{"a", "b", "c"}},
		{my, "UPDATE a, b SET a.x = b.x", []string{"a", "b"}},
		{my, "UPDATE a JOIN b ON a.id = b.id SET a.x = 1", []string{"a", "b"}},
		{my, "DELETE a, b FROM a JOIN b ON true, c", []string{"a", "b", "c", "a", "b"}},
		{my, "DELETE x, b.* FROM a AS x JOIN b ON true", []string{"a", "b", "b"}},
		{my, "DELETE FROM a, b USING a JOIN b ON true", []string{"a", "b", "a", "b"}},
		{my, "DELETE `posts` FROM `acme_posts` AS `posts` WHERE `posts`.`id` = ?", []string{"acme_posts"}},
		{pg, `INSERT INTO "acme"."posts" AS "posts" ("title") VALUES ($1) ON CONFLICT ("id") DO UPDATE SET "title"="excluded"."title" RETURNING "id"`, []string{"acme.posts"}},
		{my, "INSERT INTO a (x) SELECT y FROM b ON DUPLICATE KEY UPDATE x = VALUES(x)", []string{"a", "b"}},
		{my, "INSERT IGNORE a SET x = (SELECT 1 FROM b)", []string{"a", "b"}},
		{lt, "INSERT OR REPLACE INTO a DEFAULT VALUES", []string{"a"}},
		{my, "REPLACE INTO a VALUES (REPLACE('x', 'y', 'z'))", []string{"a"}},
		{pg, "SELECT * INTO TEMP b FROM a", []string{"b", "a"}},
		{pg, "WITH x AS (DELETE FROM a RETURNING *) INSERT INTO b SELECT * FROM x", []string{"a", "b"}},
		// CTEs shadow tables only where they are in scope.
		{pg, "WITH labels AS (SELECT 1) SELECT * FROM labels", nil},
		{pg, "SELECT * FROM (WITH labels AS (SELECT 1) SELECT * FROM labels) x, labels", []string{"labels"}},
		{pg, "WITH labels AS (SELECT * FROM labels) SELECT * FROM labels", []string{"labels"}},
		{pg, `WITH "Labels" AS (SELECT 1) SELECT * FROM labels`, []string{"labels"}},
		{pg, "WITH RECURSIVE c(n) AS (SELECT 1 UNION SELECT n + 1 FROM c) SELECT * FROM c, labels", []string{"labels"}},
		// What the differential test found: write targets are never CTEs, a
		// parenthesised list after DELETE ... USING, MariaDB's nested WITH.
		{pg, "WITH tags AS (SELECT 1) DELETE FROM tags", []string{"tags"}},
		{pg, "WITH posts (id) AS (SELECT 1) UPDATE posts SET id = 2", []string{"posts"}},
		{pg, "DELETE FROM x USING (a FULL JOIN b USING (id))", []string{"x", "a", "b"}},
		{my, "DELETE FROM l USING (tags l)", []string{"l", "tags"}},
		{my, "DELETE FROM c USING (c, d)", []string{"c", "c", "d"}},
		{my, "WITH tags AS (SELECT 1) SELECT 1 FROM tags WHERE 1 IN (WITH x AS (SELECT id FROM tags) SELECT * FROM x)", []string{"tags"}},
		{pg, "WITH tags AS (SELECT 1) SELECT 1 FROM tags WHERE 1 IN (WITH x AS (SELECT id FROM tags) SELECT * FROM x)", nil},
		// Names that are not tables.
		{pg, "SELECT EXTRACT(YEAR FROM d), SUBSTRING(s FROM 1 FOR 2), TRIM(BOTH 'x' FROM s) FROM a WHERE x IS NOT DISTINCT FROM y", []string{"a"}},
		{pg, "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x) FROM a GROUP BY y ORDER BY x USING < LIMIT 1 OFFSET 2 FOR UPDATE OF a SKIP LOCKED", []string{"a"}},
		{pg, "SELECT CAST(x AS timestamp with time zone), p.order, LEFT(s, 1) FROM a p", []string{"a"}},
		{my, "SELECT CONVERT(x USING utf8mb4) FROM a GROUP BY x WITH ROLLUP LOCK IN SHARE MODE", []string{"a"}},
		{pg, "SELECT 'FROM labels', $$ FROM labels $$, \"FROM\" FROM a", []string{"a"}},
		// Statements the reader does not follow: every name, loosely.
		{pg, `ALTER TABLE "acme"."posts" ADD x int`, []string{"ALTER~", "TABLE~", "acme~", "acme.posts~", "ADD~", "x~", "int~"}},
	}
	var s Scanner
	for _, tc := range cases {
		refs, err := s.Scan(tc.sql, tc.engine, Statements)
		if err != nil {
			t.Errorf("%s %q: %v", tc.engine, tc.sql, err)
			continue
		}
		if got := names(refs); !slices.Equal(got, tc.want) && !(len(got) == 0 && len(tc.want) == 0) {
			t.Errorf("%s %q:\n got %q\nwant %q", tc.engine, tc.sql, got, tc.want)
		}
	}
}

// TestScanRefusesWhatItCannotRead: in a statement it follows, a form the
// reader does not know is an error that says where, never a pass.
func TestScanRefusesWhatItCannotRead(t *testing.T) {
	cases := []struct {
		engine dialect.Engine
		sql    string
	}{
		{my, "SELECT 1 FROM t FOR SYSTEM_TIME ALL, labels"},
		{pg, "SELECT 1 FROM ROWS FROM (f()) x, labels"},
		{pg, "SELECT 1 FROM t WHERE a = 1, labels"},
		{pg, "SELECT 1 FROM t x y, labels"},
		{pg, "SELECT 1 FROM t TABLESAMPLE, labels"},
		{pg, "SELECT 1 FROM t WITH (NOLOCK), labels"},
		{pg, "SELECT 1 FROM ((SELECT 1) UNION (SELECT 2)) x, labels"},
		{pg, "SELECT 1 FROM t CROSS APPLY labels"},
		{pg, "UPDATE t WHERE x = 1"},
		{my, "DELETE a, b labels"},
		{pg, "SELECT 1 FROM t; SELECT 2 FROM u v w x"},
		{pg, "SELECT 1 JOIN labels ON true"},
		{pg, strings.Repeat("(", 300) + "SELECT 1 FROM labels"},
	}
	var s Scanner
	for _, tc := range cases {
		_, err := s.Scan(tc.sql, tc.engine, Statements)
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("%s %q: err = %v, want an *Error", tc.engine, tc.sql, err)
		}
	}
}

// TestScanFragments: a fragment that cannot be placed is skipped, not
// refused (its statement is read again when sent), yet every table it names
// is found.
func TestScanFragments(t *testing.T) {
	cases := []struct {
		mode Mode
		sql  string
		want []string
	}{
		{Fragment, "id IN (SELECT post_id FROM comments)", []string{"comments"}},
		{Fragment, "FROM plans p, comments c", []string{"plans", "comments"}},
		{Fragment, "title LIKE 'x' UNION SELECT id FROM comments", []string{"comments"}},
		{Fragment, "ON CONFLICT (id) DO UPDATE SET views = posts.views + 1", nil},
		{Fragment, "CONSTRAINT fk FOREIGN KEY (post_id) REFERENCES posts(id)", []string{"posts"}},
		{TableList, "JOIN ? a ON a.id = notes.account_id, labels l", []string{"labels"}},
		{TableList, ", comments", []string{"comments"}},
		{TableList, "LEFT JOIN LATERAL (SELECT * FROM comments) c ON true", []string{"comments"}},
		{TableList, "posts p", []string{"posts"}},
	}
	var s Scanner
	for _, tc := range cases {
		refs, err := s.Scan(tc.sql, pg, tc.mode)
		if err != nil {
			t.Errorf("%q: %v", tc.sql, err)
		}
		if got := names(refs); !slices.Equal(got, tc.want) && !(len(got) == 0 && len(tc.want) == 0) {
			t.Errorf("%q:\n got %q\nwant %q", tc.sql, got, tc.want)
		}
	}
}

func TestScanSpans(t *testing.T) {
	sql := `SELECT 1 FROM "acme" . "posts" p, labels`
	var s Scanner
	refs, err := s.Scan(sql, pg, Statements)
	if err != nil || len(refs) != 2 {
		t.Fatalf("refs %v, err %v", refs, err)
	}
	if got := sql[refs[0].Pos:refs[0].End]; got != `"acme" . "posts"` {
		t.Errorf("span of the first ref: %q", got)
	}
	if got := sql[refs[1].Pos:refs[1].End]; got != "labels" {
		t.Errorf("span of the second ref: %q", got)
	}
}

func TestTableExpr(t *testing.T) {
	cases := []struct {
		sql                     string
		qualifier, table, alias string
		ok                      bool
	}{
		{`"posts"`, "", "posts", "", true},
		{`"acme"."posts"`, "acme", "posts", "", true},
		{"posts AS p", "", "posts", "p", true},
		{"acme/**/./**/posts x", "acme", "posts", "x", true},
		{"ONLY posts", "", "", "", false},
		{"(SELECT 1) x", "", "", "", false},
		{"posts p JOIN c ON true", "", "", "", false},
	}
	for _, tc := range cases {
		q, tb, a, ok := TableExpr(tc.sql, pg)
		if q != tc.qualifier || tb != tc.table || a != tc.alias || ok != tc.ok {
			t.Errorf("TableExpr(%q) = %q %q %q %v", tc.sql, q, tb, a, ok)
		}
	}
}

// FuzzScan: any text, any engine, any mode: no panic, no endless loop, and
// spans inside the text.
func FuzzScan(f *testing.F) {
	for _, seed := range []string{
		"SELECT * FROM a, b", "FROM (", "JOIN ? a ON x, labels l", "WITH x AS (", "DELETE a FROM", "INSERT INTO",
		"UPDATE a SET", "(((", ")))", "'", `"`, "`", "$a$", "/*", "SELECT 1 FROM t FOR", "VALUES (", "TABLE",
	} {
		f.Add(seed)
	}
	var s Scanner
	f.Fuzz(func(t *testing.T, sql string) {
		for _, e := range []dialect.Engine{pg, my, lt} {
			for _, m := range []Mode{Statements, Fragment, TableList} {
				refs, _ := s.Scan(sql, e, m)
				for _, r := range refs {
					if r.Pos < 0 || r.End > len(sql) || r.Pos > r.End {
						t.Fatalf("%s %q: span %d..%d", e, sql, r.Pos, r.End)
					}
				}
			}
		}
	})
}

// TestScanMarksItemsAndAliases: a table of a FROM list or join, and an
// UPDATE or DELETE target, is an item, marked aliased when an alias follows
// it; an INSERT target is not. The plugin aliases a renamed item to its
// neutral name where it has none.
func TestScanMarksItemsAndAliases(t *testing.T) {
	mark := func(refs []Ref) []string {
		out := make([]string, 0, len(refs))
		for _, r := range refs {
			n := r.Name
			switch {
			case r.Aliased:
				n += " aliased"
			case r.Item:
				n += " item"
			}
			out = append(out, n)
		}
		return out
	}
	cases := []struct {
		engine dialect.Engine
		sql    string
		want   []string
	}{
		{pg, "SELECT * FROM a, b x JOIN c AS y ON true LEFT JOIN d ON true", []string{"a item", "b aliased", "c aliased", "d item"}},
		{my, "SELECT * FROM a USE INDEX (i) JOIN b PARTITION (p0) bb ON true", []string{"a item", "b aliased"}},
		{pg, "UPDATE a SET x = 1 FROM b WHERE b.id = a.id", []string{"a item", "b item"}},
		{pg, "DELETE FROM a USING b bb WHERE true", []string{"a item", "b aliased"}},
		{my, "INSERT INTO a (x) SELECT x FROM b", []string{"a", "b item"}},
		{pg, "SELECT * FROM generate_series(1, 2) g, a", []string{"a item"}},
		{my, "DELETE FROM a WHERE id IN (SELECT id FROM b)", []string{"a", "b item"}},
		{my, "DELETE a FROM a JOIN b ON true", []string{"a item", "b item", "a"}},
		{lt, "DELETE FROM a WHERE true", []string{"a item"}},
	}
	var s Scanner
	for _, tc := range cases {
		refs, err := s.Scan(tc.sql, tc.engine, Statements)
		if got := mark(refs); err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%s: %q: %v, %v, want %v", tc.engine, tc.sql, got, err, tc.want)
		}
	}
}
