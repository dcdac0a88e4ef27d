package kirayedar

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestLayout holds the package boundaries ARCHITECTURE.md describes: the
// SQL reader knows no GORM, the provisioning package is reached from the
// root only through the Provisioner facade, and the root stays small.
func TestLayout(t *testing.T) {
	importsOf := func(dir string) map[string][]string { // file → imports
		t.Helper()
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		out := map[string][]string{}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			parsed, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range parsed.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				out[f] = append(out[f], path)
			}
			if _, ok := out[f]; !ok {
				out[f] = nil
			}
		}
		return out
	}

	// The reader may name engines (dialect), which import no GORM either.
	for _, dir := range []string{"internal/sqlscan", "dialect"} {
		for file, imports := range importsOf(dir) {
			for _, imp := range imports {
				if strings.HasPrefix(imp, "gorm.io/") || (strings.HasPrefix(imp, "github.com/kirayedar/") && imp != "github.com/kirayedar/kirayedar/dialect") {
					t.Errorf("%s imports %s: the SQL reader knows SQL text and engines only", file, imp)
				}
			}
		}
	}

	facade := map[string]bool{"provisioner.go": true, "migrate_all.go": true, "errors.go": true}
	root := importsOf(".")
	for file, imports := range root {
		for _, imp := range imports {
			if imp == "github.com/kirayedar/kirayedar/internal/provision" && !facade[file] {
				t.Errorf("%s imports internal/provision: only the Provisioner facade (%v) may", file, facade)
			}
		}
	}

	const maxFiles, maxLines = 16, 400
	if len(root) > maxFiles {
		t.Errorf("the root package has %d files, more than %d: give a mechanism its own package", len(root), maxFiles)
	}
	for file := range root {
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(string(src), "\n"); n > maxLines {
			t.Errorf("%s has %d lines, more than %d", file, n, maxLines)
		}
	}
}
