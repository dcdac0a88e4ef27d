package tests

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/kirayedar/kirayedar/resolver"
)

// The resolver checks tenants through the provisioner's registry, and this
// process's Create, Rename and Drop drop its cached answers at once, however
// long they would otherwise be kept.
func TestResolverFollowsTheRegistry(t *testing.T) {
	forEachTarget(t, func(t *testing.T, e *env) {
		r, err := resolver.New(resolver.Config{PrimaryDomain: "example.com", Provisioner: e.prov, TTL: time.Hour, NegativeTTL: time.Hour})
		must(t, err)
		ctx := context.Background()
		x, y := e.tenantID(), e.tenantID()
		resolves := func(tenant string) error {
			d, err := r.ResolveHost(ctx, tenant+".example.com")
			if err == nil && d.Tenant != tenant {
				t.Fatalf("%s.example.com decided %+v", tenant, d)
			}
			return err
		}
		if err := resolves(x); !errors.Is(err, resolver.ErrUnknownTenant) {
			t.Fatalf("before Create: %v", err)
		}
		must(t, e.prov.Create(ctx, x))
		if err := resolves(x); err != nil {
			t.Fatalf("after Create: %v", err)
		}
		must(t, e.prov.Rename(ctx, x, y))
		if err := resolves(x); !errors.Is(err, resolver.ErrUnknownTenant) {
			t.Errorf("the old ID after Rename: %v", err)
		}
		if err := resolves(y); err != nil {
			t.Errorf("the new ID after Rename: %v", err)
		}
		must(t, e.prov.Drop(ctx, y))
		if err := resolves(y); !errors.Is(err, resolver.ErrUnknownTenant) {
			t.Errorf("after Drop: %v", err)
		}
		if _, err := r.ResolveHost(ctx, e.global+".example.com"); err == nil {
			t.Errorf("the global schema's name resolved as a tenant")
		}
	})
}
