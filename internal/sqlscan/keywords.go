package sqlscan

// The words the reader acts on, looked up once per word without allocating.

type keyword uint8

const (
	kwNone keyword = iota
	// statements
	kwSelect
	kwWith
	kwValues
	kwTable
	kwInsert
	kwReplace
	kwUpdate
	kwDelete
	// clauses
	kwFrom
	kwInto
	kwWhere
	kwGroup
	kwHaving
	kwWindow
	kwOrder
	kwLimit
	kwOffset
	kwFetch
	kwFor
	kwLock
	kwUnion
	kwIntersect
	kwExcept
	kwReturning
	kwSet
	kwOn
	kwUsing
	// joins
	kwJoin
	kwStraightJoin
	kwInner
	kwLeft
	kwRight
	kwFull
	kwCross
	kwNatural
	kwOuter
	kwLateral
	kwOnly
	// what may follow a table
	kwAs
	kwPartition
	kwTablesample
	kwRepeatable
	kwUse
	kwForce
	kwIgnore
	kwIndexed
	kwNot
	kwOrdinality
	// words read for their neighbours
	kwRecursive
	kwMaterialized
	kwDistinct
	kwIs
	kwWithin
	kwConflict
	kwDuplicate
	kwDefault
	kwOr
	kwTemporary // TEMP, TEMPORARY, UNLOGGED
	kwReferences
	kwShare
	kwNo
	kwKey
	kwModifier // LOW_PRIORITY, DELAYED, HIGH_PRIORITY, QUICK
)

// keywordOf looks a word up, ignoring case.
func keywordOf(word string) keyword {
	if len(word) < 2 || len(word) > 16 {
		return kwNone
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
	case "SELECT":
		return kwSelect
	case "WITH":
		return kwWith
	case "VALUES":
		return kwValues
	case "TABLE":
		return kwTable
	case "INSERT":
		return kwInsert
	case "REPLACE":
		return kwReplace
	case "UPDATE":
		return kwUpdate
	case "DELETE":
		return kwDelete
	case "FROM":
		return kwFrom
	case "INTO":
		return kwInto
	case "WHERE":
		return kwWhere
	case "GROUP":
		return kwGroup
	case "HAVING":
		return kwHaving
	case "WINDOW":
		return kwWindow
	case "ORDER":
		return kwOrder
	case "LIMIT":
		return kwLimit
	case "OFFSET":
		return kwOffset
	case "FETCH":
		return kwFetch
	case "FOR":
		return kwFor
	case "LOCK":
		return kwLock
	case "UNION":
		return kwUnion
	case "INTERSECT":
		return kwIntersect
	case "EXCEPT", "MINUS":
		return kwExcept
	case "RETURNING":
		return kwReturning
	case "SET":
		return kwSet
	case "ON":
		return kwOn
	case "USING":
		return kwUsing
	case "JOIN":
		return kwJoin
	case "STRAIGHT_JOIN":
		return kwStraightJoin
	case "INNER":
		return kwInner
	case "LEFT":
		return kwLeft
	case "RIGHT":
		return kwRight
	case "FULL":
		return kwFull
	case "CROSS":
		return kwCross
	case "NATURAL":
		return kwNatural
	case "OUTER":
		return kwOuter
	case "LATERAL":
		return kwLateral
	case "ONLY":
		return kwOnly
	case "AS":
		return kwAs
	case "PARTITION":
		return kwPartition
	case "TABLESAMPLE":
		return kwTablesample
	case "REPEATABLE":
		return kwRepeatable
	case "USE":
		return kwUse
	case "FORCE":
		return kwForce
	case "IGNORE":
		return kwIgnore
	case "INDEXED":
		return kwIndexed
	case "NOT":
		return kwNot
	case "ORDINALITY":
		return kwOrdinality
	case "RECURSIVE":
		return kwRecursive
	case "MATERIALIZED":
		return kwMaterialized
	case "DISTINCT":
		return kwDistinct
	case "IS":
		return kwIs
	case "WITHIN":
		return kwWithin
	case "CONFLICT":
		return kwConflict
	case "DUPLICATE":
		return kwDuplicate
	case "DEFAULT":
		return kwDefault
	case "OR":
		return kwOr
	case "TEMP", "TEMPORARY", "UNLOGGED":
		return kwTemporary
	case "REFERENCES":
		return kwReferences
	case "SHARE":
		return kwShare
	case "NO":
		return kwNo
	case "KEY":
		return kwKey
	case "LOW_PRIORITY", "DELAYED", "HIGH_PRIORITY", "QUICK":
		return kwModifier
	}
	return kwNone
}

// endsItem reports whether k may follow a table in a FROM list without being
// its alias.
func endsItem(k keyword) bool {
	switch k {
	case kwNone, kwRecursive, kwMaterialized, kwDistinct, kwIs, kwWithin, kwConflict,
		kwDuplicate, kwOrdinality, kwRepeatable, kwTemporary, kwShare, kwNo, kwKey, kwModifier:
		return false
	}
	return true
}
