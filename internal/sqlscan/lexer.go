package sqlscan

import (
	"strconv"
	"strings"

	"github.com/kirayedar/kirayedar/dialect"
)

// A small SQL lexer, enough to find the tables a piece of SQL names. It knows
// each engine's comments (MySQL's executable /*! ... */ ones are code), string
// literals and their escapes, quoted identifiers (PostgreSQL's U&"..." too)
// and dollar quoting, and yields words, quoted identifiers, string literals
// and punctuation, each with its byte span in the text. It allocates only to
// decode a U&"..." identifier.

type tokenKind uint8

const (
	tokEOF    tokenKind = iota
	tokWord             // a bare identifier or keyword
	tokQuoted           // a quoted identifier, unquoted
	tokString           // a string literal, without its quotes
	tokPunct            // one character: ( ) , . ; and the like
)

type token struct {
	kind tokenKind
	text string
	// pos and end are the token's byte span in the text, quotes included.
	pos, end int
}

func (t token) is(punct string) bool { return t.kind == tokPunct && t.text == punct }

func (t token) isName() bool { return t.kind == tokWord || t.kind == tokQuoted }

type lexer struct {
	s      string
	pos    int
	engine dialect.Engine
	// execComment: inside a MySQL /*! ... */ comment, whose text runs.
	execComment bool
}

func (lx *lexer) next() token {
	var t token
	lx.nextInto(&t)
	return t
}

// nextInto reads the next token into t.
func (lx *lexer) nextInto(t *token) {
	lx.scan(t)
	t.end = lx.pos
}

func (lx *lexer) scan(t *token) {
	s := lx.s
	for lx.pos < len(s) {
		c := s[lx.pos]
		switch class := charClass[c]; {
		case class == classSpace:
			lx.pos++
			continue
		case class == classIdent && c != '$' && c != 'U' && c != 'u':
			if c >= '0' && c <= '9' { // a number
				for lx.pos < len(s) && (charClass[s[lx.pos]] == classIdent || s[lx.pos] == '.') {
					lx.pos++
				}
				continue
			}
			start := lx.pos
			for lx.pos < len(s) && charClass[s[lx.pos]] == classIdent {
				lx.pos++
			}
			t.kind, t.text, t.pos = tokWord, s[start:lx.pos], start
			return
		case c == '"' && lx.engine != dialect.MySQL, c == '`', c == '[' && lx.engine == dialect.SQLite:
			lx.quoted(c, t)
			return
		}
		switch {
		case c == '-' && lx.at("--") && lx.dashComment():
			lx.skipLine()
		case c == '#' && lx.engine == dialect.MySQL:
			lx.skipLine()
		case c == '/' && lx.at("/*"):
			lx.blockComment()
		case c == '*' && lx.execComment && lx.at("*/"):
			lx.execComment = false
			lx.pos += 2
		case c == '\'':
			start := lx.pos + 1
			lx.skipString(lx.engine == dialect.MySQL || lx.escapeString())
			t.kind, t.text, t.pos = tokString, s[start:max(start, lx.pos-1)], start-1
			return
		case c == '"': // MySQL: a string, unless ANSI_QUOTES
			start := lx.pos + 1
			lx.skipString(true)
			t.kind, t.text, t.pos = tokString, s[start:max(start, lx.pos-1)], start-1
			return
		case (c == 'U' || c == 'u') && lx.engine == dialect.Postgres && lx.pos+2 < len(s) && s[lx.pos+1] == '&' &&
			(s[lx.pos+2] == '"' || s[lx.pos+2] == '\''):
			start := lx.pos
			lx.pos += 2
			*t = lx.unicodeQuoted()
			t.pos = start
			return
		case c == '$' && lx.engine == dialect.Postgres && lx.dollar():
		case c == 'U' || c == 'u' || c == '$':
			start := lx.pos
			for lx.pos < len(s) && charClass[s[lx.pos]] == classIdent {
				lx.pos++
			}
			t.kind, t.text, t.pos = tokWord, s[start:lx.pos], start
			return
		default:
			lx.pos++
			t.kind, t.text, t.pos = tokPunct, s[lx.pos-1:lx.pos], lx.pos-1
			return
		}
	}
	t.kind, t.text, t.pos = tokEOF, "", len(s)
}

func (lx *lexer) skipLine() {
	if i := strings.IndexByte(lx.s[lx.pos:], '\n'); i >= 0 {
		lx.pos += i
	} else {
		lx.pos = len(lx.s)
	}
}

const (
	classOther uint8 = iota
	classSpace
	classIdent
)

var charClass = func() (t [256]uint8) {
	for _, c := range " \t\n\r\f\v" {
		t[c] = classSpace
	}
	for c := 0; c < 256; c++ {
		if c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '$' || c >= 0x80 {
			t[c] = classIdent
		}
	}
	return t
}()

