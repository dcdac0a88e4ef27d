// Package relations walks the relations of GORM's parsed schemas in a
// fixed order, the way the plugin's table classification, the tenant
// models' fingerprint and the migration database all need to.
package relations

import (
	"sort"

	"gorm.io/gorm/schema"
)

// Walk calls fn for each relation, in name order, then for those of
// embedded structs, and stops at fn's first error. GORM adds relations to a
// parsed schema (under Mux) when it parses a model that refers to it, so
// they are read under Mux, and fn runs without it.
func Walk(rels *schema.Relationships, fn func(*schema.Relationship) error) error {
	rels.Mux.RLock()
	names := make([]string, 0, len(rels.Relations))
	for name := range rels.Relations {
		names = append(names, name)
	}
	sort.Strings(names) // deterministic join-table order
	list := make([]*schema.Relationship, len(names))
	for i, name := range names {
		list[i] = rels.Relations[name]
	}
	embeddedNames := make([]string, 0, len(rels.EmbeddedRelations))
	for name := range rels.EmbeddedRelations {
		embeddedNames = append(embeddedNames, name)
	}
	sort.Strings(embeddedNames)
	embedded := make([]*schema.Relationships, len(embeddedNames))
	for i, name := range embeddedNames {
		embedded[i] = rels.EmbeddedRelations[name]
	}
	rels.Mux.RUnlock()
	for _, rel := range list {
		if err := fn(rel); err != nil {
			return err
		}
	}
	for _, e := range embedded {
		if err := Walk(e, fn); err != nil {
			return err
		}
	}
	return nil
}
