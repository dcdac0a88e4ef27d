package provision

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"reflect"
	"runtime/debug"
	"sort"
	"strings"

	"gorm.io/gorm"
	"gorm.io/gorm/schema"

	"github.com/kirayedar/kirayedar/dialect"
	"github.com/kirayedar/kirayedar/internal/relations"
)

// A fingerprint names the shape of a tenant's tables as the tenant models
// describe them: every table, column type (as the dialect writes it), index,
// unique, check and foreign-key constraint AutoMigrate would create, the
// GORM settings that change what it creates, and the versions of GORM and
// its drivers, whose next release may write other DDL. The
// registry records the fingerprint each tenant was last migrated to, so a
// migration run finds the tenants that are behind with one query and leaves
// the others alone.
//
// It is computed from the models, not read from the database: a change made
// by hand in one tenant's tables does not change it (MigrateOptions.Force
// migrates regardless).

// fingerprintLen is the length of a fingerprint in hex: 128 bits, leaving
// room in the registry's 64-character column for an attempt token.
const fingerprintLen = 32

// Fingerprint computes the fingerprint of the tenant models for the
// *gorm.DB the plugin was initialized on, under a strategy (its name).
func Fingerprint(db *gorm.DB, engine dialect.Engine, strategy string, models Models) string {
	h := sha256.New()
	line := func(parts ...string) {
		h.Write([]byte(strings.Join(parts, "\x1f")))
		h.Write([]byte{'\n'})
	}
	cfg := db.Config
	line("kirayedar fingerprint v1", string(engine), strategy,
		fmt.Sprint(cfg.DisableForeignKeyConstraintWhenMigrating, cfg.IgnoreRelationshipsWhenMigrating))
	// A new GORM or driver may write other DDL for the same models.
	line(moduleVersions(db.Dialector)...)

	migrator := db.Migrator()
	var tables []*schema.Schema
	seen := map[string]bool{}
	add := func(s *schema.Schema) {
		if s != nil && !seen[s.Table] {
			if models.IsTenant(s.Table) {
				seen[s.Table] = true
				tables = append(tables, s)
			}
		}
	}
	for _, s := range models.Schemas() {
		add(s)
		_ = relations.Walk(&s.Relationships, func(rel *schema.Relationship) error {
			add(rel.JoinTable)
			return nil
		})
	}
	sort.Slice(tables, func(i, j int) bool { return tables[i].Table < tables[j].Table })

	for _, s := range tables {
		line("table", s.Table)
		for _, name := range s.DBNames {
			f := s.FieldsByDBName[name]
			if f.IgnoreMigration {
				continue
			}
			typ := migrator.FullDataTypeOf(f)
			line("column", name, typ.SQL, fmt.Sprint(typ.Vars), fmt.Sprint(f.PrimaryKey, f.AutoIncrement), sortedTags(f.TagSettings))
		}
		for _, idx := range s.ParseIndexes() {
			cols := make([]string, len(idx.Fields))
			for i, o := range idx.Fields {
				cols[i] = fmt.Sprint(o.DBName, o.Expression, o.Sort, o.Collate, o.Length)
			}
			line("index", idx.Name, idx.Class, idx.Type, idx.Where, idx.Option, idx.Comment, strings.Join(cols, ","))
		}
		var constraints []string
		seenRel := map[*schema.Relationship]bool{} // embedded relations are listed twice
		_ = relations.Walk(&s.Relationships, func(rel *schema.Relationship) error {
			if seenRel[rel] {
				return nil
			}
			seenRel[rel] = true
			c := rel.ParseConstraint()
			if c == nil || c.Schema != s || c.ReferenceSchema == nil {
				return nil
			}
			if !models.IsTenant(c.ReferenceSchema.Table) {
				return nil // relations to global tables are not migrated
			}
			var fks, refs []string
			for _, f := range c.ForeignKeys {
				fks = append(fks, f.DBName)
			}
			for _, f := range c.References {
				refs = append(refs, f.DBName)
			}
			constraints = append(constraints, strings.Join([]string{"foreign key", c.Name, strings.Join(fks, ","), c.ReferenceSchema.Table, strings.Join(refs, ","), c.OnDelete, c.OnUpdate}, "\x1f"))
			return nil
		})
		sort.Strings(constraints)
		for _, c := range constraints {
			line(c)
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:fingerprintLen]
}

// moduleVersions lists the versions of GORM and of the module of the
// dialector in use, as built into the binary (other gorm.io modules, such as
// plugins, do not change the DDL and are left out, so that binaries with
// different plugins agree).
func moduleVersions(dialector gorm.Dialector) []string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return nil
	}
	pkg := reflect.TypeOf(dialector)
	for pkg != nil && pkg.Kind() == reflect.Pointer {
		pkg = pkg.Elem()
	}
	var versions []string
	for _, m := range info.Deps {
		if m.Path == "gorm.io/gorm" || (pkg != nil && (pkg.PkgPath() == m.Path || strings.HasPrefix(pkg.PkgPath(), m.Path+"/"))) {
			versions = append(versions, m.Path+"@"+m.Version)
		}
	}
	sort.Strings(versions)
	return versions
}

func sortedTags(tags map[string]string) string {
	keys := make([]string, 0, len(tags))
	for k, v := range tags {
		keys = append(keys, k+"="+v)
	}
	sort.Strings(keys)
	return strings.Join(keys, ";")
}
