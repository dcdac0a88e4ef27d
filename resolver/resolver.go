// Package resolver decides, from an HTTP request's host, which tenant the
// request is for: the admin host means no tenant (the explicit global
// context), a subdomain of the primary domain is the tenant's ID, and a
// custom domain is looked up. Every answer is checked: an ID must be valid
// and the tenant must exist in the provisioner's registry (cached, with the
// cache dropped by Create, Drop and Rename in the same process). An unknown
// host never runs against the global schema.
//
// It depends on net/http only; Middleware wires it into a handler chain.
package resolver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/kirayedar/kirayedar"
)

// Errors of Resolve. An invalid tenant ID wraps kirayedar.ErrInvalidTenantID.
var (
	// ErrUnknownTenant: the host names a valid tenant ID that is not in the
	// registry (HTTP 404).
	ErrUnknownTenant = errors.New("unknown tenant")
	// ErrUnknownHost: the host is neither the admin host, the primary
	// domain, one of its subdomains nor a known custom domain, or it is an
	// excluded or nested subdomain (HTTP 404).
	ErrUnknownHost = errors.New("unknown host")
	// ErrLookup: the registry or the custom-domain lookup failed; the
	// request cannot be decided now (HTTP 503).
	ErrLookup = errors.New("tenant lookup failed")
)

// Kind is what a request was decided to be.
type Kind int

const (
	// KindTenant: a tenant's request; Decision.Tenant names it.
	KindTenant Kind = iota + 1
	// KindAdmin: the admin host. No tenant: the explicit global context.
	KindAdmin
	// KindPrimary: the bare primary domain (sign-up, landing pages). No
	// tenant: the explicit global context.
	KindPrimary
	// KindSkipped: a route the middleware was told to skip (health
	// checks). The explicit global context.
	KindSkipped
)

