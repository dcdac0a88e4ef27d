package session

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kirayedar/kirayedar/dialect"
)

// PostgreSQL: a connection set for a tenant holds the tenant's advisory lock
// (postgres.go), and a Drop or Rename takes it exclusively, ending the
// connections that hold it. These tests play the provisioner's part by hand
// on the fixture's admin pool.

// pgFixture is a PostgreSQL fixture.
func pgFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixture(t, dialect.Postgres)
}

// pid returns the server process a statement under ctx runs on.
func (f *fixture) pid(t *testing.T, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, ctx context.Context) int64 {
	t.Helper()
	var pid int64
	if err := q.QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}
	return pid
}

// lockedFor lists, as "tenant:mode", the tenants among candidates whose
// lock process pid holds.
func (f *fixture) lockedFor(t *testing.T, pid int64, candidates ...string) []string {
	t.Helper()
	var held []string
	for _, tenant := range candidates {
		rows, err := f.admin.Query("SELECT mode FROM pg_locks WHERE pid = $1 AND locktype = 'advisory' AND granted"+
			" AND classid = $2 AND objsubid = 2 AND objid = (hashtext($3)::bigint & 4294967295)::oid", pid, LockClass, tenant)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var mode string
			if err := rows.Scan(&mode); err != nil {
				t.Fatal(err)
			}
			held = append(held, tenant+":"+mode)
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return held
}

// evict does what the provisioner's Drop and Rename do before they touch
// the schema, in tx: take the tenant's lock exclusively, ending the
// processes that hold it.
func evict(t *testing.T, tx *sql.Tx, tenant string) {
	t.Helper()
	try := strings.ReplaceAll(TryTenantLock, "?", "$1")
	holders := strings.ReplaceAll(TenantLockHolders, "?", "$1")
	deadline := time.Now().Add(10 * time.Second)
	for {
		var got bool
		if err := tx.QueryRow(try, tenant).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got {
			return
		}
		if _, err := tx.Exec("SELECT pg_terminate_backend(h.pid) FROM ("+holders+") h", tenant); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatal("the connections set for the tenant did not go")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestTheTenantLockFollowsTheConnection(t *testing.T) {
	f := pgFixture(t)
	f.db.SetMaxOpenConns(1)
	a, b := forTenant(f.a), forTenant(f.b)
	pid := f.pid(t, f.db, a)
	check := func(when string, want ...string) {
		t.Helper()
		got := f.lockedFor(t, pid, f.a, f.b, "zz_no_such_tenant")
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("%s: the connection holds %v, want %v", when, got, want)
		}
	}
	check("set for a", f.a+":ShareLock")
	f.whose(f.db, b)
	check("set for b", f.b+":ShareLock")
	f.whose(f.db, forTenant(""))
	check("set for the global schema")
	f.whose(f.db, a)
	f.whose(f.db, a)
	check("set for a again", f.a+":ShareLock")

	// SQL that gives the locks back: the next statement takes a's again.
	if _, err := f.db.ExecContext(a, "SELECT pg_advisory_unlock_all()"); err != nil {
		t.Fatal(err)
	}
	check("after pg_advisory_unlock_all")
	f.whose(f.db, a)
	check("after the next statement", f.a+":ShareLock")
	f.whose(f.db, b) // releases a's once: it was held once
	check("set for b after that", f.b+":ShareLock")

	// A missing tenant: nothing is held for it, and nothing changed.
	if _, err := f.whose(f.db, forTenant("zz_no_such_tenant")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a missing tenant: %v", err)
	}
	check("after a switch to a missing tenant", f.b+":ShareLock")
	if x, err := f.whose(f.db, forTenant("")); err != nil || x != 0 {
		t.Fatalf("the global schema read %d, %v", x, err)
	}
	check("set for the global schema again")

	// Inside a transaction a switch is transaction-local, and so is the
	// lock it takes.
	tx, err := f.db.BeginTx(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	if x, err := f.whose(tx, a); err != nil || x != 10 {
		t.Fatalf("a in b's transaction read %d, %v", x, err)
	}
	check("a inside b's transaction", f.a+":ShareLock", f.b+":ShareLock")
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	check("after the transaction", f.b+":ShareLock")
	if got := f.pid(t, f.db, b); got != pid {
		t.Fatalf("the statements ran on processes %d and %d", pid, got)
	}
}

// A switch to a tenant being dropped waits for the drop's commit, then
// finds the schema missing, although its process had the schema in its
// catalog cache when it started waiting: it reads the catalog again in a
// transaction of its own.
func TestASwitchWaitsForADropAndFindsTheSchemaGone(t *testing.T) {
	f := pgFixture(t)
	f.db.SetMaxOpenConns(1)
	a, b := forTenant(f.a), forTenant(f.b)
	for _, ctx := range []context.Context{a, b} { // a in the catalog cache; set for b
		if _, err := f.whose(f.db, ctx); err != nil {
			t.Fatal(err)
		}
	}
	drop, err := f.admin.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer drop.Rollback() //nolint:errcheck
	evict(t, drop, f.a)
	if _, err := drop.Exec("DROP SCHEMA " + dialect.Postgres.QuoteIdent(f.a) + " CASCADE"); err != nil {
		t.Fatal(err)
	}
	type result struct {
		x   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		x, err := f.whose(f.db, a)
		done <- result{x, err}
	}()
	select {
	case r := <-done:
		t.Fatalf("the switch did not wait for the drop: read %d, %v", r.x, r.err)
	case <-time.After(300 * time.Millisecond):
	}
	if err := drop.Commit(); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if !errors.Is(r.err, ErrNotFound) {
		t.Fatalf("after the drop a read %d, %v; want ErrNotFound", r.x, r.err)
	}
	if x, err := f.whose(f.db, b); err != nil || x != 20 {
		t.Fatalf("b then read %d, %v", x, err)
	}
}

// The provisioner's part ends the connections set for the tenant; those
// left idle in the pool then serve other tenants after a retry, and no
// statement of the dropped tenant reads the global schema.
func TestEvictedConnectionsFailClosed(t *testing.T) {
	f := pgFixture(t)
	const n = 3
	f.db.SetMaxOpenConns(n)
	f.db.SetMaxIdleConns(n)
	a, b := forTenant(f.a), forTenant(f.b)
	conns := make([]*sql.Conn, n)
	for i := range conns {
		c, err := f.db.Conn(a)
		if err != nil {
			t.Fatal(err)
		}
		if x, err := f.whose(c, a); err != nil || x != 10 {
			t.Fatalf("connection %d: a read %d, %v", i, x, err)
		}
		conns[i] = c
	}
	for _, c := range conns {
		_ = c.Close()
	}
	drop, err := f.admin.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer drop.Rollback() //nolint:errcheck
	evict(t, drop, f.a)
	if _, err := drop.Exec("DROP SCHEMA " + dialect.Postgres.QuoteIdent(f.a) + " CASCADE"); err != nil {
		t.Fatal(err)
	}
	if err := drop.Commit(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2*n; i++ {
		if x, err := f.whose(f.db, a); err == nil {
			t.Fatalf("after the drop, a read %d", x)
		}
	}
	// Connections the drop ended and the pool still holds: a statement
	// for another tenant switches first, finds the connection gone, and
	// database/sql retries it on another.
	for i := 0; i < 2*n; i++ {
		if x, err := f.whose(f.db, b); err != nil || x != 20 {
			t.Fatalf("b read %d, %v", x, err)
		}
	}
}

// The same inside a transaction, where the switch cannot have a transaction
// of its own to read the catalog in: it locks the schema, which reads the
// catalog again.
func TestATransactionSwitchWaitsForADropAndFindsTheSchemaGone(t *testing.T) {
	f := pgFixture(t)
	f.db.SetMaxOpenConns(1)
	a, b := forTenant(f.a), forTenant(f.b)
	for _, ctx := range []context.Context{a, b} { // a in the catalog cache; set for b
		if _, err := f.whose(f.db, ctx); err != nil {
			t.Fatal(err)
		}
	}
	tx, err := f.db.BeginTx(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback() //nolint:errcheck
	drop, err := f.admin.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer drop.Rollback() //nolint:errcheck
	evict(t, drop, f.a)
	if _, err := drop.Exec("DROP SCHEMA " + dialect.Postgres.QuoteIdent(f.a) + " CASCADE"); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		x, err := f.whose(tx, a)
		if err == nil {
			err = fmt.Errorf("read %d", x)
		}
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("the switch did not wait for the drop: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	if err := drop.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, ErrNotFound) {
		t.Fatalf("after the drop, a in a transaction: %v; want ErrNotFound", err)
	}
}

// A REPEATABLE READ transaction's snapshot still shows a schema dropped
// since it was taken: a switch to it there fails rather than set a
// search_path that would fall through to the global schema.
func TestATransactionSwitchDoesNotTrustAnOldSnapshot(t *testing.T) {
	f := pgFixture(t)
	f.db.SetMaxOpenConns(1)
	a := forTenant(f.a)
	tx, err := f.db.BeginTx(forTenant(""), &sql.TxOptions{Isolation: sql.LevelRepeatableRead})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback() //nolint:errcheck
	// The transaction's snapshot.
	if x, err := f.whose(tx, forTenant("")); err != nil || x != 0 {
		t.Fatalf("global read %d, %v", x, err)
	}
	// The schema in the process's catalog cache, read in this transaction.
	var oid sql.NullString
	if err := tx.QueryRowContext(forTenant(""), "SELECT to_regnamespace($1)::text", dialect.Postgres.QuoteIdent(f.a)).Scan(&oid); err != nil || !oid.Valid {
		t.Fatalf("looking a up: %v, %v", oid, err)
	}
	if _, err := f.admin.Exec("DROP SCHEMA " + dialect.Postgres.QuoteIdent(f.a) + " CASCADE"); err != nil {
		t.Fatal(err)
	}
	x, err := f.whose(tx, a)
	if err == nil {
		t.Fatalf("in a transaction older than the drop, a read %d", x)
	}
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("got %v, want ErrNotFound", err)
	}
}

// Inside a transaction, a switch keeps the schema from being dropped, even
// by hand, until the transaction ends.
func TestATransactionSwitchHoldsOffADropByHand(t *testing.T) {
	f := pgFixture(t)
	f.db.SetMaxOpenConns(1)
	tx, err := f.db.BeginTx(forTenant(""), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback() //nolint:errcheck
	// Switched inside the transaction; none of the schema's tables read
	// (their locks alone would hold off the drop too).
	if _, err := tx.ExecContext(forTenant(f.a), "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := f.admin.ExecContext(ctx, "DROP SCHEMA "+dialect.Postgres.QuoteIdent(f.a)+" CASCADE"); err == nil {
		t.Fatal("DROP SCHEMA went through under a transaction set for the schema")
	}
	if x, err := f.whose(tx, forTenant(f.a)); err != nil || x != 10 {
		t.Fatalf("a then read %d, %v", x, err)
	}
}
