package session

import (
	"strings"

	"github.com/kirayedar/kirayedar/dialect"
)

// effect is what a statement's text may do to the connection behind the
// tracker's back. The scan is conservative: a false alarm costs a switch
// (or a connection) later; a miss could run a tenant's statement on a
// connection set for another. What runs inside functions and procedures
// cannot be seen; the README says so.
type effect uint8

const (
	// effUnknown: the name resolution may have changed (search_path,
	// set_config, SET, RESET, DISCARD, USE, EXECUTE, PREPARE, CALL, DO,
	// ROLLBACK TO), or the lock that goes with it (effUnlocks).
	effUnknown effect = 1 << iota
	// effEndsTx: COMMIT, ROLLBACK, END, ABORT, BEGIN or START: the
	// server's transaction state no longer matches database/sql's.
	effEndsTx
	// effSticky: objects that outlive the statement on the connection and
	// belong to its tenant: temporary tables, SQL-level prepared
	// statements, cursors, LISTEN.
	effSticky
	// effUnlocks: session-level advisory locks may have been given back
	// (pg_advisory_unlock_all, pg_advisory_unlock*, DISCARD), the tenant
	// lock of a PostgreSQL connection among them. Always with effUnknown.
	effUnlocks
)

// scanEffects reads q once, without allocating: the first word of every
// statement (after white space and comments; MySQL's executable comments
// /*! ... */ count as code) and every word anywhere, quoted or not. Quoted
// text (strings, quoted identifiers, PostgreSQL's dollar-quoted bodies) is
// searched for words but starts no statement: "SELECT 'a; COMMIT'" and a
// function body's "; END" end no transaction.
func scanEffects(q string, engine dialect.Engine) effect {
	var e effect
	start := true // at the start of a statement
	afterRollback := false
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == '-' && i+1 < len(q) && q[i+1] == '-', c == '#' && engine == dialect.MySQL:
			for i < len(q) && q[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < len(q) && q[i+1] == '*':
			i += 2
			if engine == dialect.MySQL && i < len(q) && (q[i] == '!' || q[i] == 'M' && i+1 < len(q) && q[i+1] == '!') {
				for i < len(q) && (q[i] == '!' || q[i] == 'M' || q[i] >= '0' && q[i] <= '9') {
					i++
				}
				continue // the comment's text is code; its "*/" is skipped below
			}
			for i+1 < len(q) && !(q[i] == '*' && q[i+1] == '/') {
				i++
			}
			i += 2
		case c == '*' && i+1 < len(q) && q[i+1] == '/':
			i += 2
		case c == ';':
			start, afterRollback = true, false
			i++
		case c == '\'' || c == '"' || c == '`':
			end := closingQuote(q, i, engine)
			e |= wordEffects(q[i+1 : end])
			i, start = end+1, false
		case c == '$' && engine == dialect.Postgres && dollarTag(q, i) > 0:
			tag := q[i : i+dollarTag(q, i)]
			end := strings.Index(q[i+len(tag):], tag)
			if end < 0 {
				end = len(q) - i - len(tag)
			}
			e |= wordEffects(q[i+len(tag) : i+len(tag)+end])
			i, start = min(i+2*len(tag)+end, len(q)), false
		case isWordByte(c):
			j := i
			for j < len(q) && isWordByte(q[j]) {
				j++
			}
			word := q[i:j]
			i = j
			if afterRollback {
				afterRollback = false
				if !equalFold(word, "to") {
					e |= effEndsTx
				}
			}
			if start {
				start = false
				switch {
				case equalFold(word, "rollback"):
					e |= effUnknown
					afterRollback = true
					continue
				case equalFold(word, "commit"), equalFold(word, "end"), equalFold(word, "abort"),
					equalFold(word, "begin"), equalFold(word, "start"):
					e |= effUnknown | effEndsTx
				case equalFold(word, "discard"):
					e |= effUnknown | effUnlocks
				case equalFold(word, "use"), equalFold(word, "set"), equalFold(word, "reset"),
					equalFold(word, "execute"), equalFold(word, "call"),
					equalFold(word, "do"), equalFold(word, "change_user"):
					e |= effUnknown
				case equalFold(word, "prepare"), equalFold(word, "declare"), equalFold(word, "listen"):
					e |= effUnknown | effSticky
				}
			}
			e |= wordEffect(word)
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		default:
			start = false
			i++
		}
	}
	if afterRollback {
		e |= effEndsTx
	}
	return e
}

// wordEffect is what a word means wherever it stands, quoted or not.
func wordEffect(word string) effect {
	switch {
	case equalFold(word, "search_path"), equalFold(word, "set_config"):
		return effUnknown
	case equalFold(word, "pg_advisory_unlock_all"), equalFold(word, "pg_advisory_unlock"),
		equalFold(word, "pg_advisory_unlock_shared"):
		return effUnknown | effUnlocks
	case equalFold(word, "temp"), equalFold(word, "temporary"), equalFold(word, "prepare"), equalFold(word, "listen"):
		return effSticky
	}
	return 0
}

// wordEffects is wordEffect over every word of s.
func wordEffects(s string) effect {
	var e effect
	for i := 0; i < len(s); {
		if !isWordByte(s[i]) {
			i++
			continue
		}
		j := i
		for j < len(s) && isWordByte(s[j]) {
			j++
		}
		e |= wordEffect(s[i:j])
		i = j
	}
	return e
}

// closingQuote returns the index of the quote that closes the one at
// q[open], or the last index when none does: a doubled quote stands for
// itself, and on MySQL a backslash escapes the next byte.
func closingQuote(q string, open int, engine dialect.Engine) int {
	quote := q[open]
	for i := open + 1; i < len(q); i++ {
		switch {
		case q[i] == '\\' && engine == dialect.MySQL && quote != '`':
			i++
		case q[i] == quote && i+1 < len(q) && q[i+1] == quote:
			i++
		case q[i] == quote:
			return i
		}
	}
	return len(q) - 1
}

// dollarTag returns the length of the PostgreSQL dollar-quote delimiter
// ($$ or $tag$) at q[i], or 0 when there is none there ($1 is a
// placeholder).
func dollarTag(q string, i int) int {
	for j := i + 1; j < len(q); j++ {
		c := q[j]
		switch {
		case c == '$':
			return j - i + 1
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' && j > i+1:
		default:
			return 0
		}
	}
	return 0
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '$'
}

// equalFold compares an ASCII word with a lower-case one.
func equalFold(word, lower string) bool {
	if len(word) != len(lower) {
		return false
	}
	for i := 0; i < len(word); i++ {
		c := word[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}
