package cli_test

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/kirayedar/kirayedar"
	"github.com/kirayedar/kirayedar/cli"
)

// The whole lifecycle in text mode: create, list, status, migrate, rename,
// drop.
func TestRoundTrip(t *testing.T) {
	f := newFixture(t)

	r := mustRun(t, f.open, cli.ExitOK, "create", "acme", "globex")
	wantLines(t, r.stdout, "acme: created", "globex: created", "created 2 of 2 tenants")

	r = mustRun(t, f.open, cli.ExitOK, "list")
	if r.stdout != "acme\nglobex\n" {
		t.Errorf("list printed %q, want acme and globex", r.stdout)
	}

	r = mustRun(t, f.open, cli.ExitOK, "status")
	wantMatch(t, r.stdout, `(?m)^acme\s+ready\s+current\s+\d{4}-\d\d-\d\dT`, `(?m)^globex\s+ready\s+current\s`, `2 tenants: 2 current, 0 behind`)

	r = mustRun(t, f.open, cli.ExitOK, "migrate", "--all")
	wantMatch(t, r.stdout, `migrated 0, up to date 2, failed 0 of 2 tenants in `)

	r = mustRun(t, f.open, cli.ExitOK, "rename", "globex", "initech")
	wantLines(t, r.stdout, "globex -> initech: renamed")

	r = mustRun(t, f.open, cli.ExitOK, "drop", "--yes", "acme")
	wantLines(t, r.stdout, "acme: dropped", "dropped 1 of 1 tenant")

	r = mustRun(t, f.open, cli.ExitOK, "list")
	if r.stdout != "initech\n" {
		t.Errorf("list printed %q after rename and drop, want initech", r.stdout)
	}
	if r.stderr != "" {
		t.Errorf("a successful run printed on stderr: %q", r.stderr)
	}

	// Hyphenated slugs and IDs with one underscore, as people name tenants.
	r = mustRun(t, f.open, cli.ExitOK, "create", "acme-corp", "acme_corp")
	wantLines(t, r.stdout, "acme-corp: created", "acme_corp: created")
	r = mustRun(t, f.open, cli.ExitOK, "rename", "acme-corp", "acme-inc")
	wantLines(t, r.stdout, "acme-corp -> acme-inc: renamed")
	r = mustRun(t, f.open, cli.ExitOK, "drop", "--yes", "acme-inc", "acme_corp")
	wantLines(t, r.stdout, "acme-inc: dropped", "acme_corp: dropped")
}

// drop without --yes is refused before the database is opened.
func TestDropWithoutYes(t *testing.T) {
	f := newFixture(t)
	mustRun(t, f.open, cli.ExitOK, "create", "acme", "globex")

	for _, args := range [][]string{
		{"drop", "acme"},
		{"drop", "acme", "globex", "-o", "json"},
		{"drop", "--yes=false", "acme"},
	} {
		open, calls := opener(f.v1)
		r := mustRun(t, open, cli.ExitUsage, args...)
		if !strings.Contains(r.stderr, "without --yes") {
			t.Errorf("%q: stderr does not say --yes is needed:\n%s", args, r.stderr)
		}
		if r.stdout != "" {
			t.Errorf("%q: a refused drop printed on stdout: %q", args, r.stdout)
		}
		if n := calls.Load(); n != 0 {
			t.Errorf("%q: the database was opened %d times for a refused drop", args, n)
		}
	}
	ids, err := f.v1.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(ids, " ") != "acme globex" {
		t.Errorf("after refused drops the tenants are %v, want acme and globex", ids)
	}
}