func (k Kind) String() string {
	switch k {
	case KindTenant:
		return "tenant"
	case KindAdmin:
		return "admin"
	case KindPrimary:
		return "primary"
	case KindSkipped:
		return "skipped"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Decision is what a request is for.
type Decision struct {
	Kind   Kind
	Tenant string // for KindTenant
	Host   string // the normalized host it was decided from
}

// Config configures a Resolver.
type Config struct {
	// PrimaryDomain: "example.com" makes "acme.example.com" tenant acme's
	// host. Required.
	PrimaryDomain string
	// AdminHosts are hosts that run without a tenant ("admin.example.com").
	AdminHosts []string
	// ExcludedSubdomains are labels under the primary domain that are never
	// tenants; nil means "www", "api", "admin", "app", "mail", "static".
	ExcludedSubdomains []string
	// TrustedHeader, when set, names a request header whose value is the
	// tenant ID, taking precedence over the host. Off by default: clients
	// can send any header. Set it only behind a proxy that sets it and
	// strips it from clients' requests.
	TrustedHeader string
	// CustomDomain looks up a host outside the primary domain
	// ("shop.acme.com") and returns its tenant, or "" for none. Optional.
	CustomDomain func(ctx context.Context, host string) (tenant string, err error)
	// Provisioner checks that a tenant exists (Exists) and validates IDs
	// with the plugin's rules; its Create, Drop and Rename drop the cached
	// answers for their tenants. Required unless Exists is set.
	Provisioner *kirayedar.Provisioner
	// Exists replaces the Provisioner's check, for tests and for
	// registries of the application's own.
	Exists func(ctx context.Context, tenant string) (bool, error)
	// Validate replaces the ID check; default: the Provisioner's plugin's
	// rules, or kirayedar.ValidateTenantID.
	Validate func(tenant string) error
	// TTL is how long an answer that found a tenant is kept (default 30s);
	// NegativeTTL how long one that found none is (default 5s).
	TTL, NegativeTTL time.Duration
}

// Resolver decides requests. It is safe for concurrent use.
type Resolver struct {
	cfg      Config
	primary  string
	admin    map[string]bool
	excluded map[string]bool
	exists   *answerCache // tenant → tenant or ""
	domains  *answerCache // custom host → tenant or ""
}

// New checks cfg and returns its Resolver.
func New(cfg Config) (*Resolver, error) {
	r := &Resolver{cfg: cfg, primary: NormalizeHost(cfg.PrimaryDomain), admin: map[string]bool{}, excluded: map[string]bool{}}
	if r.primary == "" {
		return nil, fmt.Errorf("kirayedar/resolver: PrimaryDomain %q is not a host name", cfg.PrimaryDomain)
	}
	for _, h := range cfg.AdminHosts {
		n := NormalizeHost(h)
		if n == "" {
			return nil, fmt.Errorf("kirayedar/resolver: admin host %q is not a host name", h)
		}
		r.admin[n] = true
	}
	excluded := cfg.ExcludedSubdomains
	if excluded == nil {
		excluded = []string{"www", "api", "admin", "app", "mail", "static"}
	}
	for _, l := range excluded {
		r.excluded[strings.ToLower(l)] = true
	}
	if cfg.Exists == nil {
		if cfg.Provisioner == nil {
			return nil, errors.New("kirayedar/resolver: Config.Provisioner (or Exists) is required")
		}
		cfg.Exists = cfg.Provisioner.Exists
	}
	if cfg.Validate == nil {
		cfg.Validate = kirayedar.ValidateTenantID
		if cfg.Provisioner != nil {
			cfg.Validate = cfg.Provisioner.Plugin().ValidateTenantID
		}
	}
	if cfg.TTL <= 0 {
		cfg.TTL = 30 * time.Second
	}
	if cfg.NegativeTTL <= 0 {
		cfg.NegativeTTL = 5 * time.Second
	}
	r.cfg = cfg
	r.exists = newAnswerCache(cfg.TTL, cfg.NegativeTTL)
	r.domains = newAnswerCache(cfg.TTL, cfg.NegativeTTL)
	if cfg.Provisioner != nil {
		cfg.Provisioner.OnChange(r.Invalidate)
	}
	return r, nil
}

// Invalidate drops the cached answers about tenants: whether they exist,
// and the custom domains that named them.
func (r *Resolver) Invalidate(tenants ...string) {
	r.exists.forget(tenants...)
	r.domains.forgetValues(tenants...)
}

// Resolve decides req: by the trusted header when one is configured and
// present, otherwise by req.Host.
func (r *Resolver) Resolve(req *http.Request) (Decision, error) {
	if h := r.cfg.TrustedHeader; h != "" {
		if v := req.Header.Get(h); v != "" {
			return r.tenant(req.Context(), v, NormalizeHost(req.Host))
		}
	}
	return r.ResolveHost(req.Context(), req.Host)
}

// ResolveHost decides a host.
func (r *Resolver) ResolveHost(ctx context.Context, rawHost string) (Decision, error) {
	host := NormalizeHost(rawHost)
	switch {
	case host == "":
		return Decision{}, fmt.Errorf("host %q: %w", rawHost, ErrUnknownHost)
	case r.admin[host]:
		return Decision{Kind: KindAdmin, Host: host}, nil
	case host == r.primary:
		return Decision{Kind: KindPrimary, Host: host}, nil
	case strings.HasSuffix(host, "."+r.primary):
		label := strings.TrimSuffix(host, "."+r.primary)
		if strings.Contains(label, ".") || r.excluded[label] {
			return Decision{Host: host}, fmt.Errorf("host %q: %w", host, ErrUnknownHost)
		}
		return r.tenant(ctx, label, host)
	case r.cfg.CustomDomain != nil && !isIP(host):
		tenant, err := r.domains.get(ctx, host, func(ctx context.Context) (string, error) {
			return r.cfg.CustomDomain(ctx, host)
		})
		if err != nil {
			return Decision{Host: host}, fmt.Errorf("host %q: %w: %w", host, ErrLookup, err)
		}
		if tenant == "" {
			return Decision{Host: host}, fmt.Errorf("host %q: %w", host, ErrUnknownHost)
		}
		return r.tenant(ctx, tenant, host)
	}
	return Decision{Host: host}, fmt.Errorf("host %q: %w", host, ErrUnknownHost)
}

// tenant checks a tenant ID named by a host or header.
func (r *Resolver) tenant(ctx context.Context, tenant, host string) (Decision, error) {
	if err := r.cfg.Validate(tenant); err != nil {
		return Decision{Host: host}, err
	}
	found, err := r.exists.get(ctx, tenant, func(ctx context.Context) (string, error) {
		ok, err := r.cfg.Exists(ctx, tenant)
		if err != nil || !ok {
			return "", err
		}
		return tenant, nil
	})
	if err != nil {
		return Decision{Host: host}, fmt.Errorf("tenant %q: %w: %w", tenant, ErrLookup, err)
	}
	if found == "" {
		return Decision{Host: host}, fmt.Errorf("tenant %q: %w", tenant, ErrUnknownTenant)
	}
	return Decision{Kind: KindTenant, Tenant: tenant, Host: host}, nil
}

// PrimaryDomain returns the normalized primary domain.
func (r *Resolver) PrimaryDomain() string { return r.primary }
