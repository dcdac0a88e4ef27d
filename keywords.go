package kirayedar

// The keywords the raw-SQL scanner cares about, looked up once per word.

type keyword uint8

const (
	kwNone keyword = iota
	kwFrom
	kwJoin
	kwUsing
	kwInto
	kwTable
	kwTruncate
	kwReferences
	kwCopy
	kwLock
	kwUpdate
	kwInsert
	kwOn
	kwLike
	kwWith
	kwRecursive
	kwAs
	kwNot
	kwMaterialized
	kwIndex
	kwCreate
	kwDistinct
	kwIs
	kwKey
	kwDo
	kwFor
	kwSpecialFunc // EXTRACT, SUBSTRING, ...: FROM inside is not a table
	kwOther       // a keyword known only by its flags
)

// keywordInfo is what a word means to the scanner.
type keywordInfo struct {
	kw keyword
	// modifier: skipped before a table name (ONLY, LATERAL, IF NOT EXISTS...).
	modifier bool
	// subquery: starts something that is not a table (SELECT, VALUES...).
	subquery bool
	// clause: ends a table reference; never an alias.
	clause bool
}

// keywordOf looks a word up, ignoring case, without allocating.
func keywordOf(word string) keywordInfo {
	if len(word) < 2 || len(word) > 16 {
		return keywordInfo{}
	}
	var buf [16]byte
	for i := 0; i < len(word); i++ {
		c := word[i]
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		buf[i] = c
	}
	switch string(buf[:len(word)]) {
	case "ABORT":
		return keywordInfo{kw: kwOther, modifier: true}
	case "ADD":
		return keywordInfo{kw: kwOther, clause: true}
	case "ALTER":
		return keywordInfo{kw: kwOther, clause: true}
	case "AND":
		return keywordInfo{kw: kwOther, clause: true}
	case "AS":
		return keywordInfo{kw: kwAs, clause: true}
	case "CASCADE":
		return keywordInfo{kw: kwOther, clause: true}
	case "COLLATE":
		return keywordInfo{kw: kwOther, clause: true}
	case "CONCURRENTLY":
		return keywordInfo{kw: kwOther, modifier: true}
	case "COPY":
		return keywordInfo{kw: kwCopy}
	case "CREATE":
		return keywordInfo{kw: kwCreate}
	case "CROSS":
		return keywordInfo{kw: kwOther, modifier: true, clause: true}
	case "DEFAULT":
		return keywordInfo{kw: kwOther, subquery: true, clause: true}
	case "DELAYED":
		return keywordInfo{kw: kwOther, modifier: true}
	case "DISTINCT":
		return keywordInfo{kw: kwDistinct}
	case "DO":
		return keywordInfo{kw: kwDo}
	case "DROP":
		return keywordInfo{kw: kwOther, clause: true}
	case "EXCEPT":
		return keywordInfo{kw: kwOther, clause: true}
	case "EXISTS":
		return keywordInfo{kw: kwOther, modifier: true}
	case "EXTRACT":
		return keywordInfo{kw: kwSpecialFunc}
	case "FAIL":
		return keywordInfo{kw: kwOther, modifier: true}
	case "FOR":
		return keywordInfo{kw: kwFor, clause: true}
	case "FORCE":
		return keywordInfo{kw: kwOther, clause: true}
	case "FROM":
		return keywordInfo{kw: kwFrom}
	case "FULL":
		return keywordInfo{kw: kwOther, modifier: true, clause: true}
	case "GROUP":
		return keywordInfo{kw: kwOther, clause: true}
	case "HAVING":
		return keywordInfo{kw: kwOther, clause: true}
	case "HIGH_PRIORITY":
		return keywordInfo{kw: kwOther, modifier: true}
	case "IF":
		return keywordInfo{kw: kwOther, modifier: true}
	case "IGNORE":
		return keywordInfo{kw: kwOther, modifier: true, clause: true}
	case "IN":
		return keywordInfo{kw: kwOther, clause: true}
	case "INDEX":
		return keywordInfo{kw: kwIndex}
	case "INNER":
		return keywordInfo{kw: kwOther, modifier: true, clause: true}
	case "INSERT":
		return keywordInfo{kw: kwInsert}
	case "INTERSECT":
		return keywordInfo{kw: kwOther, clause: true}
	case "INTO":
		return keywordInfo{kw: kwInto, modifier: true}
	case "IS":
		return keywordInfo{kw: kwIs, clause: true}
	case "JOIN":
		return keywordInfo{kw: kwJoin, modifier: true, clause: true}
	case "KEY":
		return keywordInfo{kw: kwKey}
	case "LATERAL":
		return keywordInfo{kw: kwOther, modifier: true, clause: true}
	case "LEFT":
		return keywordInfo{kw: kwOther, modifier: true, clause: true}
	case "LIKE":
		return keywordInfo{kw: kwLike, clause: true}
	case "LIMIT":
		return keywordInfo{kw: kwOther, clause: true}
	case "LOCK":
		return keywordInfo{kw: kwLock}
	case "LOW_PRIORITY":
		return keywordInfo{kw: kwOther, modifier: true}
	case "MATERIALIZED":
		return keywordInfo{kw: kwMaterialized}
	case "NATURAL":
		return keywordInfo{kw: kwOther, modifier: true, clause: true}
	case "NOT":
		return keywordInfo{kw: kwNot, modifier: true, clause: true}
	case "OFFSET":
		return keywordInfo{kw: kwOther, clause: true}
	case "ON":
		return keywordInfo{kw: kwOn, clause: true}
	case "ONLY":
		return keywordInfo{kw: kwOther, modifier: true}
	case "OR":
		return keywordInfo{kw: kwOther, modifier: true, clause: true}
	case "ORDER":
		return keywordInfo{kw: kwOther, clause: true}
	case "OUTER":
		return keywordInfo{kw: kwOther, modifier: true, clause: true}
	case "OVERLAY":
		return keywordInfo{kw: kwSpecialFunc}
	case "PARTITION":
		return keywordInfo{kw: kwOther, clause: true}
	case "POSITION":
		return keywordInfo{kw: kwSpecialFunc}
	case "QUICK":
		return keywordInfo{kw: kwOther, modifier: true}
	case "RECURSIVE":
		return keywordInfo{kw: kwRecursive}
	case "REFERENCES":
		return keywordInfo{kw: kwReferences}
	case "RENAME":
		return keywordInfo{kw: kwOther, clause: true}
	case "REPLACE":
		return keywordInfo{kw: kwInsert, modifier: true}
	case "RESTRICT":
		return keywordInfo{kw: kwOther, clause: true}
	case "RETURNING":
		return keywordInfo{kw: kwOther, clause: true}
	case "RIGHT":
		return keywordInfo{kw: kwOther, modifier: true, clause: true}
	case "ROLLBACK":
		return keywordInfo{kw: kwOther, modifier: true}
	case "SELECT":
		return keywordInfo{kw: kwOther, subquery: true, clause: true}
	case "SET":
		return keywordInfo{kw: kwOther, subquery: true, clause: true}
	case "STRAIGHT_JOIN":
		return keywordInfo{kw: kwJoin, modifier: true, clause: true}
	case "SUBSTR":
		return keywordInfo{kw: kwSpecialFunc}
	case "SUBSTRING":
		return keywordInfo{kw: kwSpecialFunc}
	case "TABLE":
		return keywordInfo{kw: kwTable, modifier: true}
	case "TABLES":
		return keywordInfo{kw: kwTable}
	case "TEMP":
		return keywordInfo{kw: kwOther, modifier: true}
	case "TEMPORARY":
		return keywordInfo{kw: kwOther, modifier: true}
	case "THEN":
		return keywordInfo{kw: kwOther, clause: true}
	case "TO":
		return keywordInfo{kw: kwOther, clause: true}
	case "TRIM":
		return keywordInfo{kw: kwSpecialFunc}
	case "TRUNCATE":
		return keywordInfo{kw: kwTruncate}
	case "UNION":
		return keywordInfo{kw: kwOther, clause: true}
	case "UNLOGGED":
		return keywordInfo{kw: kwOther, modifier: true}
	case "UPDATE":
		return keywordInfo{kw: kwUpdate}
	case "USE":
		return keywordInfo{kw: kwOther, clause: true}
	case "USING":
		return keywordInfo{kw: kwUsing, clause: true}
	case "VALUES":
		return keywordInfo{kw: kwOther, subquery: true, clause: true}
	case "WHEN":
		return keywordInfo{kw: kwOther, clause: true}
	case "WHERE":
		return keywordInfo{kw: kwOther, clause: true}
	case "WINDOW":
		return keywordInfo{kw: kwOther, clause: true}
	case "WITH":
		return keywordInfo{kw: kwWith, subquery: true, clause: true}
	}
	return keywordInfo{}
}