func TestExitCodes(t *testing.T) {
	f := newFixture(t)
	mustRun(t, f.open, cli.ExitOK, "create", "acme")

	cases := []struct {
		name   string
		args   []string
		code   int
		output string // a part of stdout or stderr
	}{
		{"invalid ID", []string{"create", "Bad-ID"}, cli.ExitFailure, "invalid tenant ID"},
		{"duplicate create", []string{"create", "acme"}, cli.ExitFailure, "create failed for 1 of 1 tenant"},
		{"drop missing", []string{"drop", "--yes", "nope"}, cli.ExitFailure, "drop failed"},
		{"migrate missing", []string{"migrate", "nope"}, cli.ExitFailure, "migrate failed for 1 of 1 tenant"},
		{"rename missing", []string{"rename", "nope", "other"}, cli.ExitFailure, "tenant not found"},
		{"rename onto existing", []string{"rename", "acme", "acme"}, cli.ExitFailure, "already exists"},
		{"migrate one", []string{"migrate", "acme"}, cli.ExitOK, ""},
		{"no subcommand", nil, cli.ExitOK, ""},
		{"help", []string{"migrate", "--help"}, cli.ExitOK, ""},
		{"help command", []string{"help", "migrate"}, cli.ExitOK, ""},
		{"unknown subcommand", []string{"lst"}, cli.ExitUsage, `unknown command "lst"`},
		{"unknown flag", []string{"list", "--bogus"}, cli.ExitUsage, "unknown flag: --bogus"},
		{"bad output", []string{"list", "-o", "yaml"}, cli.ExitUsage, "want text or json"},
		{"create nothing", []string{"create"}, cli.ExitUsage, "requires at least 1 arg"},
		{"list with args", []string{"list", "acme"}, cli.ExitUsage, "unknown command"},
		{"rename one arg", []string{"rename", "acme"}, cli.ExitUsage, "accepts 2 arg(s)"},
		{"migrate nothing", []string{"migrate"}, cli.ExitUsage, "or pass --all"},
		{"migrate all and IDs", []string{"migrate", "--all", "acme"}, cli.ExitUsage, "give no IDs"},
		{"negative concurrency", []string{"migrate", "--all", "--concurrency", "-1"}, cli.ExitUsage, "--concurrency"},
		{"concurrency not a number", []string{"migrate", "--all", "--concurrency", "x"}, cli.ExitUsage, "invalid argument"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := mustRun(t, f.open, c.code, c.args...)
			if !strings.Contains(r.stdout+r.stderr, c.output) {
				t.Errorf("the output does not contain %q:\n%s%s", c.output, r.stdout, r.stderr)
			}
			if c.code == cli.ExitUsage && !strings.Contains(r.stderr, "--help' for usage") {
				t.Errorf("a usage error does not point to --help:\n%s", r.stderr)
			}
		})
	}
}

// create keeps going past a failure, and reports each ID.
func TestCreateContinuesPastFailures(t *testing.T) {
	f := newFixture(t)
	r := mustRun(t, f.open, cli.ExitFailure, "create", "Bad-ID", "acme", "acme", "globex")
	wantLines(t, r.stdout, "acme: created", "globex: created", "created 2 of 4 tenants; 2 failed")
	wantMatch(t, r.stdout, `(?m)^Bad-ID: failed: invalid tenant ID`, `(?m)^acme: failed: .*already exists`)
	r = mustRun(t, f.open, cli.ExitOK, "list")
	if r.stdout != "acme\nglobex\n" {
		t.Errorf("list printed %q, want acme and globex", r.stdout)
	}
}

