package kirayedar

import "github.com/kirayedar/kirayedar/dialect"

// A small SQL lexer, enough to find the tables a raw SQL fragment names. It
// skips string literals (with the engine's escapes), comments and numbers,
// and yields words, quoted identifiers and punctuation. It never allocates.

type tokenKind uint8

const (
	tokEOF    tokenKind = iota
	tokWord             // a bare identifier or keyword
	tokQuoted           // a quoted identifier, unquoted
	tokPunct            // one character: ( ) , . ; and the like
)

type token struct {
	kind tokenKind
	text string
}

type lexer struct {
	s      string
	pos    int
	engine dialect.Engine
}

func (lx *lexer) next() token {
	s := lx.s
	for lx.pos < len(s) {
		c := s[lx.pos]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f':
			lx.pos++
		case c == '-' && lx.pos+1 < len(s) && s[lx.pos+1] == '-',
			c == '#' && lx.engine == dialect.MySQL:
			for lx.pos < len(s) && s[lx.pos] != '\n' {
				lx.pos++
			}
		case c == '/' && lx.pos+1 < len(s) && s[lx.pos+1] == '*':
			end := indexFrom(s, "*/", lx.pos+2)
			if end < 0 {
				lx.pos = len(s)
			} else {
				lx.pos = end + 2
			}
		case c == '\'':
			lx.skipString(lx.engine == dialect.MySQL || lx.pos > 0 && (s[lx.pos-1] == 'E' || s[lx.pos-1] == 'e'))
		case c == '"' && lx.engine == dialect.MySQL:
			lx.skipString(true) // a string unless ANSI_QUOTES
		case c == '"' || c == '`' || c == '[' && lx.engine == dialect.SQLite:
			closing := c
			if c == '[' {
				closing = ']'
			}
			start := lx.pos + 1
			i := start
			for i < len(s) && s[i] != closing {
				i++
			}
			lx.pos = i + 1
			if i > len(s) {
				lx.pos = len(s)
			}
			return token{tokQuoted, s[start:min(i, len(s))]}
		case c == '$' && lx.engine == dialect.Postgres && lx.dollarQuoted():
		case c >= '0' && c <= '9':
			for lx.pos < len(s) && (isIdentByte(s[lx.pos]) || s[lx.pos] == '.') {
				lx.pos++
			}
		case isIdentByte(c):
			start := lx.pos
			for lx.pos < len(s) && isIdentByte(s[lx.pos]) {
				lx.pos++
			}
			return token{tokWord, s[start:lx.pos]}
		default:
			lx.pos++
			return token{tokPunct, s[lx.pos-1 : lx.pos]}
		}
	}
	return token{kind: tokEOF}
}

// peek returns the next token without consuming it.
func (lx *lexer) peek() token {
	saved := lx.pos
	t := lx.next()
	lx.pos = saved
	return t
}

func (lx *lexer) skipString(backslashEscapes bool) {
	s, q := lx.s, lx.s[lx.pos]
	i := lx.pos + 1
	for i < len(s) {
		switch {
		case backslashEscapes && s[i] == '\\':
			i += 2
			continue
		case s[i] == q && i+1 < len(s) && s[i+1] == q:
			i += 2
			continue
		case s[i] == q:
			lx.pos = i + 1
			return
		}
		i++
	}
	lx.pos = len(s)
}

// dollarQuoted skips a PostgreSQL $tag$...$tag$ string if one starts here.
func (lx *lexer) dollarQuoted() bool {
	s := lx.s
	end := lx.pos + 1
	for end < len(s) && s[end] != '$' && isIdentByte(s[end]) && !(s[end] >= '0' && s[end] <= '9' && end == lx.pos+1) {
		end++
	}
	if end >= len(s) || s[end] != '$' {
		if end == lx.pos+1 { // $1: a placeholder
			lx.pos++
			for lx.pos < len(s) && s[lx.pos] >= '0' && s[lx.pos] <= '9' {
				lx.pos++
			}
			return true
		}
		return false
	}
	tag := s[lx.pos : end+1]
	closing := indexFrom(s, tag, end+1)
	if closing < 0 {
		lx.pos = len(s)
	} else {
		lx.pos = closing + len(tag)
	}
	return true
}

func indexFrom(s, sub string, from int) int {
	for i := from; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

func isIdentByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '$' || c >= 0x80
}
