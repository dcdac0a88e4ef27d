package dialect

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// ErrInvalidTenantID is wrapped by every error that rejects a tenant ID.
var ErrInvalidTenantID = errors.New("invalid tenant ID")

// InvalidIDError says which tenant ID was rejected and why. It matches
// ErrInvalidTenantID with errors.Is.
type InvalidIDError struct {
	ID     string
	Reason string
}

func (e *InvalidIDError) Error() string {
	id := e.ID
	if len(id) > 80 {
		id = id[:80] + "..."
	}
	return fmt.Sprintf("invalid tenant ID %q: %s", id, e.Reason)
}

// Unwrap returns ErrInvalidTenantID.
func (e *InvalidIDError) Unwrap() error { return ErrInvalidTenantID }

// Rules are what a tenant ID must satisfy on one deployment. The zero value
// checks only what holds everywhere: the character set and the names every
// supported engine reserves.
type Rules struct {
	// Engine sets the identifier limit that prefixed table names must fit
	// (empty: 63 bytes). Tenant IDs themselves are at most 63 bytes, and
	// every engine's reserved names are refused, whatever the engine.
	Engine Engine
	// GlobalSchema is the schema or database holding global tables; it can
	// never be a tenant.
	GlobalSchema string
	// Reserved are further names refused as tenant IDs.
	Reserved []string
	// PrefixSeparator, when set, means tenants are table-name prefixes joined
	// to table names by this separator (one or more underscores). An ID may
	// then neither contain the separator nor end in an underscore, so that
	// every prefixed table name belongs to exactly one tenant.
	PrefixSeparator string
	// LongestTable is the length of the longest tenant table name. With a
	// PrefixSeparator, the prefixed name must fit the identifier limit.
	LongestTable int
}

var allEngines = []Engine{Postgres, MySQL, SQLite}

// Validate returns nil when id may name a tenant under r, and otherwise an
// *InvalidIDError saying why. It never touches a database.
func Validate(id string, r Rules) error {
	reason := invalidReason(id, r)
	if reason == "" {
		return nil
	}
	return &InvalidIDError{ID: id, Reason: reason}
}

func invalidReason(id string, r Rules) string {
	if id == "" {
		return "it is empty"
	}
	// The hint names only what this deployment accepts: a prefix separator
	// of one underscore takes "_" out of IDs.
	allowed := "a-z, 0-9, - and _"
	if r.PrefixSeparator == "_" {
		allowed = "a-z, 0-9 and -"
	}
	position := 0
	for _, c := range id {
		position++
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '_', c == '-':
		case c >= 'A' && c <= 'Z':
			return "upper case letters are not allowed (use " + allowed + ")"
		case c == utf8.RuneError:
			return fmt.Sprintf("it is not valid UTF-8 at character %d (use %s)", position, allowed)
		default:
			return fmt.Sprintf("character %q at position %d is not allowed (use %s)", c, position, allowed)
		}
	}
	// Hyphens let a subdomain be the ID ("acme-corp"); at either end they
	// would make hosts and names that read badly, and are refused.
	if id[0] == '-' || id[len(id)-1] == '-' {
		return "it starts or ends with a hyphen"
	}
	// Reserved names are refused on every engine, so a tenant ID stays
	// portable and no one's "public" or "mysql" ever becomes a tenant.
	for _, e := range allEngines {
		if e.Reserved(id) {
			return fmt.Sprintf("%q is reserved by %s", id, e)
		}
	}
	// IDs are at most 63 bytes everywhere, PostgreSQL's limit, so a tenant
	// can move between engines; a prefixed table name must fit the engine's
	// own limit.
	const portableLimit = 63
	limit := r.Engine.MaxIdentifierLen()
	if r.Engine == "" || limit == 0 {
		limit = portableLimit
	}
	if len(id) > portableLimit {
		return fmt.Sprintf("it is %d bytes long; the limit is %d", len(id), portableLimit)
	}
	if r.GlobalSchema != "" && id == r.GlobalSchema {
		return fmt.Sprintf("%q is the global schema", id)
	}
	for _, name := range r.Reserved {
		if id == name {
			return fmt.Sprintf("%q is reserved by the configuration", id)
		}
	}
	if sep := r.PrefixSeparator; sep != "" {
		if strings.Contains(id, sep) {
			return fmt.Sprintf("it contains the table prefix separator %q", sep)
		}
		if strings.HasSuffix(id, "_") {
			return "it ends with an underscore, which would blur the table prefix"
		}
		if n := len(id) + len(sep) + r.LongestTable; n > limit && r.LongestTable > 0 {
			return fmt.Sprintf("its longest prefixed table name would be %d bytes; the limit is %d", n, limit)
		}
	}
	return ""
}
