package resolver

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/kirayedar/kirayedar"
)

type decisionKey struct{}

// FromContext returns the Decision the middleware made for the request whose
// context ctx is.
func FromContext(ctx context.Context) (Decision, bool) {
	d, ok := ctx.Value(decisionKey{}).(Decision)
	return d, ok
}

// WithDecision returns ctx carrying d and the tenancy it means: the tenant
// (kirayedar.NewContext) or, for any other kind, kirayedar.GlobalContext.
// Middleware for other frameworks uses it.
func WithDecision(ctx context.Context, d Decision) context.Context {
	if d.Kind == KindTenant {
		ctx = kirayedar.NewContext(ctx, d.Tenant)
	} else {
		ctx = kirayedar.GlobalContext(ctx)
	}
	return context.WithValue(ctx, decisionKey{}, d)
}

// Status is the HTTP status for an error of Resolve: 400 for an invalid
// tenant ID, 404 for an unknown tenant or host, 503 for a failed lookup.
func Status(err error) int {
	switch {
	case errors.Is(err, kirayedar.ErrInvalidTenantID):
		return http.StatusBadRequest
	case errors.Is(err, ErrLookup):
		return http.StatusServiceUnavailable
	case errors.Is(err, ErrUnknownTenant), errors.Is(err, ErrUnknownHost):
		return http.StatusNotFound
	}
	return http.StatusInternalServerError
}

// Code is a short machine-readable name for an error of Resolve, for
// response bodies: "invalid_tenant", "unknown_tenant", "unknown_host",
// "lookup_failed".
func Code(err error) string {
	switch {
	case errors.Is(err, kirayedar.ErrInvalidTenantID):
		return "invalid_tenant"
	case errors.Is(err, ErrLookup):
		return "lookup_failed"
	case errors.Is(err, ErrUnknownTenant):
		return "unknown_tenant"
	case errors.Is(err, ErrUnknownHost):
		return "unknown_host"
	}
	return "internal_error"
}

// WriteError is the default error response: Status(err) with a small JSON
// body {"error": Code(err), "message": ...}. Lookup failures do not echo
// the cause to the client.
func WriteError(w http.ResponseWriter, _ *http.Request, err error) {
	status := Status(err)
	msg := err.Error()
	if status >= 500 {
		msg = "the tenant cannot be looked up right now"
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": Code(err), "message": msg})
}

// Option configures Middleware.
type Option func(*middlewareOptions)

type middlewareOptions struct {
	onError func(http.ResponseWriter, *http.Request, error)
	skip    func(*http.Request) bool
}

// WithErrorHandler replaces WriteError.
func WithErrorHandler(fn func(w http.ResponseWriter, r *http.Request, err error)) Option {
	return func(o *middlewareOptions) { o.onError = fn }
}

// WithSkip makes requests for which skip returns true run without a host
// decision, under kirayedar.GlobalContext (KindSkipped): health checks and
// other routes that are global by nature.
func WithSkip(skip func(r *http.Request) bool) Option {
	return func(o *middlewareOptions) { o.skip = skip }
}

// SkipPaths is WithSkip for exact URL paths.
func SkipPaths(paths ...string) Option {
	set := map[string]bool{}
	for _, p := range paths {
		set[p] = true
	}
	return WithSkip(func(r *http.Request) bool { return set[r.URL.Path] })
}

// Middleware decides every request before next runs: a tenant's request gets
// the tenant in r.Context(), the admin host and the primary domain the
// explicit global context; an invalid tenant ID is answered 400, an unknown
// tenant or host 404, a failed lookup 503, and next does not run.
func (r *Resolver) Middleware(next http.Handler, opts ...Option) http.Handler {
	o := middlewareOptions{onError: WriteError}
	for _, opt := range opts {
		opt(&o)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if o.skip != nil && o.skip(req) {
			next.ServeHTTP(w, req.WithContext(WithDecision(req.Context(), Decision{Kind: KindSkipped, Host: NormalizeHost(req.Host)})))
			return
		}
		d, err := r.Resolve(req)
		if err != nil {
			o.onError(w, req, err)
			return
		}
		next.ServeHTTP(w, req.WithContext(WithDecision(req.Context(), d)))
	})
}