// Without a terminal, migrate prints one line per tenant migrated or failed
// on stderr and the summary on stdout.
func TestMigratePlainProgress(t *testing.T) {
	f := newFixture(t)
	mustRun(t, f.open, cli.ExitOK, "create", "acme", "globex", "initech")

	r := mustRun(t, f.open2, cli.ExitOK, "migrate", "--all", "--concurrency", "2")
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("stderr has %d lines, want one per tenant:\n%s", len(lines), r.stderr)
	}
	line := regexp.MustCompile(`^\[(\d)/3\] (acme|globex|initech) migrated \d`)
	seen := map[string]bool{}
	for i, l := range lines {
		m := line.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("progress line %q does not match %s", l, line)
		}
		if m[1] != string(rune('1'+i)) {
			t.Errorf("line %d counts %s", i+1, m[1])
		}
		seen[m[2]] = true
	}
	if len(seen) != 3 {
		t.Errorf("progress lines name %v, want each tenant once", seen)
	}
	wantMatch(t, r.stdout, `^migrated 3, up to date 0, failed 0 of 3 tenants in \S+ \(models fingerprint [0-9a-f]{12}\)\n$`)
	if strings.Contains(r.stderr, "\r") || strings.Contains(r.stderr, "\x1b") {
		t.Errorf("progress on a non-terminal has control characters: %q", r.stderr)
	}

	r = mustRun(t, f.open2, cli.ExitOK, "migrate", "globex", "initech", "--force")
	wantMatch(t, r.stderr, `^(\[\d/2\] (globex|initech) migrated \S+\n){2}$`)

	// Up-to-date tenants only count: a run with little to do prints little.
	r = mustRun(t, f.open2, cli.ExitFailure, "migrate", "acme", "nope")
	wantMatch(t, r.stderr, `^\[\d/2\] nope failed \S+: tenant not found\n[^[]*$`)
	wantMatch(t, r.stdout, `up to date 1, failed 1 of 2 tenants`, `(?m)^  nope: failed: tenant not found`)
}

// migrate with IDs migrates those tenants and no other.
func TestMigrateNamedTenantsOnly(t *testing.T) {
	f := newFixture(t)
	mustRun(t, f.open, cli.ExitOK, "create", "acme", "globex", "initech")

	r := mustRun(t, f.open2, cli.ExitOK, "migrate", "acme")
	if !regexp.MustCompile(`^\[1/1\] acme migrated \S+\n$`).MatchString(r.stderr) {
		t.Errorf("migrate acme reported other tenants too (MigrateOptions.Tenants must limit the run):\n%s", r.stderr)
	}
	r = mustRun(t, f.open2, cli.ExitOK, "status")
	wantMatch(t, r.stdout, `(?m)^acme\s+ready\s+current\s`, `(?m)^globex\s+ready\s+behind\s`, `(?m)^initech\s+ready\s+behind\s`)
}

// status --fail-if-behind is a deploy gate: it fails while a tenant is
// behind the models and passes once migrate --all has run.
func TestStatusFailIfBehind(t *testing.T) {
	f := newFixture(t)
	mustRun(t, f.open, cli.ExitOK, "create", "acme", "globex")
	mustRun(t, f.open2, cli.ExitOK, "migrate", "globex") // globex is at NoteV2, acme behind

	cases := []struct {
		name string
		open cli.OpenFunc
		args []string
		code int
		want []string // patterns stdout matches
	}{
		{"behind, no gate", f.open2, []string{"status"}, cli.ExitOK,
			[]string{`(?m)^acme\s+ready\s+behind\s`, `(?m)^globex\s+ready\s+current\s`, `2 tenants: 1 current, 1 behind`}},
		{"behind, gate", f.open2, []string{"status", "--fail-if-behind"}, cli.ExitFailure,
			[]string{`(?m)^acme\s+ready\s+behind\s`}},
		{"the old models see globex behind", f.open, []string{"status", "--fail-if-behind"}, cli.ExitFailure,
			[]string{`(?m)^acme\s+ready\s+current\s`, `(?m)^globex\s+ready\s+behind\s`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := mustRun(t, c.open, c.code, c.args...)
			wantMatch(t, r.stdout, c.want...)
			if c.code == cli.ExitFailure && !strings.Contains(r.stderr, "1 tenant behind the tenant models") {
				t.Errorf("stderr does not say how many are behind:\n%s", r.stderr)
			}
		})
	}

	mustRun(t, f.open2, cli.ExitOK, "migrate", "--all")
	r := mustRun(t, f.open2, cli.ExitOK, "status", "--fail-if-behind")
	wantMatch(t, r.stdout, `2 tenants: 2 current, 0 behind`)
}