// peek returns the next token without consuming it.
func (lx *lexer) peek() token {
	saved, exec := lx.pos, lx.execComment
	t := lx.next()
	lx.pos, lx.execComment = saved, exec
	return t
}

func (lx *lexer) at(prefix string) bool { return strings.HasPrefix(lx.s[lx.pos:], prefix) }

// dashComment reports whether "--" here starts a comment: always on
// PostgreSQL and SQLite, on MySQL only before white space or the end.
func (lx *lexer) dashComment() bool {
	if lx.engine != dialect.MySQL {
		return true
	}
	i := lx.pos + 2
	return i >= len(lx.s) || lx.s[i] == ' ' || lx.s[i] == '\t' || lx.s[i] == '\n' || lx.s[i] == '\r'
}

// blockComment skips a /* */ comment (nested on PostgreSQL). On MySQL a
// /*! or /*M! comment is code: only its opening is skipped.
func (lx *lexer) blockComment() {
	s := lx.s
	if lx.engine == dialect.MySQL && (lx.at("/*!") || lx.at("/*M!")) {
		lx.pos += 3
		if s[lx.pos-1] == 'M' {
			lx.pos++
		}
		for lx.pos < len(s) && s[lx.pos] >= '0' && s[lx.pos] <= '9' { // version
			lx.pos++
		}
		lx.execComment = true
		return
	}
	depth := 0
	for lx.pos < len(s) {
		switch {
		case lx.at("/*"):
			depth++
			lx.pos += 2
		case lx.at("*/"):
			depth--
			lx.pos += 2
			if depth == 0 || lx.engine != dialect.Postgres {
				return
			}
		default:
			lx.pos++
		}
	}
}

// escapeString reports whether the string starting here is a PostgreSQL
// E'...' string, in which backslashes escape.
func (lx *lexer) escapeString() bool {
	p := lx.pos
	return lx.engine == dialect.Postgres && p > 0 && (lx.s[p-1] == 'E' || lx.s[p-1] == 'e') &&
		(p == 1 || !isIdentByte(lx.s[p-2]))
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

func (lx *lexer) quoted(open byte, t *token) {
	closing := open
	if open == '[' {
		closing = ']'
	}
	s := lx.s
	start := lx.pos + 1
	i := strings.IndexByte(s[start:], closing)
	if i < 0 {
		lx.pos = len(s)
		t.kind, t.text, t.pos = tokQuoted, s[start:], start-1
		return
	}
	lx.pos = start + i + 1
	t.kind, t.text, t.pos = tokQuoted, s[start:start+i], start-1
}

// unicodeQuoted reads the rest of a PostgreSQL U&"..." identifier (or
// U&'...' string) and decodes its \XXXX and \+XXXXXX escapes.
func (lx *lexer) unicodeQuoted() token {
	q := lx.s[lx.pos]
	var t token
	if q == '"' {
		lx.quoted('"', &t)
	} else {
		start := lx.pos + 1
		lx.skipString(false)
		t = token{kind: tokString, text: lx.s[start:max(start, lx.pos-1)]}
	}
	if !strings.Contains(t.text, `\`) {
		return t
	}
	var b strings.Builder
	for i := 0; i < len(t.text); i++ {
		c := t.text[i]
		if c != '\\' || i+1 >= len(t.text) {
			b.WriteByte(c)
			continue
		}
		width := 4
		if t.text[i+1] == '+' {
			width, i = 6, i+1
		} else if t.text[i+1] == '\\' {
			b.WriteByte('\\')
			i++
			continue
		}
		if i+1+width > len(t.text) {
			b.WriteString(t.text[i:])
			break
		}
		r, err := strconv.ParseUint(t.text[i+1:i+1+width], 16, 32)
		if err != nil {
			b.WriteString(t.text[i : i+1+width])
		} else {
			b.WriteRune(rune(r))
		}
		i += width
	}
	t.text = b.String()
	return t
}

// dollar skips a PostgreSQL $tag$...$tag$ string or a $1 placeholder.
func (lx *lexer) dollar() bool {
	s := lx.s
	end := lx.pos + 1
	if end < len(s) && s[end] >= '0' && s[end] <= '9' { // $1
		for end < len(s) && s[end] >= '0' && s[end] <= '9' {
			end++
		}
		lx.pos = end
		return true
	}
	for end < len(s) && s[end] != '$' && isIdentByte(s[end]) {
		end++
	}
	if end >= len(s) || s[end] != '$' {
		return false
	}
	tag := s[lx.pos : end+1]
	closing := strings.Index(s[end+1:], tag)
	if closing < 0 {
		lx.pos = len(s)
	} else {
		lx.pos = end + 1 + closing + len(tag)
	}
	return true
}

func isIdentByte(c byte) bool { return charClass[c] == classIdent }
