package resolver

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kirayedar/kirayedar"
)

// registry is a fake registry that counts its lookups.
type registry struct {
	mu      sync.Mutex
	tenants map[string]bool
	lookups atomic.Int64
	fail    bool
	delay   time.Duration
}

func (g *registry) exists(ctx context.Context, tenant string) (bool, error) {
	g.lookups.Add(1)
	time.Sleep(g.delay)
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.fail {
		return false, errors.New("connection refused")
	}
	return g.tenants[tenant], nil
}

func (g *registry) set(tenant string, ok bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.tenants[tenant] = ok
}

func newTestResolver(t testing.TB, reg *registry, edit func(*Config)) *Resolver {
	t.Helper()
	cfg := Config{
		PrimaryDomain: "example.com",
		AdminHosts:    []string{"admin.example.com", "ops.internal"},
		Exists:        reg.exists,
		CustomDomain: func(_ context.Context, host string) (string, error) {
			switch host {
			case "shop.acme.com", "acme-shop.io":
				return "acme", nil
			case "ghost-shop.io":
				return "ghost", nil
			case "broken.io":
				return "", errors.New("timeout")
			}
			return "", nil
		},
	}
	if edit != nil {
		edit(&cfg)
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func newRegistry() *registry {
	return &registry{tenants: map[string]bool{"acme": true, "globex": true, "t_42": true, "www2": true, "acme-corp": true}}
}

func TestResolveHost(t *testing.T) {
	r := newTestResolver(t, newRegistry(), nil)
	tenant := func(id string) Decision { return Decision{Kind: KindTenant, Tenant: id} }
	admin, primary := Decision{Kind: KindAdmin}, Decision{Kind: KindPrimary}
	for _, tc := range []struct {
		host string
		want Decision
		err  error
	}{
		// tenants under the primary domain
		{"acme.example.com", tenant("acme"), nil},
		{"ACME.Example.COM", tenant("acme"), nil},
		{"acme.example.com:8080", tenant("acme"), nil},
		{"acme.example.com.", tenant("acme"), nil},
		{"acme.example.com.:443", tenant("acme"), nil},
		{"  acme.example.com  ", tenant("acme"), nil},
		{"globex.example.com", tenant("globex"), nil},
		{"t_42.example.com", tenant("t_42"), nil},
		{"www2.example.com", tenant("www2"), nil},
		{"acme-corp.example.com", tenant("acme-corp"), nil},
		// the admin hosts and the bare primary domain
		{"admin.example.com", admin, nil},
		{"ADMIN.example.com:9000", admin, nil},
		{"admin.example.com.", admin, nil},
		{"ops.internal", admin, nil},
		{"example.com", primary, nil},
		{"Example.com:80", primary, nil},
		{"example.com.", primary, nil},
		// excluded and nested subdomains
		{"www.example.com", Decision{}, ErrUnknownHost},
		{"api.example.com", Decision{}, ErrUnknownHost},
		{"WWW.example.com", Decision{}, ErrUnknownHost},
		{"static.example.com", Decision{}, ErrUnknownHost},
		{"a.acme.example.com", Decision{}, ErrUnknownHost},
		{"www.acme.example.com", Decision{}, ErrUnknownHost},
		// invalid labels
		{"-acme.example.com", Decision{}, kirayedar.ErrInvalidTenantID},
		{"acme-.example.com", Decision{}, kirayedar.ErrInvalidTenantID},
		{"pg_catalog.example.com", Decision{}, kirayedar.ErrInvalidTenantID},
		{"public.example.com", Decision{}, kirayedar.ErrInvalidTenantID},
		{"information_schema.example.com", Decision{}, kirayedar.ErrInvalidTenantID},
		{"a12345678901234567890123456789012345678901234567890123456789012345.example.com", Decision{}, kirayedar.ErrInvalidTenantID},
		{"xn--80ak6aa92e.example.com", Decision{}, ErrUnknownTenant}, // a valid ID, never created
		// unknown tenants
		{"initech.example.com", Decision{}, ErrUnknownTenant},
		{"acme2.example.com", Decision{}, ErrUnknownTenant},
		{"ac-me.example.com", Decision{}, ErrUnknownTenant},
		// custom domains
		{"shop.acme.com", tenant("acme"), nil},
		{"SHOP.ACME.COM.:8443", tenant("acme"), nil},
		{"acme-shop.io", tenant("acme"), nil},
		{"ghost-shop.io", Decision{}, ErrUnknownTenant},
		{"broken.io", Decision{}, ErrLookup},
		{"unknown.org", Decision{}, ErrUnknownHost},
		// look-alikes of the primary domain
		{"notexample.com", Decision{}, ErrUnknownHost},
		{"acme.example.com.evil.org", Decision{}, ErrUnknownHost},
		{"example.com.evil.org", Decision{}, ErrUnknownHost},
		// IP literals and malformed hosts
		{"127.0.0.1", Decision{}, ErrUnknownHost},
		{"127.0.0.1:8080", Decision{}, ErrUnknownHost},
		{"[::1]", Decision{}, ErrUnknownHost},
		{"[::1]:8080", Decision{}, ErrUnknownHost},
		{"[2001:DB8::1]:443", Decision{}, ErrUnknownHost},
		{"::1", Decision{}, ErrUnknownHost},
		{"", Decision{}, ErrUnknownHost},
		{":8080", Decision{}, ErrUnknownHost},
		{"[::1", Decision{}, ErrUnknownHost},
		{"acme..example.com", Decision{}, ErrUnknownHost},
		{"acme.example.com:http", Decision{}, ErrUnknownHost},
		{"user@acme.example.com", Decision{}, ErrUnknownHost},
		{"acme.example.com/path", Decision{}, ErrUnknownHost},
		{"acme\x00.example.com", Decision{}, ErrUnknownHost},
	} {
		got, err := r.ResolveHost(context.Background(), tc.host)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("%q: %+v, %v; want %v", tc.host, got, err, tc.err)
			}
			if got.Kind != 0 {
				t.Errorf("%q: an error with a decision %+v", tc.host, got)
			}
			continue
		}
		if err != nil || got.Kind != tc.want.Kind || got.Tenant != tc.want.Tenant {
			t.Errorf("%q: %+v, %v; want %+v", tc.host, got, err, tc.want)
		}
	}
}

