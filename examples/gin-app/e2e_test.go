package main

import (
	"bufio"
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
)

// The end-to-end tests build the app, start it on a free loopback port
// against SQLite and against PostgreSQL, and talk to it over real HTTP with
// Host headers.

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gin-app-e2e-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "gin-app")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building gin-app: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// server is a running gin-app.
type server struct {
	addr   string
	client *http.Client
}

// backend is a database the app runs on.
type backend struct {
	name string
	args func(t *testing.T) []string
	// owns, when set, is told of every tenant signed up: MySQL's tenant
	// databases are server-wide and dropped after the test.
	owns func(t *testing.T, tenant string)
}

// runSuffix keeps this run's tenant IDs apart from other runs' on servers
// where tenants are server-wide (MySQL databases).
var runSuffix = fmt.Sprint(os.Getpid()%100000 + 100000*rand.Intn(9))

var backends = []backend{
	{"sqlite", func(t *testing.T) []string {
		return []string{"-sqlite", filepath.Join(t.TempDir(), "app.db")}
	}, nil},
	{"postgres", func(t *testing.T) []string {
		dsn := os.Getenv("KIRAYEDAR_POSTGRES_DSN")
		if dsn == "" {
			dsn = "host=127.0.0.1 port=5432 user=postgres dbname=test sslmode=disable"
		}
		admin, err := sql.Open("pgx", dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = admin.Close() })
		name := fmt.Sprintf("ginapp_%d_%d", os.Getpid(), rand.Intn(1e6))
		if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
			t.Fatalf("PostgreSQL is unreachable (scripts/test.sh starts it): %v", err)
		}
		t.Cleanup(func() { _, _ = admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)") })
		return []string{"-dsn", replaceDBName(dsn, name)}
	}, nil},
	{"mysql", func(t *testing.T) []string {
		dsn := os.Getenv("KIRAYEDAR_MYSQL_DSN")
		if dsn == "" {
			dsn = "root@tcp(127.0.0.1:3306)/test"
		}
		cfg, err := mysql.ParseDSN(dsn)
		if err != nil {
			t.Fatal(err)
		}
		admin, err := sql.Open("mysql", dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = admin.Close() })
		name := fmt.Sprintf("ginapp_%s_%d", runSuffix, rand.Intn(1e6))
		if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
			t.Fatalf("MariaDB is unreachable (scripts/test.sh starts it): %v", err)
		}
		t.Cleanup(func() { _, _ = admin.Exec("DROP DATABASE IF EXISTS " + name) })
		cfg.DBName = name
		return []string{"-dsn", cfg.FormatDSN()}
	}, func(t *testing.T, tenant string) {
		dsn := os.Getenv("KIRAYEDAR_MYSQL_DSN")
		if dsn == "" {
			dsn = "root@tcp(127.0.0.1:3306)/test"
		}
		t.Cleanup(func() {
			if admin, err := sql.Open("mysql", dsn); err == nil {
				_, _ = admin.Exec("DROP DATABASE IF EXISTS `" + tenant + "`")
				_ = admin.Close()
			}
		})
	}},
}

// signup signs tenant up through the primary host.
func (b backend) signup(t *testing.T, s *server, tenant string) {
	t.Helper()
	if b.owns != nil {
		b.owns(t, tenant)
	}
	if code := s.do(t, "POST", "example.test", "/signup", map[string]string{"tenant": tenant}, nil); code != 201 {
		t.Fatalf("signing up %s: %d", tenant, code)
	}
}

func replaceDBName(dsn, name string) string {
	var parts []string
	for _, f := range strings.Fields(dsn) {
		if !strings.HasPrefix(f, "dbname=") {
			parts = append(parts, f)
		}
	}
	return strings.Join(append(parts, "dbname="+name), " ")
}

// start runs the app with args and waits until it listens.
func start(t *testing.T, args ...string) *server {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"-addr", "127.0.0.1:0"}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt) // graceful shutdown
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("gin-app exited with %v after SIGINT", err)
			}
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			t.Error("gin-app did not stop within 15s of SIGINT")
		}
	})
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var rec map[string]any
			if json.Unmarshal(sc.Bytes(), &rec) == nil && rec["msg"] == "gin-app listening" {
				addr <- rec["addr"].(string)
			}
			if rec["level"] == "ERROR" {
				t.Logf("gin-app: %s", sc.Text())
			}
		}
	}()
	select {
	case a := <-addr:
		return &server{addr: a, client: &http.Client{Timeout: 20 * time.Second}}
	case <-time.After(30 * time.Second):
		t.Fatal("gin-app did not start listening within 30s")
	}
	return nil
}

