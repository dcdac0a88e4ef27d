package dialect

import (
	"errors"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	prefix := Rules{Engine: Postgres, GlobalSchema: "public", PrefixSeparator: "_", LongestTable: 16}
	cases := []struct {
		id     string
		rules  Rules
		reason string // "" means valid
	}{
		{"acme", Rules{}, ""},
		{"acme_corp", Rules{}, ""},
		{"acme-corp", Rules{}, ""},
		{"acme-corp", prefix, ""},
		{"a-b_c-9", Rules{}, ""},
		{"-acme", Rules{}, "hyphen"},
		{"acme-", Rules{}, "hyphen"},
		{"café", Rules{}, `'é' at position 4`},
		{"café", Rules{}, "use a-z, 0-9, - and _"},
		{"café", prefix, "use a-z, 0-9 and -)"},
		{"acme\xff", Rules{}, "not valid UTF-8"},
		{"42", Rules{}, ""},
		{strings.Repeat("a", 63), Rules{}, ""},
		{"", Rules{}, "empty"},
		{"Acme", Rules{}, "upper case"},
		{"acme corp", Rules{}, `' '`},
		{"acme.corp", Rules{}, `'.'`},
		{"ümlaut", Rules{}, "not allowed"},
		{strings.Repeat("a", 64), Rules{Engine: MySQL}, "64 bytes"},
		{"public", Rules{Engine: MySQL}, "reserved by postgres"},
		{"mysql", Rules{Engine: Postgres}, "reserved by mysql"},
		{"pg_toast", Rules{}, "reserved by postgres"},
		{"sqlite_x", Rules{}, "reserved by sqlite"},
		{"app", Rules{Engine: MySQL, GlobalSchema: "app"}, "global schema"},
		{"admin", Rules{Reserved: []string{"www", "admin"}}, "configuration"},
		{"acme_corp", prefix, "separator"},
		{"acme", Rules{Engine: Postgres, PrefixSeparator: "__"}, ""},
		{"acme_corp", Rules{Engine: Postgres, PrefixSeparator: "__"}, ""},
		{"acme__corp", Rules{Engine: Postgres, PrefixSeparator: "__"}, "separator"},
		{"acme_", Rules{Engine: Postgres, PrefixSeparator: "__"}, "ends with an underscore"},
		{strings.Repeat("b", 46), prefix, ""}, // 46 + 1 + 16 = 63
		{strings.Repeat("b", 47), prefix, "longest prefixed table name"},
		{strings.Repeat("b", 47), Rules{Engine: MySQL, PrefixSeparator: "_", LongestTable: 16}, ""}, // 64
		{strings.Repeat("b", 48), Rules{Engine: MySQL, PrefixSeparator: "_", LongestTable: 16}, "longest prefixed"},
	}
	for _, tc := range cases {
		err := Validate(tc.id, tc.rules)
		switch {
		case tc.reason == "" && err != nil:
			t.Errorf("Validate(%q) = %v, want nil", tc.id, err)
		case tc.reason != "" && !errors.Is(err, ErrInvalidTenantID):
			t.Errorf("Validate(%q) = %v, want ErrInvalidTenantID", tc.id, err)
		case tc.reason != "" && !strings.Contains(err.Error(), tc.reason):
			t.Errorf("Validate(%q) = %q, want it to say %q", tc.id, err, tc.reason)
		}
	}
}

func TestInvalidIDErrorShortensLongIDs(t *testing.T) {
	err := Validate(strings.Repeat("X", 500), Rules{})
	if len(err.Error()) > 200 {
		t.Errorf("the message repeats a 500-byte ID: %d bytes", len(err.Error()))
	}
}

func TestDetect(t *testing.T) {
	for name, want := range map[string]Engine{"postgres": Postgres, "mysql": MySQL, "sqlite": SQLite} {
		if got, err := Detect(name); got != want || err != nil {
			t.Errorf("Detect(%q) = %q, %v", name, got, err)
		}
	}
	if _, err := Detect("sqlserver"); err == nil {
		t.Error("Detect accepted sqlserver")
	}
}