func TestTrustedHeader(t *testing.T) {
	reg := newRegistry()
	off := newTestResolver(t, reg, nil)
	on := newTestResolver(t, reg, func(c *Config) { c.TrustedHeader = "X-Tenant" })
	req := httptest.NewRequest("GET", "http://globex.example.com/", nil)
	req.Header.Set("X-Tenant", "acme")
	if d, err := off.Resolve(req); err != nil || d.Tenant != "globex" {
		t.Errorf("without TrustedHeader the header was obeyed: %+v, %v", d, err)
	}
	if d, err := on.Resolve(req); err != nil || d.Tenant != "acme" {
		t.Errorf("with TrustedHeader: %+v, %v", d, err)
	}
	req.Header.Set("X-Tenant", "Not Valid")
	if _, err := on.Resolve(req); !errors.Is(err, kirayedar.ErrInvalidTenantID) {
		t.Errorf("an invalid header value: %v", err)
	}
}

func TestCacheKeepsAnswersAndForgetsOnChange(t *testing.T) {
	reg := newRegistry()
	r := newTestResolver(t, reg, func(c *Config) { c.TTL, c.NegativeTTL = time.Hour, time.Hour })
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		if _, err := r.ResolveHost(ctx, "acme.example.com"); err != nil {
			t.Fatal(err)
		}
		if _, err := r.ResolveHost(ctx, "initech.example.com"); !errors.Is(err, ErrUnknownTenant) {
			t.Fatal(err)
		}
	}
	if n := reg.lookups.Load(); n != 2 {
		t.Fatalf("%d registry lookups for 10 requests over 2 hosts, want 2", n)
	}
	reg.set("initech", true)
	reg.set("acme", false)
	r.Invalidate("initech", "acme") // what a Create and a Drop in this process do
	if d, err := r.ResolveHost(ctx, "initech.example.com"); err != nil || d.Tenant != "initech" {
		t.Errorf("a tenant created after a miss: %+v, %v", d, err)
	}
	if _, err := r.ResolveHost(ctx, "acme.example.com"); !errors.Is(err, ErrUnknownTenant) {
		t.Errorf("a dropped tenant: %v", err)
	}
	if _, err := r.ResolveHost(ctx, "shop.acme.com"); !errors.Is(err, ErrUnknownTenant) {
		t.Errorf("the custom domain of a dropped tenant: %v", err)
	}
}