// do sends a request for host and decodes the JSON answer into out.
func (s *server) do(t testing.TB, method, host, path string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://"+s.addr+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s%s: %v", method, host, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s%s: %d %q: %v", method, host, path, resp.StatusCode, data, err)
		}
	}
	return resp.StatusCode
}

type list[T any] struct {
	Items []T `json:"items"`
	Total int `json:"total"`
}

func TestEndToEnd(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			s := start(t, b.args(t)...)
			const primary, admin = "example.test", "admin.example.test"
			acme, globex := "acme-corp"+runSuffix, "globex"+runSuffix // a hyphenated slug is the subdomain
			for _, tenant := range []string{acme, globex} {
				b.signup(t, s, tenant)
			}
			if code := s.do(t, "POST", admin, "/signup", map[string]string{"tenant": acme}, nil); code != 409 {
				t.Errorf("signing up acme again: %d, want 409", code)
			}
			if code := s.do(t, "POST", primary, "/signup", map[string]string{"tenant": "Not-Valid"}, nil); code != 400 {
				t.Errorf("signing up an invalid ID: %d, want 400", code)
			}

			for _, tenant := range []string{acme, globex} {
				host := tenant + "." + primary
				for i := 0; i < 3; i++ {
					var p Project
					if code := s.do(t, "POST", host, "/projects", map[string]string{"name": fmt.Sprintf("%s project %d", tenant, i)}, &p); code != 201 {
						t.Fatalf("%s: creating a project: %d", tenant, code)
					}
					if code := s.do(t, "POST", host, fmt.Sprintf("/projects/%d/tasks", p.ID),
						map[string]any{"title": tenant + " task", "labels": []string{tenant + "-label", "shared"}}, nil); code != 201 {
						t.Fatalf("%s: creating a task: %d", tenant, code)
					}
				}
			}
			for _, tenant := range []string{acme, globex} {
				host := tenant + "." + primary
				var projects list[Project]
				s.do(t, "GET", host, "/projects?per_page=2&page=1", nil, &projects)
				var tasks list[Task]
				s.do(t, "GET", host, "/tasks", nil, &tasks)
				if projects.Total != 3 || len(projects.Items) != 2 || tasks.Total != 3 {
					t.Errorf("%s sees %d projects (%d on page 1 of 2) and %d tasks, want 3, 2 and 3", tenant, projects.Total, len(projects.Items), tasks.Total)
				}
				for _, p := range projects.Items {
					if !strings.HasPrefix(p.Name, tenant+" ") {
						t.Errorf("%s read another tenant's project %q", tenant, p.Name)
					}
				}
				for _, task := range tasks.Items {
					if task.Title != tenant+" task" || len(task.Labels) != 2 {
						t.Errorf("%s read task %+v", tenant, task)
					}
					for _, l := range task.Labels {
						if l.Name != tenant+"-label" && l.Name != "shared" {
							t.Errorf("%s's task has another tenant's label %q", tenant, l.Name)
						}
					}
				}
			}
			t.Run("over-long fields get a 4xx that names them", func(t *testing.T) {
				host := acme + "." + primary
				var p Project
				if code := s.do(t, "POST", host, "/projects", map[string]string{"name": "bounds"}, &p); code != 201 {
					t.Fatalf("creating a project: %d", code)
				}
				mib := strings.Repeat("x", 1<<20)
				for _, tc := range []struct {
					method, path string
					body         any
					field        string
				}{
					{"POST", "/projects", map[string]string{"name": mib}, "name"},
					{"POST", "/projects", map[string]string{"name": strings.Repeat("é", 101)}, "name"},
					{"PUT", fmt.Sprintf("/projects/%d", p.ID), map[string]string{"name": mib}, "name"},
					{"POST", fmt.Sprintf("/projects/%d/tasks", p.ID), map[string]any{"title": mib}, "title"},
					{"POST", fmt.Sprintf("/projects/%d/tasks", p.ID), map[string]any{"title": "t", "labels": []string{strings.Repeat("l", 51)}}, "labels"},
				} {
					var answer map[string]any
					if code := s.do(t, tc.method, host, tc.path, tc.body, &answer); code != 422 || answer["field"] != tc.field {
						t.Errorf("%s %s with an over-long %s: %d %v, want 422 naming it", tc.method, tc.path, tc.field, code, answer)
					}
				}
				huge := map[string]string{"name": strings.Repeat("x", 5<<20)}
				if code := s.do(t, "POST", host, "/projects", huge, nil); code != 413 {
					t.Errorf("a 5 MiB body: %d, want 413", code)
				}
				if code := s.do(t, "POST", host, "/projects", map[string]string{"name": strings.Repeat("é", 100)}, nil); code != 201 {
					t.Errorf("a name of exactly 100 characters: %d, want 201", code)
				}
			})

			var plans list[Plan]
			if code := s.do(t, "GET", admin, "/plans", nil, &plans); code != 200 || len(plans.Items) != 2 {
				t.Errorf("the admin host read plans: %d, %+v", code, plans)
			}
			var tenants list[map[string]any]
			if code := s.do(t, "GET", admin, "/admin/tenants", nil, &tenants); code != 200 || len(tenants.Items) != 2 {
				t.Errorf("the admin host listed tenants: %d, %+v", code, tenants)
			}
			for _, tc := range []struct {
				host, path string
				want       int
			}{
				{"initech." + primary, "/projects", 404},
				{"elsewhere.org", "/projects", 404},
				{"pg_x." + primary, "/projects", 400},
				{"www." + primary, "/projects", 404},
				{admin, "/projects", 404},                     // no tenant routes on the admin host
				{acme + "." + primary, "/admin/tenants", 404}, // no admin routes on a tenant's host
				{"nobody.example.org", "/healthz", 200},
			} {
				if code := s.do(t, "GET", tc.host, tc.path, nil, nil); code != tc.want {
					t.Errorf("GET %s%s: %d, want %d", tc.host, tc.path, code, tc.want)
				}
			}
		})
	}
}

