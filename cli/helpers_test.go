package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/glebarez/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/kirayedar/kirayedar"
	"github.com/kirayedar/kirayedar/cli"
)

// Note is the tenant model.
type Note struct {
	ID   uint
	Text string
}

// NoteV2 is the next version of Note: one more field, the same table. A
// provisioner built with it sees tenants migrated to Note as behind.
type NoteV2 struct {
	ID     uint
	Text   string
	Pinned bool
}

func (NoteV2) TableName() string { return "notes" }

// newDSN returns the DSN of a fresh SQLite file in the test's directory.
func newDSN(t *testing.T) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "tenants.db") +
		"?_pragma=busy_timeout(20000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_txlock=immediate"
}

// provisioner opens dsn with a plugin whose one tenant model is model, under
// the prefix strategy.
func provisioner(t *testing.T, dsn string, model any) *kirayedar.Provisioner {
	t.Helper()
	db, err := gorm.Open(sqlite.Open(dsn), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if sqlDB, err := db.DB(); err == nil {
			_ = sqlDB.Close()
		}
	})
	if err := db.Use(kirayedar.New(kirayedar.Config{
		TenantModels: []any{model},
		Strategy:     kirayedar.StrategyPrefix,
	})); err != nil {
		t.Fatal(err)
	}
	prov, err := kirayedar.NewProvisioner(db)
	if err != nil {
		t.Fatal(err)
	}
	return prov
}

// opener returns an OpenFunc handing out prov, and the number of calls.
func opener(prov *kirayedar.Provisioner) (cli.OpenFunc, *atomic.Int32) {
	var calls atomic.Int32
	return func(context.Context) (*kirayedar.Provisioner, error) {
		calls.Add(1)
		return prov, nil
	}, &calls
}

// fixture is a SQLite database with two provisioners on it: v1 migrates to
// Note, v2 to NoteV2, so tenants made by v1 are behind for v2.
type fixture struct {
	v1, v2      *kirayedar.Provisioner
	open, open2 cli.OpenFunc
}

func newFixture(t *testing.T) *fixture {
	dsn := newDSN(t)
	f := &fixture{v1: provisioner(t, dsn, &Note{}), v2: provisioner(t, dsn, &NoteV2{})}
	f.open, _ = opener(f.v1)
	f.open2, _ = opener(f.v2)
	return f
}

// result is what one run of the command printed and returned.
type result struct {
	stdout, stderr string
	code           int
}

// run runs the tenants command with args through Main.
func run(t *testing.T, open cli.OpenFunc, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := cli.Main(context.Background(), open, args, &stdout, &stderr)
	return result{stdout: stdout.String(), stderr: stderr.String(), code: code}
}

// mustRun runs args and fails the test unless the exit code is want.
func mustRun(t *testing.T, open cli.OpenFunc, want int, args ...string) result {
	t.Helper()
	r := run(t, open, args...)
	if r.code != want {
		t.Fatalf("%q: exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", args, r.code, want, r.stdout, r.stderr)
	}
	return r
}

// decodeOne parses stdout as exactly one JSON object.
func decodeOne(t *testing.T, stdout string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader([]byte(stdout)))
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("stdout is not a JSON object: %v\n%s", err, stdout)
	}
	if err := dec.Decode(new(any)); !errors.Is(err, io.EOF) {
		t.Fatalf("stdout holds more than one JSON document (%v):\n%s", err, stdout)
	}
	return doc
}
