package config

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Column types (the canonical Power BI dataType names).
const (
	TypeInt64    = "Int64"
	TypeDouble   = "Double"
	TypeDecimal  = "Decimal"
	TypeBoolean  = "Boolean"
	TypeDateTime = "DateTime"
	TypeString   = "String"
)

// Service limits on a table definition (shared/pbi-api.md §3 and "Names").
const (
	MaxTables        = 75 // per dataset
	MaxColumns       = 75 // per table
	MaxTableNameLen  = 100
	MaxStringLen     = 4000 // characters per string value in POST rows
	typeList         = "Int64, Double, Decimal, Boolean, DateTime, String"
	forbiddenInTable = "!\"$%&'()*+,./:;<=>?[\\]`{|}"
)

// CanonicalType maps a configured type name to its canonical form. Names are case-insensitive;
// "bool" is an alias of Boolean (Power BI's own examples use bool, string, int64, dateTime).
func CanonicalType(s string) (string, bool) {
	switch strings.ToLower(s) {
	case "int64":
		return TypeInt64, true
	case "double":
		return TypeDouble, true
	case "decimal":
		return TypeDecimal, true
	case "boolean", "bool":
		return TypeBoolean, true
	case "datetime":
		return TypeDateTime, true
	case "string":
		return TypeString, true
	}
	return "", false
}

// CheckTableName applies Power BI's table-name pattern: 1–100 characters; ASCII control
// characters other than TAB, LF and CR and the characters !"$%&'()*+,./:;<=>?[\]`{|} are
// forbidden, as are U+D800–U+DFFF and U+FFFE–U+FFFF.
func CheckTableName(s string) error {
	n := utf8.RuneCountInString(s)
	if n < 1 || n > MaxTableNameLen {
		return fmt.Errorf("table name must be 1–%d characters (has %d)", MaxTableNameLen, n)
	}
	for _, r := range s {
		if strings.ContainsRune(forbiddenInTable, r) {
			return fmt.Errorf("table name %q contains %q (not allowed: %s)", clip(s), r, forbiddenInTable)
		}
		if !xmlChar(r) {
			return fmt.Errorf("table name %q contains the invalid character %U", clip(s), r)
		}
	}
	return nil
}

// CheckColumnName applies Power BI's column-name pattern: non-empty, valid UTF-8, and no control
// characters other than TAB, LF and CR.
func CheckColumnName(s string) error {
	if s == "" {
		return fmt.Errorf("column name is empty")
	}
	for _, r := range s {
		if !xmlChar(r) {
			return fmt.Errorf("column name %q contains the invalid character %U", clip(s), r)
		}
	}
	return nil
}

// xmlChar reports whether r is in [\x09\x0A\x0D\x20-\uD7FF\uE000-\uFFFD\u10000-\u10FFFF].
func xmlChar(r rune) bool {
	switch {
	case r == utf8.RuneError:
		return false // invalid UTF-8 (a literal U+FFFD is rejected too; harmless)
	case r == 0x09 || r == 0x0A || r == 0x0D:
		return true
	case r >= 0x20 && r <= 0xD7FF, r >= 0xE000 && r <= 0xFFFD, r >= 0x10000 && r <= 0x10FFFF:
		return true
	}
	return false
}