// TestLoad drives the app over loopback with concurrent requests for 20
// tenants, bounded in requests and time, and checks that no response ever
// holds another tenant's row; it logs the throughput beside that of the same
// app with the resolver replaced by unchecked trust in the host.
func TestLoad(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			args := b.args(t)
			rate := loadRun(t, b, start(t, args...), "load")
			base := loadRun(t, b, start(t, append(args, "-no-resolver")...), "base")
			t.Logf("%s: %.0f requests/s with the resolver, %.0f without (%.2fx)", b.name, rate, base, rate/base)
		})
	}
}

func loadRun(t *testing.T, b backend, s *server, prefix string) float64 {
	t.Helper()
	const tenants, workers, requests = 20, 16, 2000
	ids := make([]string, tenants)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s%02dr%s", prefix, i, runSuffix)
		b.signup(t, s, ids[i])
	}
	deadline := time.Now().Add(60 * time.Second)
	var sent, crossed, failed atomic.Int64
	var wg sync.WaitGroup
	began := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(int64(w)))
			for sent.Add(1) <= requests && time.Now().Before(deadline) {
				tenant := ids[rng.Intn(tenants)]
				host := tenant + ".example.test"
				if rng.Intn(3) == 0 {
					if code := s.do(t, "POST", host, "/projects", map[string]string{"name": tenant + " load"}, nil); code != 201 {
						failed.Add(1)
					}
					continue
				}
				var projects list[Project]
				if code := s.do(t, "GET", host, "/projects?per_page=50", nil, &projects); code != 200 {
					failed.Add(1)
					continue
				}
				for _, p := range projects.Items {
					if p.Name != tenant+" load" {
						crossed.Add(1)
					}
				}
			}
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(began)
	done := min(sent.Load(), requests)
	if crossed.Load() != 0 || failed.Load() != 0 {
		t.Fatalf("%d responses held another tenant's rows, %d requests failed", crossed.Load(), failed.Load())
	}
	return float64(done) / elapsed.Seconds()
}