// The commands open the database only when they run, and report a failure
// to open.
func TestOpenIsLazy(t *testing.T) {
	f := newFixture(t)
	open, calls := opener(f.v1)
	_ = cli.New(open)
	if n := calls.Load(); n != 0 {
		t.Fatalf("New opened the database %d times", n)
	}
	for _, args := range [][]string{nil, {"--help"}, {"status", "--help"}, {"rename", "x"}, {"nope"}} {
		run(t, open, args...)
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("help and usage errors opened the database %d times", n)
	}
	mustRun(t, open, cli.ExitOK, "list")
	if n := calls.Load(); n != 1 {
		t.Errorf("list opened the database %d times, want 1", n)
	}

	failing := func(context.Context) (*kirayedar.Provisioner, error) { return nil, errors.New("connection refused") }
	r := mustRun(t, failing, cli.ExitFailure, "list")
	if !strings.Contains(r.stderr, "opening the database: connection refused") || r.stdout != "" {
		t.Errorf("a failure to open printed stdout %q, stderr %q", r.stdout, r.stderr)
	}
}

// A cancelled context (an interrupt) fails the run.
func TestCancelled(t *testing.T) {
	f := newFixture(t)
	mustRun(t, f.open, cli.ExitOK, "create", "acme")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var stdout, stderr strings.Builder
	for _, args := range [][]string{{"migrate", "--all", "--force"}, {"create", "globex"}} {
		stdout.Reset()
		stderr.Reset()
		if code := cli.Main(ctx, f.open, args, &stdout, &stderr); code != cli.ExitFailure {
			t.Errorf("%q under a cancelled context: exit code %d, want %d", args, code, cli.ExitFailure)
		}
		if !strings.Contains(stdout.String()+stderr.String(), "context canceled") {
			t.Errorf("%q: the output does not name the cancellation:\n%s%s", args, stdout.String(), stderr.String())
		}
	}
	r := mustRun(t, f.open, cli.ExitOK, "list")
	if r.stdout != "acme\n" {
		t.Errorf("list printed %q after a cancelled create, want acme alone", r.stdout)
	}
}

// Mounted under an application's root, the command runs as a subcommand and
// ExitCode maps its errors.
func TestMounted(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		args []string
		code int
	}{
		{[]string{"tenants", "create", "acme"}, cli.ExitOK},
		{[]string{"tenants", "create", "acme"}, cli.ExitFailure},
		{[]string{"tenants", "drop", "acme"}, cli.ExitUsage},
		{[]string{"tenants", "bogus"}, cli.ExitUsage},
		{[]string{"tenants", "list", "-o", "xml"}, cli.ExitUsage},
	}
	for _, c := range cases {
		root := &cobra.Command{Use: "app"}
		root.AddCommand(cli.New(f.open))
		var stdout, stderr strings.Builder
		root.SetOut(&stdout)
		root.SetErr(&stderr)
		root.SetArgs(c.args)
		err := root.Execute()
		if got := cli.ExitCode(err); got != c.code {
			t.Errorf("%q: ExitCode(%v) = %d, want %d", c.args, err, got, c.code)
		}
		if err != nil && strings.Count(stderr.String(), "Error:") != 1 {
			t.Errorf("%q: the error is not printed exactly once:\n%s", c.args, stderr.String())
		}
		if err != nil && strings.Contains(stdout.String(), "Usage:") {
			t.Errorf("%q: usage was printed on stdout:\n%s", c.args, stdout.String())
		}
		if c.code == cli.ExitUsage && !strings.Contains(stderr.String(), "'app tenants") {
			t.Errorf("%q: the usage hint does not name the mounted command:\n%s", c.args, stderr.String())
		}
	}
}

// wantLines fails unless each line is a whole line of s.
func wantLines(t *testing.T, s string, lines ...string) {
	t.Helper()
	have := strings.Split(s, "\n")
	for _, l := range lines {
		found := false
		for _, h := range have {
			found = found || h == l
		}
		if !found {
			t.Errorf("output has no line %q:\n%s", l, s)
		}
	}
}

// wantMatch fails unless s matches each pattern.
func wantMatch(t *testing.T, s string, patterns ...string) {
	t.Helper()
	for _, p := range patterns {
		if !regexp.MustCompile(p).MatchString(s) {
			t.Errorf("output does not match %s:\n%s", p, s)
		}
	}
}