func TestCacheExpires(t *testing.T) {
	reg := newRegistry()
	r := newTestResolver(t, reg, nil)
	now := time.Now()
	r.exists.now = func() time.Time { return now }
	ctx := context.Background()
	_, _ = r.ResolveHost(ctx, "initech.example.com")
	reg.set("initech", true)
	now = now.Add(4 * time.Second)
	if _, err := r.ResolveHost(ctx, "initech.example.com"); !errors.Is(err, ErrUnknownTenant) {
		t.Errorf("the miss expired before NegativeTTL: %v", err)
	}
	now = now.Add(2 * time.Second)
	if _, err := r.ResolveHost(ctx, "initech.example.com"); err != nil {
		t.Errorf("the miss outlived NegativeTTL: %v", err)
	}
}

func TestConcurrentMissesLookUpOnce(t *testing.T) {
	reg := newRegistry()
	reg.delay = 50 * time.Millisecond
	r := newTestResolver(t, reg, nil)
	var wg sync.WaitGroup
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := r.ResolveHost(context.Background(), "globex.example.com"); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := reg.lookups.Load(); n != 1 {
		t.Errorf("64 concurrent misses for one host caused %d lookups, want 1", n)
	}
}

func TestFailedLookupsAreNotCached(t *testing.T) {
	reg := newRegistry()
	r := newTestResolver(t, reg, nil)
	reg.fail = true
	if _, err := r.ResolveHost(context.Background(), "acme.example.com"); !errors.Is(err, ErrLookup) {
		t.Fatalf("a failing registry: %v", err)
	}
	reg.fail = false
	if _, err := r.ResolveHost(context.Background(), "acme.example.com"); err != nil {
		t.Errorf("after the registry recovered: %v", err)
	}
}

func TestMiddleware(t *testing.T) {
	reg := newRegistry()
	r := newTestResolver(t, reg, nil)
	handler := r.Middleware(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		d, _ := FromContext(req.Context())
		tenant, _ := kirayedar.FromContext(req.Context())
		_ = json.NewEncoder(w).Encode(map[string]any{"kind": d.Kind.String(), "tenant": tenant, "global": kirayedar.IsGlobal(req.Context())})
	}), SkipPaths("/healthz"))
	for _, tc := range []struct {
		host, path string
		status     int
		body       map[string]any
	}{
		{"acme.example.com", "/", 200, map[string]any{"kind": "tenant", "tenant": "acme", "global": false}},
		{"admin.example.com", "/", 200, map[string]any{"kind": "admin", "tenant": "", "global": true}},
		{"example.com", "/signup", 200, map[string]any{"kind": "primary", "tenant": "", "global": true}},
		{"nobody.example.com", "/healthz", 200, map[string]any{"kind": "skipped", "tenant": "", "global": true}},
		{"nobody.example.com", "/", 404, map[string]any{"error": "unknown_tenant"}},
		{"elsewhere.org", "/", 404, map[string]any{"error": "unknown_host"}},
		{"pg_x.example.com", "/", 400, map[string]any{"error": "invalid_tenant"}},
		{"broken.io", "/", 503, map[string]any{"error": "lookup_failed"}},
	} {
		req := httptest.NewRequest("GET", "http://"+tc.host+tc.path, nil)
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		var body map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatalf("%s%s: body %q: %v", tc.host, tc.path, rec.Body.String(), err)
		}
		if rec.Code != tc.status {
			t.Errorf("%s%s: status %d, want %d (%v)", tc.host, tc.path, rec.Code, tc.status, body)
		}
		for k, v := range tc.body {
			if body[k] != v {
				t.Errorf("%s%s: %s = %v, want %v", tc.host, tc.path, k, body[k], v)
			}
		}
	}
	custom := r.Middleware(http.NotFoundHandler(), WithErrorHandler(func(w http.ResponseWriter, _ *http.Request, err error) {
		w.WriteHeader(418)
	}))
	rec := httptest.NewRecorder()
	custom.ServeHTTP(rec, httptest.NewRequest("GET", "http://elsewhere.org/", nil))
	if rec.Code != 418 {
		t.Errorf("WithErrorHandler was not used: %d", rec.Code)
	}
}
