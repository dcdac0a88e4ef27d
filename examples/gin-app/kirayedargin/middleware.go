// Package kirayedargin is Kirayedar's resolver as gin middleware. It lives in
// the gin-app example's module so that the core module does not depend on
// gin; copy it, or import it from this module.
package kirayedargin

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/kirayedar/kirayedar/resolver"
)

// Option configures Middleware.
type Option func(*options)

type options struct {
	onError func(*gin.Context, error)
	skip    func(*http.Request) bool
}

// WithErrorHandler replaces the default error response (resolver.WriteError:
// 400, 404 or 503 with a small JSON body). The handler must write a response;
// the chain is aborted after it.
func WithErrorHandler(fn func(c *gin.Context, err error)) Option {
	return func(o *options) { o.onError = fn }
}

// SkipPaths runs requests for these exact paths without a host decision,
// under kirayedar.GlobalContext: health checks and the like.
func SkipPaths(paths ...string) Option {
	set := map[string]bool{}
	for _, p := range paths {
		set[p] = true
	}
	return func(o *options) { o.skip = func(r *http.Request) bool { return set[r.URL.Path] } }
}

// Middleware decides every request with r before the handlers run, exactly as
// resolver's net/http middleware does, and sets c.Request to the request
// carrying the decision, so db.WithContext(c.Request.Context()) runs for the
// request's tenant (or, on the admin host and the primary domain, under the
// explicit global context).
func Middleware(r *resolver.Resolver, opts ...Option) gin.HandlerFunc {
	o := options{onError: func(c *gin.Context, err error) { resolver.WriteError(c.Writer, c.Request, err) }}
	for _, opt := range opts {
		opt(&o)
	}
	return func(c *gin.Context) {
		if o.skip != nil && o.skip(c.Request) {
			d := resolver.Decision{Kind: resolver.KindSkipped, Host: resolver.NormalizeHost(c.Request.Host)}
			c.Request = c.Request.WithContext(resolver.WithDecision(c.Request.Context(), d))
			c.Next()
			return
		}
		d, err := r.Resolve(c.Request)
		if err != nil {
			o.onError(c, err)
			c.Abort()
			return
		}
		c.Request = c.Request.WithContext(resolver.WithDecision(c.Request.Context(), d))
		c.Next()
	}
}

// Decision returns the request's decision.
func Decision(c *gin.Context) resolver.Decision {
	d, _ := resolver.FromContext(c.Request.Context())
	return d
}
