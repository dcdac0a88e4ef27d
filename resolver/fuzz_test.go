package resolver

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/kirayedar/kirayedar"
)

// FuzzResolveHost: whatever the Host header, resolving it never panics,
// never decides a tenant that is not valid and registered, never decides a
// tenant for a host outside the primary domain and the custom domains, and
// fails only with the resolver's errors. Normalizing is idempotent.
// Seeds: f.Add below and testdata/fuzz/FuzzResolveHost.
func FuzzResolveHost(f *testing.F) {
	for _, seed := range []string{
		"acme.example.com", "ACME.example.com:8080", "acme.example.com.", "admin.example.com",
		"example.com", "www.example.com", "a.acme.example.com", "[::1]:8080", "127.0.0.1",
		"shop.acme.com", "pg_catalog.example.com", "acme..example.com", "acme.example.com.evil.org",
	} {
		f.Add(seed)
	}
	reg := newRegistry()
	r := newTestResolver(f, reg, nil)
	f.Fuzz(func(t *testing.T, host string) {
		n := NormalizeHost(host)
		if n != "" && NormalizeHost(n) != n {
			t.Fatalf("NormalizeHost(%q) = %q, but NormalizeHost(%q) = %q", host, n, n, NormalizeHost(n))
		}
		d, err := r.ResolveHost(context.Background(), host)
		if err != nil {
			if d.Kind != 0 {
				t.Fatalf("%q: error %v with decision %+v", host, err, d)
			}
			if !errors.Is(err, ErrUnknownHost) && !errors.Is(err, ErrUnknownTenant) && !errors.Is(err, ErrLookup) &&
				!errors.Is(err, kirayedar.ErrInvalidTenantID) {
				t.Fatalf("%q: unexpected error %v", host, err)
			}
			return
		}
		switch d.Kind {
		case KindTenant:
			if kirayedar.ValidateTenantID(d.Tenant) != nil || !reg.tenants[d.Tenant] {
				t.Fatalf("%q: decided tenant %q, not a valid registered one", host, d.Tenant)
			}
			if !strings.HasSuffix(d.Host, ".example.com") && d.Host != "shop.acme.com" && d.Host != "acme-shop.io" {
				t.Fatalf("%q: decided tenant %q for a host outside the primary and custom domains", host, d.Tenant)
			}
		case KindAdmin:
			if d.Host != "admin.example.com" && d.Host != "ops.internal" {
				t.Fatalf("%q: the admin decision for host %q", host, d.Host)
			}
		case KindPrimary:
			if d.Host != "example.com" {
				t.Fatalf("%q: the primary decision for host %q", host, d.Host)
			}
		default:
			t.Fatalf("%q: decision %+v without an error", host, d)
		}
	})
}
