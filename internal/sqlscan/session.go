package sqlscan

import (
	"strings"

	"github.com/kirayedar/kirayedar/dialect"
)

// SessionChange names what in sql would change the session's search_path
// or end the transaction it runs in (COMMIT, SET ROLE, DISCARD, ...), or
// returns "".
func SessionChange(sql string, e dialect.Engine) string {
	lx := lexer{s: sql, engine: e}
	start := true // at the start of a statement
	for {
		tok := lx.next()
		switch tok.kind {
		case tokEOF:
			return ""
		case tokPunct:
			start = tok.text == ";"
			continue
		case tokString, tokQuoted:
			if strings.EqualFold(tok.text, "search_path") {
				return "a change of search_path"
			}
		case tokWord:
			word := strings.ToLower(tok.text)
			if word == "search_path" {
				return "a change of search_path"
			}
			if start {
				switch word {
				case "commit", "end", "abort", "begin", "start", "discard", "reset":
					return strings.ToUpper(word)
				case "rollback":
					if next := lx.peek(); !(next.kind == tokWord && strings.EqualFold(next.text, "to")) {
						return "ROLLBACK"
					}
				case "prepare":
					if next := lx.peek(); next.kind == tokWord && strings.EqualFold(next.text, "transaction") {
						return "PREPARE TRANSACTION"
					}
				case "set":
					if next := lx.peek(); next.kind == tokWord && (strings.EqualFold(next.text, "role") || strings.EqualFold(next.text, "session")) {
						return "SET " + strings.ToUpper(next.text)
					}
				}
			}
		}
		start = false
	}
}
